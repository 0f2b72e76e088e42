"""The layout of a plain-text scrape: paragraphs, headline, by/datelines, boilerplate, trailer.

What a copy-pasted news page looks like as text, apart from its captions: where paragraphs
break (including hard-wrapped files), which lines are the headline, byline, dateline, bullet
summary and page furniture ("Advertisement", "Scroll down for video", share counts), what a
"Read more at ..." trailer says about the publisher, and when the page has lost its line
breaks altogether.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from provcat.articles.dates import UNKNOWN, parse_text_date
from provcat.articles.labels import _CLOSE_QUOTES

#: A file with blank lines whose longest line is between these is taken as hard-wrapped.
WRAP_MIN_WIDTH = 50
WRAP_MAX_WIDTH = 100
#: One paragraph holding at least this share of an article of at least ``FLAT_MIN_WORDS``
#: words means the scrape lost its line breaks.
FLAT_SHARE = 0.8
FLAT_MIN_WORDS = 150
_BYLINE = re.compile(r"^by\s+[A-Z]", re.I)
_DATELINE_LABEL = re.compile(
    r"^(?:first\s+published|published|posted|last\s+updated|updated|last\s+modified|date)\b",
    re.I,
)
_UPDATE_LABEL = re.compile(r"^(?:last\s+updated|updated|last\s+modified|modified)\b", re.I)
_BOILERPLATE = re.compile(
    r"^(?:advertisement|scroll down for (?:video|more)|share this article|share or comment on "
    r"this article:?|share|comments?|read more\b.*|related\b.*:.*|see also\b.*|click here\b.*|"
    r"sign up\b.*|follow us\b.*|watch:.*|listen:.*|view comments|e-?mail|related articles|"
    r"previous|next|[\d.,]+k?\s+(?:shares?|comments?|views?)|"
    # What an embedded social media post leaves in a copy-paste: "- Name (@handle) date",
    # "pic.twitter.com/...", "A post shared by Name (@handle)".
    r".*\(@\w{1,30}\).*|pic\.twitter\.com/\S*|a post shared by\b.*)$",
    re.I,
)
# Summary bullets ("• Police launch appeal", "- Star joined by co-star"): never captions.
_BULLET = re.compile(r"^(?:[•·▪●◦■►*]\s*|[-–]\s+)\S")
# "Read more at DailyMail.co.uk", "Read more: https://www.dailymail.co.uk/news/article-1/x.html"
_TRAILER = re.compile(
    r"^read\s+more(?:\s+(?:at|on)\s+|\s*:\s*)(?P<where>(?:https?://)?[\w-]+(?:\.[\w-]+)+\S*)"
    r"\s*$",
    re.I,
)
#: How many paragraphs after the headline may be a byline or dateline.
_HEADER_PARAGRAPHS = 8


def split_paragraphs(text: str) -> list[str]:
    """Split a scraped text into paragraphs.

    Paragraphs are separated by blank lines or by line breaks. A file that has blank lines and
    whose longest line is ``WRAP_MIN_WIDTH`` to ``WRAP_MAX_WIDTH`` characters is taken as
    hard-wrapped: within a block, a line at least 60% of the widest line's length continues
    onto the next line, unless that next line is a byline or dateline.

    Args:
        text: The article text.

    Returns:
        The paragraphs, each stripped, wrapped lines joined with a single space.
    """
    lines = [line.strip() for line in text.splitlines()]
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    blocks = [block for block in blocks if block]
    widths = [len(line) for block in blocks for line in block]
    wrapped = len(blocks) > 1 and bool(widths) and WRAP_MIN_WIDTH <= max(widths) <= WRAP_MAX_WIDTH
    wrapped = wrapped and any(len(block) > 1 for block in blocks)
    paragraphs: list[str] = []
    for block in blocks:
        if not wrapped:
            paragraphs.extend(block)
            continue
        join_at = 0.6 * max(widths)
        current = block[0]
        previous = block[0]
        for line in block[1:]:
            if len(previous) >= join_at and not _BYLINE.match(line) and not _is_dateline(line):
                current = f"{current} {line}"
            else:
                paragraphs.append(current)
                current = line
            previous = line
        paragraphs.append(current)
    return paragraphs


def looks_like_headline(paragraph: str) -> bool:
    """Whether a first line reads as a headline: short, no closing full stop or colon (a line
    ending in a colon is a label: "Fighter ace:"), not a by/dateline or boilerplate."""
    words = paragraph.split()
    return (
        0 < len(words) <= 25
        and len(paragraph) <= 200
        and not paragraph.rstrip(_CLOSE_QUOTES).endswith(".")
        and not paragraph.rstrip().endswith(":")
        and not _BYLINE.match(paragraph)
        and not _DATELINE_LABEL.match(paragraph)
        and not _BOILERPLATE.match(paragraph)
    )


def _is_dateline(paragraph: str) -> bool:
    if _DATELINE_LABEL.match(paragraph):
        return True
    return len(paragraph.split()) <= 10 and parse_text_date(paragraph)[0] is not None


def _published_in(paragraph: str) -> tuple[datetime.date | None, str]:
    """The publication date a by/dateline states, skipping "Updated" segments."""
    for segment in re.split(r"\s[|·•]\s|\s{2,}", paragraph):
        segment = segment.strip()
        if _UPDATE_LABEL.match(segment):
            continue
        found = parse_text_date(segment, allow_year_only=bool(_DATELINE_LABEL.match(segment)))
        if found[0] is not None:
            return found
    return UNKNOWN


def _header_roles(paragraphs: Sequence[str]) -> list[str]:
    """Roles by position and form alone: boilerplate, byline, dateline, summary, else body."""
    roles: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if _BOILERPLATE.match(paragraph):
            roles.append("boilerplate")
        elif (
            index <= _HEADER_PARAGRAPHS
            and _BYLINE.match(paragraph)
            and len(paragraph.split()) <= 15
        ):
            roles.append("byline")
        elif index <= _HEADER_PARAGRAPHS and _is_dateline(paragraph):
            roles.append("dateline")
        elif _BULLET.match(paragraph):
            roles.append("summary")
        else:
            roles.append("body")
    return roles


def flattening_warning(paragraphs: Sequence[str]) -> str | None:
    """A warning when one paragraph holds nearly the whole article (line breaks were lost).

    Captions are told from body text by the lines they stand on; without line breaks they
    cannot be, and the reader finds none. Saying so beats finding nothing silently.
    """
    counts = [len(p.split()) for p in paragraphs]
    total = sum(counts)
    if total < FLAT_MIN_WORDS or max(counts) < FLAT_SHARE * total:
        return None
    return (
        f"one paragraph holds {max(counts)} of the article's {total} words: the scrape has "
        "lost its line breaks, so captions cannot be told from body text and none were read"
    )


def trailer_source(paragraphs: Sequence[str]) -> tuple[str | None, str | None]:
    """The (url, publisher) a "Read more at DailyMail.co.uk" or "Read more: <url>" line names.

    The publisher is the site's domain in lower case without "www." (so both forms name the
    same publisher); the url is the link without its fragment (copy-paste trackers add
    "#ixzz..."). The last such line wins.
    """
    for paragraph in reversed(paragraphs):
        match = _TRAILER.match(paragraph.strip())
        if match is None:
            continue
        where = match["where"].rstrip(".,;)")
        url = None
        if where.lower().startswith(("http://", "https://")):
            url = where.split("#", 1)[0]
            host = urlsplit(url).hostname or ""
        else:
            host = where.split("/", 1)[0]
        host = host.lower().removeprefix("www.")
        return url, host or None
    return None, None

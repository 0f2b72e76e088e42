"""BASELINE, frozen for comparison: the plain-text caption extractor before issue 8 part 2.

A verbatim copy of src/provcat/articles/text.py at commit 582f92a, kept only so that
bench/extraction_quality.py can measure the old rules in the same run as the new ones.
Not part of the package; do not import it from src/.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process

from provcat.articles.dates import UNKNOWN, parse_text_date
from provcat.articles.model import CaptionOccurrence, ScrapedArticle

#: Points each caption feature adds (negative: takes away). See docs/extraction.md.
WEIGHTS: dict[str, int] = {
    "label": 2,
    "position-cue": 2,
    "pictured-near-name": 1,
    "no-final-stop": 1,
    "repeated": 3,
    "repeated-long": 2,
    "credit-tail": 3,
    "speech": -3,
    "reported-speech": -1,
    "long": -2,
}
#: A paragraph whose feature points reach this is a caption.
THRESHOLD = 3
#: Fewer words than this and a paragraph is never a caption.
MIN_WORDS = 3
#: A repeated paragraph longer than this gets the smaller "repeated-long" weight.
SHORT_WORDS = 30
#: Paragraphs longer than this are penalised as "long".
LONG_WORDS = 60
#: Fuzzy repeat detection compares all pairs; above this many paragraphs only exact repeats
#: (after normalisation) count, so a hostile file cannot make parsing quadratic.
MAX_FUZZY_PARAGRAPHS = 2000
#: Normalised similarity (rapidfuzz ratio, 0-100) at which two paragraphs are repeats.
REPEAT_SIMILARITY = 90.0
#: A file with blank lines whose longest line is between these is taken as hard-wrapped.
WRAP_MIN_WIDTH = 50
WRAP_MAX_WIDTH = 100

_SPEECH_VERBS = (
    r"(?:say|says|said|tell|tells|told|add|adds|added|explain|explains|explained|write|writes|"
    r"wrote|state|states|stated|insist|insists|insisted|warn|warns|warned|claim|claims|claimed|"
    r"admit|admits|admitted|ask|asks|asked|reply|replies|replied|declare|declares|declared|"
    r"tweet|tweets|tweeted|continue|continues|continued|recall|recalls|recalled|argue|argues|"
    r"argued|comment|comments|commented|announce|announces|announced|reveal|reveals|revealed|"
    r"confirm|confirms|confirmed|insist|urged|urges|joked|jokes|wrote)"
)
_OPEN_QUOTES = "'\"‘“"
_CLOSE_QUOTES = "'\"’”"
# fmt: off
_PRONOUNS = frozenset((
    "he", "she", "they", "it", "we", "i", "you", "his", "her", "their", "its", "this", "that",
    "there",
))
# fmt: on
# fmt: off
_STOP_LABELS = frozenset((
    "related", "read more", "more", "see also", "watch", "listen", "advertisement", "update",
    "updated", "editor's note", "correction", "published", "posted", "by", "date",
    "last updated", "last modified", "first published", "share", "follow", "sign up", "click here",
    "comments", "note",
))
# fmt: on
# Capitalised words that start sentences or name days and months: not names.
# fmt: off
_NOT_NAMES = frozenset((
    "the", "a", "an", "he", "she", "it", "they", "we", "i", "you", "his", "her", "its",
    "their", "this", "that", "these", "those", "in", "on", "at", "by", "for", "from", "with",
    "as", "but", "and", "or", "of", "to", "after", "before", "when", "while", "where",
    "there", "here", "his", "mr", "mrs", "ms", "dr", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april",
    "may", "june", "july", "august", "september", "october", "november", "december",
    "pictured",
))
# fmt: on

_LABEL = re.compile(
    r"^(?P<open>['\"‘“]?)(?P<label>[A-Za-z0-9][^:'\"‘’“”.!?\n]{0,48}?)(?P<close>['\"’”]?)"
    r"\s*:(?!\d)\s*(?P<rest>\S.*)$",
    re.DOTALL,
)
_POSITION_WORDS = (
    r"(?i:(?:pictured\s+)?(?:(?:far|top|bottom|centre|center|second|second\s+from|front|back)"
    r"\s+)?(?:left|right|centre|center|top|bottom|middle|front|back|inset|above|below|main|"
    r"foreground|background|row|pictured))"
)
_NAME = r"[A-Z][\w'’.-]*"
_POSITION_COMMA = re.compile(
    _NAME + r"\s*,\s*" + _POSITION_WORDS + r"(?:\s*[,;)]|\s*$|\s+(?:and|with)\b)"
)
_POSITION_BRACKET = re.compile(_NAME + r"\s*\(\s*" + _POSITION_WORDS + r"\s*\)")
_WORD = re.compile(r"[\w'’.-]+")
# Credits are printed with a capitalised keyword ("Photo:", "PICTURE:") and name someone, so
# the value starts like a name ("courtesy of" and "via" aside): "the photograph: a mystery"
# is prose, not a credit.
_CREDIT_KEYWORD = (
    r"(?:[Pp]hoto(?:graph)?s?|PHOTO(?:GRAPH)?S?|[Pp]ictures?|PICTURES?|[Pp]ics?|PICS?|"
    r"[Ii]mages?|IMAGES?|[Cc]redits?|CREDITS?|[Ss]ource|SOURCE|[Ff]ootage|FOOTAGE)"
)
_CREDIT_VALUE_START = r"(?:[^\s:a-z]|courtesy\b|via\b)"
_CREDIT_TAILS = (
    re.compile(
        r"\(\s*" + _CREDIT_KEYWORD + r"\s*:\s*" + _CREDIT_VALUE_START + r"[^():]{0,80}\)\s*$"
    ),
    re.compile(
        r"(?:^|(?<=[\s.,;|–—-]))"
        + _CREDIT_KEYWORD
        + r"\s*:\s*"
        + _CREDIT_VALUE_START
        + r"[^:]{0,80}$"
    ),
    re.compile(
        r"(?:^|(?<=[\s.,;|(]))(?:[Pp]hoto(?:graph)?|[Pp]icture|[Ii]mage)s?\s+(?:by|courtesy\s+of)"
        r"\s+[^.:]{1,80}\)?\s*$"
    ),
)
_SPEECH_WORD = re.compile(r"\b" + _SPEECH_VERBS + r"\b", re.I)
_SPEECH_INTRO = re.compile(r"\b" + _SPEECH_VERBS + r"\b[^:'\"‘“]{0,40}:\s*['\"‘“]", re.I)
_ATTRIBUTION = re.compile(
    r"[,.!?…]\s*['\"’”]\s*,?\s*(?:"
    + _SPEECH_VERBS
    + r"\b|(?:he|she|they|we|i|"
    + _NAME
    + r"(?:\s+"
    + _NAME
    + r"){0,3})\s+"
    + _SPEECH_VERBS
    + r"\b)"
)
# Reported speech is what body copy does ("police said on Monday"); only the plain
# attribution verbs count, because captions do say "confirmed" or "announced".
_REPORTED = re.compile(
    r"\b(?:say|says|said|tell|tells|told|add|adds|added|insist|insists|insisted|claim|claims|"
    r"claimed|according\s+to)\b",
    re.I,
)
_BYLINE = re.compile(r"^by\s+[A-Z]", re.I)
_DATELINE_LABEL = re.compile(
    r"^(?:first\s+published|published|posted|last\s+updated|updated|last\s+modified|date)\b",
    re.I,
)
_UPDATE_LABEL = re.compile(r"^(?:last\s+updated|updated|last\s+modified|modified)\b", re.I)
_BOILERPLATE = re.compile(
    r"^(?:advertisement|scroll down for (?:video|more)|share this article|share or comment on "
    r"this article:?|share|comments?|read more\b.*|related\b.*:.*|see also\b.*|click here\b.*|"
    r"sign up\b.*|follow us\b.*|watch:.*|listen:.*)$",
    re.I,
)
_QUOTE_FOLD = str.maketrans(dict.fromkeys("‘’‚‛′`´", "'") | dict.fromkeys("“”„‟″", '"'))
_DASH_FOLD = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)])")
_SPACES = re.compile(r"\s+")
#: How many paragraphs after the headline may be a byline or dateline.
_HEADER_PARAGRAPHS = 6


@dataclass(frozen=True)
class ParagraphEvidence:
    """Why a plain-text paragraph was or was not taken as a caption.

    Attributes:
        text: The paragraph as printed (wrapped lines joined by one space).
        role: "title", "byline", "dateline", "boilerplate", "caption" or "body".
        features: Names of the caption features that fired (keys of ``WEIGHTS``).
        score: The sum of their weights (0 for title, byline, dateline and boilerplate).
    """

    text: str
    role: str
    features: tuple[str, ...]
    score: int


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


def normalise_for_repeat(text: str) -> str:
    """Return the form two caption copies are compared in.

    NFKC, quotes and dashes folded, label and credit tail removed, no space before
    punctuation, whitespace collapsed, case folded.
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_FOLD).translate(_DASH_FOLD)
    text = strip_credit_tail(strip_label(text))
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip(" .'\"").casefold()


def label_of(paragraph: str) -> str | None:
    """Return the caption label a paragraph opens with ("Plotters" in "'Plotters': ..."), if any.

    A label is one to five words before a colon, optionally quoted. It is not a label when it
    holds a speech verb ("He said:"), starts with a pronoun, is a time ("10:15"), is a
    dateline or navigation word ("Published:", "Read more:"), or when an unquoted label is
    followed by an opening quote (speech: "Mr Ivanov: 'I am innocent'").
    """
    match = _LABEL.match(paragraph)
    if not match:
        return None
    label = match["label"].strip()
    if bool(match["open"]) != bool(match["close"]):
        return None
    words = label.split()
    if not words or len(words) > 5 or label.isdigit():
        return None
    if words[0].casefold() in _PRONOUNS or label.casefold() in _STOP_LABELS:
        return None
    if _SPEECH_WORD.search(label):
        return None
    if not match["open"] and match["rest"][0] in _OPEN_QUOTES:
        return None
    return label


def strip_label(paragraph: str) -> str:
    """Return the paragraph without its caption label, or unchanged when it has none."""
    match = _LABEL.match(paragraph)
    if match and label_of(paragraph) is not None:
        return match["rest"]
    return paragraph


def credit_tail(paragraph: str) -> str | None:
    """Return the credit a paragraph ends with ("(Photo: Sky News)", "Credit: Reuters"), if any."""
    for pattern in _CREDIT_TAILS:
        match = pattern.search(paragraph)
        if match:
            return match.group(0).strip()
    return None


def strip_credit_tail(paragraph: str) -> str:
    """Return the paragraph without its trailing credit, or unchanged when it has none."""
    for pattern in _CREDIT_TAILS:
        match = pattern.search(paragraph)
        if match:
            return paragraph[: match.start()].rstrip()
    return paragraph


def has_position_cue(paragraph: str) -> bool:
    """Whether a position cue is tied to a name ("Shishmakov, left,", "Rae (pictured left)")."""
    return bool(_POSITION_COMMA.search(paragraph) or _POSITION_BRACKET.search(paragraph))


def pictured_near_name(paragraph: str) -> bool:
    """Whether "pictured" stands within three words of a capitalised word that may be a name."""
    words = _WORD.findall(paragraph)
    for index, word in enumerate(words):
        if word.casefold() != "pictured":
            continue
        for other in words[max(0, index - 3) : index] + words[index + 1 : index + 4]:
            bare = other.strip(".'’-")
            if bare[:1].isupper() and bare.casefold() not in _NOT_NAMES:
                return True
    return False


def is_speech(paragraph: str) -> bool:
    """Whether a paragraph is quoted speech ("He said: 'We will ...'", "'No,' she said.")."""
    if _SPEECH_INTRO.search(paragraph) or _ATTRIBUTION.search(paragraph):
        return True
    quoted_label = _LABEL.match(paragraph)
    if quoted_label and quoted_label["open"] and label_of(paragraph) is not None:
        return False
    stripped = paragraph.strip()
    return (
        len(stripped) > 2
        and stripped[0] in _OPEN_QUOTES
        and stripped.rstrip(".")[-1] in _CLOSE_QUOTES
    )


def ends_without_full_stop(paragraph: str) -> bool:
    """Whether the paragraph, credit tail removed, does not end a sentence (. ! ? or …)."""
    body = strip_credit_tail(paragraph).rstrip().rstrip(_CLOSE_QUOTES + ")]").rstrip()
    return not body.endswith((".", "!", "?", "…"))


def looks_like_headline(paragraph: str) -> bool:
    """Whether a first line reads as a headline: short, no closing full stop, not a by/dateline."""
    words = paragraph.split()
    return (
        0 < len(words) <= 25
        and len(paragraph) <= 200
        and not paragraph.rstrip(_CLOSE_QUOTES).endswith(".")
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


def _repeat_counts(keys: Sequence[str | None]) -> list[bool]:
    """For each key, whether another (non-None) key equals it or is near-identical."""
    present = [(i, key) for i, key in enumerate(keys) if key]
    repeated = [False] * len(keys)
    seen: dict[str, list[int]] = {}
    for i, key in present:
        seen.setdefault(key, []).append(i)
    for indexes in seen.values():
        if len(indexes) > 1:
            for i in indexes:
                repeated[i] = True
    if 1 < len(present) <= MAX_FUZZY_PARAGRAPHS:
        texts = [key for _, key in present]
        scores = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=REPEAT_SIMILARITY)
        for row, (i, _) in enumerate(present):
            hits = [col for col in range(len(present)) if col != row and scores[row][col] > 0]
            if hits:
                repeated[i] = True
    return repeated


def classify_paragraphs(paragraphs: Sequence[str]) -> list[ParagraphEvidence]:
    """Decide, for each paragraph, its role and (for body paragraphs) its caption evidence.

    Args:
        paragraphs: The article's paragraphs in order (see ``split_paragraphs``).

    Returns:
        One ``ParagraphEvidence`` per paragraph; role "caption" when the weighted features
        reach ``THRESHOLD`` (rule documented in docs/extraction.md).
    """
    roles: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if index == 0 and looks_like_headline(paragraph):
            roles.append("title")
        elif _BOILERPLATE.match(paragraph):
            roles.append("boilerplate")
        elif (
            index <= _HEADER_PARAGRAPHS
            and _BYLINE.match(paragraph)
            and len(paragraph.split()) <= 15
        ):
            roles.append("byline")
        elif index <= _HEADER_PARAGRAPHS and _is_dateline(paragraph):
            roles.append("dateline")
        else:
            roles.append("body")
    keys = [
        normalise_for_repeat(p) if role == "body" and len(p.split()) >= MIN_WORDS else None
        for p, role in zip(paragraphs, roles, strict=True)
    ]
    repeated = _repeat_counts(keys)
    evidence: list[ParagraphEvidence] = []
    for paragraph, role, key, is_repeat in zip(paragraphs, roles, keys, repeated, strict=True):
        if role != "body" or key is None:
            evidence.append(ParagraphEvidence(paragraph, role, (), 0))
            continue
        features = _features(paragraph, is_repeat)
        score = sum(WEIGHTS[name] for name in features)
        role = "caption" if score >= THRESHOLD else "body"
        evidence.append(ParagraphEvidence(paragraph, role, features, score))
    return evidence


def _features(paragraph: str, is_repeat: bool) -> tuple[str, ...]:
    words = len(paragraph.split())
    fired: list[str] = []
    if label_of(paragraph) is not None:
        fired.append("label")
    if has_position_cue(paragraph):
        fired.append("position-cue")
    elif pictured_near_name(paragraph):
        fired.append("pictured-near-name")
    if ends_without_full_stop(paragraph):
        fired.append("no-final-stop")
    if is_repeat:
        fired.append("repeated" if words <= SHORT_WORDS else "repeated-long")
    if credit_tail(paragraph) is not None:
        fired.append("credit-tail")
    if is_speech(paragraph):
        fired.append("speech")
    elif _REPORTED.search(strip_label(paragraph)):
        fired.append("reported-speech")
    if words > LONG_WORDS:
        fired.append("long")
    return tuple(fired)


def parse_text(text: str, *, source_path: Path) -> ScrapedArticle:
    """Read a plain-text scraped article.

    Args:
        text: The article text (already decoded).
        source_path: The file it came from, recorded on the result.

    Returns:
        The article: headline (first line, when it reads as one), the date stated in a
        by/dateline near the top (never guessed), and every caption paragraph, repeats kept as
        separate occurrences. Plain text has no images, so ``image_refs`` is always ``()``.
    """
    paragraphs = split_paragraphs(text)
    evidence = classify_paragraphs(paragraphs)
    title = next((e.text for e in evidence if e.role == "title"), None)
    published: datetime.date | None = None
    precision = "unknown"
    for item in evidence:
        if item.role in ("byline", "dateline"):
            found, found_precision = _published_in(item.text)
            if found is not None:
                published, precision = found, found_precision
                break
    captions = tuple(
        CaptionOccurrence(position, item.text, "caption-paragraph", (), None)
        for position, item in enumerate((e for e in evidence if e.role == "caption"), start=1)
    )
    return ScrapedArticle(
        source_path=source_path,
        kind="text",
        title=title,
        url=None,
        publisher=None,
        published=published,
        published_precision=precision,
        images=(),
        captions=captions,
    )

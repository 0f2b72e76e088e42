"""Plain-text scraped articles: paragraphs, headline, dateline and inline caption paragraphs."""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process

from provcat.articles.labels import (
    _CLOSE_QUOTES,
    _LABEL,
    _OPEN_QUOTES,
    _SPEECH_VERBS,
    credit_tail,
    join_lone_labels,
    label_of,
    split_glued,
    strip_credit_tail,
    strip_label,
)
from provcat.articles.layout import (
    _HEADER_PARAGRAPHS,
    _header_roles,
    _published_in,
    flattening_warning,
    looks_like_headline,
    split_paragraphs,
    trailer_source,
)
from provcat.articles.model import CaptionOccurrence, ScrapedArticle

__all__ = [
    "THRESHOLD",
    "WEIGHTS",
    "ParagraphEvidence",
    "classify_paragraphs",
    "credit_tail",
    "ends_without_full_stop",
    "has_position_cue",
    "is_speech",
    "label_of",
    "looks_like_headline",
    "normalise_for_repeat",
    "parse_text",
    "pictured_near_name",
    "split_paragraphs",
    "strip_credit_tail",
    "strip_label",
]

#: Points each caption feature adds (negative: takes away). See docs/extraction.md.
WEIGHTS: dict[str, int] = {
    "label": 2,
    "position-cue": 2,
    "pictured-near-name": 1,
    "no-final-stop": 1,
    "repeated": 3,
    "repeated-long": 2,
    "credit-tail": 3,
    "caption-shape": 2,
    "glued": 2,
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
#: An unlabelled line without a final full stop is caption-shaped at this many words or more
#: (fewer is a crosshead: "Questions remain") and this many or fewer.
SHAPE_MIN_WORDS = 6
SHAPE_MAX_WORDS = 45
#: Below this many words a caption-shaped line must name someone, somewhere or a number.
CONCRETE_WORDS = 10
#: The body "punctuates its sentences" when at least this many paragraphs of 8 or more words
#: end with a full stop, and at least half as many as those that do not.
MIN_STOPPED_BODY = 3
#: A repeated paragraph that ends with a full stop counts as a repeated caption only up to
#: this many words, and only without a past-tense or reporting verb: longer ones, or ones that
#: tell what happened, are body copy the scraper printed twice.
REPEATED_SENTENCE_WORDS = 12


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
# Past-tense or reporting verbs: a sentence that tells what happened, not what a photo shows.
_PAST = re.compile(
    r"\b(?:was|were|had|has|have|did|said|says|told|according|will|would|could|should|might)\b|\b[a-z]{3,}ed\b",
    re.I,
)
_QUOTE_FOLD = str.maketrans(dict.fromkeys("‘’‚‛′`´", "'") | dict.fromkeys("“”„‟″", '"'))
_DASH_FOLD = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)])")
_SPACES = re.compile(r"\s+")


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


def normalise_for_repeat(text: str) -> str:
    """Return the form two caption copies are compared in.

    NFKC, quotes and dashes folded, label and credit tail removed, no space before
    punctuation, whitespace collapsed, case folded.
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_FOLD).translate(_DASH_FOLD)
    text = strip_credit_tail(strip_label(text))
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip(" .'\"").casefold()


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


def _title_index(paragraphs: Sequence[str], roles: Sequence[str], joined_first: bool) -> int | None:
    """Which paragraph is the headline: the first, unless it is a caption label and its caption
    ("Fighter ace:" then the caption), in which case the next one if it reads as a headline."""
    index = 1 if joined_first else 0
    if (
        index < len(paragraphs)
        and roles[index] == "body"
        and looks_like_headline(paragraphs[index])
    ):
        return index
    return None


def _body_punctuated(paragraphs: Sequence[str], roles: Sequence[str]) -> bool:
    """Whether the body ends its sentences with full stops, so an unstopped line stands out."""
    long_ones = [
        p
        for p, role in zip(paragraphs, roles, strict=True)
        if role == "body" and len(p.split()) >= 8
    ]
    stopped = sum(not ends_without_full_stop(p) for p in long_ones)
    return stopped >= MIN_STOPPED_BODY and 2 * stopped >= len(long_ones) - stopped


def _repeats(paragraphs: Sequence[str], keys: Sequence[str | None]) -> list[str | None]:
    """For each paragraph, "repeated"/"repeated-long" when another copy of it is printed.

    Copies are compared within two groups: paragraphs ending with a full stop and those
    without. A caption ("X celebrates after ...") and the body sentence restating it ("X
    celebrates after ... .") are in different groups, so neither counts as the other's
    repeat: the body sentence is not a caption, and the caption is not "printed twice".
    """
    stopped = [not ends_without_full_stop(p) for p in paragraphs]
    out: list[str | None] = [None] * len(paragraphs)
    for group in (False, True):
        flags = _repeat_counts(
            [k if s == group else None for k, s in zip(keys, stopped, strict=True)]
        )
        for index, flag in enumerate(flags):
            if not flag:
                continue
            words = len(paragraphs[index].split())
            if group and (words > REPEATED_SENTENCE_WORDS or _PAST.search(paragraphs[index])):
                continue
            out[index] = "repeated" if words <= SHORT_WORDS else "repeated-long"
    return out


def classify_paragraphs(paragraphs: Sequence[str]) -> list[ParagraphEvidence]:
    """Decide, for each paragraph, its role and (for body paragraphs) its caption evidence.

    Before scoring, a caption label printed on a line of its own is joined to the line after
    it ("Terrified:" + caption), and a line holding two labelled captions is split into two.
    The evidence therefore follows the captions as printed, not always the input paragraphs.
    Lines between the headline and the byline or dateline (the bullet summary) and lines
    marked as bullets are "summary", never captions.

    Args:
        paragraphs: The article's paragraphs in order (see ``split_paragraphs``).

    Returns:
        One ``ParagraphEvidence`` per paragraph (after joining and splitting); role "caption"
        when the weighted features reach ``THRESHOLD`` (rule documented in docs/extraction.md).
    """
    first_roles = _header_roles(paragraphs)
    stops = [role in ("byline", "dateline", "boilerplate") for role in first_roles]
    joined = join_lone_labels(paragraphs, stop=stops)
    joined_first = bool(paragraphs) and joined[0] != paragraphs[0]
    paragraphs = joined
    roles = _header_roles(paragraphs)
    title = _title_index(paragraphs, roles, joined_first)
    if title is not None:
        roles[title] = "title"
        header_end = next(
            (i for i, role in enumerate(roles) if role in ("byline", "dateline")), None
        )
        if header_end is not None and header_end <= title + _HEADER_PARAGRAPHS:
            for index in range(title + 1, header_end):
                if roles[index] == "body":
                    roles[index] = "summary"
    texts: list[str] = []
    final_roles: list[str] = []
    glued: list[bool] = []
    for paragraph, role in zip(paragraphs, roles, strict=True):
        parts = split_glued(paragraph) if role == "body" else [paragraph]
        texts.extend(parts)
        final_roles.extend([role] * len(parts))
        glued.extend([len(parts) > 1] * len(parts))
    keys = [
        normalise_for_repeat(p) if role == "body" and len(p.split()) >= MIN_WORDS else None
        for p, role in zip(texts, final_roles, strict=True)
    ]
    repeated = _repeats(texts, keys)
    punctuated = _body_punctuated(texts, final_roles)
    evidence: list[ParagraphEvidence] = []
    for paragraph, role, key, repeat, is_glued in zip(
        texts, final_roles, keys, repeated, glued, strict=True
    ):
        if role != "body" or key is None:
            evidence.append(ParagraphEvidence(paragraph, role, (), 0))
            continue
        features = _features(paragraph, repeat, punctuated=punctuated, glued=is_glued)
        score = sum(WEIGHTS[name] for name in features)
        role = "caption" if score >= THRESHOLD else "body"
        evidence.append(ParagraphEvidence(paragraph, role, features, score))
    return evidence


def _caption_shaped(paragraph: str) -> bool:
    """A line of its own, without a final full stop, that is not a subhead.

    Subheads are short and name nothing ("Why the warnings were ignored for so long");
    captions show someone or somewhere ("... outside the house in Bexhill on Sunday"). So a
    line under ``CONCRETE_WORDS`` words needs a name (a capitalised word after the first), a
    number or "pictured".
    """
    words = paragraph.split()
    letters = [ch for ch in paragraph if ch.isalpha()]
    concrete = len(words) >= CONCRETE_WORDS or any(
        (word.lstrip(_OPEN_QUOTES + "(")[:1].isupper() and word != "I")
        or any(ch.isdigit() for ch in word)
        or word.casefold().startswith("pictured")
        for word in words[1:]
    )
    return (
        SHAPE_MIN_WORDS <= len(words) <= SHAPE_MAX_WORDS
        and concrete
        and ends_without_full_stop(paragraph)
        and (paragraph[:1] not in _OPEN_QUOTES or label_of(paragraph) is not None)
        and not all(ch.isupper() for ch in letters)
    )


def _features(
    paragraph: str, repeat: str | None, *, punctuated: bool, glued: bool
) -> tuple[str, ...]:
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
    if repeat is not None:
        fired.append(repeat)
    if credit_tail(paragraph) is not None:
        fired.append("credit-tail")
    if punctuated and _caption_shaped(paragraph):
        fired.append("caption-shape")
    if glued:
        fired.append("glued")
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
        The article: headline (first line, when it reads as one; the line after a caption
        label that opens the scrape), url and publisher from a "Read more" trailer, the date
        stated in a by/dateline near the top (never guessed), every caption paragraph (repeats
        kept as separate occurrences) and warnings (a flattened, one-paragraph scrape). Plain
        text has no images, so ``image_refs`` is always ``()``.
    """
    paragraphs = split_paragraphs(text)
    warning = flattening_warning(paragraphs)
    evidence = classify_paragraphs(paragraphs)
    title = next((e.text for e in evidence if e.role == "title"), None)
    url, publisher = trailer_source(paragraphs)
    published: datetime.date | None = None
    precision = "unknown"
    for item in evidence:
        if item.role in ("byline", "dateline"):
            found, found_precision = _published_in(item.text)
            if found is not None:
                published, precision = found, found_precision
                break
    caption_items = [] if warning else [e for e in evidence if e.role == "caption"]
    captions = tuple(
        CaptionOccurrence(position, item.text, "caption-paragraph", (), None)
        for position, item in enumerate(caption_items, start=1)
    )
    return ScrapedArticle(
        source_path=source_path,
        kind="text",
        title=title,
        url=url,
        publisher=publisher,
        published=published,
        published_precision=precision,
        images=(),
        captions=captions,
        warnings=(warning,) if warning else (),
    )

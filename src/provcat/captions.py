"""Caption text: display form, match keys, leading label and trailing credit, people's positions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from provcat.credits import is_known_organisation, parse_credit

__all__ = [
    "KEY_RULES",
    "CaptionParts",
    "ParsedCaption",
    "PersonCue",
    "caption_parts",
    "match_keys",
    "normalise",
    "parse_caption",
    "tokens",
]

#: The version of the rules :func:`match_keys` follows. A catalogue stores every printed
#: caption's keys (provcat.caption_keys) and records the version they were made under; a
#: change to what :func:`normalise` or the label and credit split return for any caption
#: takes a new number here and a migration that makes the stored keys again
#: (``provcat.caption_keys.rekey``). Until then readers make the keys themselves.
KEY_RULES = 1

# The same folding as provcat.credits uses for agent keys.
_QUOTE_DASH_FOLD = str.maketrans("‘’‚‛′‹›`“”„‟″«»‐‑‒–—―−﹘", "'" * 8 + '"' * 7 + "-" * 8)
# Invisible characters scraped pages carry (zero-width space, BOM, soft hyphen, word joiner);
# dropped from the display form. Keys drop every format character.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\ufeff\u00ad\u2060"))
# A space before these is a typesetting slip ("Shishmakov , left"); "." only when no digit
# follows, so " .45 calibre" keeps its space.
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+(?:([,;:!?%)\]}])|(\.)(?!\d))")
_QUOTES = "'\"‘’‚‛“”„‟«»‹›`"
_CREDIT_LABEL_WORDS = r"(?:photo(?:graph)?s?|pic(?:ture)?s?|images?|credits?|sources?)"
_CREDIT_LABEL_RE = re.compile(
    rf"(?:^|(?<=\s))(?P<label>{_CREDIT_LABEL_WORDS}(?:\s+(?:credits?|sources?))?)\s*:\s*",
    re.IGNORECASE,
)
_TRAILING_BRACKET_RE = re.compile(r"[(\[](?P<inner>[^()\[\]]{1,120})[)\]]\s*\.?\s*$")
# A sentence end: not after a lone capital initial ("J. Smith"), followed by space.
_SENTENCE_END_RE = re.compile(r"(?<!\b[A-Z])[.!?][\"'”’]?\s+")
_SEPARATOR_RE = re.compile(r"\s+[|–—-]\s+")
_LABEL_WORD_RE = re.compile(r"^(?:&|[^\W\d_][\w'’-]*)$")
# fmt: off
_SPEECH_WORDS = frozenset(
    {
        "said", "says", "say", "told", "tells", "added", "adds", "wrote", "writes", "tweeted",
        "tweets", "posted", "posts", "warned", "warns", "stated", "states", "declared",
        "declares", "asked", "asks", "replied", "replies", "insisted", "insists", "claimed",
        "claims", "announced", "announces", "explained", "explains", "argued", "argues",
        "noted", "notes", "admitted", "admits", "reads", "read", "commented", "comments",
    }
)
# fmt: on
_MAX_CREDIT_WORDS = 12
# Characters looked at before a cue: far more than 4 name words, and keeps long text linear.
_NAME_WINDOW = 160

# Position cues. Longer alternatives first so "second left" is not read as "left".
_CUE = (
    r"(?:pictured\s*,?\s*)?"
    r"(?:(?:second|third|fourth|fifth|2nd|3rd|4th|5th)\s+(?:from\s+)?(?:the\s+)?(?:left|right)"
    r"|far\s+(?:left|right)"
    r"|(?:top|bottom|upper|lower|front|back|rear|centre|center|middle)"
    r"(?:\s+(?:left|right|centre|center|middle))?"
    r"|left|right|inset"
    r"|pictured(?:\s+(?:above|below|here))?)"
)
# ", left," / ", pictured," / ", second from left and" / ", pictured in 2016," / ", right."
# "pictured in 2016": a short phrase after the cue that says when or where.
_CUE_EXTRA = (
    r"(?:,?\s+(?:in|at|on|during|with|last|this|earlier|outside|inside|before|after)\b"
    r"[^,.;:()]{0,60})?"
)
_COMMA_CUE_RE = re.compile(
    rf",\s*(?P<cue>{_CUE})\b(?P<extra>{_CUE_EXTRA})"
    r"(?=\s*(?:[,.;:!?)]|$)|\s+(?:and|&)\s)",
    re.IGNORECASE,
)
# "(pictured)", "(left)", "(second left)", "(pictured in 2016)", "(L)", "(R)"
_PAREN_CUE_RE = re.compile(
    rf"\s*\((?P<cue>{_CUE}|(?-i:L|R))\b(?P<extra>{_CUE_EXTRA})\)",
    re.IGNORECASE,
)
# fmt: off
_CUE_WORDS = {
    "center": "centre", "middle": "centre", "upper": "top", "lower": "bottom", "2nd": "second",
    "3rd": "third", "4th": "fourth", "5th": "fifth", "l": "left", "r": "right",
}
_NAME_PARTICLES = frozenset(
    {
        "de", "da", "di", "del", "della", "der", "den", "van", "von", "bin", "ibn", "al", "el",
        "le", "la", "du", "dos", "das", "ter", "ten", "abu", "ben", "y",
    }
)
# Capitalised words that start a sentence rather than a name: never part of one.
_STOP_WORDS = frozenset(
    {
        "the", "a", "an", "this", "that", "these", "those", "he", "she", "it", "they", "we", "i",
        "you", "his", "her", "its", "their", "our", "my", "your", "in", "on", "at", "and",
        "but", "as", "from", "with", "by", "for", "of", "to", "here", "there", "then",
    }
)
# Titles and descriptions in front of a name; also surnames now and then ("John Major").
_TITLE_WORDS = frozenset(
    {
        "mr", "mrs", "ms", "miss", "dr", "sir", "dame", "lord", "lady", "king", "queen",
        "prince", "princess", "pope", "president", "prime", "minister", "secretary",
        "chancellor", "senator", "sen", "rep", "governor", "gov", "mayor", "general", "gen",
        "colonel", "col", "major", "captain", "capt", "lieutenant", "lt", "sergeant", "sgt",
        "officer", "agent", "ambassador", "judge", "justice", "professor", "prof", "rev",
        "father", "chief", "commander", "director", "chairman", "leader", "deputy", "former",
        "foreign", "defence", "defense", "interior", "home", "vice", "russian", "serbian",
        "british", "american", "ukrainian", "montenegrin",
    }
)
# fmt: on
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
_PREFIXED_NAME_RE = re.compile(r"^(?:al|el|ad|as|bin|ibn|abu|d|l)[-'’][^\W\d_]", re.IGNORECASE)
_NAME_WORD_RE = re.compile(r"^(?:(?:[A-Z]\.)+|[^\W\d_][\w'’-]*\.?)$")


@dataclass(frozen=True)
class PersonCue:
    """A name followed by a position cue in a caption ("Shishmakov, left").

    Attributes:
        name: The name as written before the cue.
        cue: The normalised cue: "left", "right", "centre", "pictured", "top left",
            "second left", "far right", "inset" ...
    """

    name: str
    cue: str


@dataclass(frozen=True)
class ParsedCaption:
    """One caption, raw and parsed.

    Attributes:
        raw: Exactly as printed.
        display: Tidied for showing: NFKC, invisible characters removed, whitespace collapsed,
            space before punctuation removed, quotes as printed.
        label: The leading label without quotes or colon ("Plotters"), or None.
        body: The display text without the label and the trailing credit.
        credit: The trailing credit without its "Photo:"/"Credit:" label, or None.
        key: normalise(raw), the match key of the whole caption.
        body_key: normalise(body).
        people: Names with position cues, in the order they appear in the body.
    """

    raw: str
    display: str
    label: str | None
    body: str
    credit: str | None
    key: str
    body_key: str
    people: tuple[PersonCue, ...]


@dataclass(frozen=True)
class CaptionParts:
    """A caption's display form and the parts it is cut into (:func:`parse_caption`'s
    fields of the same names), without its keys and position cues."""

    display: str
    label: str | None
    body: str
    credit: str | None


def normalise(text: str) -> str:
    """Fold caption text into its match key.

    NFKC; format characters (zero-width spaces, soft hyphens) removed; curly quotes,
    apostrophes and dashes folded to ASCII; whitespace collapsed; space before punctuation
    removed; casefolded; trailing full stops dropped. Idempotent.

    Args:
        text: Any text.

    Returns:
        The key ("" for blank text).
    """
    # NFKC and casefold do not commute for a few characters; iterate to the fixed point.
    for _ in range(8):
        folded = _normalise_once(text)
        # ASCII output is already a fixed point (no NFKC, case or quote folding left to do),
        # which spares most captions the second pass.
        if folded == text or folded.isascii():
            return folded
        text = folded
    return text


def _normalise_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_DASH_FOLD)
    text = unicodedata.normalize("NFKC", text.casefold()).translate(_QUOTE_DASH_FOLD)
    if not text.isascii():  # ASCII holds no format characters; skip the per-character scan
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _SPACE_BEFORE_PUNCT_RE.sub(_keep_punct, " ".join(text.split()))
    return text.rstrip(". ")


def tokens(key: str) -> list[str]:
    """Word tokens of a key; apostrophes and hyphens inside a word keep it whole.

    Args:
        key: A key from normalise() (other text works, but is not folded first).

    Returns:
        The tokens in order, e.g. ["then-prime", "minister", "milo", "djukanovic"].
    """
    return re.findall(r"\w+(?:['-]\w+)*", key)


def match_keys(raw: str) -> tuple[str, str]:
    """The match key and body key of a caption, without the rest of :func:`parse_caption`.

    The duplicate finder needs only these two for every caption; skipping the display form
    and the position cues roughly halves the time per caption.
    """
    _label, rest = _split_label(_display(raw))
    body, _credit = _split_credit(rest)
    key, body_key = normalise(raw), normalise(body)
    # A caption without a label or credit has its key as its body: one string kept, not two.
    return key, key if body_key == key else body_key


def parse_caption(raw: str) -> ParsedCaption:
    """Parse a caption into display text, label, body, trailing credit, keys and position cues.

    A label is a leading phrase of 1-4 words starting with a capital, optionally quoted, ending
    in a colon and followed by text ("'Plotters':", "Deadly plans:"); a phrase with a speech verb
    ("He said:") is not one, nor a colon further in. A leading credit label ("Photo:") is a
    label unless what follows is clearly a credit. A trailing credit is split off only when it
    is clearly one: in brackets at the very end, labelled ("Credit: Reuters", "Photo: X"), or
    after a full stop or a spaced dash/bar, and then only if it reads as a credit chain (a known
    agency, a wire slash, or "X via Y" ending in an organisation).

    Cues: a name of 1-4 capitalised words (particles such as "de", "van", "bin", "al-" allowed)
    right before ", left," / "(pictured)" and the like. Titles and sentence words in front
    ("Prime Minister", "The") are dropped from the name. When no name word stands right
    before the cue ("The building, left,", "He, right,") no cue is produced. A capitalised
    non-person is not told apart ("The Kremlin (pictured)" gives "Kremlin"): the cue records
    what the caption points at. "is pictured meeting" (no comma or bracket) is a verb, not a
    cue, and a "Pictured:" label names no one by itself.

    Args:
        raw: The caption exactly as found.

    Returns:
        The parsed caption; raw is kept unchanged. Never raises on any string.
    """
    parts = caption_parts(raw)
    return ParsedCaption(
        raw=raw,
        display=parts.display,
        label=parts.label,
        body=parts.body,
        credit=parts.credit,
        key=normalise(raw),
        body_key=normalise(parts.body),
        people=_people(parts.body),
    )


def caption_parts(raw: str) -> CaptionParts:
    """The display form, leading label, body and trailing credit of a caption, as
    :func:`parse_caption` cuts them (for showing many captions: the keys and position cues
    cost as much again). Never raises on any string."""
    display = _display(raw)
    label, rest = _split_label(display)
    body, credit = _split_credit(rest)
    return CaptionParts(display=display, label=label, body=body, credit=credit)


def _keep_punct(match: re.Match[str]) -> str:
    return match.group(1) or match.group(2)


def _display(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).translate(_INVISIBLE)
    return _SPACE_BEFORE_PUNCT_RE.sub(_keep_punct, " ".join(text.split()))


def _split_label(text: str) -> tuple[str | None, str]:
    """Split a leading label ("'Plotters':") from the text."""
    match = re.match(r"^([^:]{1,60}):(?!//)\s*", text)
    if not match or match.end() >= len(text):
        return None, text
    candidate = match.group(1).strip().strip(_QUOTES).strip()
    words = candidate.split()
    if not 1 <= len(words) <= 4 or not candidate[:1].isupper():
        return None, text
    if not all(_LABEL_WORD_RE.match(w) for w in words):
        return None, text
    if any(w.casefold().strip("'’") in _SPEECH_WORDS for w in words):
        return None, text
    if len(words) > 1 and re.search(rf"\b{_CREDIT_LABEL_WORDS}$", candidate, re.I):
        return None, text  # "Shishmakov in Belgrade Picture: Reuters" ends in a credit
    rest = text[match.end() :]
    if re.fullmatch(_CREDIT_LABEL_WORDS + r"(?:\s+(?:credits?|sources?))?", candidate, re.I) and (
        re.search(r"credit|source", candidate, re.I)
        or _clearly_credit(rest)
        or _capitalised_name(rest)
    ):
        # "Picture: Sky News" or "Credit: Jane Doe" on its own is a credit, not a labelled
        # caption; "Photo: Shishmakov meets an agent" keeps "Photo" as its label.
        return None, text
    return candidate, rest


def _split_credit(text: str) -> tuple[str, str | None]:
    """Split a trailing credit off the text; returns (body, credit)."""
    bracket = _TRAILING_BRACKET_RE.search(text)
    if bracket:
        inner = bracket.group("inner").strip()
        label = _CREDIT_LABEL_RE.match(inner)
        credit = inner[label.end() :].strip() if label else inner
        if credit and (label or _clearly_credit(inner)):
            return _trim_body(text[: bracket.start()]), credit.rstrip(".").strip()

    labelled = [m for m in _CREDIT_LABEL_RE.finditer(text) if m.group("label")[:1].isupper()]
    if labelled:
        last = labelled[-1]
        credit = text[last.end() :].strip().rstrip(".").strip()
        if credit and _short(credit) and not re.search(r"[.!?]\s", credit):
            return _trim_body(text[: last.start()]), credit

    ends = [m.end() for m in _SENTENCE_END_RE.finditer(text)]
    ends += [m.end() for m in _SEPARATOR_RE.finditer(text)]
    if ends:
        start = max(ends)
        tail = text[start:].strip().rstrip(".").strip()
        if tail and _clearly_credit(tail):
            head = text[:start].rstrip()
            head = re.sub(r"\s*[|–—-]$", "", head)
            return _trim_body(head), tail
    return text, None


def _trim_body(text: str) -> str:
    return text.rstrip(" |–—-").rstrip()


def _short(text: str) -> bool:
    return len(text.split()) <= _MAX_CREDIT_WORDS


def _clearly_credit(text: str) -> bool:
    """Whether a tail reads as a credit rather than caption prose.

    Yes for a copyright mark, a labelled credit, a single known agency ("Reuters"), a wire slash
    ("REUTERS/Marko Djurica") or a via chain whose last agent is an organisation and whose
    other agents are organisations, unnamed agents or capitalised names ("Handout").
    "He sent it via WhatsApp" and "Aid arrived via Poland" are prose.
    """
    text = text.strip()
    if not text or not _short(text):
        return False
    if re.match(r"^(?:©|\(c\)|copyright\b)", text, re.IGNORECASE):
        return True
    if _CREDIT_LABEL_RE.match(text) and text[:1].isupper():
        return True
    chain = parse_credit(text)
    if not chain.links:
        return False
    if len(chain.links) == 1:
        return is_known_organisation(chain.links[0].agent.name)
    if chain.links[-1].agent.kind != "organisation":
        return False
    return all(
        link.agent.kind in ("organisation", "anonymous", "person")
        or (link.agent.kind == "unknown" and _capitalised_name(link.agent.name))
        for link in chain.links[:-1]
    )


def _capitalised_name(text: str) -> bool:
    words = text.split()
    return 1 <= len(words) <= 4 and all(w[:1].isupper() for w in words)


def _people(body: str) -> tuple[PersonCue, ...]:
    found: list[tuple[int, PersonCue]] = []
    for pattern in (_COMMA_CUE_RE, _PAREN_CUE_RE):
        for match in pattern.finditer(body):
            if match.group("extra") and "pictured" not in match.group("cue").casefold():
                continue  # "Belgrade, right after the meeting" is no position
            name = _name_before(body[max(0, match.start() - _NAME_WINDOW) : match.start()])
            if name:
                found.append((match.start(), PersonCue(name, _normal_cue(match.group("cue")))))
    found.sort(key=lambda item: item[0])
    return tuple(cue for _, cue in found)


def _normal_cue(cue: str) -> str:
    words = [w for w in re.split(r"[\s,]+", cue.casefold()) if w and w not in ("from", "the")]
    words = [_CUE_WORDS.get(w, w) for w in words]
    if len(words) > 1 and words[0] == "pictured":
        # "pictured left" is a position; "pictured above/here" is just "pictured".
        words = words[1:] if words[1] not in ("above", "below", "here") else ["pictured"]
    return " ".join(words)


def _name_before(text: str) -> str | None:
    """The 1-4 capitalised words (particles allowed) ending right before a cue, else None."""
    taken: list[str] = []
    capitals = 0
    words = text.rstrip().split(" ")
    if len(text) >= _NAME_WINDOW:
        words = words[1:]  # the window may have cut the first word
    for word in reversed(words):
        if not word or not _NAME_WORD_RE.match(word):
            break
        bare = word.casefold().rstrip(".")
        if word[:1].isupper() or _PREFIXED_NAME_RE.match(word):
            named = [w for w in taken if w.casefold().rstrip(".") not in _NAME_SUFFIXES]
            if bare in _STOP_WORDS or capitals == 4:
                break
            # A title ends the name ("Prime Minister Milo Djukanovic") but can be a surname
            # itself when nothing else was taken ("John Major, left").
            if named and bare in _TITLE_WORDS:
                break
            if word.endswith(".") and len(word) > 4:
                break  # a sentence end, not an initial or "Jr."
            capitals += 1
        elif bare not in _NAME_PARTICLES:
            break
        taken.append(word)
    taken.reverse()
    if not any(w[:1].isupper() or _PREFIXED_NAME_RE.match(w) for w in taken):
        return None
    return " ".join(taken)

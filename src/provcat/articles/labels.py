"""Caption labels and credit tails in plain text: reading them, and the lines they break.

A scraped caption often opens with a label ("Plotters:", "'Heartbroken':") and ends with a
credit ("(Photo: PA)"). Copy-pasted pages also break captions apart or glue them together:
the label on a line of its own ("Terrified:" then the caption), or two captions on one line
("Caught on camera: ... Dressed to impress: ..."). ``join_lone_labels`` and ``split_glued``
put those back as one caption per paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
_LABEL = re.compile(
    r"^(?P<open>['\"‘“]?)(?P<label>[A-Za-z0-9][^:'\"‘’“”.!?\n]{0,48}?)(?P<close>['\"’”]?)"
    r"\s*:(?!\d)\s*(?P<rest>\S.*)$",
    re.DOTALL,
)
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

#: How far before a colon a glued label is looked for (characters): five words and the one
#: before them.
_LABEL_WINDOW = 120
# Interview markers ("Q: ... A: ...") are labels too short to start a glued caption.
_MIN_GLUED_LABEL_LETTERS = 3
#: A label printed on a line of its own: at most this many words before the colon.
MAX_LABEL_WORDS = 5
# Section labels are printed in capitals ("EXPERT VERDICT:", "KEY FACTS:") and head body copy;
# these words in capitals are caption labels all the same.
_CAPTION_LABELS_IN_CAPITALS = frozenset(("pictured", "inset", "above", "below", "left", "right"))
_CREDIT_LABEL = re.compile(r"^" + _CREDIT_KEYWORD + r"$")
# A colon inside a labelled paragraph where a second labelled caption may start: the colon
# is followed by a space and a capital, digit or opening quote.
_INNER_COLON = re.compile(r":\s+(?=['\"‘“]?[A-Z0-9])")
_LABEL_WORD = re.compile(r"^['\"‘“]?[A-Z]")
# Label words are words: "(Photo" or "2017)" before a colon is a credit or an aside.
_PLAIN_WORD = re.compile(r"^['\"‘“]?[\w'’-]+['\"’”]?$")


def is_section_label(label: str) -> bool:
    """Whether a label is a section heading ("EXPERT VERDICT", "KEY FACTS"), not a caption's."""
    letters = [ch for ch in label if ch.isalpha()]
    return (
        len(letters) > 1
        and all(ch.isupper() for ch in letters)
        and label.casefold().strip("'\"‘’“” ") not in _CAPTION_LABELS_IN_CAPITALS
    )


def lone_label(paragraph: str) -> str | None:
    """The label a paragraph consists of ("Terrified:" gives "Terrified"), if any.

    Navigation words ("Related:"), speech ("He said:") and credit keywords ("Photo:") are not
    labels. A label in capitals may be a section label ("EXPERT VERDICT:"): see
    ``join_lone_labels``.
    """
    stripped = paragraph.strip()
    if not stripped.endswith(":"):
        return None
    label = label_of(stripped + " x")
    if label is None or _CREDIT_LABEL.match(label):
        return None
    return label


def _ends_sentence(paragraph: str) -> bool:
    return paragraph.rstrip().rstrip(_CLOSE_QUOTES + ")]").endswith((".", "!", "?", "…"))


def join_lone_labels(paragraphs: Sequence[str], *, stop: Sequence[bool] = ()) -> list[str]:
    """Join each caption label printed on a line of its own to the paragraph after it.

    Args:
        paragraphs: The article's paragraphs in order.
        stop: Optional, one flag per paragraph: True where the next paragraph must not be
            joined on (a byline, a dateline, boilerplate).

    A label in capitals followed by a sentence that ends with a full stop is a section
    label and is not joined.

    Returns:
        The paragraphs, "Terrified:" and the line after it made one paragraph,
        "Terrified: <caption>" (joined with one space).
    """
    out: list[str] = []
    index = 0
    while index < len(paragraphs):
        paragraph = paragraphs[index]
        following = index + 1
        label = lone_label(paragraph)
        if (
            label is not None
            and following < len(paragraphs)
            and not (stop and stop[following])
            and lone_label(paragraphs[following]) is None
            # A label in capitals heads body copy ("EXPERT VERDICT:", then sentences) unless
            # what follows is caption-shaped, without a full stop ("DEADLY PLANS:", then a
            # caption).
            and not (is_section_label(label) and _ends_sentence(paragraphs[following]))
        ):
            out.append(f"{paragraph.strip()} {paragraphs[following]}")
            index += 2
            continue
        out.append(paragraph)
        index += 1
    return out


def split_glued(paragraph: str) -> list[str]:
    """Split a line holding two or more labelled captions into one caption each.

    Only a paragraph that itself opens with a caption label is split, at each later colon
    whose label is one to five words starting with a capital ("... in Leeds Dressed to
    impress: Sarah wore ..."). The shortest such label wins, so the end of the previous
    caption ("Leeds") is not taken into the next label. Credits ("Photo: PA"), speech
    ("He said:"), pronouns and section labels in capitals do not split.

    Returns:
        The captions in order; ``[paragraph]`` when there is nothing to split.
    """
    first = _LABEL.match(paragraph)
    if first is None or label_of(paragraph) is None:
        return [paragraph]
    parts: list[str] = []
    start = 0
    body_from = first.start("rest")
    for colon in _INNER_COLON.finditer(paragraph, body_from):
        cut = _glued_label_start(paragraph, body_from, colon.start())
        if cut is None or len(paragraph[start:cut].split()) < 4:
            continue
        parts.append(paragraph[start:cut].rstrip())
        start = cut
        body_from = colon.end()
    parts.append(paragraph[start:])
    return parts


def _glued_label_start(paragraph: str, floor: int, colon: int) -> int | None:
    """Where a label ending at ``colon`` starts, or None when the colon opens no label."""
    # Only the few words before the colon matter; looking no further keeps a hostile line
    # with thousands of colons linear.
    floor = max(floor, colon - _LABEL_WINDOW)
    before = paragraph[floor:colon]
    words = list(re.finditer(r"\S+", before))
    for count in range(1, min(MAX_LABEL_WORDS, len(words) - 1) + 1):
        first_word = words[-count]
        if not _PLAIN_WORD.match(first_word.group()):
            return None
        if not _LABEL_WORD.match(first_word.group()):
            continue
        previous = words[-count - 1].group()
        if previous.endswith(":"):
            return None
        label_text = before[first_word.start() :]
        label = label_of(f"{label_text}: x")
        if (
            label is None
            or is_section_label(label)
            or _CREDIT_LABEL.match(label)
            or sum(ch.isalpha() for ch in label) < _MIN_GLUED_LABEL_LETTERS
        ):
            return None
        return floor + first_word.start()
    return None


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

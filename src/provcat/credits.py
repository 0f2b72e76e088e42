"""Credit lines parsed into ordered provenance chains ("X via Y", wire slashes) and compared."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from provcat.credit_words import (
    ALIASES,
    ANONYMOUS_WORDS,
    GENERIC,
    KNOWN_ORGANISATIONS,
    MARKERS,
    NOTES,
    ORG_WORDS,
    PARTICLES,
    QUOTE_DASH_FOLD,
)

__all__ = [
    "PROV_TERMS",
    "ROLES",
    "AgentRef",
    "ChainLink",
    "CreditChain",
    "agent_key",
    "credits_conflict",
    "is_known_organisation",
    "parse_credit",
    "with_publisher",
]

#: Roles of a link, in chain order: who made the picture, who passed it on, who was credited
#: without saying which (a lone name), and who published it.
ROLES = ("originator", "supplier", "credited", "publisher")

#: The W3C PROV relation each role is reported with.
PROV_TERMS: Mapping[str, str] = MappingProxyType(
    {
        "originator": "prov:hadPrimarySource",
        "supplier": "prov:wasQuotedFrom",
        "credited": "prov:wasAttributedTo",
        "publisher": "prov:wasAttributedTo",
    }
)

_LABEL_RE = re.compile(
    r"^(?:(?:photo(?:graph)?s?|photography|pic(?:ture)?s?|images?|video|footage"
    r"|credits?|sources?)(?:\s+(?:credits?|sources?))?\s*[:\-–—]\s*"
    r"|(?:(?:photo(?:graph)?s?|pic(?:ture)?s?|images?|video|footage)\s+)?"
    r"(?:by|courtesy(?:\s+of)?)\s+)",
    re.IGNORECASE,
)
_PERSON_LABEL_RE = re.compile(r"^(?:photographer\s*[:\-–—]|photographed\s+by\s)\s*", re.I)
_COPYRIGHT_MARK_RE = re.compile(r"^(?:copyright\b|©|\(c\))[\s,:]*", re.IGNORECASE)
_YEAR = r"(?:19|20)\d{2}(?:\s*[-–]\s*(?:19|20)\d{2})?"
_LEADING_YEAR_RE = re.compile(rf"^{_YEAR}\b[\s,]*")
_TRAILING_YEAR_RE = re.compile(rf"[\s,]*\b{_YEAR}\.?$")
_RESERVED_RE = re.compile(r"[\s.,]*all rights reserved\.?$", re.IGNORECASE)
_VIA_SPLIT_RE = re.compile(r"\s+via\s+", re.IGNORECASE)
_LEADING_VIA_RE = re.compile(r"^via\s+", re.IGNORECASE)
_SLASH_SPLIT_RE = re.compile(r"\s*/\s*")
_PHOTO_SUFFIX_RE = re.compile(r"^(.+?)\s+(?:stock\s+|pool\s+)?photos?$", re.IGNORECASE)
_WIRE_SUFFIX_RE = re.compile(r",\s*(?:file|pool)(?:\s+photo)?$", re.IGNORECASE)
_FOR_RE = re.compile(r"^(.+?)\s+for\s+(.+)$", re.IGNORECASE)
_EDGE_CHARS = " \t,;:|*•·-–—\"'“”‘’«»‹›"
_TRUNCATION_LIMITS = (32, 64, 128, 256)  # IIM field sizes in bytes (2:110 and 2:115 are 32)


@dataclass(frozen=True)
class AgentRef:
    """One agent named in a credit.

    Attributes:
        name: The name as written, tidied (whitespace, surrounding punctuation, labels removed).
        key: agent_key(name): the identity used for matching.
        kind: "organisation", "person", "anonymous" or "unknown". "person" only when a wire
            convention or a label says so ("AP Photo/Jane Doe", "Jane Doe for X",
            "Photographer: Jane Doe"), never from capitalisation alone.
        anonymous: True when the credit says the agent is not named ("unnamed ... service").
    """

    name: str
    key: str
    kind: str
    anonymous: bool


@dataclass(frozen=True)
class ChainLink:
    """One agent in a provenance chain with its role (one of ROLES)."""

    agent: AgentRef
    role: str


@dataclass(frozen=True)
class CreditChain:
    """A credit line and the chain parsed from it, originator first.

    Attributes:
        raw: The credit exactly as given; None when no credit was stated.
        links: The agents in order from maker to publisher; empty when nothing could be read.
    """

    raw: str | None
    links: tuple[ChainLink, ...]

    @property
    def known(self) -> bool:
        """True when the credit itself names at least one agent (an appended publisher doesn't)."""
        return any(link.role != "publisher" for link in self.links)


def agent_key(name: str) -> str:
    """Return the normalised identity of an agent name, for matching.

    NFKC, casefold, quotes and dashes folded, dots and apostrophes dropped ("A.P." is "ap"),
    "&" read as "and", other punctuation turned into single spaces, a leading "the " dropped,
    and a few well-known spellings of one organisation merged ("Associated Press" is "ap").
    The result is a fixed point: agent_key(agent_key(x)) == agent_key(x).

    Args:
        name: Any text.

    Returns:
        The key; "" when the name holds no letters or digits.
    """
    key = name
    # NFKC and casefold do not commute for a few characters; iterate to the fixed point.
    for _ in range(8):
        nxt = _key_once(key)
        if nxt == key:
            break
        key = nxt
    return key


def _key_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(QUOTE_DASH_FOLD)
    text = unicodedata.normalize("NFKC", text.casefold())
    out: list[str] = []
    for ch in text:
        if ch in ".'":
            continue
        if ch == "&":
            out.append(" and ")
        elif unicodedata.category(ch)[0] in "LMN":
            out.append(ch)
        else:
            out.append(" ")
    key = " ".join("".join(out).split())
    while key.startswith("the "):
        key = key[4:]
    return ALIASES.get(key, key)


def is_known_organisation(name: str) -> bool:
    """Whether a name is one of the wire agencies, picture libraries, broadcasters or platforms
    provcat knows by name (the list that makes "A/B" a wire credit rather than one name).

    Args:
        name: An agent name as written ("REUTERS", "The Associated Press", "Twitter/X").
    """
    return agent_key(name) in KNOWN_ORGANISATIONS


def parse_credit(raw: str | None) -> CreditChain:
    """Parse a credit, by-line or source string into an ordered provenance chain.

    "X via Y (via Z)" reads as X the originator and Y, Z suppliers. Wire slashes are split only
    where one side is a known agency, a "Photo" suffix or a handout marker: "John Smith/Reuters",
    "REUTERS/Marko Djurica" and "AP Photo/Jane Doe" make the named photographer (a person) the
    originator and the agency a supplier; "AFP/Getty Images" keeps the written order; "Twitter/X"
    stays one name. "Jane Doe for Agency" reads like the slash. A lone agent is "credited": the
    text does not say whether it made or supplied the picture. "Handout", "Supplied", "Pool",
    "Social media" stay as agents of kind "unknown" (they say how the picture came, not who
    made it); "File photo" is dropped. "Photo via Reuters" names no originator, so Reuters is a
    supplier even alone. Labels ("Photo:", "Credit:", "(Photo: ...)") and copyright marks with
    their years are removed from names.

    Args:
        raw: The credit as found; None when the source gave none.

    Returns:
        The chain; raw is kept exactly. Never raises on any string.
    """
    if raw is None:
        return CreditChain(raw=None, links=())
    text, person_label = _tidy(raw)
    if not text:
        return CreditChain(raw=raw, links=())

    segments = _VIA_SPLIT_RE.split(text)
    leading = _LEADING_VIA_RE.match(segments[0])
    if leading and (
        segments[0][:3] == "via" or is_known_organisation(segments[0][leading.end() :])
    ):
        segments = ["", segments[0][leading.end() :], *segments[1:]]

    groups: list[list[AgentRef]] = []
    for index, segment in enumerate(segments):
        tidy, _ = _tidy(segment)
        if not tidy or agent_key(tidy) in GENERIC:
            groups.append([])
        else:
            groups.append(_parse_group(tidy, person_label=person_label and index == 0))
    no_originator = not groups[0] and len(groups) > 1

    links: list[ChainLink] = []
    agents = [(i, agent) for i, group in enumerate(groups) for agent in group]
    for position, (group_index, agent) in enumerate(agents):
        if no_originator:
            role = "supplier"
        elif len(agents) == 1:
            role = "credited"
        elif position == 0 or (
            group_index == agents[0][0]
            and agent.kind == "person"
            and all(a.kind == "person" for _, a in agents[:position])
        ):
            # Two photographers credited together ("Jane Doe/John Roe/Reuters") both made it.
            role = "originator"
        else:
            role = "supplier"
        links.append(ChainLink(agent=agent, role=role))
    return CreditChain(raw=raw, links=tuple(links))


def with_publisher(chain: CreditChain, publisher: str | None) -> CreditChain:
    """Append the publisher as the last link (role "publisher").

    Args:
        chain: A parsed credit.
        publisher: The name of the outlet that published the picture; None or blank adds nothing.

    Returns:
        A new chain, or ``chain`` itself when there is no publisher or the publisher is already
        the last agent of the chain.
    """
    if publisher is None:
        return chain
    name, _ = _tidy(publisher)
    if not name or not agent_key(name):
        return chain
    agent = _make_agent(name)
    if chain.links and chain.links[-1].agent.key == agent.key:
        return chain
    return CreditChain(raw=chain.raw, links=(*chain.links, ChainLink(agent, "publisher")))


def credits_conflict(a: str | None, b: str | None) -> bool:
    """Whether two credit strings for one picture contradict each other.

    Not a conflict: either side missing or naming no one; the same chain after normalisation;
    one a truncation of the other (an IIM field cut at 32/64/128/256 bytes, or text ending in an
    ellipsis); one chain a contiguous part of the other ("Sky News" vs "X via Sky News",
    "Reuters" vs "John Smith/Reuters").

    Args:
        a: One credit string, or None.
        b: The other, or None.

    Returns:
        True only when both name agents and neither explains the other ("Reuters" vs "AP").
    """
    if a is None or b is None:
        return False
    chain_a, chain_b = parse_credit(a), parse_credit(b)
    if not chain_a.known or not chain_b.known:
        return False
    if _is_truncation(a, b) or _is_truncation(b, a):
        return False
    keys_a = [link.agent.key for link in chain_a.links]
    keys_b = [link.agent.key for link in chain_b.links]
    return not (_contiguous(keys_a, keys_b) or _contiguous(keys_b, keys_a))


def _contiguous(short: list[str], long: list[str]) -> bool:
    n = len(short)
    return any(long[i : i + n] == short for i in range(len(long) - n + 1))


def _light_fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(QUOTE_DASH_FOLD).casefold()
    return " ".join(text.split())


def _is_truncation(short: str, full: str) -> bool:
    stripped = short.strip()
    ellipsis = stripped.endswith(("...", "…"))
    if ellipsis:
        stripped = stripped.rstrip(".… ")
    sizes = (len(stripped.encode("utf-8")), len(stripped))
    at_limit = any(limit - 3 <= size <= limit for limit in _TRUNCATION_LIMITS for size in sizes)
    if not (ellipsis or at_limit):
        return False
    folded_short, folded_full = _light_fold(stripped), _light_fold(full)
    return (
        bool(folded_short)
        and len(folded_short) < len(folded_full)
        and (folded_full.startswith(folded_short))
    )


def _tidy(text: str) -> tuple[str, bool]:
    """Strip whitespace, brackets, edge punctuation, labels and copyright marks to a fixed point.

    Returns the tidied text and whether a label said the agent is a photographer.
    """
    text = " ".join(text.split())
    person_label = False
    for _ in range(10):
        before = text
        text = _strip_brackets(text).strip(_EDGE_CHARS)
        if text.endswith(".") and not re.search(r"(?:^|[\s.])\w\.$", text):
            text = text[:-1]
        person = _PERSON_LABEL_RE.match(text)
        if person:
            person_label = True
            text = text[person.end() :]
        label = _LABEL_RE.match(text)
        if label and label.end() < len(text):
            text = text[label.end() :]
        mark = _COPYRIGHT_MARK_RE.match(text)
        if mark:
            text = text[mark.end() :]
            text = _LEADING_YEAR_RE.sub("", text)
            text = _RESERVED_RE.sub("", text)
            text = _TRAILING_YEAR_RE.sub("", text)
        text = _RESERVED_RE.sub("", text) if text.lower().endswith("reserved") else text
        if text == before:
            break
    return text, person_label


def _strip_brackets(text: str) -> str:
    for open_, close in (("(", ")"), ("[", "]")):
        # One pair per call: _tidy loops, and a bound keeps "((((...))))" from going quadratic.
        if len(text) >= 2 and text[0] == open_ and text[-1] == close and _outer_pair(text):
            text = text[1:-1].strip()
        if text.endswith(close) and text.count(close) > text.count(open_):
            text = text[:-1].rstrip()
        if text.startswith(open_) and text.count(open_) > text.count(close):
            text = text[1:].lstrip()
    return text


def _outer_pair(text: str) -> bool:
    """Whether the first character's bracket closes at the last character."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == text[0]:
            depth += 1
        elif ch == text[-1]:
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


def _make_agent(name: str, *, kind: str | None = None) -> AgentRef:
    key = agent_key(name)
    tokens = key.split()
    if any(t in ANONYMOUS_WORDS for t in tokens):
        return AgentRef(name=name, key=key, kind="anonymous", anonymous=True)
    if kind is None:
        if key in MARKERS:
            kind = "unknown"
        elif key in KNOWN_ORGANISATIONS or any(t in ORG_WORDS for t in tokens):
            kind = "organisation"
        else:
            kind = "unknown"
    return AgentRef(name=name, key=key, kind=kind, anonymous=False)


def _parse_group(text: str, *, person_label: bool) -> list[AgentRef]:
    """Agents of one via-segment: a wire slash group, "Name for Outlet", or one name."""
    key = agent_key(text)
    if key in NOTES:
        return []
    if key in KNOWN_ORGANISATIONS or key in MARKERS:
        return [_make_agent(text)]
    photo = _PHOTO_SUFFIX_RE.match(text)
    if photo and is_known_organisation(photo.group(1)):
        return [_make_agent(photo.group(1), kind="organisation")]
    if "/" in text:
        wire = _parse_slashes(text)
        if wire is not None:
            return wire
    single = _make_agent(text)
    for_match = _FOR_RE.match(text)
    if for_match and single.kind != "anonymous":
        left, right = for_match.group(1).strip(), _tidy(for_match.group(2))[0]
        if right and is_known_organisation(left):
            return [_make_agent(left), _make_agent(right)]
        if right and _make_agent(left).kind == "unknown" and _name_like(left):
            return [_make_agent(left, kind="person"), _make_agent(right)]
    if person_label and single.kind == "unknown":
        return [_make_agent(text, kind="person")]
    return [single]


def _parse_slashes(text: str) -> list[AgentRef] | None:
    """Split "A/B(/C)" by the wire convention, or None when it is not one."""
    parts = [_tidy(p)[0] for p in _SLASH_SPLIT_RE.split(text)]
    if any(not p or len(p.split()) > 6 for p in parts):
        return None
    makers: list[AgentRef] = []  # photographers and unnamed makers
    markers: list[AgentRef] = []
    orgs: list[AgentRef] = []
    wire = False
    named_party = False  # someone other than a wire agency who could have handed it out
    for part in parts:
        part = _WIRE_SUFFIX_RE.sub("", part)
        key = agent_key(part)
        photo = _PHOTO_SUFFIX_RE.match(part)
        if key in NOTES:
            wire = True
        elif key in MARKERS:
            wire = True
            markers.append(_make_agent(part))
        elif photo:
            wire = True
            orgs.append(_make_agent(photo.group(1), kind="organisation"))
        elif key in KNOWN_ORGANISATIONS:
            wire = True
            orgs.append(_make_agent(part))
        else:
            agent = _make_agent(part)
            named_party = True
            if agent.kind == "organisation":
                orgs.append(agent)
            elif agent.kind == "anonymous":
                makers.append(agent)
            else:
                makers.append(_make_agent(part, kind="person"))
    if not wire:
        return None
    if named_party:
        markers = []
    return makers + markers + orgs


def _name_like(text: str) -> bool:
    """2-4 capitalised words, particles allowed: the photographer slot of "Name for Outlet".

    One word is refused: "Physicians for Human Rights" is an organisation, not a by-line.
    """
    words = text.split()
    capitals = [w for w in words if w[:1].isupper()]
    return (
        2 <= len(capitals) <= 4
        and words[0][:1].isupper()
        and all(w[:1].isupper() or w.casefold().rstrip(".") in PARTICLES for w in words)
    )

"""Duplicate captions: exact groups by match key, near groups through a prefix-filtered token index.

Two captions are *exact* duplicates when their match keys (provcat.captions.normalise) are equal:
quotes, dashes, spacing and case do not count. They are *near* duplicates when their bodies
(label and trailing credit split off) are alike: the similarity is rapidfuzz's normalised Indel
similarity of the two body keys, and it must reach :data:`NEAR_THRESHOLD`, chosen on the labelled
set in ``tests/data/caption_pairs.py`` (see docs/duplicates.md).

Comparing every pair is quadratic. Candidates come instead from an inverted index with prefix
filtering (the AllPairs set-similarity join): under one fixed token order, two token sets whose
Jaccard similarity is at least ``t`` share a token among the first ``n - ceil(t * n) + 1`` of
each. Only those prefixes are indexed, rare tokens first, so a query touches a few short posting
lists. Near pairs below the Jaccard floor are never proposed: a short caption is not a copy of a
longer one that contains it.

Grouping is leader clustering: distinct keys are taken most-printed first; each joins the best
existing group representative it reaches the threshold with, or starts a group. A chain of
small edits therefore cannot drift a group away from its representative.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from provcat.captions import ParsedCaption, parse_caption, tokens

#: Body similarity (0-1) from which two captions are near duplicates.
NEAR_THRESHOLD = 0.85
#: Token-set Jaccard similarity below which two bodies are never compared.
JACCARD_FLOOR = 0.5
#: Bodies with fewer tokens than this are matched exactly only ("Pictured", "File photo").
MIN_NEAR_TOKENS = 3


@dataclass(frozen=True)
class Match:
    """A stored entry that a query reached, with its similarity."""

    entry: int
    similarity: float


class NearIndex:
    """Finds stored caption bodies similar to a query without comparing it with all of them.

    Args:
        threshold: Similarity a match must reach.
        jaccard_floor: Token-set Jaccard similarity a candidate must reach first.
        token_counts: Optional document frequencies used to order tokens rarest first, which
            keeps posting lists short; any fixed order is correct.
    """

    def __init__(
        self,
        *,
        threshold: float = NEAR_THRESHOLD,
        jaccard_floor: float = JACCARD_FLOOR,
        token_counts: Counter[str] | None = None,
    ) -> None:
        if not 0 < jaccard_floor <= 1 or not 0 < threshold <= 1:
            raise ValueError("threshold and jaccard_floor must be in (0, 1]")
        self.threshold = threshold
        self.jaccard_floor = jaccard_floor
        self._rank: dict[str, int] = {}
        if token_counts:
            ordered = sorted(token_counts, key=lambda t: (token_counts[t], t))
            self._rank = {token: i for i, token in enumerate(ordered)}
        self._unseen = 0
        self._postings: dict[str, list[int]] = {}
        self._bodies: list[str] = []
        self._sets: list[frozenset[str]] = []

    def __len__(self) -> int:
        return len(self._bodies)

    def _ordered(self, token_set: frozenset[str]) -> list[str]:
        for token in token_set:
            if token not in self._rank:
                # A token never seen is rarer than all seen; its rank, once given, never changes.
                self._unseen -= 1
                self._rank[token] = self._unseen
        return sorted(token_set, key=self._rank.__getitem__)

    def _prefix(self, token_set: frozenset[str]) -> list[str]:
        ordered = self._ordered(token_set)
        size = len(ordered) - math.ceil(self.jaccard_floor * len(ordered)) + 1
        return ordered[:size]

    def add(self, body_key: str) -> int:
        """Store a body key; returns its entry number."""
        token_set = frozenset(tokens(body_key))
        entry = len(self._bodies)
        self._bodies.append(body_key)
        self._sets.append(token_set)
        for token in self._prefix(token_set):
            self._postings.setdefault(token, []).append(entry)
        return entry

    def candidates(self, body_key: str) -> set[int]:
        """Entries that share a prefix token with the query (a superset of its matches)."""
        token_set = frozenset(tokens(body_key))
        found: set[int] = set()
        for token in self._prefix(token_set):
            found.update(self._postings.get(token, ()))
        return found

    def matches(self, body_key: str) -> list[Match]:
        """Stored entries similar to ``body_key``, most similar first."""
        query_set = frozenset(tokens(body_key))
        if len(query_set) < MIN_NEAR_TOKENS:
            return []
        out = []
        for entry in self.candidates(body_key):
            other = self._sets[entry]
            if len(other) < MIN_NEAR_TOKENS:
                continue
            overlap = len(query_set & other)
            if overlap < self.jaccard_floor * (len(query_set) + len(other) - overlap):
                continue
            similarity = Indel.normalized_similarity(body_key, self._bodies[entry])
            if similarity >= self.threshold:
                out.append(Match(entry, similarity))
        out.sort(key=lambda m: (-m.similarity, m.entry))
        return out


def similarity(a: str, b: str) -> float:
    """Similarity of two captions' bodies (what NEAR_THRESHOLD applies to), 0-1."""
    return Indel.normalized_similarity(parse_caption(a).body_key, parse_caption(b).body_key)


@dataclass(frozen=True)
class KeyGroup:
    """Distinct caption keys that are one caption: the representative first."""

    keys: tuple[str, ...]
    #: Similarity of each key's body to the representative's (1.0 for the representative).
    similarities: tuple[float, ...]

    @property
    def match(self) -> str:
        """ "exact" when the group holds one key, else "near"."""
        return "exact" if len(self.keys) == 1 else "near"

    @property
    def similarity(self) -> float:
        """The lowest similarity in the group."""
        return min(self.similarities)


def group_keys(
    counts: Counter[str] | dict[str, int],
    parsed: dict[str, ParsedCaption],
    *,
    threshold: float = NEAR_THRESHOLD,
) -> list[KeyGroup]:
    """Cluster distinct caption keys into groups of the same caption.

    Args:
        counts: How many occurrences each key has (most-printed keys lead groups).
        parsed: A parsed caption for each key (any raw text with that key).
        threshold: Near-duplicate similarity threshold.

    Returns:
        Every group, including single keys; the caller decides which are duplicated.
    """
    body_counts: Counter[str] = Counter()
    for key in counts:
        body_counts.update(set(tokens(parsed[key].body_key)))
    index = NearIndex(threshold=threshold, token_counts=body_counts)
    leaders: list[str] = []
    members: list[list[tuple[str, float]]] = []
    order = sorted(counts, key=lambda k: (-counts[k], -len(k), k))
    for key in order:
        body = parsed[key].body_key
        found = index.matches(body)
        if found:
            members[found[0].entry].append((key, found[0].similarity))
            continue
        index.add(body)
        leaders.append(key)
        members.append([(key, 1.0)])
    return [
        KeyGroup(keys=tuple(k for k, _ in group), similarities=tuple(s for _, s in group))
        for group in members
    ]


def parse_all(texts: Iterable[str]) -> tuple[list[str], Counter[str], dict[str, ParsedCaption]]:
    """Parse captions once each: their keys in order, how often each key occurs, and one
    parsed caption per key (the first seen)."""
    keys: list[str] = []
    counts: Counter[str] = Counter()
    parsed: dict[str, ParsedCaption] = {}
    cache: dict[str, str] = {}
    for text in texts:
        key = cache.get(text)
        if key is None:
            caption = parse_caption(text)
            key = cache[text] = caption.key
            parsed.setdefault(key, caption)
        keys.append(key)
        counts[key] += 1
    return keys, counts, parsed


def find_duplicates(texts: Sequence[str], *, threshold: float = NEAR_THRESHOLD) -> list[list[int]]:
    """Indices of ``texts`` grouped into duplicated captions (groups of two or more).

    The plain-text entry point used by the benchmark and by anyone with a list of captions.
    """
    keys, counts, parsed = parse_all(texts)
    groups = group_keys(counts, parsed, threshold=threshold)
    group_of = {key: number for number, group in enumerate(groups) for key in group.keys}
    by_group: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        by_group.setdefault(group_of[key], []).append(i)
    return [ids for ids in by_group.values() if len(ids) > 1]

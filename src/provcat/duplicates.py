"""Duplicate captions: exact groups by match key, near groups through a rare-token index.

Two captions are *exact* duplicates when their match keys (provcat.captions.normalise) are equal:
quotes, dashes, spacing and case do not count. They are *near* duplicates when their bodies
(label and trailing credit split off, so a changed label or credit alone is near) differ only by
the edits a republished caption picks up, word by word:

- at most :data:`MAX_DROPPED` words dropped or added, and
- at most :data:`MAX_SPELLING` words respelt, each by a letter or two (``Sindjelic`` /
  ``Sindjelich``, ``Aleksandar`` / ``Alexsandar``); a word replaced by another word, or any
  change to a number, is a different claim and never near;
- in all no more than :func:`edit_budget` of the shorter caption's distinct words (one per
  four words, one at least, :data:`MAX_EDITS` at most): dropping two words of a five-word
  caption makes another caption;

and their similarity (rapidfuzz's normalised Indel similarity of the body keys, 0-1) reaches
:data:`NEAR_THRESHOLD`. The threshold was chosen on the labelled pairs in
``tests/data/caption_pairs.py`` (``bench/caption_threshold.py``; docs/duplicates.md).

Comparing every pair is quadratic. A caption ``x`` near ``y`` has at most ``edit_budget(|x|)``
of its distinct words missing from ``y`` (and the other way round), so under one fixed word
order the two share at least two of each other's ``edit_budget(n) + 2`` rarest words (the
prefix filter of set-similarity joins; every caption long enough to be matched has two words
in common with any caption near it). Grouping a set takes each caption's *pairs* of rarest
words (pairs of rare words are far more selective than single words, so few captions share
one as the set grows) and verifies only captions that share a pair. Word subsets are not
near: a short caption is not a copy of a longer one. One query against a set
(:func:`near_keys`) compares each caption in turn, most passed over on their lengths alone.

Grouping is leader clustering: distinct keys are taken most-printed first; each joins the best
existing group leader it is near, or starts a group, so a chain of small edits cannot drift a
group away from its leader.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from rapidfuzz.distance import Indel, Levenshtein

from provcat.captions import match_keys, tokens

#: Body similarity (0-1) a near duplicate must also reach.
NEAR_THRESHOLD = 0.85
#: Words that may be dropped (or added) between near duplicates.
MAX_DROPPED = 2
#: Words that may be respelt between near duplicates.
MAX_SPELLING = 2
#: Letters a respelt word may differ by (and at most a third of the word).
MAX_LETTERS = 2
#: Bodies with fewer words than this are matched exactly only ("Pictured", "File photo").
MIN_NEAR_TOKENS = 3
#: Words a near caption has in common with the other among their indexed words.
SHARED = 2


#: Most dropped-plus-respelt words allowed between near captions of any length.
MAX_EDITS = 3


def edit_budget(distinct_words: int) -> int:
    """Most dropped-plus-respelt words allowed between near captions, by the shorter's length."""
    return min(MAX_EDITS, max(1, distinct_words // 4))


@dataclass(frozen=True)
class WordEdits:
    """How two bodies differ, word by word."""

    dropped: int
    respelt: int
    replaced: int

    def near(self, distinct_words: int) -> bool:
        """Within the edits a republished caption picks up, for a caption of this length."""
        return (
            self.replaced == 0
            and self.dropped <= MAX_DROPPED
            and self.respelt <= MAX_SPELLING
            and self.dropped + self.respelt <= edit_budget(distinct_words)
        )


def _respelling(a: str, b: str) -> bool:
    if any(ch.isdigit() for ch in a + b):
        return False  # 2016 and 2017 are different claims, not a typo
    letters = Levenshtein.distance(a, b)
    return letters <= MAX_LETTERS and letters <= max(len(a), len(b)) // 3


def word_edits(a: Sequence[str], b: Sequence[str]) -> WordEdits:
    """Align two word sequences and count dropped, respelt and replaced words.

    A word-level Levenshtein alignment is optimal for plain edit counts but not unique, and
    which one it picks depends on the direction; the kinder of the two directions is taken,
    so the answer is the same either way round.
    """
    one, other = _word_edits(a, b), _word_edits(b, a)
    return min(one, other, key=lambda e: (e.replaced, e.dropped, e.respelt))


def _word_edits(a: Sequence[str], b: Sequence[str]) -> WordEdits:
    dropped = respelt = replaced = 0
    stretches: list[tuple[int, int, int, int]] = []
    for op in Levenshtein.opcodes(list(a), list(b)):
        if op.tag == "equal":
            continue
        a0, a1, b0, b1 = op.src_start, op.src_end, op.dest_start, op.dest_end
        # Adjacent changes (a replace next to a delete) are one changed stretch, so the
        # pairing inside it can be chosen as a whole.
        if stretches and stretches[-1][1] == a0 and stretches[-1][3] == b0:
            stretches[-1] = (stretches[-1][0], a1, stretches[-1][2], b1)
        else:
            stretches.append((a0, a1, b0, b1))
    for a0, a1, b0, b1 in stretches:
        block = _align_block(a[a0:a1], b[b0:b1])
        dropped += block.dropped
        respelt += block.respelt
        replaced += block.replaced
    return WordEdits(dropped=dropped, respelt=respelt, replaced=replaced)


def _align_block(a: Sequence[str], b: Sequence[str]) -> WordEdits:
    """Pair the words of one replaced stretch so that as many pairs as possible are respellings.

    Every word of the shorter side is paired, in order, with a word of the longer side; the
    longer side's other words are dropped. "ship Aurora" against "Aurorra" is then a dropped
    word and a respelling, not a replacement.
    """
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    extra = len(long_) - len(short)
    if len(short) * (extra + 1) > 400:  # a long rewritten stretch is no near duplicate anyway
        return WordEdits(dropped=extra, respelt=0, replaced=len(short))
    # best[i][k]: most respellings pairing short[i:] when k of the extra words are still unused
    best = [[0] * (extra + 1) for _ in range(len(short) + 1)]
    for i in range(len(short) - 1, -1, -1):
        for k in range(extra + 1):
            # short[i] pairs with long_[i + (extra - k)]; or skip one more long word first.
            j = i + (extra - k)
            take = best[i + 1][k] + _respelling(short[i], long_[j])
            skip = best[i][k - 1] if k > 0 else -1
            best[i][k] = max(take, skip)
    respelt = best[0][extra] if short else 0
    return WordEdits(dropped=extra, respelt=respelt, replaced=len(short) - respelt)


def near_keys(
    body_key: str, bodies: Mapping[str, str], *, threshold: float = NEAR_THRESHOLD
) -> dict[str, float]:
    """Every key whose body is near ``body_key`` (the module's rule), with its similarity.

    For one query each body is compared in turn, the cheapest test first: bodies whose
    lengths alone keep their similarity under the threshold are passed over without being
    cut into words. An index of every body costs more to make than this (`match-caption` at
    10^6 printings took 48.9 s and 2.75 GB through one; this scan of 878,002 distinct bodies
    takes 2.2 s: docs/scale.md, session 37); it pays only for many queries, which
    :func:`group_keys` makes from arrays.
    """
    _check(threshold)
    words = tokens(body_key)
    if len(words) < MIN_NEAR_TOKENS:
        return {}
    word_set = frozenset(words)
    size = len(body_key)
    found = {}
    for key, other in bodies.items():
        total = size + len(other)
        # Indel similarity is 1 - distance / total, and the distance is at least the lengths'
        # difference: the same arithmetic as rapidfuzz's, so never above the true figure.
        if 1 - abs(size - len(other)) / total < threshold:
            continue
        similarity = _near(body_key, words, word_set, other, threshold)
        if similarity is not None:
            found[key] = similarity
    return found


def _near(
    body_key: str, words: Sequence[str], word_set: frozenset[str], other_body: str, threshold: float
) -> float | None:
    """The similarity of two bodies when they are near (the module's rule), else None.

    Candidates are few, so the other body's words are made here rather than kept for all.
    """
    other = tokens(other_body)
    if len(other) < MIN_NEAR_TOKENS or abs(len(other) - len(words)) > MAX_DROPPED:
        return None
    other_set = frozenset(other)
    # Cheap necessary condition before the alignment: few distinct words differ.
    budget = edit_budget(min(len(word_set), len(other_set)))
    if len(word_set - other_set) > budget or len(other_set - word_set) > budget:
        return None
    similarity = Indel.normalized_similarity(body_key, other_body)
    if similarity < threshold:
        return None
    if word_edits(words, other).near(min(len(word_set), len(other_set))):
        return similarity
    return None


def all_apart(bodies: Sequence[str], *, threshold: float = NEAR_THRESHOLD) -> bool:
    """True when no body is near another, each taken both ways round by the test
    :func:`group_keys` joins a key to a group's leader with: then each key is a group of its
    own, and grouping them needs no index. For a few bodies (a photo's captions): every
    pair is compared, the lengths first."""
    _check(threshold)
    cut = [(body, tokens(body)) for body in bodies]
    for (a, words), (b, _) in itertools.permutations(cut, 2):
        if 1 - abs(len(a) - len(b)) / max(1, len(a) + len(b)) < threshold:
            continue  # the lengths alone keep them apart (as in near_keys)
        if _near(a, words, frozenset(words), b, threshold) is not None:
            return False
    return True


def similarity(a: str, b: str) -> float:
    """Similarity of two captions' bodies (what NEAR_THRESHOLD applies to), 0-1."""
    return Indel.normalized_similarity(match_keys(a)[1], match_keys(b)[1])


def are_near(a: str, b: str, *, threshold: float = NEAR_THRESHOLD) -> bool:
    """Whether two captions are the same caption, exactly or nearly (the rule above)."""
    key_a, body_a = match_keys(a)
    key_b, body_b = match_keys(b)
    if key_a == key_b:
        return True
    words_a, words_b = tokens(body_a), tokens(body_b)
    if min(len(words_a), len(words_b)) < MIN_NEAR_TOKENS:
        return body_a == body_b and bool(body_a)
    return Indel.normalized_similarity(body_a, body_b) >= threshold and word_edits(
        words_a, words_b
    ).near(min(len(set(words_a)), len(set(words_b))))


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
    counts: Mapping[str, int],
    bodies: Mapping[str, str],
    *,
    threshold: float = NEAR_THRESHOLD,
) -> list[KeyGroup]:
    """Cluster distinct caption keys into groups of the same caption.

    Args:
        counts: How many occurrences each key has (most-printed keys lead groups).
        bodies: The body key (label and credit split off) of each key.
        threshold: Near-duplicate similarity threshold.

    Returns:
        Every group, including single keys; the caller decides which are duplicated.
    """
    _check(threshold)
    with _paused_gc():
        return _group_keys(counts, bodies, threshold)


def _check(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")


@contextlib.contextmanager
def _paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small acyclic objects are built.

    Each collection walks every live container, so building the index with it running costs
    about as much again as the work itself; nothing built here forms cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _group_keys(
    counts: Mapping[str, int], bodies: Mapping[str, str], threshold: float
) -> list[KeyGroup]:
    order = sorted(counts, key=lambda k: (-counts[k], -len(k), k))
    words = _KeyWords(order, bodies)
    members: list[list[tuple[str, float]]] = []
    # The group each leader leads (-1: not a leader). Candidates come in position order and
    # a later one replaces the best only when more similar: of equals, the earlier leads.
    group_of = np.full(len(order), -1, dtype=np.int64)
    for first, earlier, ptr in words.candidate_blocks():
        for offset in range(len(ptr) - 1):
            position = first + offset
            key = order[position]
            best: tuple[float, int] | None = None
            low, high = ptr[offset], ptr[offset + 1]
            if low < high:
                candidates = earlier[low:high]
                leaders = candidates[group_of[candidates] >= 0]
                if leaders.size:
                    body = bodies[key]
                    key_words = tokens(body)
                    word_set = frozenset(key_words)
                    for leader in leaders.tolist():
                        found = _near(body, key_words, word_set, bodies[order[leader]], threshold)
                        if found is not None and (best is None or found > best[0]):
                            best = (found, leader)
            if best is None:
                group_of[position] = len(members)
                members.append([(key, 1.0)])
            else:
                members[group_of[best[1]]].append((key, best[0]))
    return [
        KeyGroup(keys=tuple(k for k, _ in group), similarities=tuple(s for _, s in group))
        for group in members
    ]


#: Candidate pairs made at once while grouping (the arrays that make them take about 40 bytes
#: a pair): bounds the memory a set of captions sharing the same rare words can take,
#: whatever their number.
_PAIRS_AT_ONCE = 1_000_000
#: Keys whose indexed words are ranked at once, and word-pair rows sorted at once.
_KEYS_AT_ONCE = 65_536
_ROWS_AT_ONCE = 2_000_000


def _run_starts(ordered: np.ndarray) -> np.ndarray:
    """True where a run of equal values of a sorted array starts."""
    starts = np.ones(ordered.size, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    return starts


class _KeyWords:
    """The indexed word pairs of every key to group, as arrays, and the candidate pairs they give.

    Each key's words are numbered, ranked rarest first by how many keys hold them (ties by
    the word), and every pair of a key's ``edit_budget + SHARED`` rarest is one integer. Two
    keys sharing such a pair are candidates; the later (in grouping order) is verified
    against the earlier when the earlier leads a group: what looking the later up in an index
    of the leaders so far finds (how it was done until session 37). Held as arrays (12 bytes
    a row kept), not as an int, a list and a dictionary slot per posting: 10^6 captions'
    index took 1.4 GB that way (docs/scale.md).
    """

    def __init__(self, order: Sequence[str], bodies: Mapping[str, str]) -> None:
        ids = array("i")
        ends = array("q")
        lengths = array("i")
        numbers: dict[str, int] = {}
        for key in order:
            words = tokens(bodies[key])
            lengths.append(len(words))
            # setdefault's default is read before the insert: a new word gets the next number.
            ids.extend([numbers.setdefault(w, len(numbers)) for w in set(words)])
            ends.append(len(ids))
        self.count = len(order)
        self.lengths = np.frombuffer(lengths, dtype=np.int32) if lengths else np.zeros(0, np.int32)
        self._pairs = self._word_pairs(
            np.frombuffer(ids, dtype=np.int32) if ids else np.zeros(0, np.int32),
            np.frombuffer(ends, dtype=np.int64) if ends else np.zeros(0, np.int64),
            list(numbers),
        )

    def _word_pairs(
        self, ids: np.ndarray, ends: np.ndarray, names: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows (pair, position) of every pair that two or more keys' rarest words share, the
        rows of one pair together, by ascending position."""
        prefix = self._prefixes(ids, ends, names)
        held = len(names)
        indexed = (prefix >= 0).sum(axis=1)
        total = int((indexed * (indexed - 1) // 2).sum())
        # Rows are made and sorted a share of the pairs at a time (by the pair's remainder),
        # so that no more than about _ROWS_AT_ONCE are held while sorting.
        shares = max(1, -(-total // _ROWS_AT_ONCE))
        width = prefix.shape[1]
        pairs, positions = [], []
        for share in range(shares):
            found, where = [], []
            for a, b in itertools.combinations(range(width), 2):
                rows = np.flatnonzero(prefix[:, b] >= 0)
                pair = prefix[rows, a].astype(np.int64) * held + prefix[rows, b]
                mine = pair % shares == share
                found.append(pair[mine])
                where.append(rows[mine].astype(np.int32))
            pair, position = np.concatenate(found), np.concatenate(where)
            del found, where
            by_pair = np.lexsort((position, pair))
            pair, position = pair[by_pair], position[by_pair]
            first = _run_starts(pair)
            last = np.ones(pair.size, dtype=bool)
            last[:-1] = first[1:]
            shared = ~(first & last)
            pairs.append(pair[shared])
            positions.append(position[shared])
        return np.concatenate(pairs), np.concatenate(positions)

    def _prefixes(self, ids: np.ndarray, ends: np.ndarray, names: list[str]) -> np.ndarray:
        """Each key's indexed words' ranks, rarest first, -1 past them (a key too short to be
        near anything has none), made a block of keys at a time to bound the arrays."""
        held = len(names)
        frequency = np.bincount(ids, minlength=held).tolist()
        rarest = sorted(range(held), key=lambda word: (frequency[word], names[word]))
        rank = np.empty(held, dtype=np.int64)
        rank[rarest] = np.arange(held, dtype=np.int64)
        distinct = np.diff(ends, prepend=0)
        starts = ends - distinct
        prefix = np.full((self.count, MAX_EDITS + SHARED), -1, dtype=np.int32)
        for first in range(0, self.count, _KEYS_AT_ONCE):
            stop = min(self.count, first + _KEYS_AT_ONCE)
            low, high = int(starts[first]), int(ends[stop - 1])
            owner = np.repeat(np.arange(stop - first, dtype=np.int64), distinct[first:stop])
            # Sorted by owner, then rank: owners are already in order.
            ranked = np.sort(owner * held + rank[ids[low:high]]) - owner * held
            within = np.arange(high - low, dtype=np.int64) - (starts[first:stop] - low)[owner]
            budget = np.minimum(MAX_EDITS, np.maximum(1, distinct[first:stop] // 4)) + SHARED
            long_enough = self.lengths[first:stop] >= MIN_NEAR_TOKENS
            indexed = (within < budget[owner]) & long_enough[owner]
            prefix[first + owner[indexed], within[indexed]] = ranked[indexed]
        return prefix

    def candidate_blocks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Blocks of consecutive positions, each as (first position, earlier, ptr): the
        candidates of the block's k-th position are ``earlier[ptr[k]:ptr[k + 1]]``, distinct
        earlier positions, ascending, whose lengths differ from its by no more than
        MAX_DROPPED words (what the index checks first)."""
        pair, position = self._pairs
        starts = np.flatnonzero(_run_starts(pair))
        group_start = np.repeat(starts, np.diff(starts, append=pair.size))
        before = np.arange(pair.size, dtype=np.int64) - group_start
        # The rows with earlier rows in their pair, by position, so a block's are a slice.
        rows = np.flatnonzero(before > 0)
        rows = rows[np.argsort(position[rows], kind="stable")]
        at = position[rows]
        cumulative = np.cumsum(np.bincount(at, weights=before[rows], minlength=self.count))
        first = 0
        while first < self.count:
            done = cumulative[first - 1] if first else 0.0
            stop = int(np.searchsorted(cumulative, done + _PAIRS_AT_ONCE, side="right"))
            stop = min(self.count, max(stop, first + 1))
            low, high = np.searchsorted(at, [first, stop])
            mine = rows[low:high]
            yield (
                first,
                *self._block(first, stop, position, group_start[mine], before[mine], at[low:high]),
            )
            first = stop

    def _block(
        self,
        first: int,
        stop: int,
        position: np.ndarray,
        group_start: np.ndarray,
        before: np.ndarray,
        at: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The candidate pairs of rows at positions ``at`` (in [first, stop)), each with the
        ``before`` rows ahead of it from ``group_start``: deduplicated, by position."""
        total = int(before.sum())
        later = np.repeat(at.astype(np.int64), before)
        step = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(before) - before, before)
        earlier = position[np.repeat(group_start, before) + step].astype(np.int64)
        del step
        close = np.abs(self.lengths[later] - self.lengths[earlier]) <= MAX_DROPPED
        joined = later[close] * self.count + earlier[close]
        del later, earlier, close
        joined.sort()
        joined = joined[_run_starts(joined)]
        later, earlier = joined // self.count, joined % self.count
        ptr = np.searchsorted(later, np.arange(first, stop + 1))
        return earlier, ptr


@dataclass(frozen=True)
class ParsedSet:
    """Captions reduced to what grouping needs."""

    #: The match key of each caption, in input order.
    keys: list[str]
    #: The body key of each distinct key (the key itself when the caption has no label or
    #: credit: one string, not two).
    bodies: dict[str, str]
    #: The first raw text seen with each key.
    raw: dict[str, str]

    @cached_property
    def counts(self) -> Counter[str]:
        """How many captions have each key (made when first asked for)."""
        return Counter(self.keys)


#: From this many distinct texts on, parsing is spread over worker processes.
PARALLEL_FROM = 50_000


@contextlib.contextmanager
def keying(
    workers: int | None, *, parallel_from: int
) -> Iterator[Callable[[Sequence[str]], Iterable[tuple[str, str]]]]:
    """A function giving :func:`provcat.captions.match_keys` of each of a list of captions,
    in order, for as long as the context lasts: in ``workers`` processes (one per CPU when
    None, and then only for a list of ``parallel_from`` or more), started at the first list
    that uses them and kept for the next; here otherwise."""
    count = (os.cpu_count() or 1) if workers is None else workers
    with contextlib.ExitStack() as stack:
        pool: list[ProcessPoolExecutor] = []

        def keys_of(texts: Sequence[str]) -> Iterable[tuple[str, str]]:
            if count < 2 or (workers is None and len(texts) < parallel_from):
                return map(match_keys, texts)
            if not pool:
                pool.append(stack.enter_context(ProcessPoolExecutor(max_workers=count)))
            chunk = max(500, len(texts) // (count * 8))
            return pool[0].map(match_keys, texts, chunksize=chunk)

        yield keys_of


def parse_all(
    texts: Iterable[str],
    *,
    workers: int | None = None,
    known: Iterable[tuple[str, str] | None] | None = None,
) -> ParsedSet:
    """Compute every caption's keys once per distinct text.

    Args:
        texts: Raw captions.
        workers: Processes to parse with; default: one per CPU when there are
            PARALLEL_FROM distinct texts or more to parse, else none.
        known: Each text's keys as :func:`provcat.captions.match_keys` gives them, where
            they are known (the keys a catalogue stores with its printings), else None; in
            the order of ``texts``. Only the texts without them are parsed.
    """
    texts = list(texts)
    stored = list(known) if known is not None else [None] * len(texts)
    if len(stored) != len(texts):
        raise ValueError(f"{len(stored)} known keys for {len(texts)} captions")
    # Each distinct text's (key, body) to make, filled in place: no second table of them.
    of_text: dict[str, tuple[str, str]] = dict.fromkeys(
        (text for text, pair in zip(texts, stored, strict=True) if pair is None), ("", "")
    )
    distinct = list(of_text)
    with keying(workers, parallel_from=PARALLEL_FROM) as keys_of:
        for text, found in zip(distinct, keys_of(distinct), strict=True):
            of_text[text] = found
    del distinct
    with _paused_gc():
        keys: list[str] = []
        bodies: dict[str, str] = {}
        raw: dict[str, str] = {}
        for text, pair in zip(texts, stored, strict=True):
            key, body = of_text[text] if pair is None else pair
            keys.append(key)
            if key not in bodies:
                bodies[key] = body
                raw[key] = text
        return ParsedSet(keys=keys, bodies=bodies, raw=raw)


def find_duplicates(
    texts: Sequence[str], *, threshold: float = NEAR_THRESHOLD, workers: int | None = None
) -> list[list[int]]:
    """Indices of ``texts`` grouped into duplicated captions (groups of two or more).

    The plain-text entry point used by the benchmark and by anyone with a list of captions.
    """
    parsed = parse_all(texts, workers=workers)
    groups = group_keys(parsed.counts, parsed.bodies, threshold=threshold)
    group_of = {key: number for number, group in enumerate(groups) for key in group.keys}
    by_group: dict[int, list[int]] = {}
    for i, key in enumerate(parsed.keys):
        by_group.setdefault(group_of[key], []).append(i)
    return [ids for ids in by_group.values() if len(ids) > 1]

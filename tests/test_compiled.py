"""The candidate stage's compiled passes give what their NumPy reference gives, and refuse
input that would read or write out of bounds."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provcat.reuse import compiled, postings, word_file
from provcat.reuse.postings import Counted, Postings, _tally, _tally_numpy
from provcat.reuse.word_file import WordFile

pytestmark = pytest.mark.skipif(
    not compiled.built() and os.environ.get(compiled.ENVIRONMENT) == "0",
    reason="the extension is not built, and PROVCAT_COMPILED=0 says so on purpose",
)


def _find(words: np.ndarray, keys: np.ndarray, fence_bits: int, *, active: bool) -> Any:
    """``WordFile._find`` on a file of these words (each posted by ``word % 7`` images, of
    which it keeps ``word % 3``), by the compiled pass or by NumPy."""
    kept = (words % 3).astype(np.int64)
    holder = SimpleNamespace(
        words=words,
        fence=words[:: 1 << fence_bits].copy(),
        counts=(words % 7).astype(np.int32),
        starts=np.concatenate([[0], np.cumsum(kept)]).astype(np.int64),
        ids=np.zeros(int(kept.sum()), dtype=np.int32),
    )
    holder._locate = lambda wanted: WordFile._locate(holder, wanted)  # type: ignore[arg-type]
    saved = word_file.FENCE_BITS, word_file.FENCE, compiled.active
    word_file.FENCE_BITS, word_file.FENCE, compiled.active = fence_bits, 1 << fence_bits, active
    try:
        return WordFile._find(holder, keys)  # type: ignore[arg-type]
    finally:
        word_file.FENCE_BITS, word_file.FENCE, compiled.active = saved


@pytest.mark.parametrize("fence_bits", [0, 1, 3, 10])
@pytest.mark.parametrize("size", [1, 2, 7, 1024, 1025, 5000])
def test_finding_words_gives_what_numpy_gives(fence_bits: int, size: int) -> None:
    rng = np.random.default_rng(size * 31 + fence_bits)
    words = np.sort(rng.choice(1 << 30, size=size, replace=False)).astype(np.int32)
    if size == 5000:  # words crowded at both ends, where a page's guess is far off
        words = np.sort(np.concatenate([words[:2000] % 5000, words[2000:]]))
        words = np.unique(words).astype(np.int32)
    keys = np.unique(
        np.concatenate(
            [
                rng.choice(words, size=min(words.size, 300)),  # present
                rng.integers(-5, (1 << 30) + 5, size=300),  # mostly absent, some past the ends
                [int(words[0]) - 1, int(words[-1]) + 1, -(1 << 31), (1 << 31) - 1],
            ]
        ).astype(np.int64)
    )
    fast = _find(words, keys, fence_bits, active=True)
    reference = _find(words, keys, fence_bits, active=False)
    for field in ("hit", "counts", "starts", "lengths"):
        assert np.array_equal(getattr(fast, field), getattr(reference, field)), field
    # And what both mean.
    assert np.array_equal(fast.hit, np.isin(keys, words))
    assert fast.hit.sum() >= min(words.size, 300) // 2
    at = np.searchsorted(words, keys[fast.hit])
    assert np.array_equal(fast.counts[fast.hit], words[at] % 7)
    assert np.array_equal(fast.lengths[fast.hit], words[at] % 3)
    assert not fast.counts[~fast.hit].any()


def test_the_rows_of_keys_in_no_order_are_found_too() -> None:
    words = np.arange(0, 40_000, 4, dtype=np.int32)
    keys = np.random.default_rng(5).permutation(np.arange(0, 40_000, 3)).astype(np.int64)
    fast = _find(words, keys, 10, active=True)
    assert np.array_equal(fast.hit, keys % 4 == 0)


def test_finding_in_no_words_finds_nothing() -> None:
    found = _find(np.zeros(0, np.int32), np.array([1, 2], np.int64), 10, active=True)
    assert not found.hit.any()
    assert found.counts.tolist() == [0, 0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**40), 2**40), max_size=60),
    st.lists(st.integers(-(2**40), 2**40), max_size=60),
    st.booleans(),
)
def test_among_is_numpys_isin(values: list[int], listed: list[int], ordered: bool) -> None:
    asked = np.array(sorted(values) if ordered else values, dtype=np.int64)
    sorted_listed = np.unique(np.array(listed, dtype=np.int64))
    assert np.array_equal(compiled.among(asked, sorted_listed), np.isin(asked, sorted_listed))


@st.composite
def _counted(draw: st.DrawFn) -> tuple[list[Counted], int]:
    queries = draw(st.integers(1, 3))
    regime = draw(st.sampled_from(["direct", "table", "sorted"]))
    top = {"direct": 60, "table": 100_000, "sorted": (1 << 31) - 1}[regime]
    sources = []
    for _ in range(draw(st.integers(1, 3))):
        store = np.array(
            draw(st.lists(st.integers(0, top), min_size=0, max_size=60)), dtype=np.int32
        )
        rows = draw(st.integers(0, 8))
        starts, lengths = [], []
        for _ in range(rows):
            start = draw(st.integers(0, store.size))
            starts.append(start)
            lengths.append(draw(st.integers(0, store.size - start)))
        weights = draw(
            st.lists(st.floats(0.0, 12.0, allow_nan=False), min_size=rows, max_size=rows)
        )
        patterns = draw(st.lists(st.integers(1, (1 << queries) - 1), min_size=rows, max_size=rows))
        sources.append(
            Counted(
                Postings(store, np.array(starts, np.int64), np.array(lengths, np.int64)),
                np.array(weights, np.float64),
                np.array(patterns, np.int64),
            )
        )
    return sources, queries


def _by_id(tallied: Any) -> dict[int, tuple[list[int], list[float]]]:
    ids, counts, scores = tallied
    slots = np.flatnonzero(counts.sum(axis=1))
    named = slots if ids is None else ids[slots]
    return {
        int(image): (counts[slot].tolist(), scores[slot].round(9).tolist())
        for image, slot in zip(named, slots, strict=True)
    }


@settings(max_examples=300, deadline=None)
@given(_counted())
def test_tally_counts_what_numpy_counts(case: tuple[list[Counted], int]) -> None:
    counted, queries = case
    saved = compiled.active
    compiled.active = True
    try:
        fast = _tally(counted, queries)
    finally:
        compiled.active = saved
    reference = _tally_numpy(counted, queries)
    assert (fast is None) == (reference is None)
    if fast is not None:
        assert _by_id(fast) == _by_id(reference)


def test_tally_renumbers_ids_far_apart_and_counts_each_query() -> None:
    store = np.array([5, 2_000_000_000, 5, 7], dtype=np.int32)
    counted = [
        Counted(
            Postings(store, np.array([0, 2], np.int64), np.array([2, 2], np.int64)),
            np.array([1.5, 0.25]),
            np.array([0b01, 0b11], np.int64),
        )
    ]
    tallied = _tally(counted, 2)
    assert tallied is not None
    assert _by_id(tallied) == {
        5: ([2, 1], [1.75, 0.25]),
        7: ([1, 1], [0.25, 0.25]),
        2_000_000_000: ([1, 0], [1.5, 0.0]),
    }


def _postings(store: list[int], starts: list[int], lengths: list[int]) -> Postings:
    return Postings(
        np.array(store, np.int32), np.array(starts, np.int64), np.array(lengths, np.int64)
    )


@pytest.mark.parametrize(
    ("piece", "message"),
    [
        (_postings([1, 2, 3], [2], [2]), "lies outside the 3 items stored"),
        (_postings([1, 2, 3], [-1], [1]), "lies outside"),
        (_postings([1, 2, 3], [0], [-1]), "lies outside"),
        (_postings([1, -4, 3], [0], [3]), "negative image id -4"),
    ],
)
def test_a_damaged_store_is_refused_not_read_out_of_bounds(piece: Postings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compiled.largest(piece)


def test_an_id_outside_the_counts_is_refused() -> None:
    counts = np.zeros((4, 1), np.int32)
    scores = np.zeros((4, 1))
    piece = _postings([1, 2, 9], [0], [3])
    with pytest.raises(ValueError, match="image id 9 lies outside the 4 counted"):
        compiled.tally(piece, np.ones(1), np.ones(1, np.int64), None, counts, scores)
    slots = np.array([0, 1, -1], np.int32)  # id 2 is not among the ids renumbered
    with pytest.raises(ValueError, match="image id 2"):
        compiled.tally(
            _postings([1, 2], [0], [2]), np.ones(1), np.ones(1, np.int64), slots, counts, scores
        )
    with pytest.raises(ValueError, match="image id 5 lies outside the 3 marked"):
        compiled.mark(_postings([1, 5], [0], [2]), np.zeros(3, np.uint8))
    with pytest.raises(TypeError):
        compiled.tally(
            piece, np.ones(1), np.ones(1, np.int64), None, counts.astype(np.int64), scores
        )


def test_every_query_bit_is_counted() -> None:
    queries = postings.QUERIES_MAX
    counts = np.zeros((2, queries), np.int32)
    scores = np.zeros((2, queries))
    pattern = np.array([(1 << queries) - 1], np.int64)
    compiled.tally(_postings([1], [0], [1]), np.array([0.5]), pattern, None, counts, scores)
    assert counts[1].tolist() == [1] * queries
    assert scores[1].tolist() == [0.5] * queries
    assert not counts[0].any()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_word_pairs_are_numpys_bit_for_bit(rows: int, seed: int) -> None:
    """The words a stored image posts are in the catalogue: the compiled pass must give the
    very words the NumPy one gives, or look-ups would miss what was posted before."""
    descriptors = np.random.default_rng(seed).integers(0, 256, size=(rows, 32), dtype=np.uint8)
    saved = compiled.active
    try:
        compiled.active = True
        fast = postings.word_pairs(descriptors)
        compiled.active = False
        reference = postings.word_pairs(descriptors)
    finally:
        compiled.active = saved
    for mine, theirs in zip(fast, reference, strict=True):
        assert mine.dtype == theirs.dtype
        assert np.array_equal(mine, theirs)
    # Every bit of a descriptor reaches the words: all ones and all zeros are told apart.
    ones = postings.word_pairs(np.full((1, 32), 255, np.uint8))
    zeros = postings.word_pairs(np.zeros((1, 32), np.uint8))
    assert (ones[0] != zeros[0]).all()
    assert (ones[1] != zeros[1]).all()


@pytest.mark.parametrize(
    ("tables", "bits", "long_bits"), [(4, 24, 40), (4, 5, 7), (2, 8, 30), (3, 10, 20), (8, 3, 31)]
)
def test_word_pairs_follow_the_rules_given(tables: int, bits: int, long_bits: int) -> None:
    """Four tables take a faster path (each byte gives two bits to every table); other rules
    take the general one. Both give the words of the rule, as written out here bit by bit:
    table t's key holds bits t, t + tables, ... of the descriptor, numbered from the first
    byte's most significant bit."""
    descriptors = np.random.default_rng(tables).integers(0, 256, size=(50, 32), dtype=np.uint8)
    rules = {"long_key_bits": 28, "long_base": 1 << 30, "golden": 0x9E3779B97F4A7C15}
    short, long = compiled.word_pairs(
        descriptors, tables=tables, bits=bits, long_bits=long_bits, **rules
    )
    unpacked = np.unpackbits(descriptors, axis=1).astype(np.uint64)
    for t in range(tables):
        keys = sum(unpacked[:, t + tables * j] << np.uint64(j) for j in range(long_bits))
        assert np.array_equal(
            short[:, t], (keys & np.uint64((1 << bits) - 1)).astype(np.int64) + (t << bits)
        )
        hashed = (keys * np.uint64(rules["golden"])) >> np.uint64(64 - 28)
        assert np.array_equal(long[:, t], hashed.astype(np.int64) + (1 << 30) + (t << 28))


def test_a_source_holding_ids_above_its_stated_top_is_counted_all_the_same() -> None:
    """A postings file's ids are at most its last image; one damaged past that is counted
    again by its own ids, not refused and not read out of bounds."""
    store = np.array([2, 90, 4, 2], dtype=np.int32)
    counted = [
        Counted(
            Postings(store, np.array([0, 2], np.int64), np.array([2, 2], np.int64), top=10),
            np.array([1.0, 2.0]),
            np.array([1, 1], np.int64),
        )
    ]
    tallied = _tally(counted, 1)
    assert tallied is not None
    assert _by_id(tallied) == {2: ([2], [3.0]), 4: ([1], [2.0]), 90: ([1], [1.0])}
    assert _by_id(tallied) == _by_id(_tally_numpy(counted, 1))


def test_the_extension_is_built_here() -> None:
    """`make test` and CI build it (a machine without a C compiler falls back to NumPy, and
    says so in its log); a build that silently failed would leave the look-ups slow."""
    assert compiled.built()


@pytest.mark.parametrize("active", [True, False])
@pytest.mark.parametrize("damage", ["past the ids", "negative length", "negative count"])
def test_a_damaged_row_is_refused_when_found(active: bool, damage: str) -> None:
    words = np.arange(10, 5000, 7, dtype=np.int32)
    kept = np.ones(words.size, dtype=np.int64)
    holder = SimpleNamespace(
        words=words,
        fence=words[::1024].copy(),
        counts=np.ones(words.size, dtype=np.int32),
        starts=np.arange(words.size + 1, dtype=np.int64),
        ids=np.zeros(int(kept.sum()), dtype=np.int32),
    )
    holder._locate = lambda wanted: WordFile._locate(holder, wanted)  # type: ignore[arg-type]
    row = 100
    if damage == "past the ids":
        holder.starts[row] = words.size + 3
    elif damage == "negative length":
        holder.starts[row + 1] = holder.starts[row] - 1
    else:
        holder.counts[row] = -2
    saved = compiled.active
    compiled.active = active
    try:
        # Rows that are not asked for are not read, and pass.
        WordFile._find(holder, words[:50].astype(np.int64))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="lie outside the ids"):
            WordFile._find(holder, words[90:110].astype(np.int64))  # type: ignore[arg-type]
    finally:
        compiled.active = saved


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda queries: st.tuples(
            st.lists(st.lists(st.integers(0, 9), min_size=queries, max_size=queries), max_size=80),
            st.lists(st.integers(0, 11), min_size=queries, max_size=queries),
            st.just(queries),
        )
    )
)
def test_each_querys_histogram_and_holders_are_numpys(
    case: tuple[list[list[int]], list[int], int],
) -> None:
    cells, least, queries = case
    counts = np.array(cells, dtype=np.int32).reshape(-1, queries)
    most = [9 - q for q in range(queries)]
    counts = np.minimum(counts, np.array(most, dtype=np.int32))
    histograms = compiled.spread(counts, most)
    many = []
    for q in range(queries):
        expected = np.bincount(counts[:, q], minlength=most[q] + 1)
        assert np.array_equal(histograms[q, : most[q] + 1], expected)
        assert not histograms[q, most[q] + 1 :].any()
        many.append(int(expected[least[q] :].sum()))
    found = compiled.holding(counts, least, many)
    for q in range(queries):
        assert np.array_equal(found[q], np.flatnonzero(counts[:, q] >= least[q]))


def test_a_count_past_the_histogram_or_a_wrong_many_is_refused() -> None:
    counts = np.array([[1, 0], [7, 2]], dtype=np.int32)
    with pytest.raises(ValueError, match="a count of 7 lies outside query 0's histogram of 5"):
        compiled.spread(counts, [4, 9])
    with pytest.raises(ValueError, match="a count of 2 lies outside query 1's histogram of 2"):
        compiled.spread(counts, [9, 1])
    with pytest.raises(ValueError, match="1 slots hold 3 or more for query 0, not 2"):
        compiled.holding(counts, [3, 0], [2, 2])
    with pytest.raises(TypeError):
        compiled.spread(counts.astype(np.int64), [9, 9])
    with pytest.raises(TypeError):
        compiled.holding(counts, [3], [1])


# -- the whole stage through a file (compiled.stage, WordFile.choose) ----------------------


def _file_of(images: dict[int, np.ndarray], runs: list[list[int]]) -> SimpleNamespace:
    """A postings file in memory, as ``WordFile`` holds one: the images not in ``runs``
    posted in it (their ids kept while a word's images are at most KEPT_POSTINGS), and each
    of ``runs`` a delta run of images stored since (their ids above the file's)."""
    in_runs = {i for run in runs for i in run}
    pairs = [(w, i) for i, d in images.items() if i not in in_runs for w in postings.posted(d)]
    pairs.sort()
    every = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    words, first, counts = np.unique(every[:, 0], return_index=True, return_counts=True)
    kept = np.where(counts <= postings.KEPT_POSTINGS, counts, 0)
    ids = np.concatenate(
        [every[f : f + k, 1] for f, k in zip(first, kept, strict=True)] or [np.zeros(0)]
    ).astype(np.int32)
    delta = SimpleNamespace(runs=[], last_id=max(images))
    for run in runs:
        found = [postings.posted(images[i]) for i in run]
        owners = [np.full(f.size, i) for f, i in zip(found, run, strict=True)]
        delta.runs.append(word_file._sorted_run(found, owners))
    holder = SimpleNamespace(
        words=words.astype(np.int32),
        counts=counts.astype(np.int32),
        starts=np.concatenate([[0], np.cumsum(kept)]).astype(np.int64),
        ids=ids,
        fence=words[:: word_file.FENCE].astype(np.int32),
        cover=SimpleNamespace(last_id=max(i for i in images if i not in in_runs)),
        delta=delta,
    )
    holder._locate = lambda wanted: WordFile._locate(holder, wanted)  # type: ignore[arg-type]
    holder._find = lambda wanted: WordFile._find(holder, wanted)  # type: ignore[arg-type]
    holder.rows = lambda wanted: WordFile.rows(holder, wanted)  # type: ignore[arg-type]
    holder.choose = lambda *a, **k: WordFile.choose(holder, *a, **k)  # type: ignore[arg-type]
    return holder


def _images(seed: int, count: int) -> dict[int, np.ndarray]:
    """Images whose descriptors are drawn from one pool: a few descriptors every image
    draws (stop words past STOP_MAX images), some every third, the rest a handful each."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, size=(1500, 32), dtype=np.uint8)
    found = {}
    for image_id in range(1, count + 1):
        common = pool[:6] if image_id % 3 else pool[:12]
        own = pool[rng.choice(np.arange(12, 1500), size=120, replace=False)]
        found[image_id] = np.vstack([common, own])
    return found


def _looked_up(
    file: SimpleNamespace,
    queries: list[np.ndarray],
    record: postings.StopWords | None,
    *,
    active: bool,
    images: int,
) -> list[postings.Vote]:
    saved = compiled.active
    compiled.active = active
    try:
        return postings.votes(
            None,  # type: ignore[arg-type]  # a look-up through a file reads no table
            iter(queries),
            limit=10,
            images=images,
            stop_words=record,
            word_file=file,  # type: ignore[arg-type]
        )
    finally:
        compiled.active = saved


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    runs=st.sampled_from([[], [[290, 291, 292]], [[281, 283], [284, 290, 299, 300]]]),
    budget=st.sampled_from([40, 300, 3000, postings.POSTINGS_BUDGET]),
    queries=st.integers(1, 5),
    record=st.sampled_from(["none", "new", "indexed", "met"]),
)
def test_the_stage_through_a_file_answers_as_the_numpy_passes(
    seed: int, runs: list[list[int]], budget: int, queries: int, record: str
) -> None:
    """The whole stage in one compiled call (WordFile.choose) gives the votes of the NumPy
    passes through the same file, read by word, and its record learns the same stop words:
    whatever the images stored since (none, one run, two), the budget (cutting after a few
    rows, or never), the number of queries, and the record of stop words (none, empty,
    read from the table, learnt by earlier look-ups)."""
    images = _images(seed % 7, 300)
    file = _file_of(images, runs)
    rng = np.random.default_rng(seed)
    asked = []
    for _ in range(queries):
        source = images[int(rng.integers(1, 301))]
        copy = source[rng.permutation(len(source))[: int(rng.integers(0, len(source)))]]
        flips = (rng.random(copy.shape) < 0.005) * rng.integers(1, 256, size=copy.shape)
        asked.append(copy ^ flips.astype(np.uint8))
    stops = np.asarray(file.words, dtype=np.int64)[np.asarray(file.counts) > postings.STOP_MAX]
    assert stops.size  # the record has something to know

    def made() -> postings.StopWords | None:
        if record == "none":
            return None
        made = postings.StopWords()
        if record == "indexed":
            made._indexed = stops[::2].copy()
        elif record == "met":
            made.learn(stops[1::2])
        return made

    saved = postings.POSTINGS_BUDGET
    postings.POSTINGS_BUDGET = budget  # type: ignore[misc]
    try:
        compiled_record, numpy_record = made(), made()
        both = [
            _looked_up(file, asked, kept, active=active, images=300)
            for kept, active in ((compiled_record, True), (numpy_record, False))
        ]
    finally:
        postings.POSTINGS_BUDGET = saved  # type: ignore[misc]
    assert both[0] == both[1]
    if compiled_record is not None and numpy_record is not None:
        assert np.array_equal(compiled_record._met, numpy_record._met)


def test_the_stage_finds_what_it_should() -> None:
    """Not only equal: a copy of a stored image (and of one stored since the file) is the
    first vote, and the look-up learnt the stop words it met."""
    images = _images(1, 300)
    file = _file_of(images, [[290, 291, 292]])
    record = postings.StopWords()
    for wanted in (17, 291):
        found = _looked_up(file, [images[wanted]], record, active=True, images=300)
        assert found[0].image_id == wanted
    assert len(record) > 0


def test_a_look_up_of_thousands_of_words_answers_the_same() -> None:
    """A query of some 40 images' descriptors (over 4,000 distinct short words, many reads'
    worth in one), with images stored since the file and a record that learns: the votes
    are still the NumPy passes', and only images the query was made of."""
    images = _images(3, 300)
    file = _file_of(images, [[295, 296, 297]])
    query = np.vstack([images[i] for i in range(1, 40)] + [images[296]])
    short, _ = postings.word_pairs(query)
    assert np.unique(short).size > 2 * 2048
    records = postings.StopWords(), postings.StopWords()
    found = [
        _looked_up(file, [query, query[::-1]], record, active=active, images=300)
        for record, active in zip(records, (True, False), strict=True)
    ]
    assert found[0] == found[1]
    voted = {vote.image_id for vote in found[0]}
    assert voted
    assert voted <= set(range(1, 40)) | {296}  # the images the query was made of
    assert np.array_equal(records[0]._met, records[1]._met)


def test_the_stage_refuses_what_it_cannot_read() -> None:
    """A damaged row raises ValueError (the matcher then reads the table), as `locate` does;
    so do words outside the file's range, too many queries, and outputs of the wrong size."""
    images = _images(2, 300)
    file = _file_of(images, [])
    query = images[5]
    short, long = postings.word_pairs(query)
    arguments = {
        "words": file.words,
        "fence": file.fence,
        "fence_bits": word_file.FENCE_BITS,
        "counts": file.counts,
        "starts": file.starts,
        "stored": file.ids.size,
        "runs": [],
        "indexed": np.zeros(0, dtype=np.int64),
        "met": np.zeros(0, dtype=np.int64),
        "most": 50,
        "stop_max": postings.STOP_MAX,
        "budget": postings.POSTINGS_BUDGET,
    }
    assert compiled.stage([short], [long], **arguments).counts.size
    with pytest.raises(ValueError, match="outside 0"):
        compiled.stage([short - (1 << 40)], [long], **arguments)
    with pytest.raises(ValueError, match="62 queries"):
        compiled.stage([short] * 63, [long] * 63, **arguments)
    with pytest.raises(ValueError, match="differ in number"):
        compiled.stage([short], [long[:3]], **arguments)
    held = np.intersect1d(short.ravel(), np.asarray(file.words))
    row = int(np.searchsorted(file.words, int(held[0])))
    damaged = file.starts.copy()
    damaged[row] = file.ids.size + 5
    with pytest.raises(ValueError, match="lie outside the ids"):
        compiled.stage([short], [long], **{**arguments, "starts": damaged})

"""The candidate stage's compiled passes (the C extension ``provcat.reuse._postings``), typed.

At 10^5 stored images a look-up's candidate stage is a few thousand words found in the
postings file and some 200,000 postings counted per image; in NumPy each step of that is a
pass over a whole array, a temporary for the next step and a call's overhead, and together
they were most of the stage (docs/scale.md, session 30). The extension does those steps in
one loop each, with the GIL released:

- :func:`locate`: where each wanted word is in the file's sorted words, and its row's count
  and images, as ``WordFile._find`` computes them in NumPy; with the keys sorted, each
  key's page is found on from the last one's, its place in the page guessed and corrected,
  and the memory each key needs asked for several keys before it is read;
- :func:`among`: which of some words are in a sorted list (the words asked for, the record
  of stop words), galloping through the list where the words come sorted;
- :func:`word_pairs`: each descriptor's words, one key at a time (NumPy unpacks every bit
  of every descriptor, gathers them and sums them by a matrix product);
- :func:`spread` and :func:`holding`: each query's histogram of shared words, and the
  images sharing enough to rank, read off a tally's counts where they lie, every query in
  one pass (NumPy copies each query's column first);
- :func:`largest`, :func:`mark` and :func:`tally`: the images of the chosen rows counted
  where they lie (the file's mapped array, the images stored since, the rows' packed ids),
  for each query, with each row's weight, never gathered into one array first.
- :func:`stage`: through a postings file, everything from the queries' words to the rows
  whose images are counted, in one call: marking the words asked against those asked
  before and the record of stop words, finding them in the file and in the images stored
  since, the long words of stop words, and the rows chosen within the budget. With the
  passes above called one by one, the Python between them (some forty NumPy calls, each
  a temporary and an overhead) had become the largest part of the stage (session 31).

The NumPy code each replaces stays beside it as the reference: the tests compare the two on
the same input, the scale bench times both in one run, and it is what runs where the
extension was not built (installed where there was no C compiler: the build is optional)
or when ``PROVCAT_COMPILED=0``. Answers are the same either way, up to the last bits of a
sum of weights, which the ranking rounds away.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from provcat.reuse.postings import Postings

log = logging.getLogger(__name__)

_postings: ModuleType | None
try:
    from provcat.reuse import _postings
except ImportError as error:  # pragma: no cover - only where the extension was not built
    _postings = None
    log.info("provcat.reuse._postings is not built (%s); the NumPy passes are used", error)

#: Set to ``0`` to use the NumPy passes even where the extension is built.
ENVIRONMENT: Final = "PROVCAT_COMPILED"

#: Whether the compiled passes are used: the extension is built and not turned off. The bench
#: and the tests set it to compare the two in one process.
active: bool = _postings is not None and os.environ.get(ENVIRONMENT, "") != "0"


def built() -> bool:
    """Whether the extension was built and can be imported."""
    return _postings is not None


def _module() -> Any:
    if _postings is None:  # pragma: no cover - callers check `active` first
        raise RuntimeError("provcat.reuse._postings is not built")
    return _postings


def _int32(values: npt.ArrayLike) -> npt.NDArray[np.int32]:
    return np.ascontiguousarray(values, dtype=np.int32)


def _int64(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    return np.ascontiguousarray(values, dtype=np.int64)


def locate(
    words: npt.NDArray[np.int32],
    fence: npt.NDArray[np.int32],
    fence_bits: int,
    counts: npt.NDArray[np.int32],
    starts: npt.NDArray[np.int64],
    stored: int,
    keys: npt.NDArray[np.int64],
) -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """The rows of ``keys`` (ascending) in a postings file's ``words`` (ascending, distinct;
    ``fence`` holds every ``2 ** fence_bits``-th), whose ``counts`` and ``starts`` (one more
    than the words) are given, and which stores ``stored`` ids: for each key whether it is
    there, and where it is, its count of images, where its images start and how many are
    kept (0 where it is not). A row found with a negative count or images outside the ids raises
    ValueError (a damaged file)."""
    keys = _int64(keys)
    at = np.empty(keys.size, dtype=np.int64)  # the pass keeps where each key lies here
    hit = np.empty(keys.size, dtype=np.bool_)
    found_counts = np.empty(keys.size, dtype=np.int64)
    found_starts = np.empty(keys.size, dtype=np.int64)
    found_lengths = np.empty(keys.size, dtype=np.int64)
    _module().locate(
        _int32(words),
        _int32(fence),
        fence_bits,
        _int32(counts),
        _int64(starts),
        stored,
        keys,
        at,
        hit,
        found_counts,
        found_starts,
        found_lengths,
    )
    return hit, found_counts, found_starts, found_lengths


def largest(postings: Postings) -> tuple[int, int]:
    """The largest image id among ``postings`` (-1 if none) and how many they are."""
    top, total = _module().largest(
        _int32(postings.store), _int64(postings.starts), _int64(postings.lengths)
    )
    return int(top), int(total)


def mark(postings: Postings, present: npt.NDArray[np.uint8]) -> None:
    """Set ``present[id]`` for every image id among ``postings``."""
    _module().mark(
        _int32(postings.store), _int64(postings.starts), _int64(postings.lengths), present
    )


def tally(
    postings: Postings,
    weights: npt.NDArray[np.float64],
    patterns: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int32] | None,
    counts: npt.NDArray[np.int32],
    scores: npt.NDArray[np.float64],
) -> None:
    """Add ``postings`` to ``counts`` and ``scores`` (both ``(space, queries)``, C order): each
    image of row ``i`` gains, for each query ``q`` whose bit is set in ``patterns[i]``, one in
    ``counts[slot, q]`` and ``weights[i]`` in ``scores[slot, q]``, where its slot is its id, or
    ``slots[id]`` where ``slots`` is given. An id outside them raises ValueError, and what
    was added before it stays (discard the outputs)."""
    if counts.dtype != np.int32 or scores.dtype != np.float64 or counts.shape != scores.shape:
        raise TypeError("counts must be int32 and scores float64, of one shape")
    if not (counts.flags.c_contiguous and scores.flags.c_contiguous) or counts.ndim != 2:
        raise TypeError("counts and scores must be C-ordered (space, queries) arrays")
    _module().tally(
        _int32(postings.store),
        _int64(postings.starts),
        _int64(postings.lengths),
        np.ascontiguousarray(weights, dtype=np.float64),
        _int64(patterns),
        None if slots is None else _int32(slots),
        counts.shape[1],
        counts,
        scores,
    )


def word_pairs(
    descriptors: npt.NDArray[np.uint8],
    *,
    tables: int,
    bits: int,
    long_bits: int,
    long_key_bits: int,
    long_base: int,
    golden: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each descriptor's short and long word in each table, by the rules of
    :func:`provcat.reuse.postings.word_pairs` (which passes them): two ``(N, tables)``
    arrays."""
    rows = np.ascontiguousarray(descriptors, dtype=np.uint8)
    short = np.empty((rows.shape[0], tables), dtype=np.int64)
    long = np.empty((rows.shape[0], tables), dtype=np.int64)
    _module().pairs(
        rows, rows.shape[1], tables, bits, long_bits, long_key_bits, long_base, golden, short, long
    )
    return short, long


def among(values: npt.NDArray[np.int64], listed: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which of ``values`` are in ``listed`` (ascending, distinct); fastest where ``values``
    ascend too."""
    values = _int64(values).ravel()
    found = np.empty(values.size, dtype=np.bool_)
    _module().among(values, _int64(listed), found)
    return found


def is_tally(counts: npt.NDArray[Any]) -> bool:
    """Whether ``counts`` is a compiled tally's (int32, C-ordered, two-dimensional)."""
    return counts.dtype == np.int32 and counts.ndim == 2 and counts.flags.c_contiguous


def spread(counts: npt.NDArray[np.integer[Any]], most: list[int]) -> npt.NDArray[np.int64]:
    """Each query's ``np.bincount(counts[:, query], minlength=most[query] + 1)`` for a compiled
    tally's counts, in one pass over them: a ``(queries, max(most) + 1)`` array (ValueError
    where a query's count is above its ``most``)."""
    if not is_tally(counts) or counts.shape[1] != len(most):
        raise TypeError("counts must be a compiled tally's, with one most for each query")
    histograms = np.zeros((len(most), max(most) + 1), dtype=np.int64)
    _module().spread(counts, _int64(most), histograms)
    return histograms


def holding(
    counts: npt.NDArray[np.integer[Any]], least: list[int], many: list[int]
) -> list[npt.NDArray[np.int64]]:
    """Each query's ``np.flatnonzero(counts[:, query] >= least[query])`` for a compiled tally's
    counts, in one pass over them, which ``many[query]`` slots hold (from :func:`spread`'s
    histograms; ValueError otherwise)."""
    if not is_tally(counts) or not counts.shape[1] == len(least) == len(many):
        raise TypeError("counts must be a compiled tally's, with one least and many per query")
    offsets = np.concatenate([[0], np.cumsum(many)]).astype(np.int64)
    found = np.empty(int(offsets[-1]), dtype=np.int64)
    _module().holding(counts, _int64(least), offsets, found)
    return np.split(found, offsets[1:-1])


@dataclass(frozen=True)
class Staged:
    """What :func:`stage` chose: the rows that count, the rarest first, each with its count
    of images, the queries that hold its word (a bit each), where its images lie in the
    file (``starts``, ``lengths``) and in each run of images stored since (``run_firsts``,
    ``run_counts``: runs x rows); and the words met that more than ``stop_max`` images post
    (``learned``)."""

    counts: npt.NDArray[np.int64]
    patterns: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    run_firsts: npt.NDArray[np.int64]
    run_counts: npt.NDArray[np.int64]
    learned: npt.NDArray[np.int64]


def stage(
    shorts: list[npt.NDArray[np.int64]],
    longs: list[npt.NDArray[np.int64]],
    *,
    words: npt.NDArray[np.int32],
    fence: npt.NDArray[np.int32],
    fence_bits: int,
    counts: npt.NDArray[np.int32],
    starts: npt.NDArray[np.int64],
    stored: int,
    runs: list[npt.NDArray[np.int32]],
    indexed: npt.NDArray[np.int64],
    met: npt.NDArray[np.int64],
    most: int,
    stop_max: int,
    budget: int,
) -> Staged:
    """The candidate stage of :func:`provcat.reuse.postings.votes` through a postings file
    (``words``, ``fence``, ``counts``, ``starts``, and ``stored`` ids, as :func:`locate`
    takes them) and the sorted words of the ``runs`` of images stored since, up to the
    images to count, in one pass: for each query in turn (its ``shorts`` and ``longs``,
    each descriptor's words), its short words not asked for yet, less the stop words the
    record knows (``indexed`` and ``met``, ascending), read with the long words of the
    descriptors whose short word is a stop word; then the long words of those this read
    found to be stop words (more than ``most`` images post them); then the rows that count,
    the rarest first (ties by word), while their images sum to at most ``budget``. What
    votes does in NumPy between the passes, without a pass of its own for each step.

    Raises:
        ValueError: A row found is damaged (as :func:`locate`), or the arguments do not fit.
    """
    shorts = [_int64(each).ravel() for each in shorts]
    longs = [_int64(each).ravel() for each in longs]
    capacity = 2 * sum(each.size for each in shorts)
    row_counts, patterns, row_starts, lengths, learnt = (
        np.empty(capacity, dtype=np.int64) for _ in range(5)
    )
    run_firsts = np.empty((len(runs), capacity), dtype=np.int64)
    run_counts = np.empty((len(runs), capacity), dtype=np.int64)
    chosen, learned = _module().stage(
        shorts,
        longs,
        _int32(words),
        _int32(fence),
        fence_bits,
        _int32(counts),
        _int64(starts),
        stored,
        [_int32(run) for run in runs],
        _int64(indexed),
        _int64(met),
        most,
        stop_max,
        budget,
        row_counts,
        patterns,
        row_starts,
        lengths,
        run_firsts,
        run_counts,
        learnt,
    )
    return Staged(
        row_counts[:chosen],
        patterns[:chosen],
        row_starts[:chosen],
        lengths[:chosen],
        run_firsts[:, :chosen],
        run_counts[:, :chosen],
        learnt[:learned],
    )

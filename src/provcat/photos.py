"""Which stored images are the same photo: identical pixels, or PDQ hashes within Meta's threshold.

Global hashes catch byte copies, re-saves with new metadata, re-encodes and resizes; crops,
mirrors, borders and rotations come from the matches the reuse matcher recorded
(provcat.matching), which :func:`photo_ids` joins in.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Final

import faiss
import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.allocator import keep_freed_memory
from provcat.db import driver_rows
from provcat.fingerprints import BitHash, ByteMatrix, pack, popcount64, stored_pdq

#: PDQ distance (of 256 bits) up to which two images are the same photo (Meta's match threshold).
PDQ_SAME_PHOTO = 31
#: PDQ hashes of lower quality (flat or tiny images) are not trusted to match (Meta's rule).
PDQ_MIN_QUALITY = 50
#: Hashes range-searched at once against the rest (:func:`_every_pair`).
_BLOCK: Final = 4096


@dataclass(frozen=True)
class StoredPrint:
    """What photo grouping needs of one image."""

    image_id: int
    pixel_digest: str
    pdq: BitHash | None
    pdq_quality: int | None


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_photos(prints: Sequence[StoredPrint]) -> dict[int, int]:
    """Map each image id to a photo id (the smallest image id of its photo).

    Args:
        prints: The images to group, ordered by image id.

    Returns:
        ``{image_id: photo_id}`` for every image given.
    """
    usable = [
        i
        for i, p in enumerate(prints)
        if p.pdq is not None and (p.pdq_quality or 0) >= PDQ_MIN_QUALITY
    ]
    codes = pack([h for h in (prints[i].pdq for i in usable) if h is not None])
    sets = _UnionFind(len(prints))
    _join(sets, [p.pixel_digest for p in prints], usable, codes)
    return _photos([p.image_id for p in prints], sets)


def _join(
    sets: _UnionFind, digests: Sequence[str], usable: Sequence[int], codes: ByteMatrix
) -> None:
    """Join the rows with the same pixel digest, and the ``usable`` rows whose hashes (the
    rows of ``codes``, in the same order) are within :data:`PDQ_SAME_PHOTO` bits."""
    by_digest: dict[str, int] = {}
    for i, digest in enumerate(digests):
        first = by_digest.setdefault(digest, i)
        if first != i:
            sets.union(first, i)
    if len(usable) > 1:
        for first, second in _near_pairs(codes, PDQ_SAME_PHOTO):
            sets.union(usable[first], usable[second])


def _photos(image_ids: Sequence[int], sets: _UnionFind) -> dict[int, int]:
    """``{image_id: photo_id}``: each row's set's first row's image id (a set's root is its
    first row: :meth:`_UnionFind.union` keeps the smaller), by pointer jumping over every
    row at once rather than a find per row."""
    parent = np.asarray(sets.parent, dtype=np.int64)
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parent = grand
    ids = np.asarray(image_ids, dtype=np.int64)
    return dict(zip(image_ids, ids[parent].tolist(), strict=True))


def _near_pairs(codes: ByteMatrix, limit: int) -> Iterator[tuple[int, int]]:
    """Every pair of rows ``(i, j)``, ``i < j``, of ``codes`` (packed 256-bit hashes) at most
    ``limit`` bits apart, each once.

    Through the hashes' pieces (:func:`_piece_pairs`) where that compares far fewer pairs
    than comparing every pair (:func:`_every_pair`) would; else every pair.
    """
    if _by_pieces(codes, limit):
        first, second = _piece_pairs(codes, limit)
        yield from zip(first.tolist(), second.tolist(), strict=True)
    else:
        yield from _every_pair(codes, limit)


def _every_pair(codes: ByteMatrix, limit: int) -> Iterator[tuple[int, int]]:
    """:func:`_near_pairs` by comparing every pair (about N^2 / 2 distances), with faiss's
    Hamming kernel: each block of :data:`_BLOCK` rows is range-searched against the rows
    from its first on, so no pair is compared twice, the blocks in a thread per core (faiss
    lets go of the interpreter while it searches). On 10^5 random hashes, 2.6-3.9 s on two
    cores (two machines; 5.1 s on one core), 562 s at 10^6.
    """
    blocks = range(0, codes.shape[0], _BLOCK)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for rows, others in pool.map(partial(_block_pairs, codes, limit), blocks):
            yield from zip(rows.tolist(), others.tolist(), strict=True)


def _block_pairs(
    codes: ByteMatrix, limit: int, start: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The pairs of :func:`_near_pairs` whose first row is in the block at ``start``."""
    stop = min(codes.shape[0], start + _BLOCK)
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(np.ascontiguousarray(codes[start:]))
    # faiss returns the hashes at a distance below the radius.
    limits, _distances, found = index.range_search(
        np.ascontiguousarray(codes[start:stop]), limit + 1
    )
    rows = np.repeat(np.arange(start, stop, dtype=np.int64), np.diff(limits).astype(np.int64))
    others = found.astype(np.int64) + start
    later = others > rows
    return rows[later], others[later]


# -- pairs through the hashes' pieces -----------------------------------------------------------
#
# Multi-index hashing (Norouzi, Punjani and Fleet, "Fast search in Hamming space with
# multi-index hashing", 2012): cut each hash into m pieces; two hashes at most r bits apart
# differ in at most floor(r / m) bits of at least one piece (else they would differ in
# m * (floor(r / m) + 1) > r bits). With sixteen 16-bit pieces and r = 31, some piece is
# equal or one bit apart, so the pairs within 31 bits are all among the pairs that share a
# piece's value, or whose values at a piece differ in one bit: 17 buckets to look in, of
# 65,536, per piece. For uniformly random hashes that is about N^2 / 482 pairs to compare,
# against N^2 / 2: still growing with the square, but 10^6 hashes in 16.5 s on two cores
# against 562 s comparing every pair (bench/photo_pairs.py; docs/scale.md).

#: Bits of a piece (the hashes are cut into ``bits // _PIECE_BITS`` pieces).
_PIECE_BITS: Final = 16
#: A piece's values, and the masks that flip none or one of its bits.
_VALUES: Final = 1 << _PIECE_BITS
_MASKS: Final = (0, *(1 << bit for bit in range(_PIECE_BITS)))
#: For each one-bit mask, the values without that bit: each pair of buckets counted once.
_LOW_VALUES: Final = {
    mask: np.flatnonzero((np.arange(_VALUES) & mask) == 0) for mask in _MASKS if mask
}
#: A pair compared through the pieces costs up to about this many pairs compared by faiss's
#: kernel (gathering two rows and the NumPy steps around it). Measured on random hashes, two
#: cores: through the pieces 24 ns a candidate pair at 10^5 (the buckets' bookkeeping counts
#: most there) and 8 ns at 10^6, every pair 0.8 and 1.1 ns.
_PIECE_PAIR_COST: Final = 32
#: And each row costs about this many pairs' worth of the buckets' bookkeeping (17 passes
#: over every row per piece): 10^4 hashes took 0.09 s through the pieces, whatever their
#: pairs, against 0.06 s comparing every pair; the two broke even at about 15,000.
_PIECE_ROW_COST: Final = 7_500
#: Candidate pairs compared at once (about 100 bytes a pair: a few megabytes of arrays, used
#: again for the next chunk; 2^16 was as fast as 2^18 and 2^20 at 10^5 and 3 x 10^5).
_CHUNK: Final = 1 << 16


def _piece_keys(codes: ByteMatrix) -> npt.NDArray[np.uint16]:
    """Each row's 16-bit pieces, ``(N, bits // 16)``."""
    return np.ascontiguousarray(codes).view(np.uint16)


def _by_pieces(codes: ByteMatrix, limit: int) -> bool:
    """Whether :func:`_piece_pairs` may find the pairs (the pieces are exact for ``limit``)
    and would compare far fewer pairs than :func:`_every_pair` (counted from the buckets'
    sizes before any pair is compared: hashes that crowd a few buckets, as many near copies
    of one photo do, are compared pair by pair instead)."""
    rows, width = codes.shape
    pieces = width * 8 // _PIECE_BITS
    every_pair = rows * (rows - 1) // 2
    if width * 8 % _PIECE_BITS or limit >= 2 * pieces or every_pair <= rows * _PIECE_ROW_COST:
        return False
    keys = _piece_keys(codes)
    candidates = 0
    for piece in range(pieces):
        counts = np.bincount(keys[:, piece], minlength=_VALUES).astype(np.int64)
        candidates += int((counts * (counts - 1) // 2).sum())
        for mask, low in _LOW_VALUES.items():
            candidates += int(np.dot(counts[low], counts[low ^ mask]))
    return bool(candidates * _PIECE_PAIR_COST + rows * _PIECE_ROW_COST < every_pair)


def _piece_pairs(
    codes: ByteMatrix, limit: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`_near_pairs` through the hashes' pieces: the pairs ``(first, second)``,
    ``first < second``, sorted. Exact only where ``limit`` is below twice the pieces."""
    # Each chunk's arrays (a few megabytes) reuse the last one's memory, not pages mapped anew.
    keep_freed_memory()
    rows = codes.shape[0]
    keys = _piece_keys(codes)
    words = np.ascontiguousarray(codes).view(np.uint64)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found = [
            pairs
            for piece_found in pool.map(
                partial(_pairs_at_piece, keys, words, limit), range(keys.shape[1])
            )
            for pairs in piece_found
        ]
    # A pair within the limit may be found through several pieces: each is given once.
    joined = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    return joined // rows, joined % rows


def _pairs_at_piece(
    keys: npt.NDArray[np.uint16], words: npt.NDArray[np.uint64], limit: int, piece: int
) -> list[npt.NDArray[np.int64]]:
    """The pairs within ``limit`` among those whose values at ``piece`` are equal or one bit
    apart, each as ``first * N + second``."""
    rows = keys.shape[0]
    order = np.argsort(keys[:, piece], kind="stable")
    values = keys[order, piece].astype(np.int64)
    starts = np.zeros(_VALUES + 1, dtype=np.int64)
    np.cumsum(np.bincount(values, minlength=_VALUES), out=starts[1:])
    # The rows in the piece's order, so that a bucket's rows are side by side.
    ordered = np.take(words, order, axis=0)
    position = np.arange(rows, dtype=np.int64)
    found: list[npt.NDArray[np.int64]] = []
    for mask in _MASKS:
        if mask == 0:
            # Within a bucket: each row with the rows after it.
            low, high = position + 1, starts[values + 1]
        else:
            # Across two buckets, from the one without the bit.
            other = values ^ mask
            low = starts[other]
            high = np.where((values & mask) == 0, starts[other + 1], low)
        sizes = high - low
        sources = np.flatnonzero(sizes > 0)
        if not sources.size:
            continue
        sizes, low = sizes[sources], low[sources]
        ends = np.cumsum(sizes)
        cuts = np.searchsorted(ends, np.arange(_CHUNK, int(ends[-1]), _CHUNK), side="right")
        bounds = [0, *np.unique(cuts).tolist(), sources.size]
        for begin, end in itertools.pairwise(bounds):
            if end > begin:
                found.extend(
                    _close(
                        ordered, order, limit, sources[begin:end], low[begin:end], sizes[begin:end]
                    )
                )
    return found


def _close(
    ordered: npt.NDArray[np.uint64],
    order: npt.NDArray[np.intp],
    limit: int,
    sources: npt.NDArray[np.int64],
    low: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
) -> list[npt.NDArray[np.int64]]:
    """Compare each source row (a position in ``ordered``) with the rows ``low`` to ``low +
    size``; the pairs within ``limit`` as ``first * N + second`` of the original rows."""
    first = np.repeat(sources, sizes)
    offsets = np.cumsum(sizes) - sizes
    second = np.arange(first.size, dtype=np.int64) + np.repeat(low - offsets, sizes)
    # take, not indexing: about seven times faster for whole rows.
    difference = np.take(ordered, first, axis=0)
    difference ^= np.take(ordered, second, axis=0)
    distance = np.zeros(first.size, dtype=np.uint16)
    for column in range(difference.shape[1]):
        distance += popcount64(difference[:, column])
    near = np.flatnonzero(distance <= limit)
    if not near.size:
        return []
    a, b = order[first[near]].astype(np.int64), order[second[near]].astype(np.int64)
    return [np.minimum(a, b) * len(order) + np.maximum(a, b)]


def photo_ids(*, session: Session) -> dict[int, int]:
    """``{image_id: photo_id}`` for the whole catalogue.

    Global hashes group re-encodes and resizes; the recorded reuse matches (local features,
    verified geometrically) add crops, mirrors, banners and borders.

    Raises:
        DamagedCatalogue: A stored PDQ hash is not 64 hexadecimal digits (the message names
            its image).
    """
    pdq = (
        select(m.Fingerprint.image_id, m.Fingerprint.value, m.Fingerprint.quality)
        .where(m.Fingerprint.algorithm == "pdq")
        .subquery()
    )
    # The driver's rows: 10^6 images are read in seconds, SQLAlchemy's rows and a hash
    # object each took several times as long.
    rows = driver_rows(
        session.connection(),
        select(m.Image.id, m.Image.pixel_digest, pdq.c.value, pdq.c.quality)
        .outerjoin(pdq, pdq.c.image_id == m.Image.id)
        .order_by(m.Image.id),
    )
    usable = [
        i
        for i, (_id, _digest, value, quality) in enumerate(rows)
        if value and (quality or 0) >= PDQ_MIN_QUALITY
    ]
    codes = stored_pdq([(rows[i][0], rows[i][2]) for i in usable])
    sets = _UnionFind(len(rows))
    _join(sets, [row[1] for row in rows], usable, codes)
    index = {row[0]: i for i, row in enumerate(rows)}
    for reference, copy in session.execute(select(m.PhotoMatch.reference_id, m.PhotoMatch.copy_id)):
        if reference in index and copy in index:
            sets.union(index[reference], index[copy])
    return _photos([row[0] for row in rows], sets)

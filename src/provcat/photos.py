"""Which stored images are the same photo: identical pixels, or PDQ hashes within Meta's threshold.

Global hashes catch byte copies, re-saves with new metadata, re-encodes and resizes; crops,
mirrors, borders and rotations come from the matches the reuse matcher recorded
(provcat.matching), which :func:`photo_ids` joins in. The pairs of hashes that join images
are recorded as the images are matched (:func:`link_matched`), so that grouping a catalogue
reads them instead of comparing every pair of hashes.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import faiss
import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.allocator import keep_freed_memory
from provcat.db import driver_pages, driver_rows
from provcat.fingerprints import BitHash, ByteMatrix, pack, popcount64, stored_pdq

#: PDQ distance (of 256 bits) up to which two images are the same photo (Meta's match threshold).
PDQ_SAME_PHOTO = 31
#: PDQ hashes of lower quality (flat or tiny images) are not trusted to match (Meta's rule).
PDQ_MIN_QUALITY = 50
#: Hashes range-searched at once against the rest (:func:`_every_batch`, :func:`_pending_batches`).
_BLOCK: Final = 4096
#: Images not matched yet are compared with every other while fewer than one in this many of
#: the hashes are theirs (:func:`_pending_batches`); past it, every pair is found at once.
_PENDING_SHARE: Final = 64
#: Pairs written in one statement (:func:`record_pairs`).
_INSERT_ROWS: Final = 10_000
#: Image ids asked for in one statement (SQLite's limit of bound parameters is 32,766).
_IN_IDS: Final = 500
#: Rows taken from the driver at once where every image's are read.
_PAGE: Final = 50_000


@dataclass(frozen=True)
class StoredPrint:
    """What photo grouping needs of one image."""

    image_id: int
    pixel_digest: str
    pdq: BitHash | None
    pdq_quality: int | None


class _UnionFind:
    """Sets of rows joined one pair at a time, for telling which pairs join two sets not yet
    joined (:func:`fill_pairs`); :class:`_Sets` joins many pairs at once."""

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


class _Sets:
    """Sets of rows joined by pairs given as arrays, a batch at a time: each round hooks the
    root of the larger of a pair's two sets onto the other's (the smallest root given to
    each, at once), then jumps every row's pointer to its root, until no pair given spans
    two sets. A million pairs within one photo join in milliseconds, where a Python
    union-find took seconds. Each set's root is its smallest row."""

    def __init__(self, size: int) -> None:
        self._parent = np.arange(size, dtype=np.int64)

    def join(self, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]) -> None:
        """Join the set of row ``first[k]`` with that of ``second[k]``, for every k."""
        parent = self._parent
        while first.size:
            a, b = parent[first], parent[second]
            apart = a != b
            if not apart.any():
                break
            first, second, a, b = first[apart], second[apart], a[apart], b[apart]
            np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))
            parent = _jumped(parent)
        self._parent = parent

    def roots(self) -> npt.NDArray[np.int64]:
        """Each row's root (its set's smallest row)."""
        return self._parent


def _jumped(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``parent`` with every row pointing at its root (pointer jumping over every row)."""
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


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
    sets = _Sets(len(prints))
    first: dict[str, int] = {}
    same = [(first.setdefault(p.pixel_digest, i), i) for i, p in enumerate(prints)]
    sets.join(*_id_pairs(same))
    if len(usable) > 1:
        rows = np.asarray(usable, dtype=np.int64)
        for one, other in _near_batches(codes, PDQ_SAME_PHOTO):
            sets.join(rows[one], rows[other])
    ids = np.asarray([p.image_id for p in prints], dtype=np.int64)
    return dict(zip(ids.tolist(), ids[sets.roots()].tolist(), strict=True))


def _near_pairs(codes: ByteMatrix, limit: int) -> Iterator[tuple[int, int]]:
    """Every pair of rows ``(i, j)``, ``i < j``, of ``codes`` (packed 256-bit hashes) at most
    ``limit`` bits apart, each once (:func:`_near_batches`, one pair at a time)."""
    for first, second in _near_batches(codes, limit):
        yield from zip(first.tolist(), second.tolist(), strict=True)


Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def _near_batches(codes: ByteMatrix, limit: int) -> Iterator[Pairs]:
    """The pairs of :func:`_near_pairs` as arrays of first and second rows, a batch at a time.

    Through the hashes' pieces (:func:`_piece_pairs`, one batch) where that compares far
    fewer pairs than comparing every pair (:func:`_every_pair`) would; else every pair.
    """
    if _by_pieces(codes, limit):
        yield _piece_pairs(codes, limit)
    else:
        yield from _every_batch(codes, limit)


def _every_pair(codes: ByteMatrix, limit: int) -> Iterator[tuple[int, int]]:
    """:func:`_near_pairs` by comparing every pair (:func:`_every_batch`)."""
    for rows, others in _every_batch(codes, limit):
        yield from zip(rows.tolist(), others.tolist(), strict=True)


def _every_batch(codes: ByteMatrix, limit: int) -> Iterator[Pairs]:
    """:func:`_near_batches` by comparing every pair (about N^2 / 2 distances), with faiss's
    Hamming kernel: each block of :data:`_BLOCK` rows is range-searched against the rows
    from its first on, so no pair is compared twice, the blocks in a thread per core (faiss
    lets go of the interpreter while it searches), a batch a block. On 10^5 random hashes,
    2.6-3.9 s on two cores (two machines; 5.1 s on one core), 562 s at 10^6.
    """
    blocks = range(0, codes.shape[0], _BLOCK)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        yield from pool.map(partial(_block_pairs, codes, limit), blocks)


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


def record_pairs(connection: Connection, pairs: Iterable[tuple[int, int, int]]) -> None:
    """Record ``(image id, image id, distance)`` pairs as :class:`provcat.models.PdqPair`
    rows (the two ids in either order), leaving any already recorded as they are."""
    rows = [
        {"first_id": min(a, b), "second_id": max(a, b), "distance": distance}
        for a, b, distance in pairs
        if a != b
    ]
    if not rows:
        return
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(m.PdqPair).on_conflict_do_nothing()
    for start in range(0, len(rows), _INSERT_ROWS):
        connection.execute(statement, rows[start : start + _INSERT_ROWS])


def fill_pairs(connection: Connection) -> int:
    """Record what joins the stored images into photos by their hashes, as the matching turns
    do from revision 0011 on, for the images stored before it: every pair of hashes compared
    once (:func:`_near_pairs`), and of the pairs found those that join two images not yet
    joined through the others (a spanning forest: at most one pair fewer than the images of
    each photo, however many copies it has). Returns the pairs recorded."""
    image_ids, codes = _usable_codes(connection)
    sets = _UnionFind(len(image_ids))
    joining: list[tuple[int, int]] = []
    for first, second in _near_pairs(codes, PDQ_SAME_PHOTO):
        if sets.find(first) != sets.find(second):
            sets.union(first, second)
            joining.append((first, second))
    record_pairs(
        connection,
        (
            (int(image_ids[a]), int(image_ids[b]), distance)
            for a, b, distance in _with_distances(codes, joining)
        ),
    )
    return len(joining)


def link_matched(
    connection: Connection, image_id: int, near_of: Callable[[BitHash], Mapping[int, int]]
) -> int:
    """Record the pairs that join an image to the photos its hash puts it in, in its
    matching turn (so that :func:`photo_ids` reads them).

    Args:
        connection: The turn's connection.
        image_id: The image matched.
        near_of: The stored images whose PDQ hash is within :data:`PDQ_SAME_PHOTO` of the
            hash given, with their distances (the matcher's scan of every stored hash).

    Of those, the ones matched in earlier turns whose hashes take part in grouping are
    joined already to every other such image within the threshold of them (by the pairs
    recorded in their own turns, or by :func:`fill_pairs`). Taken nearest first, each is
    either within the threshold of one taken before and recorded (and so joined to this
    image through it), or is recorded itself: a photo stored a thousand times, its copies
    within the threshold of one another, gets about a thousand pairs, not half a million.
    Images still waiting to be matched are left to their own turns (or, never matched, to
    :func:`photo_ids`). Returns the pairs recorded.
    """
    own = driver_rows(connection, _usable_hashes().where(m.Fingerprint.image_id == image_id))
    if not own:
        return 0
    near = near_of(BitHash.from_hex(own[0][1], 256))
    others = sorted(other for other in near if other != image_id)
    matched: list[tuple[int, str]] = []
    for start in range(0, len(others), _IN_IDS):
        matched += driver_rows(
            connection,
            _usable_hashes()
            .join(m.Image, m.Image.id == m.Fingerprint.image_id)
            .where(
                m.Fingerprint.image_id.in_(others[start : start + _IN_IDS]),
                m.Image.match_seq.is_not(None),
            ),
        )
    matched.sort(key=lambda row: (near[row[0]], row[0]))
    recorded = [matched[row][0] for row in _leaders(stored_pdq(matched), PDQ_SAME_PHOTO)]
    record_pairs(connection, ((image_id, other, near[other]) for other in recorded))
    return len(recorded)


def _leaders(codes: ByteMatrix, limit: int) -> list[int]:
    """The rows of ``codes`` not within ``limit`` bits of an earlier row of the result (each
    row is either one of them or within the limit of one before it)."""
    words = np.ascontiguousarray(codes).view(np.uint64)
    chosen = np.empty_like(words)
    leaders: list[int] = []
    for row in range(words.shape[0]):
        held = chosen[: len(leaders)]
        if held.size and int(popcount64(held ^ words[row]).sum(axis=1).min()) <= limit:
            continue
        chosen[len(leaders)] = words[row]
        leaders.append(row)
    return leaders


def _with_distances(
    codes: ByteMatrix, pairs: Iterable[tuple[int, int]]
) -> Iterator[tuple[int, int, int]]:
    """Each pair of rows of ``codes`` with the Hamming distance between them."""
    for first, second in pairs:
        yield first, second, int(np.unpackbits(codes[first] ^ codes[second]).sum())


def _usable_hashes(*, scan: bool = False) -> Any:
    """The ids and PDQ hashes of the images whose hashes take part in grouping (of quality
    :data:`PDQ_MIN_QUALITY` or more); with ``scan``, of every image, read through the table.

    SQLite takes a condition on the algorithm through the index on (algorithm, value), then
    looks each row up in the table: 2.3 s for 10^6 images, against 0.5 s reading the table
    through (a synthetic catalogue of PDQ hashes alone). An expression of the column is not
    looked up in an index on it, on either database.
    """
    pdq = m.Fingerprint
    algorithm = pdq.algorithm.concat("") if scan else pdq.algorithm
    return select(pdq.image_id, pdq.value).where(
        algorithm == "pdq", pdq.quality >= PDQ_MIN_QUALITY, pdq.value != ""
    )


def _usable_codes(connection: Connection) -> tuple[npt.NDArray[np.int64], ByteMatrix]:
    """The ids and packed PDQ hashes (row for row) of the images whose hashes take part in
    grouping, read a page at a time.

    Raises:
        DamagedCatalogue: A hash is not 64 hexadecimal digits (the message names its image).
    """
    ids: list[npt.NDArray[np.int64]] = []
    codes: list[ByteMatrix] = []
    for page in driver_pages(connection, _usable_hashes(scan=True), _PAGE):
        ids.append(np.fromiter((row[0] for row in page), dtype=np.int64, count=len(page)))
        codes.append(stored_pdq([(row[0], row[1]) for row in page]))
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 32), dtype=np.uint8)
    return np.concatenate(ids), np.concatenate(codes)


def photo_ids(*, session: Session) -> dict[int, int]:
    """``{image_id: photo_id}`` for the whole catalogue.

    Global hashes group re-encodes and resizes; the recorded reuse matches (local features,
    verified geometrically) add crops, mirrors, banners and borders. What joins the matched
    images by their hashes is read as recorded in their turns (:func:`link_matched`,
    :class:`provcat.models.PdqPair`), and only the hashes of images not matched yet are
    compared, each against every other (:func:`_waiting_pairs`): the work grows with the
    catalogue, not with its square, and memory holds the images' ids, not their rows.

    Raises:
        DamagedCatalogue: A PDQ hash compared (an image's waiting to be matched, or any
            image's when many wait) is not 64 hexadecimal digits (the message names its
            image).
    """
    connection = session.connection()
    ids = _image_ids(connection)
    sets = _Sets(len(ids))

    def join(first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]) -> None:
        if not first.size or not ids.size:
            return
        # Pairs naming an image stored since the ids were read are left out.
        at_first = np.minimum(np.searchsorted(ids, first), ids.size - 1)
        at_second = np.minimum(np.searchsorted(ids, second), ids.size - 1)
        known = (ids[at_first] == first) & (ids[at_second] == second)
        sets.join(at_first[known], at_second[known])

    join(*_id_pairs(_same_pixels(connection)))
    # The waiting images read before the recorded pairs: an image matched (its pairs
    # recorded in the same transaction) between two reads, on a database whose every
    # statement sees what was committed before it, is then either compared or read with
    # its pairs.
    for batch in _waiting_pairs(connection):
        join(*batch)
    join(*_id_pairs(driver_rows(connection, select(m.PdqPair.first_id, m.PdqPair.second_id))))
    matches = select(m.PhotoMatch.reference_id, m.PhotoMatch.copy_id)
    join(*_id_pairs(driver_rows(connection, matches)))
    return dict(zip(ids.tolist(), ids[sets.roots()].tolist(), strict=True))


def _id_pairs(rows: Sequence[tuple[Any, ...]]) -> Pairs:
    """The first two values of each row, as two arrays."""
    both = np.asarray([row[:2] for row in rows], dtype=np.int64).reshape(-1, 2)
    return both[:, 0], both[:, 1]


def _image_ids(connection: Connection) -> npt.NDArray[np.int64]:
    """Every image's id, in order, read a page at a time."""
    pages = [
        np.fromiter((row[0] for row in page), dtype=np.int64, count=len(page))
        for page in driver_pages(connection, select(m.Image.id).order_by(m.Image.id), _PAGE)
    ]
    return np.concatenate(pages) if pages else np.zeros(0, dtype=np.int64)


def _same_pixels(connection: Connection) -> list[tuple[int, int]]:
    """A pair from the first image of each pixel digest stored more than once to each of
    the others."""
    shared = (
        select(m.Image.pixel_digest)
        .group_by(m.Image.pixel_digest)
        .having(func.count() > 1)
        .scalar_subquery()
    )
    rows = driver_rows(
        connection,
        select(m.Image.pixel_digest, m.Image.id)
        .where(m.Image.pixel_digest.in_(shared))
        .order_by(m.Image.pixel_digest, m.Image.id),
    )
    first: dict[str, int] = {}
    return [(first.setdefault(digest, image_id), image_id) for digest, image_id in rows]


def _waiting_pairs(connection: Connection) -> Iterator[Pairs]:
    """The pairs of image ids whose hashes make them one photo, of which one at least waits
    to be matched (its pairs are not recorded yet), perhaps with others besides, as arrays
    a batch at a time."""
    waiting = driver_rows(connection, select(m.Image.id).where(m.Image.match_seq.is_(None)))
    if not waiting:
        return
    image_ids, codes = _usable_codes(connection)
    rows = np.flatnonzero(np.isin(image_ids, np.asarray([row[0] for row in waiting])))
    for first, second in _pending_batches(codes, rows, PDQ_SAME_PHOTO):
        yield image_ids[first], image_ids[second]


def _pending_batches(
    codes: ByteMatrix, pending: npt.NDArray[np.int64], limit: int
) -> Iterator[Pairs]:
    """The pairs of rows of ``codes`` at most ``limit`` bits apart of which one at least is
    in ``pending`` (the others' pairs are recorded), perhaps with others besides, as arrays
    a batch at a time.

    Each pending row is range-searched against every row (about ``len(pending) * N``
    distances in faiss's kernel, 1 ns each) while that is well under what finding every
    pair costs (:func:`_near_pairs`: about N^2 / 60 ns through the pieces); past it, every
    pair is found, as before pairs were recorded.
    """
    rows = codes.shape[0]
    if not pending.size or rows < 2:
        return
    if pending.size * _PENDING_SHARE > rows:
        yield from _near_batches(codes, limit)
        return
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(np.ascontiguousarray(codes))
    for start in range(0, pending.size, _BLOCK):
        block = pending[start : start + _BLOCK]
        # faiss returns the hashes at a distance below the radius.
        limits, _distances, found = index.range_search(
            np.ascontiguousarray(codes[block]), limit + 1
        )
        sources = np.repeat(block, np.diff(limits).astype(np.int64))
        others = found.astype(np.int64)
        apart = sources != others
        yield sources[apart], others[apart]

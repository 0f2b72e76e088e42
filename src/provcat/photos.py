"""Which stored images are the same photo: identical pixels, or PDQ hashes within Meta's threshold.

Global hashes catch byte copies, re-saves with new metadata, re-encodes and resizes; crops,
mirrors, borders and rotations come from the matches the reuse matcher recorded
(provcat.matching), which :func:`photo_ids` joins in.
"""

from __future__ import annotations

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
from provcat.fingerprints import BitHash, ByteMatrix, pack

#: PDQ distance (of 256 bits) up to which two images are the same photo (Meta's match threshold).
PDQ_SAME_PHOTO = 31
#: PDQ hashes of lower quality (flat or tiny images) are not trusted to match (Meta's rule).
PDQ_MIN_QUALITY = 50
#: Hashes range-searched at once against the rest (:func:`_near_pairs`).
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
        prints: The images to group.

    Returns:
        ``{image_id: photo_id}`` for every image given.
    """
    n = len(prints)
    sets = _UnionFind(n)
    by_digest: dict[str, int] = {}
    for i, p in enumerate(prints):
        first = by_digest.setdefault(p.pixel_digest, i)
        if first != i:
            sets.union(first, i)
    usable = [
        i
        for i, p in enumerate(prints)
        if p.pdq is not None and (p.pdq_quality or 0) >= PDQ_MIN_QUALITY
    ]
    if len(usable) > 1:
        stored = pack([h for h in (prints[i].pdq for i in usable) if h is not None])
        for first, second in _near_pairs(stored, PDQ_SAME_PHOTO):
            sets.union(usable[first], usable[second])
    return {p.image_id: prints[sets.find(i)].image_id for i, p in enumerate(prints)}


def _near_pairs(codes: ByteMatrix, limit: int) -> Iterator[tuple[int, int]]:
    """Every pair of rows ``(i, j)``, ``i < j``, of ``codes`` (packed 256-bit hashes) at most
    ``limit`` bits apart.

    Every pair is compared (about N^2 / 2 distances), by faiss's Hamming kernel: each block
    of :data:`_BLOCK` rows is range-searched against the rows from its first on, so no pair
    is compared twice, the blocks in a thread per core (faiss lets go of the interpreter
    while it searches). On 10^5 random hashes, 2.6-2.7 s here on two cores (5.1 s on one),
    where a NumPy scan of each row against the rows after it came to about 33 s (timed on
    2,000 rows).
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


def load_prints(*, session: Session) -> list[StoredPrint]:
    """Every image's pixel digest and PDQ hash, ordered by image id."""
    pdq = (
        select(m.Fingerprint.image_id, m.Fingerprint.value, m.Fingerprint.quality)
        .where(m.Fingerprint.algorithm == "pdq")
        .subquery()
    )
    rows = session.execute(
        select(m.Image.id, m.Image.pixel_digest, pdq.c.value, pdq.c.quality)
        .outerjoin(pdq, pdq.c.image_id == m.Image.id)
        .order_by(m.Image.id)
    ).all()
    return [
        StoredPrint(
            image_id=image_id,
            pixel_digest=digest,
            pdq=BitHash.from_hex(value, 256) if value else None,
            pdq_quality=quality,
        )
        for image_id, digest, value, quality in rows
    ]


def photo_ids(*, session: Session) -> dict[int, int]:
    """``{image_id: photo_id}`` for the whole catalogue.

    Global hashes group re-encodes and resizes; the recorded reuse matches (local features,
    verified geometrically) add crops, mirrors, banners and borders.
    """
    prints = load_prints(session=session)
    photos = group_photos(prints)
    index = {p.image_id: i for i, p in enumerate(prints)}
    sets = _UnionFind(len(prints))
    for image_id, photo in photos.items():
        sets.union(index[image_id], index[photo])
    for reference, copy in session.execute(
        select(m.PhotoMatch.reference_id, m.PhotoMatch.copy_id)
    ):
        if reference in index and copy in index:
            sets.union(index[reference], index[copy])
    return {p.image_id: prints[sets.find(i)].image_id for i, p in enumerate(prints)}

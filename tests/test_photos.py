"""Photo grouping (provcat.photos): identical pixels, or PDQ hashes within Meta's threshold of
each other (directly or through other images), make one photo; low-quality and missing hashes
never match."""

from __future__ import annotations

import numpy as np
import pytest

from provcat import photos
from provcat.fingerprints import BitHash
from provcat.photos import PDQ_MIN_QUALITY, PDQ_SAME_PHOTO, StoredPrint, group_photos


def _flipped(bits: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    out = bits.copy()
    out[rng.choice(bits.size, count, replace=False)] ^= 1
    return out


def _prints(rng: np.random.Generator) -> list[StoredPrint]:
    """Random hashes, with copies planted at the threshold, one bit past it, in chains, with
    low quality, without a hash, and with the same pixels."""
    bits = [rng.integers(0, 2, 256, dtype=np.uint8) for _ in range(300)]
    base = len(bits)
    for number in range(0, 60, 3):
        original = bits[number]
        bits.append(_flipped(original, PDQ_SAME_PHOTO, rng))  # joins
        bits.append(_flipped(original, PDQ_SAME_PHOTO + 1, rng))  # does not (unless by chance)
        # A chain: 20 bits from the original's copy, so it may be further from the original.
        bits.append(_flipped(bits[-2], 20, rng))
    prints = []
    for image_id, hashed in enumerate(bits, start=1000):
        quality = 30 if image_id % 37 == 0 else 90
        digest = f"{image_id:064x}"
        pdq: BitHash | None = BitHash(hashed)
        if image_id % 41 == 0:
            pdq = None
        if image_id % 53 == 0:
            digest = f"{1000:064x}"  # the same pixels as the first image
        prints.append(StoredPrint(image_id, digest, pdq, quality))
    assert len(prints) > base
    return prints


def _reference(prints: list[StoredPrint]) -> dict[int, int]:
    """The grouping by its definition: every pair compared, components by flood fill."""
    edges: dict[int, set[int]] = {p.image_id: set() for p in prints}
    for i, a in enumerate(prints):
        for b in prints[i + 1 :]:
            same = a.pixel_digest == b.pixel_digest
            if not same and a.pdq is not None and b.pdq is not None:
                good = min(a.pdq_quality or 0, b.pdq_quality or 0) >= PDQ_MIN_QUALITY
                same = good and a.pdq - b.pdq <= PDQ_SAME_PHOTO
            if same:
                edges[a.image_id].add(b.image_id)
                edges[b.image_id].add(a.image_id)
    photo: dict[int, int] = {}
    for start in edges:
        if start in photo:
            continue
        seen, todo = {start}, [start]
        while todo:
            for other in edges[todo.pop()] - seen:
                seen.add(other)
                todo.append(other)
        for member in seen:
            photo[member] = min(seen)
    return photo


@pytest.mark.parametrize("block", [7, 64, photos._BLOCK])
def test_grouping_is_every_pair_within_the_threshold(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(photos, "_BLOCK", block)
    prints = _prints(np.random.default_rng(5))
    found = group_photos(prints)
    assert found == _reference(prints)
    # The planted cases are there: a copy at the threshold joins its original, a chain
    # joins through its middle, the same pixels join whatever the hashes.
    assert found[1300] == 1000
    assert found[1302] == 1000
    assert found[1007] == 1000
    assert len(set(found.values())) < len(prints)


def test_one_or_no_usable_hash() -> None:
    one = [StoredPrint(1, "a", BitHash(np.zeros(256, dtype=np.uint8)), 90)]
    assert group_photos(one) == {1: 1}
    low = [StoredPrint(i, str(i), BitHash(np.zeros(256, dtype=np.uint8)), 10) for i in (1, 2)]
    assert group_photos(low) == {1: 1, 2: 2}
    assert group_photos([]) == {}

"""Weak evidence for low-information pictures: global hashes where local features cannot decide.

A plain sky, a blank wall or a heavily blurred picture gives ORB few or no corners and PDQ a low
quality score: no geometric fit can verify a copy of it. For such pictures the global hashes
are the only evidence, and they are weak: two different flat pictures can hash alike. So the
guard is strict (every hash agrees in one orientation, and the frame's aspect ratio is the
same) and the answer says what it rests on: kind ``weak_global_hash``, ``evidence="weak"``.

Measured on generated skies (docs/reuse.md): a half-size copy moved PDQ by up to 48 bits,
pHash by 4 and dHash by 2; distinct skies were at least 88 PDQ bits, 18 pHash bits and 7 dHash
bits apart. A JPEG at quality 10 moved PDQ by 86-106 bits: such copies are not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image

from provcat.fingerprints import BitHash, Fingerprints, compute
from provcat.reuse.verify import KINDS, SCALE_TOLERANCE, Relation

#: PDQ's own threshold for a usable hash: below it the picture has too little structure.
LOW_QUALITY: Final = 50
#: Fewer ORB keypoints than this leave nothing for a geometric fit to stand on.
FEW_KEYPOINTS: Final = 100

#: Guard: in one orientation of the copy every hash is within its limit and the aspect ratio
#: agrees. PDQ is loose because a low-quality PDQ hash is noisy; pHash and dHash are strict.
WEAK_PDQ: Final = 56
WEAK_PHASH: Final = 8
WEAK_DHASH: Final = 8
ASPECT_TOLERANCE: Final = 0.03

#: The score of weak evidence never exceeds this, so verified matches sort first.
WEAK_SCORE: Final = 0.3

_TRANSPOSES: Final = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)


def _orientation(transpose: Image.Transpose | None) -> tuple[bool, float]:
    """(mirrored, rotation in degrees counter-clockwise) of a copy that ``transpose`` undoes."""
    if transpose is None:
        return False, 0.0
    probe = np.arange(6, dtype=np.uint8).reshape(2, 3)
    turned = np.asarray(Image.fromarray(probe).transpose(transpose))
    for flip in (False, True):
        for quarter in range(4):
            candidate = np.rot90(np.fliplr(probe) if flip else probe, quarter)
            if candidate.shape == turned.shape and np.array_equal(candidate, turned):
                # transpose = rot(quarter) after an optional flip; the copy is its inverse:
                # a rotation by -quarter, or (flipped) the mirror rotated by +quarter.
                degrees = (90.0 * (quarter if flip else -quarter)) % 360
                return flip, degrees - 360 if degrees > 180 else degrees
    raise AssertionError(f"unknown transpose {transpose}")


def low_information(pdq_quality: int | None, keypoints: int | None) -> bool:
    """Whether a picture has too little structure for local features (see module docstring).

    Args:
        pdq_quality: PDQ's quality score (0-100), None when unknown.
        keypoints: How many ORB keypoints it gave, None when unknown.
    """
    return (pdq_quality is not None and pdq_quality < LOW_QUALITY) or (
        keypoints is not None and keypoints < FEW_KEYPOINTS
    )


@dataclass(frozen=True)
class GlobalPrints:
    """The global hashes and frame size of a stored image: what a weak match compares."""

    phash: BitHash
    dhash: BitHash
    pdq: BitHash
    width: int
    height: int

    @classmethod
    def of(cls, pixels: Image.Image, prints: Fingerprints | None = None) -> GlobalPrints:
        """From decoded pixels (and their fingerprints, when already computed)."""
        found = prints or compute(pixels)
        return cls(found.phash, found.dhash, found.pdq, pixels.width, pixels.height)


def weak_relation(a: GlobalPrints, b_pixels: Image.Image) -> Relation | None:
    """Whether the copy ``b_pixels`` hashes like ``a`` in one of its 8 orientations.

    Meant only for pairs in which one picture is :func:`low_information` and the geometric
    verification found nothing: the answer is weak evidence and says so.

    Args:
        a: The reference's global hashes and size.
        b_pixels: The copy (RGB, upright).

    Returns:
        A relation with kind ``weak_global_hash`` (plus ``mirrored``, ``rotated``, ``resized``
        as the orientation and size say), ``model="global_hash"`` and ``evidence="weak"``;
        None when no orientation passes the guard.
    """
    best: tuple[float, Image.Transpose | None, float] | None = None
    for transpose in _TRANSPOSES:
        turned = b_pixels if transpose is None else b_pixels.transpose(transpose)
        if abs((turned.width / turned.height) / (a.width / a.height) - 1) > ASPECT_TOLERANCE:
            continue
        prints = compute(turned)
        distances = (a.pdq - prints.pdq, a.phash - prints.phash, a.dhash - prints.dhash)
        if distances[0] > WEAK_PDQ or distances[1] > WEAK_PHASH or distances[2] > WEAK_DHASH:
            continue
        # The weakest of the three agreements, as a share of its limit.
        strain = max(distances[0] / WEAK_PDQ, distances[1] / WEAK_PHASH, distances[2] / WEAK_DHASH)
        if best is None or strain < best[0]:
            best = (strain, transpose, turned.width / a.width)
    if best is None:
        return None
    strain, transpose, scale = best
    flip, rotation = _orientation(transpose)
    kinds = ["weak_global_hash"]
    if abs(scale - 1) > SCALE_TOLERANCE:
        kinds.append("resized")
    if flip:
        kinds.append("mirrored")
    if rotation:
        kinds.append("rotated")
    if scale < 1 - SCALE_TOLERANCE:
        direction = "a_contains_b"
    elif scale > 1 + SCALE_TOLERANCE:
        direction = "b_contains_a"
    else:
        direction = "same_extent"
    ordered = tuple(kind for kind in KINDS if kind in kinds)
    return Relation(
        True, ordered, None, 0, WEAK_SCORE * (1 - strain), rotation, scale, direction,
        scale_x=scale, scale_y=scale, model="global_hash", evidence="weak",
    )  # fmt: skip

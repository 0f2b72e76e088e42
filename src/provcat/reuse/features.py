"""Local features (ORB keypoints and descriptors) of an upright image, and their storage form.

Choices, so that stored images and queries are always described the same way:

- The input is ``DecodedImage.pixels`` (RGB, upright). It is converted to Pillow's "L" grey and
  resized (Lanczos, aspect kept) so its longer side is :data:`FEATURE_SIDE` pixels, up or down:
  a copy at half or a quarter of the size is then described at the same scale as its original,
  and ORB's 12-level pyramid (factor 1.2, about 7.4x) is left for crops and zooms. A picture
  2,048 pixels or more on a side is resized from its working copy (``provcat.working``),
  reduced once by a whole factor; a smaller one from itself.
- ORB is asked for several times more corners than kept; the kept ones are spread over an 8 x 8
  grid (the strongest of every cell first, then the second strongest, ...). Without that, text
  and fine texture take most of the budget, and a banner or a crop removes most features.
- Keypoints are stored in the coordinates of the original upright image (pixel centres at
  integer positions), so a verified transform maps one original image onto the other.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from provcat.working import WorkingCopy

#: The longer side, in pixels, of the grey image ORB runs on.
FEATURE_SIDE: Final = 512

#: Grid the kept keypoints are spread over (cells per side).
_GRID: Final = 8

#: ORB is asked for this many times the keypoints kept, so every grid cell has candidates.
_OVERSAMPLE: Final = 4

#: FAST threshold: far lower than OpenCV's 20 so low-contrast photographs still give corners
#: (the grid spread keeps the weak ones from crowding out strong ones).
_FAST_THRESHOLD: Final = 5

#: Pyramid levels at factor 1.2: 12 levels span 7.4x, room for a quarter-size crop of a photo.
_LEVELS: Final = 12
_LEVEL_FACTOR: Final = 1.2

#: The most one picture's features can be magnified against another's and still be matched
#: as the same structures at the same size: ORB describes a keypoint at the pyramid level it
#: was found on, and its levels span this factor (1.2 ** 11, about 7.4).
PYRAMID_SPAN: Final = _LEVEL_FACTOR ** (_LEVELS - 1)

#: ORB's patch size and border margin. 19 rather than 31: crops and borders cut keypoints near
#: the edges away, and on crops of test photographs 19 gave the most RANSAC inliers.
_PATCH: Final = 19

#: Storage form: magic, format version, keypoint count, original width and height.
_MAGIC: Final = b"PVCF"
_VERSION: Final = 1
_HEADER: Final = struct.Struct("<4sBxxxIII")

FloatArray = npt.NDArray[np.float32]
ByteMatrix = npt.NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class Features:
    """ORB keypoints and descriptors of one upright image.

    Attributes:
        keypoints: ``(N, 2)`` float32 x, y in the original upright image's pixel coordinates.
        descriptors: ``(N, 32)`` uint8 ORB descriptors (256 bits each), row i for keypoint i.
        width: Width of the original upright image.
        height: Height of the original upright image.
        step: Pixels of the original per pixel of the grey picture ORB ran on; None for the
            whole picture described at :data:`FEATURE_SIDE`, as :func:`extract` does (see
            :attr:`described_step`). Features of a part of a picture, or of a view warped
            from it, give their own.
    """

    keypoints: FloatArray
    descriptors: ByteMatrix
    width: int
    height: int
    step: float | None = None

    def __post_init__(self) -> None:
        """Check shapes and types, and make the arrays read-only."""
        kp, desc = self.keypoints, self.descriptors
        if kp.dtype != np.float32 or kp.ndim != 2 or kp.shape[1] != 2:
            raise ValueError(f"keypoints must be (N, 2) float32, got {kp.dtype} {kp.shape}")
        if desc.dtype != np.uint8 or desc.ndim != 2 or desc.shape[1] != 32:
            raise ValueError(f"descriptors must be (N, 32) uint8, got {desc.dtype} {desc.shape}")
        if kp.shape[0] != desc.shape[0]:
            raise ValueError(f"{kp.shape[0]} keypoints but {desc.shape[0]} descriptors")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width} x {self.height}")
        kp.flags.writeable = False
        desc.flags.writeable = False

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def described_step(self) -> float:
        """Pixels of the original per pixel of the picture the features were found in."""
        if self.step is not None:
            return self.step
        return max(self.width, self.height) / FEATURE_SIDE

    def to_bytes(self) -> bytes:
        """The features as bytes for a database BLOB (about 40 bytes per keypoint).

        Layout: ``b"PVCF"``, a version byte, three pad bytes, then little-endian uint32 count,
        width and height, the keypoints as little-endian float32 x, y pairs, and the
        descriptors' raw bytes.
        """
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(_MAGIC, _VERSION, len(self), self.width, self.height))
        buffer.write(self.keypoints.astype("<f4").tobytes())
        buffer.write(self.descriptors.tobytes())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Features:
        """Parse what :meth:`to_bytes` wrote.

        Raises:
            ValueError: ``data`` is not features in a known version, or has the wrong length.
        """
        if len(data) < _HEADER.size:
            raise ValueError(f"features data too short: {len(data)} bytes")
        magic, version, count, width, height = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"not provcat features data (magic {magic!r})")
        if version != _VERSION:
            raise ValueError(f"unsupported features version {version} (expected {_VERSION})")
        expected = _HEADER.size + count * (8 + 32)
        if len(data) != expected:
            raise ValueError(f"features data is {len(data)} bytes, expected {expected}")
        offset = _HEADER.size
        keypoints = np.frombuffer(data, dtype="<f4", count=count * 2, offset=offset)
        descriptors = np.frombuffer(
            data, dtype=np.uint8, count=count * 32, offset=offset + count * 8
        )
        return cls(
            keypoints=keypoints.astype(np.float32).reshape(count, 2),
            descriptors=descriptors.reshape(count, 32).copy(),
            width=width,
            height=height,
        )


def extract(
    pixels: Image.Image, *, n_features: int = 1000, working: WorkingCopy | None = None
) -> Features:
    """ORB features of a decoded image.

    Args:
        pixels: ``DecodedImage.pixels``: RGB, upright.
        n_features: The most keypoints to keep. Flat or tiny images give fewer, possibly none.
        working: ``WorkingCopy.of(pixels)``, when the caller has it already.

    Returns:
        The features, keypoints in ``pixels``' coordinates.

    Raises:
        ValueError: The image is not RGB, has no pixels, or ``n_features`` is not positive.
    """
    return _extract(pixels, n_features, mirror=False, working=working)


def _extract(
    pixels: Image.Image, n_features: int, *, mirror: bool, working: WorkingCopy | None
) -> Features:
    """:func:`extract` of ``pixels``, or of their left-right mirror image: the grey picture
    is mirrored, which gives the grey of the mirrored picture pixel for pixel (grey is taken
    pixel by pixel) for a third of the copying."""
    if pixels.mode != "RGB":
        raise ValueError(f"features need the RGB image from provcat.decode, got {pixels.mode!r}")
    width, height = pixels.size
    if width == 0 or height == 0:
        raise ValueError(f"features need pixels, got a {width} x {height} image")
    if n_features <= 0:
        raise ValueError(f"n_features must be positive, got {n_features}")
    scale = FEATURE_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if min(size) <= 2 * _PATCH:
        # ORB finds no keypoint within _PATCH pixels of an edge, so a picture this thin has
        # none; and OpenCV's pyramid fails on it (a banner of 20,000 x 3 pixels: a level
        # 0 pixels high), which would end an ingest.
        return _no_features(width, height)
    working = working or WorkingCopy.of(pixels)
    resized = working.resized(size, Image.Resampling.LANCZOS, grey=True, mirror=mirror)
    grey = np.ascontiguousarray(np.asarray(resized, dtype=np.uint8))
    orb = cv2.ORB.create(
        nfeatures=n_features * _OVERSAMPLE,
        nlevels=_LEVELS,
        scaleFactor=_LEVEL_FACTOR,
        edgeThreshold=_PATCH,
        patchSize=_PATCH,
        fastThreshold=_FAST_THRESHOLD,
        scoreType=cv2.ORB_FAST_SCORE,
    )
    found = orb.detect(grey, None)
    chosen = _spread(found, size, n_features)
    kept, descriptors = orb.compute(grey, chosen)
    if descriptors is None or not kept:
        return _no_features(width, height)
    points = np.asarray(cv2.KeyPoint.convert(kept), dtype=np.float64)
    # Map pixel centres of the resized image back to pixel centres of the original.
    ratio = np.array([width / size[0], height / size[1]])
    original = (points + 0.5) * ratio - 0.5
    return Features(
        keypoints=original.astype(np.float32),
        descriptors=np.ascontiguousarray(descriptors, dtype=np.uint8),
        width=width,
        height=height,
    )


def _no_features(width: int, height: int) -> Features:
    return Features(
        keypoints=np.zeros((0, 2), dtype=np.float32),
        descriptors=np.zeros((0, 32), dtype=np.uint8),
        width=width,
        height=height,
    )


def mirrored(
    pixels: Image.Image, *, n_features: int = 1000, working: WorkingCopy | None = None
) -> Features:
    """Features of the left-right mirror of an image, in the mirror image's own coordinates.

    ORB descriptors are not symmetric, so the mirror's features cannot be derived from the
    image's features: they are extracted again from the mirrored pixels (its grey picture
    mirrored: the same values as the mirrored picture's grey, for a third of the copying).
    :func:`provcat.reuse.verify.verify` takes them as ``b_mirrored`` and maps the result back
    to the unmirrored copy; the index takes them as a second query.

    Args:
        pixels: ``DecodedImage.pixels``: RGB, upright.
        n_features: As for :func:`extract`.
        working: ``WorkingCopy.of(pixels)``, when the caller has it already.

    Returns:
        ``extract(ImageOps.mirror(pixels))``, bit for bit (a picture reduced first is
        mirrored by :meth:`provcat.working.WorkingCopy.resized` so that this holds).

    Raises:
        ValueError: As for :func:`extract`.
    """
    return _extract(pixels, n_features, mirror=True, working=working)


def _spread(
    keypoints: Sequence[cv2.KeyPoint], size: tuple[int, int], limit: int
) -> list[cv2.KeyPoint]:
    """Keep ``limit`` keypoints, the strongest of each grid cell first (round robin)."""
    if len(keypoints) <= limit:
        return list(keypoints)
    points = np.asarray(cv2.KeyPoint.convert(keypoints), dtype=np.float64)
    response = np.array([kp.response for kp in keypoints], dtype=np.float64)
    cols = np.minimum((points[:, 0] * _GRID / size[0]).astype(np.int64), _GRID - 1)
    rows = np.minimum((points[:, 1] * _GRID / size[1]).astype(np.int64), _GRID - 1)
    cell = rows * _GRID + cols
    # Order by cell, then by response (strongest first), to number keypoints within each cell.
    order = np.lexsort((-response, cell))
    sorted_cells = cell[order]
    starts = np.searchsorted(sorted_cells, sorted_cells, side="left")
    rank = np.empty(len(keypoints), dtype=np.int64)
    rank[order] = np.arange(len(keypoints)) - starts
    keep = np.lexsort((-response, rank))[:limit]
    return [keypoints[i] for i in sorted(keep.tolist())]

"""Matching two feature sets and fitting a similarity transform between them (RANSAC)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from provcat.reuse.features import Features

#: Lowe's ratio test for binary descriptors: best match clearly better than the second best.
RATIO: Final = 0.8

#: RANSAC inlier tolerance as a fraction of the reference image's longer side (4 px at 512).
RANSAC_TOLERANCE: Final = 0.008

Matrix = npt.NDArray[np.float64]
Points = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Fit:
    """A similarity transform from the copy ``b`` onto the reference ``a``, with its evidence.

    Attributes:
        matrix: 3 x 3 matrix taking b's pixel coordinates (x, y, 1) to a's.
        mirrored: The transform includes a left-right flip of b.
        a_points: ``(K, 2)`` a-side coordinates of the inlier matches.
        b_points: ``(K, 2)`` b-side coordinates (in b's own, unmirrored frame).
        matches: How many matches passed the ratio test (before RANSAC).
        second_inliers: Inliers of the best second, clearly different similarity among the
            first fit's outliers: parallax between two viewpoints (a stereo pair) or a moved
            subject gives one; a copy's outliers are scattered noise.
    """

    matrix: Matrix
    mirrored: bool
    a_points: Points
    b_points: Points
    matches: int
    second_inliers: int

    @property
    def inliers(self) -> int:
        """How many matches agree with the transform."""
        return int(self.a_points.shape[0])

    @property
    def scale(self) -> float:
        """Linear size of b relative to a (b pixels per a pixel)."""
        det = abs(float(np.linalg.det(self.matrix[:2, :2])))
        return 1.0 / float(np.sqrt(det)) if det > 0 else 0.0

    @property
    def rotation_degrees(self) -> float:
        """Rotation of the copy's content relative to the original, counter-clockwise positive.

        For a mirrored copy, the rotation after undoing the flip.
        """
        linear = self.matrix[:2, :2].copy()
        if self.mirrored:
            linear[:, 0] = -linear[:, 0]
        # The matrix maps b to a: a rotation of the copy is the inverse of this one. Image y
        # points down, so the sign is flipped once more to read counter-clockwise as positive.
        return float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0])))


def match(a: Features, b: Features) -> tuple[Points, Points]:
    """Ratio-test matches between two feature sets.

    Returns:
        ``(a_points, b_points)``: coordinates of the matched keypoints, row for row.
    """
    if len(a) < 2 or len(b) < 2:
        empty = np.zeros((0, 2), dtype=np.float64)
        return empty, empty
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(b.descriptors, a.descriptors, k=2)
    query: list[int] = []
    train: list[int] = []
    for pair in pairs:
        if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance:
            query.append(pair[0].queryIdx)
            train.append(pair[0].trainIdx)
    a_points = a.keypoints[np.array(train, dtype=np.int64)].astype(np.float64)
    b_points = b.keypoints[np.array(query, dtype=np.int64)].astype(np.float64)
    return a_points.reshape(-1, 2), b_points.reshape(-1, 2)


def fit(a: Features, b: Features, *, mirrored: bool = False) -> Fit | None:
    """Fit a similarity (rotation, uniform scale, translation) from b onto a with RANSAC.

    Args:
        a: The reference image's features.
        b: The copy's features; with ``mirrored``, the features of the copy's mirror image
            (:func:`provcat.reuse.features.mirrored`), whose coordinates are flipped back.
        mirrored: ``b`` holds mirror-image features.

    Returns:
        The fit, or None when fewer than three matches exist or RANSAC finds no model.
    """
    a_points, b_points = match(a, b)
    if a_points.shape[0] < 3:
        return None
    tolerance = RANSAC_TOLERANCE * max(a.width, a.height)
    model, mask = cv2.estimateAffinePartial2D(
        b_points.astype(np.float32),
        a_points.astype(np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=tolerance,
        maxIters=4000,
        confidence=0.999,
        refineIters=10,
    )
    if model is None or mask is None:
        return None
    keep = mask.ravel().astype(bool)
    second = _second_motion(a_points[~keep], b_points[~keep], np.asarray(model), tolerance)
    matrix = np.vstack([np.asarray(model, dtype=np.float64), [0.0, 0.0, 1.0]])
    inlier_b = b_points[keep]
    if mirrored:
        # b's keypoints are in the mirror image's frame; x_mirror = (width - 1) - x.
        flip = np.array([[-1.0, 0.0, b.width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        matrix = matrix @ flip
        inlier_b = inlier_b.copy()
        inlier_b[:, 0] = (b.width - 1.0) - inlier_b[:, 0]
    return Fit(
        matrix=matrix,
        mirrored=mirrored,
        a_points=a_points[keep],
        b_points=inlier_b,
        matches=int(a_points.shape[0]),
        second_inliers=second,
    )


def _second_motion(
    a_points: Points, b_points: Points, first: npt.NDArray[np.float64], tolerance: float
) -> int:
    """Inliers of a second similarity among the outliers, if it moves them differently."""
    if a_points.shape[0] < 3:
        return 0
    model, mask = cv2.estimateAffinePartial2D(
        b_points.astype(np.float32),
        a_points.astype(np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=tolerance,
        maxIters=2000,
        confidence=0.99,
    )
    if model is None or mask is None:
        return 0
    keep = mask.ravel().astype(bool)
    points = b_points[keep]
    # Where the two models send the second set's points: a near-copy of the first model (its
    # inliers just beyond tolerance) is not a second motion.
    apart = np.linalg.norm(
        points @ np.asarray(model)[:, :2].T + model[:, 2] - (points @ first[:, :2].T + first[:, 2]),
        axis=1,
    )
    return int(keep.sum()) if float(np.median(apart)) > 3 * tolerance else 0


def apply(matrix: Matrix, points: Points) -> Points:
    """Map ``(K, 2)`` points through a 3 x 3 affine matrix."""
    result: Points = points @ matrix[:2, :2].T + matrix[:2, 2]
    return result


def rectangle(width: int, height: int) -> Points:
    """The corners of a width x height image (pixel edges, in pixel-centre coordinates)."""
    return np.array(
        [[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]]
    )


def polygon_area(points: Points) -> float:
    """Area of a simple polygon (shoelace formula)."""
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def clip_to_rectangle(polygon: Points, width: int, height: int) -> Points:
    """The part of a convex polygon inside a width x height image (Sutherland-Hodgman)."""
    bounds = ((0, -0.5, 1.0), (0, width - 0.5, -1.0), (1, -0.5, 1.0), (1, height - 0.5, -1.0))
    result = [tuple(p) for p in polygon.tolist()]
    for axis, limit, sign in bounds:
        if not result:
            break
        clipped: list[tuple[float, ...]] = []
        for i, current in enumerate(result):
            previous = result[i - 1]
            inside_now = sign * (current[axis] - limit) >= 0
            inside_before = sign * (previous[axis] - limit) >= 0
            if inside_now != inside_before:
                t = (limit - previous[axis]) / (current[axis] - previous[axis])
                pairs = zip(previous, current, strict=True)
                clipped.append(tuple(p + t * (c - p) for p, c in pairs))
            if inside_now:
                clipped.append(current)
        result = clipped
    return np.array(result, dtype=np.float64).reshape(-1, 2)

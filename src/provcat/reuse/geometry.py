"""Matching two feature sets and fitting a transform between them with RANSAC.

Three models, in order of preference: a similarity (rotation, uniform scale, shift), an affine
map (adds non-uniform scale and shear: a stretched or squashed copy) and a homography (adds
perspective: a photograph of a screen or a print). The richer models are bounded by
:func:`plausible`, so that they describe an edited copy and not any view of a scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import cv2
import faiss
import numpy as np
import numpy.typing as npt

from provcat.reuse.features import Features

#: Lowe's ratio test for binary descriptors: best match clearly better than the second best.
RATIO: Final = 0.8

#: Rows of the copy's descriptors whose distances to every reference descriptor are made at
#: once (:func:`match`): 256 x 1,000 distances, 1 MB, stay in the processor's cache.
MATCH_ROWS: Final = 256

#: RANSAC inlier tolerance as a fraction of the reference image's longer side (4 px at 512).
RANSAC_TOLERANCE: Final = 0.008

#: The models :func:`fit` knows, in order of preference.
MODELS: Final = ("similarity", "affine", "perspective")
#: Matches each model's minimal sample takes.
SAMPLE_SIZES: Final = {"similarity": 2, "affine": 3, "perspective": 4}

#: RANSAC's confidence of drawing at least one sample made of inliers only, and the most
#: samples it draws.
CONFIDENCE: Final = 0.999
MAX_ITERATIONS: Final = 4000
#: The fewest samples drawn when the caller's least useful support bounds the search (a few
#: degenerate samples, three points on a line, must not end it).
MIN_ITERATIONS: Final = 100

#: Bounds on the richer models. An affine copy may be stretched at most this much more in one
#: direction than the other (x1.3 / y0.75 are edits people make; 2x is a different picture).
MAX_ANISOTROPY: Final = 1.8
#: Largest |cosine| between the images of the copy's x and y axes (shear).
MAX_SHEAR: Final = 0.2
#: A homography's quadrilateral (b's frame in a) may have interior angles this far from 90
#: degrees and opposite sides this unequal: a keystoned screen, not a floor seen edge-on.
MAX_CORNER_SKEW: Final = 35.0
MAX_SIDE_RATIO: Final = 1.8

Matrix = npt.NDArray[np.float64]
Points = npt.NDArray[np.float64]

# One thread: matching runs beside the ingest's worker processes, and OpenMP threads that
# wait for work spin on the cores those workers need.
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class Fit:
    """A transform from the copy ``b`` onto the reference ``a``, with its evidence.

    Attributes:
        matrix: 3 x 3 matrix taking b's pixel coordinates (x, y, 1) to a's; its last row is
            (0, 0, 1) except for the perspective model.
        mirrored: The transform includes a left-right flip of b.
        a_points: ``(K, 2)`` a-side coordinates of the inlier matches.
        b_points: ``(K, 2)`` b-side coordinates (in b's own, unmirrored frame).
        matches: How many matches passed the ratio test (before RANSAC).
        model: One of :data:`MODELS`.
    """

    matrix: Matrix
    mirrored: bool
    a_points: Points
    b_points: Points
    matches: int
    model: str = "similarity"
    #: The matches the fit leaves out and the fit itself, in the frame the matches were made
    #: in, with the RANSAC tolerance: what :attr:`second_inliers` looks at. Most fits are
    #: refused on their inliers alone, so the second motion is only sought when asked for.
    outliers: tuple[Points, Points, Matrix, float] | None = field(
        default=None, repr=False, compare=False
    )

    @cached_property
    def _second(self) -> tuple[int, Points]:
        if self.outliers is None:
            return 0, np.zeros((0, 2), dtype=np.float64)
        return _second_motion(*self.outliers)

    @property
    def second_inliers(self) -> int:
        """Inliers of the best second, clearly different similarity among the fit's outliers:
        parallax between two viewpoints (a stereo pair) or a moved subject gives one; a copy's
        outliers are scattered noise."""
        return self._second[0]

    @property
    def second_points(self) -> Points:
        """``(K, 2)`` a-side coordinates of the second motion's inliers (empty without one)."""
        return self._second[1]

    @property
    def inliers(self) -> int:
        """How many matches agree with the transform."""
        return int(self.a_points.shape[0])

    def correspondences(self, b_side: float) -> int:
        """How many correspondences the inliers make: one for each of a's keypoints they
        use, however many of b's keypoints took it (the ratio test is one-way, and the
        strokes of lettering or a repeated shape may all take one keypoint of a), unless
        those lie at one place of b (within :data:`RANSAC_TOLERANCE` of ``b_side``, b's
        longer side): one structure found on two pyramid levels, which counts as a's own
        such keypoints do, one for each.

        A bundle spread over b fits one keypoint of a only when the fit shrinks b a great
        deal, into a patch of a where RANSAC's tolerance is a large part of the patch: two
        different KDE wallpapers were joined on 15 matches at 5 of a's keypoints so.
        """
        if self.inliers == 0:
            return 0
        _, inverse, counts = np.unique(
            self.a_points, axis=0, return_inverse=True, return_counts=True
        )
        inverse = inverse.ravel()
        tolerance = RANSAC_TOLERANCE * b_side
        total = int((counts == 1).sum())
        for bundle in np.flatnonzero(counts > 1):
            spread = float(np.ptp(self.b_points[inverse == bundle], axis=0).max())
            total += int(counts[bundle]) if spread <= tolerance else 1
        return total

    def _linear(self) -> Matrix:
        """The local linear part of the map b -> a at the centre of the inliers."""
        if self.model != "perspective" or self.b_points.shape[0] == 0:
            return self.matrix[:2, :2].copy()
        centre = self.b_points.mean(axis=0)
        return jacobian(self.matrix, centre)

    @property
    def scale(self) -> float:
        """Linear size of b relative to a (b pixels per a pixel; geometric mean of x and y)."""
        det = abs(float(np.linalg.det(self._linear())))
        return 1.0 / float(np.sqrt(det)) if det > 0 else 0.0

    @property
    def axis_scales(self) -> tuple[float, float]:
        """b pixels per a pixel along a's x and along a's y axis (unequal when stretched)."""
        linear = self._linear()
        try:
            inverse = np.linalg.inv(linear)
        except np.linalg.LinAlgError:
            return 0.0, 0.0
        return float(np.linalg.norm(inverse[:, 0])), float(np.linalg.norm(inverse[:, 1]))

    @property
    def rotation_degrees(self) -> float:
        """Rotation of the copy's content relative to the original, counter-clockwise positive.

        For a mirrored copy, the rotation after undoing the flip; for a stretched copy, the
        rotation of the nearest similarity (polar decomposition).
        """
        linear = self._linear()
        if self.mirrored:
            linear[:, 0] = -linear[:, 0]
        if self.model != "similarity":
            u, _, vt = np.linalg.svd(linear)
            linear = u @ vt
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
    # The two nearest of a's descriptors to each of b's, by brute force: every distance at
    # once (faiss's Hamming kernel), then the nearest and the second nearest of each row.
    # faiss's k-nearest search gives the same two distances at three times the cost (its heaps
    # cost more than the distances), OpenCV's matcher at nine times; this is most of a
    # candidate's verification. The distances are made MATCH_ROWS rows of b at a time, so
    # that the rows searched are still in the processor's cache (a fifth faster than one
    # 1,000 x 1,000 matrix, alone or beside another thread). Where the nearest is tied, the
    # ratio test fails whichever of the tied is taken.
    ours, theirs = np.ascontiguousarray(b.descriptors), np.ascontiguousarray(a.descriptors)
    count = ours.shape[0]
    nearest = np.empty(count, dtype=np.intp)
    first = np.empty(count, dtype=np.int32)
    second = np.empty(count, dtype=np.int32)
    block = np.empty((min(count, MATCH_ROWS), theirs.shape[0]), dtype=np.int32)
    for start in range(0, count, MATCH_ROWS):
        stop = min(count, start + MATCH_ROWS)
        distances = block[: stop - start]
        faiss.hammings(  # type: ignore[attr-defined]  # SWIG's, not in faiss's Python names
            faiss.swig_ptr(ours[start:stop]),
            faiss.swig_ptr(theirs),
            stop - start,
            theirs.shape[0],
            ours.shape[1],
            faiss.swig_ptr(distances),
        )
        rows = np.arange(stop - start)
        closest = nearest[start:stop] = distances.argmin(axis=1)
        first[start:stop] = distances[rows, closest]
        distances[rows, closest] = np.iinfo(np.int32).max
        second[start:stop] = distances.min(axis=1)
    query = np.flatnonzero(first < RATIO * second)
    train = nearest[query]
    a_points = a.keypoints[train].astype(np.float64)
    b_points = b.keypoints[query].astype(np.float64)
    return a_points.reshape(-1, 2), b_points.reshape(-1, 2)


@dataclass(frozen=True)
class Matches:
    """Ratio-test matches of one orientation of the copy, fitted once per model."""

    a: Features
    b: Features
    mirrored: bool
    a_points: Points
    b_points: Points


def matches(a: Features, b: Features, *, mirrored: bool = False) -> Matches:
    """The ratio-test matches from ``b`` (or, with ``mirrored``, b's mirror features) to ``a``."""
    a_points, b_points = match(a, b)
    return Matches(a, b, mirrored, a_points, b_points)


def fit(
    a: Features, b: Features, *, mirrored: bool = False, model: str = "similarity"
) -> Fit | None:
    """Fit a transform from b onto a with RANSAC.

    Args:
        a: The reference image's features.
        b: The copy's features; with ``mirrored``, the features of the copy's mirror image
            (:func:`provcat.reuse.features.mirrored`), whose coordinates are flipped back.
        mirrored: ``b`` holds mirror-image features.
        model: One of :data:`MODELS`.

    Returns:
        The fit, or None when too few matches exist or RANSAC finds no model.
    """
    return fit_matches(matches(a, b, mirrored=mirrored), model)


def iterations(matches: int, least: int, sample: int) -> int:
    """Samples RANSAC must draw to find, with :data:`CONFIDENCE`, a model that at least
    ``least`` of ``matches`` support (each sample taking ``sample`` matches).

    RANSAC stops once it has drawn one sample of inliers only, and a model with ``least``
    inliers among ``matches`` yields such a sample with probability at least
    ``C(least, sample) / C(matches, sample)`` per draw. OpenCV lowers its bound as better
    models turn up, but starts from the most it may draw: a pair of unrelated pictures, with
    no good model to find, paid all :data:`MAX_ITERATIONS` of them. Between
    :data:`MIN_ITERATIONS` and :data:`MAX_ITERATIONS`.
    """
    if least >= matches:
        return MIN_ITERATIONS
    share = 1.0
    for taken in range(sample):
        share *= max(0, least - taken) / (matches - taken)
    if share <= 0.0:
        return MAX_ITERATIONS
    needed = math.ceil(math.log(1.0 - CONFIDENCE) / math.log1p(-share))
    return max(MIN_ITERATIONS, min(MAX_ITERATIONS, needed))


def fit_matches(
    found: Matches, model: str = "similarity", *, least: int | None = None
) -> Fit | None:
    """Fit ``model`` (one of :data:`MODELS`) to matches already made (see :func:`fit`).

    Args:
        found: The matches.
        model: One of :data:`MODELS`.
        least: The fewest inliers a fit needs to be of use to the caller. RANSAC then draws
            only the samples it needs to find such a fit (:func:`iterations`); a fit with
            fewer inliers may be missed, or returned with fewer inliers than the best one.
            None: up to :data:`MAX_ITERATIONS`.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    a, b = found.a, found.b
    a_points, b_points = found.a_points, found.b_points
    if a_points.shape[0] < (4 if model == "perspective" else 3):
        return None
    tolerance = RANSAC_TOLERANCE * max(a.width, a.height)
    src, dst = b_points.astype(np.float32), a_points.astype(np.float32)
    draws = (
        MAX_ITERATIONS
        if least is None
        else iterations(a_points.shape[0], least, SAMPLE_SIZES[model])
    )
    if model == "perspective":
        model_matrix, mask = cv2.findHomography(
            src, dst, method=cv2.USAC_MAGSAC, ransacReprojThreshold=tolerance,
            maxIters=draws, confidence=CONFIDENCE,
        )  # fmt: skip
    else:
        estimate = cv2.estimateAffinePartial2D if model == "similarity" else cv2.estimateAffine2D
        model_matrix, mask = estimate(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=tolerance,
            maxIters=draws, confidence=CONFIDENCE, refineIters=10,
        )  # fmt: skip
    if model_matrix is None or mask is None:
        return None
    matrix = np.asarray(model_matrix, dtype=np.float64)
    if matrix.shape == (2, 3):
        matrix = np.vstack([matrix, [0.0, 0.0, 1.0]])
    elif abs(matrix[2, 2]) > 1e-12:
        matrix = matrix / matrix[2, 2]
    keep = mask.ravel().astype(bool)
    outliers = (a_points[~keep], b_points[~keep], matrix, tolerance)
    inlier_b = b_points[keep]
    if found.mirrored:
        # b's keypoints are in the mirror image's frame; x_mirror = (width - 1) - x.
        flip = np.array([[-1.0, 0.0, b.width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        matrix = matrix @ flip
        inlier_b = inlier_b.copy()
        inlier_b[:, 0] = (b.width - 1.0) - inlier_b[:, 0]
    return Fit(
        matrix=matrix,
        mirrored=found.mirrored,
        a_points=a_points[keep],
        b_points=inlier_b,
        matches=int(a_points.shape[0]),
        model=model,
        outliers=outliers,
    )


def plausible(found: Fit, width: int, height: int) -> bool:
    """Whether an affine or perspective fit is within the bounds of an edit of one picture.

    Args:
        found: The fit (similarities are always plausible).
        width: b's width.
        height: b's height.

    Returns:
        True when the map keeps orientation (after undoing a mirror), stretches at most
        :data:`MAX_ANISOTROPY`, shears at most :data:`MAX_SHEAR`, and, for a homography, maps
        b's frame to a convex quadrilateral whose corners stay within
        :data:`MAX_CORNER_SKEW` degrees of square and whose opposite sides differ at most
        :data:`MAX_SIDE_RATIO` times.
    """
    if found.model == "similarity":
        return True
    linear = found._linear()
    if found.mirrored:
        linear[:, 0] = -linear[:, 0]
    if np.linalg.det(linear) <= 0:
        return False
    singular = np.linalg.svd(linear, compute_uv=False)
    if singular[1] <= 0 or singular[0] / singular[1] > MAX_ANISOTROPY:
        return False
    columns = linear / np.linalg.norm(linear, axis=0)
    if abs(float(columns[:, 0] @ columns[:, 1])) > MAX_SHEAR:
        return False
    if found.model != "perspective":
        return True
    quad = apply(found.matrix, rectangle(width, height))
    if not np.all(np.isfinite(quad)):
        return False
    # Homogeneous w must stay positive over the frame: otherwise the frame folds through infinity.
    corners = np.hstack([rectangle(width, height), np.ones((4, 1))])
    if np.any(corners @ found.matrix[2] <= 0):
        return False
    edges = np.roll(quad, -1, axis=0) - quad
    cross = (
        edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1]
        - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    )
    if not (np.all(cross > 0) or np.all(cross < 0)):
        return False
    lengths = np.linalg.norm(edges, axis=1)
    if lengths.min() <= 0:
        return False
    for i in range(4):
        previous, following = -edges[i - 1], edges[i]
        cosine = float(previous @ following) / (lengths[i - 1] * lengths[i])
        angle = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
        if abs(angle - 90.0) > MAX_CORNER_SKEW:
            return False
    ratios = (lengths[0] / lengths[2], lengths[1] / lengths[3])
    return all(1 / MAX_SIDE_RATIO <= r <= MAX_SIDE_RATIO for r in ratios)


def perspective_share(found: Fit, width: int, height: int) -> float:
    """How far the fit's map of b's frame is from the nearest affine map, in share of its size.

    0 for similarities and affine fits; a keystoned photograph of a screen gives a few percent.
    """
    if found.model != "perspective":
        return 0.0
    frame = rectangle(width, height)
    quad = apply(found.matrix, frame)
    affine, _ = cv2.estimateAffine2D(frame.astype(np.float32), quad.astype(np.float32))
    if affine is None:
        return 1.0
    nearest = frame @ np.asarray(affine)[:, :2].T + np.asarray(affine)[:, 2]
    size = float(np.linalg.norm(quad.max(axis=0) - quad.min(axis=0)))
    return float(np.linalg.norm(quad - nearest, axis=1).max()) / max(size, 1e-9)


def jacobian(matrix: Matrix, point: Points) -> Matrix:
    """The 2 x 2 derivative of the projective map ``matrix`` at ``point`` (x, y)."""
    x, y = float(point[0]), float(point[1])
    w = float(matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2])
    u = float(matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2])
    v = float(matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2])
    result: Matrix = np.array(
        [
            [
                (matrix[0, 0] * w - u * matrix[2, 0]) / w**2,
                (matrix[0, 1] * w - u * matrix[2, 1]) / w**2,
            ],
            [
                (matrix[1, 0] * w - v * matrix[2, 0]) / w**2,
                (matrix[1, 1] * w - v * matrix[2, 1]) / w**2,
            ],
        ]
    )
    return result


def _second_motion(
    a_points: Points, b_points: Points, first: Matrix, tolerance: float
) -> tuple[int, Points]:
    """Inliers of a second similarity among the outliers, if it moves them differently: their
    count and a-side coordinates."""
    none = (0, np.zeros((0, 2), dtype=np.float64))
    if a_points.shape[0] < 3:
        return none
    model, mask = cv2.estimateAffinePartial2D(
        b_points.astype(np.float32),
        a_points.astype(np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=tolerance,
        maxIters=2000,
        confidence=0.99,
    )
    if model is None or mask is None:
        return none
    keep = mask.ravel().astype(bool)
    points = b_points[keep]
    # Where the two models send the second set's points: a near-copy of the first model (its
    # inliers just beyond tolerance) is not a second motion.
    second = np.asarray(model)
    apart = np.linalg.norm(points @ second[:, :2].T + second[:, 2] - apply(first, points), axis=1)
    if float(np.median(apart)) <= 3 * tolerance:
        return none
    # Many copy keypoints (a banner's lettering) can match one original keypoint: such a
    # many-to-one bundle is no motion. Count distinct keypoints on both sides.
    chosen = a_points[keep]
    distinct = min(len(np.unique(chosen, axis=0)), len(np.unique(points, axis=0)))
    return distinct, np.unique(chosen, axis=0)


def apply(matrix: Matrix, points: Points) -> Points:
    """Map ``(K, 2)`` points through a 3 x 3 affine or projective matrix."""
    mapped = points @ matrix[:2, :2].T + matrix[:2, 2]
    if np.array_equal(matrix[2], [0.0, 0.0, 1.0]):
        result: Points = mapped
        return result
    w = points @ matrix[2, :2] + matrix[2, 2]
    projected: Points = mapped / w[:, None]
    return projected


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

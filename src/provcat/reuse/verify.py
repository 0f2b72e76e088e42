"""Is a copy the same photo as a reference image, and how was it edited? (verification).

The rule for "same photo" (docs/reuse.md explains the measurements behind the numbers):

1. A similarity transform (rotation, uniform scale, translation; with a left-right flip when
   the copy's mirror matches better) fitted with RANSAC is supported by at least
   :data:`MIN_INLIERS` matches making as many correspondences
   (:meth:`provcat.reuse.geometry.Fit.correspondences`: the copy's keypoints at several
   places taking one of the reference's are one), at a scale ORB could have matched them at
   (:func:`bridgeable`: within its pyramid's span in the pictures it ran on), and
2. the inliers cover the overlap: of the cells of a 6 x 6 grid over the overlap (in the
   reference's coordinates) where both images have keypoints, at least :data:`MIN_COVERAGE`
   hold an inlier (:data:`WEAK_FIT_COVERAGE` when there are fewer than
   :data:`STRONG_INLIERS` inliers). Shared text strips or a shared drawn face match a small
   part of the picture; a copy matches nearly all of it. Less coverage,
   :data:`WAIVED_COVERAGE`, is asked for when the fit maps the copy's whole frame onto the
   reference's whole frame (corners within :data:`FRAME_TOLERANCE` of the diagonal): a flat
   picture compressed hard may keep its keypoints in a few cells, and a crop, a moved camera
   or a stereo view never does that. The whole pictures, aligned, must then agree cell by
   cell and as a whole (:data:`WAIVED_DISAGREEMENT`, :data:`WAIVED_PHASH`): two photos
   under one shared banner also fit frame onto frame. The inliers must also lie in the
   middle of the overlap as both pictures' keypoints do (:data:`MIDDLES`): two different
   pictures in one template (a textured border, a social-media card's header and footer)
   match on the template alone, in bands along the edges; and
3. the matches the transform leaves out do not fit a second, different similarity with
   :data:`SECOND_SHARE` of the first one's inliers: two viewpoints of one scene (a stereo pair)
   match plane by plane at different shifts, a copy has a single motion.

4. when both images' pixels are given, the copy warped onto the reference disagrees with it
   (after levelling brightness and contrast) over at most :data:`MAX_DISAGREEMENT` of the
   overlap, in grey and, where both pictures have colour to compare, in grey or colour
   (:data:`provcat.reuse.pixels.CHROMA_LIMIT`); a banner covers a fifth. Levelled grey
   cannot tell pink on red from red on purple: two different smooth pictures under one
   watermark agree in grey over most cells, not in colour. Nor may what disagrees be
   framed on all four sides by a straight edge of both pictures, or by the end of a
   texture in both (:attr:`provcat.reuse.pixels.Comparison.framed`): two pictures in one
   template (a social-media card around a 16:9 picture, a wide textured border) disagree
   inside it; an overlay's edge lies in the copy alone.

An affine map (a stretched or squashed copy) and then a homography (a photograph of a screen
or print) are also fitted to the same matches, each bounded by
:func:`provcat.reuse.geometry.plausible` and held to rules 2-4 with more evidence: at least
:data:`RICH_INLIERS` inliers and :data:`RICH_COVERAGE` of the overlap, :data:`RICH_GAIN` times
the inliers of the simpler model, and, with pixels, no disagreeing area at all (without pixels,
:data:`RICH_SHARE` of the matches as inliers). A richer model bends to two views of a scene
with depth over most of it; only the pixels of the parallax give such a pair away.

Rules 1-3 use features alone, so stored images need not be decoded again to be re-verified;
pixels add rule 4 and the names "overlaid" and (more surely) "padded".

ORB's descriptors are not made for stretched pictures: a copy stretched by a quarter, or
photographed on a screen at an angle, keeps few of its matches, and a picture with little
texture may keep too few for any model to pass (docs/reuse.md: 12 of 240 such copies of KDE's
wallpapers). When features alone find no copy but a plausible affine map of at least
:data:`RECTIFY_INLIERS` matches could explain them (a tentative warp; unrelated pictures gave one
in 1,560 looks), the copy's pixels are warped by it into the reference's frame, its
features extracted again there, mapped back into its own frame, and judged by the same rules.
A copy's features then match in number; only an affine or perspective fit found that way is
taken (a similarity would have been found without the warp), with the richer models' evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

import cv2
import numpy as np
from PIL import Image

from provcat.reuse.features import FEATURE_SIDE, PYRAMID_SPAN, Features, extract, mirrored
from provcat.reuse.geometry import (
    MODELS,
    Fit,
    Matches,
    apply,
    clip_to_rectangle,
    fit_matches,
    matches,
    perspective_share,
    plausible,
    polygon_area,
    rectangle,
)
from provcat.reuse.pixels import (
    Comparison,
    colourfulness,
    compare,
    framed,
    margin_is_uniform,
    working_copy,
)

#: Fewest RANSAC inliers for "same photo" (unrelated photographs give up to about 20, but only
#: in a corner of the picture, which the coverage rule rejects).
MIN_INLIERS: Final = 15

#: Least share of feature-bearing overlap cells holding an inlier; a fit with fewer than
#: STRONG_INLIERS inliers needs WEAK_FIT_COVERAGE (a shared drawing or logo at another scale
#: gave 37 inliers covering 43%; heavy JPEG and quarter-area crops of real copies 46-47%
#: with 60 or more inliers).
MIN_COVERAGE: Final = 0.4
#: How close (share of the reference's diagonal) mapped frame corners must be to count as the
#: whole frame mapped onto the whole frame.
FRAME_TOLERANCE: Final = 0.015
WEAK_FIT_COVERAGE: Final = 0.5
STRONG_INLIERS: Final = 50

#: Fewest grid cells with keypoints in both images for the coverage to mean anything.
MIN_CELLS: Final = 6

#: With pixels: a copy disagreeing with the original over more than this share of the
#: overlap (after levelling brightness and contrast) is not the same photo.
MAX_DISAGREEMENT: Final = 0.5

#: With pixels: when coverage was waived for a frame-onto-frame fit, the two whole pictures,
#: aligned, must be within this pHash distance (of 64 bits). Measured on the reuse bench's 21
#: photographs: a banner over the bottom fifth 2-20, JPEG q10 0-6; two different photos under
#: one shared banner 24-38 (the cell-wise pixel rule let some of these through: a fine texture
#: such as gravel blurs to near-uniform grey at the comparison's scale and agrees by chance).
WAIVED_PHASH: Final = 22
#: A frame-onto-frame fit needs this much coverage instead of MIN_COVERAGE (the flat `cell`
#: micrograph at JPEG q10 had 0.22; a banner or logo shared by two different photos filled
#: 0.06-0.12: its keypoints sit in a strip or a corner).
WAIVED_COVERAGE: Final = 0.2
#: ... and disagree cell by cell over at most this share (a banner over a fifth: 0.18-0.2;
#: different generated scenes under one banner: 0.37-0.5).
WAIVED_DISAGREEMENT: Final = 0.3

#: Inliers lie where the keypoints are. Each middle of the overlap here is (an axis, a depth):
#: the part deeper than that share of half the overlap's side from its nearest edge (None: of
#: half its shorter side, from every edge; 0: its width's; 1: its height's), so 10%, 15% and
#: 20% of the shorter side in from a frame, and the middle 60% of the width or of the height
#: (between two bands: a card's header and footer). Where both pictures have
#: MIDDLE_KEYPOINTS keypoints in a middle, and the inliers would put MIDDLE_EXPECTED there if
#: they lay as the keypoints do, at least MIDDLE_RATIO of that many must lie there. Measured
#: on the fits the rules before this one accepted (docs/reuse.md, "A shared template"): copies
#: 0.16 and more (6 of 2,747 below 0.3: bands of text across the middle of flat wallpapers, a
#: tiled watermark); different pictures in one textured border or on one social-media card
#: below 0.02 in 1,926 of 1,958.
MIDDLES: Final[tuple[tuple[int | None, float], ...]] = (
    (None, 0.2),
    (None, 0.3),
    (None, 0.4),
    (0, 0.4),
    (1, 0.4),
)
MIDDLE_KEYPOINTS: Final = 40
MIDDLE_EXPECTED: Final = 5
MIDDLE_RATIO: Final = 0.1

#: A second motion with at least this share of the first one's inliers (and at least
#: MIN_INLIERS + 5) means two exposures.
SECOND_SHARE: Final = 0.2

#: With pixels: a second motion (of at least MIN_INLIERS matches) with this share of its
#: matches in or next to disagreeing cells is a moved subject: two exposures.
MOVED_SHARE: Final = 0.5

#: Cells per side of the coverage grid over the overlap.
COVERAGE_GRID: Final = 6

#: A copy covering less than this share of the original's area is "cropped".
CROP_AREA: Final = 0.95

#: Rotation (degrees) above which a copy is "rotated"; scale off 1 by more than this: "resized".
ROTATION_MIN: Final = 1.5
SCALE_TOLERANCE: Final = 0.03

#: Copies scaled beyond this (either way) are not believed: features cannot span such ratios.
MIN_SCALE: Final = 0.05

#: A margin of the copy outside the original, as a share of the copy's side, that is "padded".
PADDING_MIN: Final = 0.01

#: A margin with less than this share of the picture's keypoint density is a border.
BORDER_DENSITY: Final = 0.1

#: The affine and perspective models need at least this many inliers, this coverage, and
#: this many times the similarity's inliers.
RICH_INLIERS: Final = 30
RICH_COVERAGE: Final = 0.5
RICH_GAIN: Final = 1.2
#: Without pixels to compare, a richer model must also explain this share of the matches
#: (copies: 0.6-0.9 except periodic textures; other shots of a scene with depth: 0.36-0.5).
RICH_SHARE: Final = 0.6

#: A homography whose frame differs from the nearest affine map by more than this share of
#: its size is "perspective".
PERSPECTIVE_MIN: Final = 0.01

#: A second look at the region of b where a seems to lie (see _zoom) when a tentative
#: similarity has this many inliers and a's picture fills at most ZOOM_AREA of b's frame;
#: the region is widened by ZOOM_MARGIN of its size and must be ZOOM_MIN_SIDE pixels.
ZOOM_INLIERS: Final = 6
ZOOM_AREA: Final = 0.75
ZOOM_MARGIN: Final = 0.05
ZOOM_MIN_SIDE: Final = 48

#: A rectified look (see the module docstring) when features alone found no copy and a
#: plausible affine map at a believable scale fits at least this many matches (the similarity
#: fit of features alone having as many: a stretch of a quarter is still nearly a similarity
#: over a small part of the picture). Copies of low-texture wallpapers stretched, squashed or
#: keystoned fitted 9 to 52; of 1,560 first looks at 40 unrelated pictures, one was
#: rectifiable (bench/first_look.py; docs/reuse.md).
RECTIFY_INLIERS: Final = 8
#: ... and this share of the matches: RANSAC then draws only what finding such a map needs
#: (:func:`provcat.reuse.geometry.iterations`; about 860 draws, against up to 4,000 for 8 of
#: 100 matches, which a look at an unrelated grainy scene paid). The copies' warps held 21%
#: to 56% of their matches.
RECTIFY_SHARE: Final = 0.2
#: The reference's frame is looked at this many pixels on its longer side (twice ORB's 512).
RECTIFY_SIDE: Final = 1024

#: Mean chroma (max - min channel, 0-255) of a colour picture and of a grey copy of it.
COLOUR_MIN: Final = 8.0
GREY_MAX: Final = 2.0

KINDS: Final = (
    "identical_file",
    "same_pixels",
    "weak_global_hash",
    "reencoded",
    "resized",
    "stretched",
    "perspective",
    "cropped",
    "contained",
    "mirrored",
    "rotated",
    "grayscale",
    "overlaid",
    "padded",
)


@dataclass(frozen=True)
class Relation:
    """How a copy ``b`` relates to a reference image ``a``.

    Attributes:
        same_photo: The two show the same exposure (see the module docstring for the rule).
        kinds: The edits found, a subset of :data:`KINDS` in that order; empty when not the
            same photo.
        crop_box: ``(left, top, right, bottom)`` of the smaller picture's content in the
            pixel coordinates of the larger one (of ``a`` when ``direction`` is
            "a_contains_b", of ``b`` when "b_contains_a"); None when neither is a crop.
        inliers: RANSAC inliers of the best fit (0 without one).
        score: Confidence 0-1: the inlier coverage of the overlap times
            ``min(1, inliers / (2 * MIN_INLIERS))``.
        rotation_degrees: Rotation of the copy's content, counter-clockwise positive.
        scale: Linear size of the copy's content relative to the original (b px per a px).
        direction: "a_contains_b", "b_contains_a" or "same_extent": which one holds more of
            the picture, or, at the same extent, more pixels of it.
        scale_x: b pixels per a pixel along a's x axis (differs from ``scale_y`` when the
            copy was stretched or squashed).
        scale_y: The same along a's y axis.
        model: The fitted transform: "similarity", "affine" or "perspective"; "global_hash"
            for weak evidence (:mod:`provcat.reuse.weak`).
        evidence: "features" (a verified geometric fit) or "weak" (global hashes only, for
            low-information pictures).
    """

    same_photo: bool
    kinds: tuple[str, ...]
    crop_box: tuple[int, int, int, int] | None
    inliers: int
    score: float
    rotation_degrees: float
    scale: float
    direction: str
    scale_x: float = 1.0
    scale_y: float = 1.0
    model: str = "similarity"
    evidence: str = "features"
    #: With "overlaid": which picture carries the overlay, "a" or "b" (None when the pixels
    #: could not tell; see provcat.reuse.pixels.Comparison.overlay_on).
    overlay_on: str | None = None
    #: Not the same photo from features alone, but a tentative warp could explain the
    #: matches: with pixels, a rectified look (module docstring) may find a stretched or
    #: keystoned copy, so the pair is worth decoding for. Always False with pixels given.
    rectifiable: bool = False


def verify(
    a: Features,
    b: Features,
    *,
    a_pixels: Image.Image | None = None,
    b_pixels: Image.Image | None = None,
    b_mirrored: Features | None = None,
    mirror: bool | None = None,
    identical_file: bool = False,
    same_pixels: bool = False,
) -> Relation:
    """Decide whether ``b`` is a copy of the photo ``a`` and classify the edits.

    Args:
        a: Features of the reference (stored) image.
        b: Features of the copy (query).
        a_pixels: ``a``'s decoded pixels (RGB, upright). With both pixel sets the copy is
            warped onto ``a`` to find overlays; without them "overlaid" is never reported.
        b_pixels: ``b``'s decoded pixels.
        b_mirrored: :func:`provcat.reuse.features.mirrored` of ``b``. When absent it is
            computed from ``b_pixels`` if given; without either, mirrored copies are not found.
        mirror: Which orientations of ``b`` are looked at: None both, False ``b`` as it is
            only, True its mirror image only (a pair verified in one direction is told again
            from the other side in the orientation already found).
        identical_file: The caller found equal SHA-256 of the files.
        same_pixels: The caller found equal pixel digests.

    Returns:
        The relation.
    """
    if identical_file or same_pixels:
        kinds = ("identical_file", "same_pixels") if identical_file else ("same_pixels",)
        return Relation(True, kinds, None, len(b), 1.0, 0.0, 1.0, "same_extent")
    orientations = [] if mirror else [matches(a, b)]
    if mirror is not False:
        if b_mirrored is None and b_pixels is not None:
            b_mirrored = mirrored(b_pixels)
        if b_mirrored is not None:
            orientations.append(matches(a, b_mirrored, mirrored=True))
    verdict = _fit_and_judge(a, b, orientations, a_pixels, b_pixels, b)
    if verdict.same_photo:
        return verdict
    # Every unrelated look has a similarity fit of a few matches; one of fewer than the warp
    # needs tells the warp's search is not worth its RANSAC.
    warp = _tentative_warp(a, b, orientations) if verdict.inliers >= RECTIFY_INLIERS else None
    if b_pixels is None:
        return replace(verdict, rectifiable=True) if warp is not None else verdict
    zoomed = _zoom(a, b, orientations, b_pixels)
    if zoomed is not None:
        second = _fit_and_judge(a, zoomed[0], zoomed[1], a_pixels, b_pixels, b)
        if second.same_photo:
            return second
    if warp is not None:
        rectified = _rectify(a, b, warp, b_pixels)
        second = _fit_and_judge(a, rectified[0], rectified[1], a_pixels, b_pixels, b)
        if second.same_photo and second.model != "similarity":
            return second
    return verdict


def _tentative_warp(a: Features, b: Features, orientations: list[Matches]) -> Fit | None:
    """The affine map that most matches fit, of at least RECTIFY_INLIERS and RECTIFY_SHARE of
    an orientation's matches, if it is an edit's (:func:`provcat.reuse.geometry.plausible`)
    at a believable scale that ORB could have matched at (:func:`bridgeable`); else None."""
    found: list[Fit] = []
    for o in orientations:
        least = max(RECTIFY_INLIERS, math.ceil(RECTIFY_SHARE * o.a_points.shape[0]))
        if o.a_points.shape[0] < least:
            continue
        fit = fit_matches(o, "affine", least=least)
        if (
            fit is not None
            and fit.inliers >= least
            and believable_scale(fit.scale)
            and bridgeable(a, b, fit.scale)
            and plausible(fit, b.width, b.height)
        ):
            found.append(fit)
    return max(found, key=lambda fit: fit.inliers) if found else None


def _rectify(
    a: Features, b: Features, warp: Fit, b_pixels: Image.Image
) -> tuple[Features, list[Matches]]:
    """b's features found in b's pixels warped into a's frame by ``warp``, in b's own frame.

    The view is RECTIFY_SIDE pixels on its longer side, warped from b's working copy (a large
    picture's reduced copy, the one the pixel checks share: the view needs no more).
    Keypoints are mapped back through the warp's inverse; those landing outside b's frame
    (where the view repeats b's edge) are dropped. The features returned are in b's own
    frame (what the rules measure coverage with); under a mirrored warp they are matched
    from b's mirror image's frame, as mirrored features are.
    """
    working = working_copy(b_pixels)
    fx, fy = working.factor
    # A pixel of the working copy is the mean of a factor x factor block of b's pixels.
    copy_to_b = np.array([[fx, 0.0, (fx - 1) / 2], [0.0, fy, (fy - 1) / 2], [0.0, 0.0, 1.0]])
    zoom = RECTIFY_SIDE / max(a.width, a.height)
    a_to_view = np.diag([zoom, zoom, 1.0])
    b_to_view = a_to_view @ warp.matrix
    size = (max(1, round(a.width * zoom)), max(1, round(a.height * zoom)))
    view = cv2.warpPerspective(
        np.asarray(working.pixels), b_to_view @ copy_to_b, size,
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    found = extract(Image.fromarray(view))
    view_to_b = np.asarray(np.linalg.inv(b_to_view), dtype=np.float64)
    points = apply(view_to_b, found.keypoints.astype(np.float64))
    inside = (
        (points[:, 0] >= 0)
        & (points[:, 0] <= b.width - 1)
        & (points[:, 1] >= 0)
        & (points[:, 1] <= b.height - 1)
    )
    descriptors = np.ascontiguousarray(found.descriptors[inside])
    # b's pixels per pixel of the picture ORB ran on (the view, described at FEATURE_SIDE).
    step = warp.scale / zoom * max(size) / FEATURE_SIDE
    rectified = Features(
        keypoints=points[inside].astype(np.float32),
        descriptors=descriptors,
        width=b.width,
        height=b.height,
        step=step,
    )
    if not warp.mirrored:
        return rectified, [matches(a, rectified)]
    # The view shows b unmirrored onto a, so its descriptors match a's as they are; the fit
    # (and only it) takes their places in the mirror image's frame, where no flip is left.
    flipped = points[inside].copy()
    flipped[:, 0] = (b.width - 1.0) - flipped[:, 0]
    as_mirror = Features(
        keypoints=flipped.astype(np.float32),
        descriptors=descriptors.copy(),
        width=b.width,
        height=b.height,
        step=step,
    )
    return rectified, [matches(a, as_mirror, mirrored=True)]


def _fit_and_judge(
    a: Features,
    b: Features,
    orientations: list[Matches],
    a_pixels: Image.Image | None,
    b_pixels: Image.Image | None,
    context: Features,
) -> Relation:
    """Fit the models in order of preference and keep the simplest that passes every rule.

    A richer model replaces a simpler one that passed only when it explains RICH_GAIN times
    as many matches (a keystoned screen fits a similarity over part of the picture).
    """
    rejected = _no_relation(0)
    baseline = 0
    accepted: tuple[Fit, float, Comparison | None] | None = None
    for model in MODELS:
        # Only fits with the inliers rule 1 asks of the model can be accepted (or, for the
        # first look, be worth decoding for): RANSAC need not search for weaker ones.
        least = MIN_INLIERS if model == "similarity" else RICH_INLIERS
        # A richer fit with fewer inliers than that is never used (below), and an orientation
        # with fewer matches cannot give more: most unrelated pairs skip those fits.
        tried = [
            o for o in orientations if model == "similarity" or o.a_points.shape[0] >= least
        ]
        found = [f for f in (fit_matches(o, model, least=least) for o in tried) if f is not None]
        if not found:
            continue
        best = max(found, key=lambda f: f.inliers)
        if model == "similarity":
            baseline = best.inliers
        elif not (
            plausible(best, b.width, b.height)
            and best.inliers >= max(RICH_INLIERS, RICH_GAIN * baseline)
        ):
            continue
        verdict = _judge(a, b, best, a_pixels, b_pixels)
        if isinstance(verdict, Relation):
            if verdict.inliers > rejected.inliers:
                rejected = verdict
            if accepted is not None and model != "similarity":
                # A richer model explains clearly more than the accepted one and is still
                # refused: the simpler fit only covered part of two different exposures (a
                # stereo view photographed at an angle matched a similarity over 40%). The
                # next richer model may still explain the whole (a keystone is no affine map).
                accepted = None
            continue
        accepted = (best, *verdict)
        baseline = best.inliers
    if accepted is None:
        return rejected
    best, score, comparison = accepted
    return _classify(a, b, best, score, comparison, a_pixels, b_pixels, context)


def _zoom(
    a: Features, b: Features, orientations: list[Matches], b_pixels: Image.Image
) -> tuple[Features, list[Matches]] | None:
    """Look again at the part of b where a seems to lie, with a full set of features there.

    b's keypoints are spread over its whole frame; when a's picture fills only a small part of
    it (one tile of a collage, a photo on a social-media card) that part gets a fraction of
    them, at a small scale. A tentative similarity fit says where a lies; features extracted
    from that region alone (in b's coordinates) are matched again and judged by the same rules.
    """
    found = [
        f
        for f in (fit_matches(o, "similarity", least=ZOOM_INLIERS) for o in orientations)
        if f is not None
    ]
    if not found:
        return None
    best = max(found, key=lambda f: f.inliers)
    if best.inliers < ZOOM_INLIERS or best.scale <= 0:
        return None
    inverse = np.asarray(np.linalg.inv(best.matrix), dtype=np.float64)
    region = clip_to_rectangle(apply(inverse, rectangle(a.width, a.height)), b.width, b.height)
    if region.shape[0] < 3 or polygon_area(region) > ZOOM_AREA * b.width * b.height:
        return None
    left, top, right, bottom = _box(region, b.width, b.height)
    pad_x, pad_y = round(ZOOM_MARGIN * (right - left)), round(ZOOM_MARGIN * (bottom - top))
    left, top = max(0, left - pad_x), max(0, top - pad_y)
    right, bottom = min(b.width, right + pad_x), min(b.height, bottom + pad_y)
    if right - left < ZOOM_MIN_SIDE or bottom - top < ZOOM_MIN_SIDE:
        return None
    part = b_pixels.crop((left, top, right, bottom))
    local = extract(part)
    zoomed = Features(
        keypoints=(local.keypoints + np.array([left, top], dtype=np.float32)).astype(np.float32),
        descriptors=local.descriptors.copy(),
        width=b.width,
        height=b.height,
        step=local.described_step,
    )
    result = [matches(a, zoomed)]
    if best.mirrored:
        # The mirror of the region, expressed in the mirror image of the whole of b.
        flipped = mirrored(part)
        shift = np.array([b.width - right, top], dtype=np.float32)
        zoomed_mirror = Features(
            keypoints=(flipped.keypoints + shift).astype(np.float32),
            descriptors=flipped.descriptors.copy(),
            width=b.width,
            height=b.height,
            step=local.described_step,
        )
        result.append(matches(a, zoomed_mirror, mirrored=True))
    return zoomed, result


def _judge(
    a: Features,
    b: Features,
    best: Fit,
    a_pixels: Image.Image | None,
    b_pixels: Image.Image | None,
) -> tuple[float, Comparison | None] | Relation:
    """Rules 1-4 for one fit: its score and pixel comparison, or the rejection."""
    rejection = Relation(
        False, (), None, best.inliers, 0.0, best.rotation_degrees, best.scale, "same_extent"
    )
    rich = best.model != "similarity"
    # Rule 1: enough inliers for the model, and as many correspondences as the least claim
    # needs (the copy's keypoints at several places taking one of a's are one).
    if best.inliers < (RICH_INLIERS if rich else MIN_INLIERS):
        return rejection
    if best.correspondences(max(b.width, b.height)) < MIN_INLIERS:
        return rejection
    if not believable_scale(best.scale) or not bridgeable(a, b, best.scale):
        return rejection
    overlap = _overlap(a, b, best)
    coverage = _coverage(overlap, best)
    score = coverage * min(1.0, best.inliers / (2 * MIN_INLIERS))
    one_motion = best.second_inliers < max(MIN_INLIERS + 5, SECOND_SHARE * best.inliers)
    needed = MIN_COVERAGE if best.inliers >= STRONG_INLIERS else WEAK_FIT_COVERAGE
    if rich:
        needed = max(needed, RICH_COVERAGE)
    waived = False
    if coverage < needed and _frame_aligned(a, b, best):
        # The fit maps b's whole frame onto a's whole frame: the same picture at another size
        # (or mirrored). Keypoints of a flat, heavily re-encoded picture may bunch in a few
        # cells, so less coverage is asked for; the whole pictures must then look alike
        # instead. Two different photos under one broadcaster's banner also fit frame onto
        # frame, on the banner's keypoints alone.
        needed = WAIVED_COVERAGE
        waived = True
    covered = coverage >= needed and _reaches_middle(overlap, best)
    comparison = None
    if covered and one_motion and a_pixels is not None and b_pixels is not None:
        comparison = compare(a_pixels, b_pixels, best.matrix)
    agrees = comparison is None or (
        comparison.overlay_share <= MAX_DISAGREEMENT
        and (comparison.colour_share is None or comparison.colour_share <= MAX_DISAGREEMENT)
    )
    if waived and comparison is not None:
        # Both the cells and the whole must agree: cell by cell, a fine texture (gravel)
        # blurs to grey at the comparison's scale and agrees by chance; as a whole (pHash),
        # two smooth colour fields may look alike. Each fooled one kind of picture alone.
        distance = comparison.global_distance
        agrees = (
            comparison.overlay_share <= WAIVED_DISAGREEMENT
            and distance is not None
            and distance <= WAIVED_PHASH
        )
    if (
        comparison is not None
        and best.second_inliers >= MIN_INLIERS
        and comparison.share_in_disagreement(best.second_points, a.width, a.height) >= MOVED_SHARE
    ):
        # A second motion whose matches sit where the pictures disagree: a subject that moved
        # between two exposures (a burst whose near layer slid past a far one), not an overlay.
        agrees = False
    elif rich and comparison is not None:
        # Warped by a richer model, another shot of the scene lines up except where depth or
        # motion moved things; a copy lines up everywhere. An overlay cannot be told from
        # parallax here, so none is allowed.
        agrees = comparison.overlay_share == 0
    elif rich:
        agrees = best.inliers >= RICH_SHARE * best.matches
    if comparison is not None and comparison.framed:
        # What disagrees is a picture set in a frame both share (a social-media card's header
        # and caption around it): two pictures in one template, which agree on the template.
        agrees = False
    if not covered or not one_motion or not agrees:
        return Relation(
            False, (), None, best.inliers, score, best.rotation_degrees, best.scale, "same_extent"
        )
    return score, comparison


def _frame_aligned(a: Features, b: Features, best: Fit) -> bool:
    """Whether every corner of b's frame lands within FRAME_TOLERANCE of a corner of a's."""
    mapped = apply(best.matrix, rectangle(b.width, b.height))
    corners = rectangle(a.width, a.height)
    tolerance = FRAME_TOLERANCE * float(np.hypot(a.width, a.height))
    distances = np.linalg.norm(mapped[:, None, :] - corners[None, :, :], axis=2)
    return bool((distances.min(axis=1) <= tolerance).all())


def believable_scale(scale: float) -> bool:
    """Whether a fit's scale (b pixels per a pixel) is one a copy can have: within
    :data:`MIN_SCALE` either way. A fit outside it is refused before any pixel is looked at,
    whatever its inliers: RANSAC's degenerate models of clustered keypoints (a star field's,
    a fine texture's) map one picture to a point of the other, at scales of 0 or 1e18, with
    30 to 180 inliers."""
    return MIN_SCALE <= scale <= 1 / MIN_SCALE


def bridgeable(a: Features, b: Features, scale: float) -> bool:
    """Whether a fit's scale (b pixels per a pixel) is one at which ORB could have matched the
    two pictures' features as the same structures: in the pictures it ran on (each described
    at its own size, :attr:`provcat.reuse.features.Features.described_step`), b's content
    magnified or shrunk against a's by no more than the span of its pyramid's levels
    (:data:`provcat.reuse.features.PYRAMID_SPAN`, about 7.4).

    Beyond it no keypoint of one picture can meet its own structure at its own size in the
    other, so the matches are of structures that look alike at any size (a straight-edged
    shape's corners, the strokes of lettering) and the fit maps one whole picture into a
    few dozen of the other's described pixels, where RANSAC's tolerance is a large part of
    the region: two different KDE wallpapers, one a mirrored copy at 1,080 pixels, fitted
    into a 70 x 49 pixel patch of the other's banner at 17 times, 15 inliers, and were joined
    (docs/reuse.md). Resizing a whole picture changes nothing here (both are described at
    the same size); only a crop of less than about a seventh of the picture's side, or a
    collage tile as small, reaches the span, and those the features cannot find anyway."""
    described = scale * a.described_step / b.described_step
    return 1 / PYRAMID_SPAN <= described <= PYRAMID_SPAN


def _no_relation(inliers: int) -> Relation:
    return Relation(False, (), None, inliers, 0.0, 0.0, 1.0, "same_extent")


@dataclass(frozen=True)
class _Overlap:
    """The overlap of a fit (in a's coordinates) and the keypoints of each picture inside it."""

    low: np.ndarray
    high: np.ndarray
    a_keypoints: np.ndarray
    b_keypoints: np.ndarray


def _overlap(a: Features, b: Features, best: Fit) -> _Overlap | None:
    """The bounding box of b's frame mapped into a (clipped to a), a's keypoints that fall
    inside b's picture once mapped, and b's keypoints mapped into a and inside the box."""
    overlap = clip_to_rectangle(apply(best.matrix, rectangle(b.width, b.height)), a.width, a.height)
    if overlap.shape[0] < 3:
        return None
    low, high = overlap.min(axis=0), overlap.max(axis=0)
    inverse = np.asarray(np.linalg.inv(best.matrix), dtype=np.float64)
    a_kp = a.keypoints.astype(np.float64)
    in_b = apply(inverse, a_kp)
    a_inside = a_kp[
        (in_b[:, 0] >= -0.5)
        & (in_b[:, 0] <= b.width - 0.5)
        & (in_b[:, 1] >= -0.5)
        & (in_b[:, 1] <= b.height - 0.5)
    ]
    b_kp = apply(best.matrix, b.keypoints.astype(np.float64))
    return _Overlap(low, high, a_inside, b_kp[np.all((b_kp >= low) & (b_kp <= high), axis=1)])


def _coverage(found: _Overlap | None, best: Fit) -> float:
    """Share of the overlap's feature-bearing grid cells that hold an inlier."""
    if found is None:
        return 0.0
    span = np.maximum(found.high - found.low, 1e-6)

    def cells(points: np.ndarray) -> set[int]:
        inside = np.all((points >= found.low) & (points <= found.high), axis=1)
        at = ((points[inside] - found.low) / span * COVERAGE_GRID).astype(int)
        index = np.minimum(at, COVERAGE_GRID - 1)
        return set((index[:, 1] * COVERAGE_GRID + index[:, 0]).tolist())

    both = cells(found.a_keypoints) & cells(found.b_keypoints)
    if len(both) < MIN_CELLS:
        return 0.0
    covered = cells(best.a_points) & both
    return len(covered) / len(both)


def _reaches_middle(found: _Overlap | None, best: Fit) -> bool:
    """Whether the inliers lie in the middle of the overlap as both pictures' keypoints do.

    A copy's inliers lie wherever the two pictures' keypoints do, short of an overlay. Two
    different pictures in one template (a textured border, a social-media card's header and
    footer, a studio's surround) match on the template alone: their inliers keep to bands
    along the edges while both pictures have keypoints between them. For each of MIDDLES
    with MIDDLE_KEYPOINTS keypoints of each picture in it, the inliers there are compared
    with how many would be there if they lay as the keypoints do (the sparser picture's share
    of its keypoints there).
    """
    inliers = best.a_points.astype(np.float64)
    if found is None or inliers.shape[0] == 0:
        return True
    span = np.maximum(found.high - found.low, 1e-6)

    def depths(points: np.ndarray) -> dict[int | None, np.ndarray]:
        """Each point's depth in from the overlap's edges, for every axis MIDDLES uses."""
        edge = np.minimum(points - found.low, found.high - points)
        return {
            None: edge.min(axis=1) / (0.5 * float(span.min())),
            0: edge[:, 0] / (0.5 * float(span[0])),
            1: edge[:, 1] / (0.5 * float(span[1])),
        }

    a_depths, b_depths = depths(found.a_keypoints), depths(found.b_keypoints)
    inlier_depths = depths(inliers)
    for axis, level in MIDDLES:
        a_deep, b_deep = int((a_depths[axis] >= level).sum()), int((b_depths[axis] >= level).sum())
        if min(a_deep, b_deep) < MIDDLE_KEYPOINTS:
            continue
        share = min(a_deep / a_depths[axis].shape[0], b_deep / b_depths[axis].shape[0])
        expected = share * inliers.shape[0]
        if expected >= MIDDLE_EXPECTED and (inlier_depths[axis] >= level).sum() < (
            MIDDLE_RATIO * expected
        ):
            return False
    return True


def _classify(
    a: Features,
    b: Features,
    best: Fit,
    score: float,
    comparison: Comparison | None,
    a_pixels: Image.Image | None,
    b_pixels: Image.Image | None,
    context: Features,
) -> Relation:
    """Name the edits that turn ``a`` into ``b`` (or the reverse), given a verified fit."""
    a_area = float(a.width * a.height)
    b_rect_in_a = apply(best.matrix, rectangle(b.width, b.height))
    overlap = clip_to_rectangle(b_rect_in_a, a.width, a.height)
    a_covered = polygon_area(overlap) / a_area
    # The part of b's frame showing a's picture, in b's coordinates.
    inverse = np.asarray(np.linalg.inv(best.matrix), dtype=np.float64)
    a_in_b = clip_to_rectangle(apply(inverse, rectangle(a.width, a.height)), b.width, b.height)
    if overlap.shape[0] < 3 or a_in_b.shape[0] < 3:
        return Relation(
            False, (), None, best.inliers, 0.0, best.rotation_degrees, best.scale, "same_extent"
        )
    b_area = float(b.width * b.height)
    b_covered = polygon_area(a_in_b) / b_area
    # The corners a rotation leaves are part of rotating, not padding: compare boxes.
    left, top, right, bottom = _box(a_in_b, b.width, b.height)
    boxed = (right - left) * (bottom - top) / b_area

    padded = False
    if boxed < 1 - PADDING_MIN:
        padded = _margin_is_border(context, a_in_b, b_pixels)
    kinds: list[str] = []
    scale = best.scale
    scale_x, scale_y = best.axis_scales
    rotation = best.rotation_degrees
    if best.model == "similarity":
        scale_x = scale_y = scale
    cropped_b = a_covered < CROP_AREA
    b_has_more = b_covered < CROP_AREA and not padded and boxed < CROP_AREA
    # The whole of a's picture sits inside b, and b's frame around it is other material (a
    # collage's other tiles, a social-media card's text): b contains the photo; it is not a
    # fuller view of it. Told apart from "a was cropped out of b" by the seam at the edges.
    contained = (
        b_has_more
        and not cropped_b
        and b_pixels is not None
        and framed(b_pixels, (left, top, right, bottom))
    )
    if b_has_more and not cropped_b:
        direction = "b_contains_a"
    elif cropped_b and not b_has_more:
        direction = "a_contains_b"
    elif cropped_b and b_has_more:
        # Two overlapping crops of a larger photo: the one holding more of the picture first.
        direction = (
            "a_contains_b"
            if a_covered * a_area > b_covered * b.width * b.height / (scale * scale)
            else "b_contains_a"
        )
    elif scale < 1 - SCALE_TOLERANCE:
        direction = "a_contains_b"
    elif scale > 1 + SCALE_TOLERANCE:
        direction = "b_contains_a"
    else:
        direction = "same_extent"

    crop_box: tuple[int, int, int, int] | None = None
    if contained:
        kinds.append("contained")
        crop_box = (left, top, right, bottom)
    elif cropped_b or b_has_more:
        kinds.append("cropped")
        if direction == "a_contains_b":
            crop_box = _box(overlap, a.width, a.height)
        else:
            crop_box = _box(a_in_b, b.width, b.height)
    # A keystone narrows the picture more at one end: that is perspective, not a stretch.
    stretched = best.model == "affine" and abs(scale_x / scale_y - 1) > SCALE_TOLERANCE
    keystoned = perspective_share(best, b.width, b.height) > PERSPECTIVE_MIN
    if keystoned and not cropped_b and crop_box is None:
        # A photograph of a screen or print showing all of it: where it lies in the shot.
        crop_box = (left, top, right, bottom)
        direction = "b_contains_a"
    if stretched:
        kinds.append("stretched")
        # Stretched along one axis only is not also resized; both axes changed is.
        if min(abs(scale_x - 1), abs(scale_y - 1)) > SCALE_TOLERANCE:
            kinds.append("resized")
    elif abs(scale - 1) > SCALE_TOLERANCE:
        kinds.append("resized")
    if keystoned:
        kinds.append("perspective")
    if best.mirrored:
        kinds.append("mirrored")
    if abs(rotation) > ROTATION_MIN and best.model != "perspective":
        # A keystoned view turns its edges by different angles: its tilt is not a rotation.
        kinds.append("rotated")
    if (
        a_pixels is not None
        and b_pixels is not None
        and colourfulness(a_pixels) >= COLOUR_MIN
        and colourfulness(b_pixels) <= GREY_MAX
    ):
        kinds.append("grayscale")
    if comparison is not None and comparison.overlaid:
        kinds.append("overlaid")
    if padded:
        kinds.append("padded")
    if not kinds:
        # Same geometry and no overlay, yet not the same pixels: encoded again (or retouched
        # in colour, which features cannot tell apart from compression).
        kinds.append("reencoded")
    ordered = tuple(kind for kind in KINDS if kind in kinds)
    overlay_on = comparison.overlay_on if "overlaid" in kinds and comparison else None
    return Relation(
        True, ordered, crop_box, best.inliers, score, rotation, scale, direction,
        scale_x=scale_x, scale_y=scale_y, model=best.model, overlay_on=overlay_on,
    )  # fmt: skip


def _box(polygon: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    left, top = max(0, round(low[0] + 0.5)), max(0, round(low[1] + 0.5))
    right, bottom = min(width, round(high[0] + 0.5)), min(height, round(high[1] + 0.5))
    return (int(left), int(top), int(right), int(bottom))


def _margin_is_border(b: Features, a_in_b: np.ndarray, b_pixels: Image.Image | None) -> bool:
    """Whether b's frame outside the original's picture is a plain border, not more picture."""
    left, top, right, bottom = _box(a_in_b, b.width, b.height)
    if b_pixels is not None and margin_is_uniform(b_pixels, (left, top, right, bottom)):
        return True
    # A border, even a blurred fill, gives no corners; more picture gives its share of them.
    # Keypoints on the seam between border and picture are allowed for by 2% of the side.
    pad_x, pad_y = 0.02 * b.width, 0.02 * b.height
    x, y = b.keypoints[:, 0], b.keypoints[:, 1]
    outside = (x < left - pad_x) | (x > right + pad_x) | (y < top - pad_y) | (y > bottom + pad_y)
    inner = max(1.0, float((right - left) * (bottom - top)))
    margin_area = float(b.width * b.height) - inner
    if margin_area <= 0 or len(b) == 0:
        return True
    margin_density = float(outside.sum()) / margin_area
    picture_density = float((~outside).sum()) / inner
    return margin_density <= BORDER_DENSITY * picture_density

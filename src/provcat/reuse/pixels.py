"""Pixel checks after a verified fit: warp the copy onto the original, find where they disagree."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar

import cv2
import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image

from provcat.reuse.geometry import jacobian
from provcat.working import WorkingCopy

#: The original is compared at this longer side: enough for banners and moved objects,
#: small enough that a residual misfit of a pixel or two at full size disappears.
COMPARE_SIDE: Final = 256

#: Cells per side of the disagreement grid.
GRID: Final = 16

#: A cell disagrees when the median absolute grey difference in it exceeds this (0-255, after
#: fitting the copy's brightness and contrast to the original's).
CELL_LIMIT: Final = 24.0

#: A cell disagrees in colour when the median distance in it between the two pictures' chroma
#: (CIELAB a* and b*, each levelled as the grey is) exceeds this. See :func:`_chroma_medians`.
CHROMA_LIMIT: Final = 16.0

#: A chroma channel is compared only where its spread (standard deviation over the overlap, in
#: CIELAB units) is at least this in both pictures and within :data:`GAIN_LIMIT` of each
#: other: a grey, sepia or washed-out copy keeps too little of the original's colour for a
#: gain to bring back, and its chroma says nothing of whether it is the same picture.
CHROMA_SPREAD: Final = 4.0

#: A cell takes part when this share of its pixels lies inside the overlap.
CELL_VALID: Final = 0.6

#: At least this many disagreeing cells are an overlay (fewer: noise on strong edges).
OVERLAY_MIN: Final = 3

#: Naming only (whether a copy is called "overlaid"; what is accepted does not change): a
#: disagreeing cell whose grey, less the plane that fits it best, varies by at least this
#: much (standard deviation, grey levels) in either picture has content of its own, and the
#: copy's content there follows the original's when the two correlate by at least
#: :data:`SHADE_CORRELATION`: the cell is shaded (a vignette, a filter's curve), not drawn
#: over. See :func:`_drawn_cells`.
SHADE_STRUCTURE: Final = 3.0
SHADE_CORRELATION: Final = 0.8

#: A line is a straight edge of a picture where its grey steps, on average along the line, by
#: at least this many times the middle step of the lines around it, and by at least half of
#: :data:`CELL_LIMIT`. Two pictures that share such an edge on every side of what they
#: disagree on hold different pictures in one frame (see :func:`_framed`).
EDGE_RATIO: Final = 4.0
#: How far outside the disagreeing cells (in cells) a frame's edge is looked for: two
#: different pictures in one frame may agree by its edge; an overlay's edge is where the
#: disagreement starts, and further out lie only the picture's own edges.
FRAME_REACH: Final = 1
#: A line bounds a texture in a picture where the lines on one side of it are this many times
#: as busy as those on the other (the mean grey step along a line; the median of
#: :data:`TEXTURE_LINES` lines each side), and busier by at least half of :data:`CELL_LIMIT`.
#: A textured template (grain, brick, grass around the inset) steps across its edge no more
#: than within itself, so it shows no straight edge there; its texture ends there instead.
TEXTURE_RATIO: Final = 2.0
TEXTURE_LINES: Final = 4

#: A border strip is uniform when the standard deviation of its grey values is below this.
BORDER_STD: Final = 10.0
#: Side in pixels of the blocks a border strip is judged in.
BORDER_BLOCK: Final = 16
#: Share of a border's blocks that must be plain (the rest may hold a label or logo).
BORDER_SHARE: Final = 0.8

FloatImage = npt.NDArray[np.float32]
T = TypeVar("T")


@dataclass(frozen=True)
class Comparison:
    """Where a copy warped onto the original disagrees with it.

    Attributes:
        overlay_share: Share of the overlap's cells where the copy shows something else (a
            banner, a logo, a ticker); 0 below OVERLAY_MIN cells.
        difference: Median absolute grey difference over agreeing cells (0 for equal pixels).
    """

    overlay_share: float
    difference: float
    #: GRID x GRID cells over the original (rows first) where the copy disagrees; empty
    #: when nothing could be compared.
    disagreeing: npt.NDArray[np.bool_] = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.bool_)
    )
    #: pHash distance (0-64) between the original and the copy warped onto it: how alike the
    #: two whole pictures look once aligned (None when nothing could be compared).
    global_distance: int | None = None
    #: Which picture carries the overlay, "a" (the original given) or "b" (the copy), told
    #: by the step across the overlay's edge (see :func:`_overlay_side`); None when there is
    #: no overlay or the two steps are alike.
    overlay_on: str | None = None
    #: Share of the overlap's cells that disagree in grey or in colour (a cell's median chroma
    #: distance above :data:`CHROMA_LIMIT`); None when the two pictures' colour could not be
    #: compared (see :data:`CHROMA_SPREAD`).
    colour_share: float | None = None
    #: Disagreeing cells where something is drawn over the picture rather than shading it
    #: (see :func:`_drawn_cells`); 0 when no overlay was found.
    drawn_cells: int = 0
    #: The disagreement is a picture set in a frame both pictures share, a straight edge of
    #: both, or the end of a texture in both, on each of its four sides (see
    #: :func:`_framed`): two pictures in one template.
    framed: bool = False

    @property
    def overlaid(self) -> bool:
        """Whether the disagreement is something drawn over the picture (a banner, text, a
        logo, a mark), not a shading that keeps the picture's own content (a vignette)."""
        return self.overlay_share > 0 and self.drawn_cells >= OVERLAY_MIN

    def share_in_disagreement(
        self, points: npt.NDArray[np.float64], width: int, height: int
    ) -> float:
        """Share of ``points`` (the original's pixel coordinates, ``width`` x ``height``) that
        lie in or next to a disagreeing cell."""
        if points.shape[0] == 0 or self.disagreeing.size == 0:
            return 0.0
        near = cv2.dilate(self.disagreeing.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        cols = np.clip((points[:, 0] / width * GRID).astype(int), 0, GRID - 1)
        rows = np.clip((points[:, 1] / height * GRID).astype(int), 0, GRID - 1)
        return float(near[rows, cols].mean())


def compare(
    a_pixels: Image.Image, b_pixels: Image.Image, matrix: npt.NDArray[np.float64]
) -> Comparison:
    """Warp ``b`` onto ``a`` with ``matrix`` (b coordinates to a) and compare them cell by cell.

    Args:
        a_pixels: The original, RGB upright.
        b_pixels: The copy, RGB upright.
        matrix: 3 x 3 affine or projective matrix from b's pixel coordinates to a's.

    Returns:
        The comparison: in grey, levelled; and in colour where both pictures have some.
    """
    shrink = COMPARE_SIDE / max(a_pixels.size)
    size = (max(1, round(a_pixels.width * shrink)), max(1, round(a_pixels.height * shrink)))
    a_grey, a_hash = _thumbnail(a_pixels, size)
    to_small = np.diag([shrink, shrink, 1.0]) @ matrix
    centre = np.array([b_pixels.width / 2, b_pixels.height / 2])
    factor = float(np.sqrt(abs(np.linalg.det(jacobian(to_small, centre)))))
    b_image = b_pixels
    if factor < 1:
        # Shrink b first with an area filter: warpAffine alone would alias.
        b_size = (max(1, round(b_pixels.width * factor)), max(1, round(b_pixels.height * factor)))
        b_image = working_copy(b_pixels).resized(b_size, Image.Resampling.BILINEAR)
        back = np.diag([b_pixels.width / b_size[0], b_pixels.height / b_size[1], 1.0])
        to_small = to_small @ back
    b_grey = _grey(b_image)
    # warpPerspective with a last row of (0, 0, 1) is warpAffine; it also takes homographies.
    projective = to_small.astype(np.float64)
    warped = cv2.warpPerspective(b_grey, projective, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    ones = np.ones(b_grey.shape, dtype=np.uint8)
    inside = cv2.warpPerspective(ones, projective, size, flags=cv2.INTER_NEAREST, borderValue=0)
    valid: npt.NDArray[np.bool_] = np.asarray(
        cv2.erode(inside, np.ones((5, 5), np.uint8)), dtype=np.bool_
    )
    if valid.sum() < 64:
        return Comparison(0.0, 255.0)
    a_blur: FloatImage = np.asarray(cv2.GaussianBlur(a_grey, (0, 0), 1.2), dtype=np.float32)
    b_blur: FloatImage = np.asarray(cv2.GaussianBlur(warped, (0, 0), 1.2), dtype=np.float32)
    gain, offset = _fit_levels(a_blur[valid], b_blur[valid])
    levelled: FloatImage = (gain * b_blur + offset).astype(np.float32)
    diff: FloatImage = np.abs(a_blur - levelled).astype(np.float32)
    judged = _judge(diff, valid)
    side = None
    if judged.overlay_share > 0:
        drawn = _drawn_cells(a_blur, levelled, valid, judged.disagreeing)
        sharp = gain * warped + offset  # levelled as the copy is, not blurred
        framed = _framed(a_grey, sharp, valid, judged.disagreeing)
        judged = replace(judged, drawn_cells=drawn, framed=framed)
        if judged.overlaid:
            side = _overlay_side(a_grey, sharp, valid, judged.disagreeing)
    if judged.disagreeing.size == 0:  # no cell took part
        return replace(judged, global_distance=int(a_hash - _phash(warped)))
    b_chroma: FloatImage = np.asarray(
        cv2.warpPerspective(
            _chroma(b_image), projective, size, flags=cv2.INTER_LINEAR, borderValue=0.0
        ),
        dtype=np.float32,
    )
    chroma = _chroma_medians(_chroma_thumbnail(a_pixels, size), b_chroma, valid)
    colour_share = None
    if chroma is not None:
        usable = ~np.isnan(chroma)
        grey_or_colour = judged.disagreeing | (usable & (np.nan_to_num(chroma) > CHROMA_LIMIT))
        colour_share = float(grey_or_colour.sum() / max(1, int(usable.sum())))
    return replace(
        judged,
        global_distance=int(a_hash - _phash(warped)),
        overlay_on=side,
        colour_share=colour_share,
    )


def _chroma(image: Image.Image) -> FloatImage:
    """CIELAB a* and b* of a picture (two channels, about -128 to 127), from OpenCV's 8-bit
    conversion (within 2.5 of its floating-point one, a third of the time)."""
    lab = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2Lab)
    return lab[..., 1:].astype(np.float32) - np.float32(128)


def _chroma_thumbnail(pixels: Image.Image, size: tuple[int, int]) -> FloatImage:
    """``pixels`` at ``size``, its chroma (read-only): see :func:`_chroma`."""

    def compute() -> FloatImage:
        chroma = _chroma(working_copy(pixels).resized(size, Image.Resampling.BILINEAR))
        chroma.flags.writeable = False
        return chroma

    return _remembered(pixels, ("chroma", size), compute)


def _chroma_medians(
    a: FloatImage, b: FloatImage, valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float32] | None:
    """Each cell's median chroma distance between ``a`` and ``b`` (aligned, a* and b*).

    The grey comparison cannot see colour: levelled, pink on red and red on purple agree, and
    two different smooth pictures under one template or watermark agree in most cells. Each
    chroma channel both pictures have enough of (:data:`CHROMA_SPREAD`) is blurred and
    levelled on its own as the grey is (a filter's warm or teal cast is an offset, raised
    saturation a gain); the distance is over the channels compared. Levelling both channels
    with one 2 x 2 map (turned hues, swapped colour channels) was tried: it fits two
    different pictures' colours onto each other too well (docs/reuse.md). None when neither
    channel can be compared.
    """
    a_blur = np.asarray(cv2.GaussianBlur(a, (0, 0), 1.2), dtype=np.float32)
    b_blur = np.asarray(cv2.GaussianBlur(b, (0, 0), 1.2), dtype=np.float32)
    squared = np.zeros(valid.shape, dtype=np.float32)
    compared = False
    for channel in range(2):
        a_values, b_values = a_blur[..., channel][valid], b_blur[..., channel][valid]
        a_spread, b_spread = float(a_values.std()), float(b_values.std())
        if min(a_spread, b_spread) < CHROMA_SPREAD:
            continue
        if max(a_spread, b_spread) > GAIN_LIMIT * min(a_spread, b_spread):
            continue
        # Every 16th pixel (about 4,000) is plenty for two numbers; the fit's sorts dominated.
        gain, offset = _fit_levels(a_values[::16], b_values[::16])
        squared += (a_blur[..., channel] - (gain * b_blur[..., channel] + offset)) ** 2
        compared = True
    if not compared:
        return None
    medians, usable = _cell_medians(np.sqrt(squared).astype(np.float32), valid)
    return np.where(usable, medians, np.nan).astype(np.float32)


#: The picture whose straightest step (see :func:`_overlay_side`) beats the other's by this
#: factor carries the overlay; closer than that, neither is named.
SIDE_RATIO: Final = 1.5


def _framed(
    a: FloatImage,
    b: FloatImage,
    valid: npt.NDArray[np.bool_],
    disagreeing: npt.NDArray[np.bool_],
) -> bool:
    """Whether two aligned grey pictures disagree inside a frame they share: the disagreeing
    cells keep off every side of the grid, and on each of the four sides of the box around
    them, near it, one line is a straight edge of both pictures (:data:`EDGE_RATIO`), or
    bounds a texture in both, on the same side of it (:data:`TEXTURE_RATIO`).

    Two different pictures set in one template (a social-media card's header, caption and
    buttons; a plain mount; a studio's surround; a textured border) agree on the template and
    disagree inside it, and the template's edge around the inset runs through both: a
    straight step, or, where the template is a texture that steps as much within itself,
    the line where its texture ends. Something drawn over a
    copy (a logo, a stamp, a caption box) has its edge in the copy alone: the original's
    picture runs on under it. A banner, a ticker or a band of text reaches the picture's
    sides, and so is not asked about.
    """
    rows, cols = np.nonzero(disagreeing)
    last = disagreeing.shape[0] - 1
    if rows.size == 0 or min(rows.min(), cols.min()) == 0 or max(rows.max(), cols.max()) == last:
        return False
    height, width = a.shape
    cell_h, cell_w = height / GRID, width / GRID
    top, bottom = round(rows.min() * cell_h), round((rows.max() + 1) * cell_h)
    left, right = round(cols.min() * cell_w), round((cols.max() + 1) * cell_w)
    # Each side's edge is looked for from FRAME_REACH cells outside the box (the two pictures
    # may agree by the frame's edge) to a quarter of the box inside it, at least a cell
    # (cells of the template's text by the inset may disagree too, levelled to another
    # picture).
    out_h, out_w = FRAME_REACH * cell_h, FRAME_REACH * cell_w
    inward_h, inward_w = max(cell_h, (bottom - top) / 4), max(cell_w, (right - left) / 4)
    sides = (
        (0, left, right, top - out_h, top + inward_h),
        (0, left, right, bottom - inward_h, bottom + out_h),
        (1, top, bottom, left - out_w, left + inward_w),
        (1, top, bottom, right - inward_w, right + out_w),
    )
    for axis, start, stop, low, high in sides:
        near = slice(max(0, round(low)), round(high))
        edge_a = _edge_lines(_line_steps(a, valid, axis, start, stop, near))
        edge_b = _edge_lines(_line_steps(b, valid, axis, start, stop, near))
        # The same edge, a line apart at most (each picture is blurred and warped apart).
        if (edge_a & _widened(edge_b)).any():
            continue
        bound_a = _texture_bounds(a, valid, axis, start, stop, near)
        if not bound_a.any():
            return False
        bound_b = _texture_bounds(b, valid, axis, start, stop, near)
        if not any(((bound_a == side) & _widened(bound_b == side)).any() for side in (-1, 1)):
            return False
    return True


def _widened(lines: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``lines`` and the lines next to them."""
    wide = lines.copy()
    wide[1:] |= lines[:-1]
    wide[:-1] |= lines[1:]
    return wide


def _texture_bounds(
    image: FloatImage,
    valid: npt.NDArray[np.bool_],
    axis: int,
    start: int,
    stop: int,
    lines: slice,
) -> npt.NDArray[np.int8]:
    """For each of ``lines`` of ``image`` (rows for axis 0, columns for 1), whether a texture
    ends at it (:data:`TEXTURE_RATIO`): 1 where the lines from it on are the busier, -1 where
    those before it are, 0 where neither is (or a line near it has too little inside the
    overlap to say); busyness is the mean grey step along a line over ``start:stop``."""
    extent = image.shape[axis]
    first, last = max(0, lines.start - TEXTURE_LINES), min(extent, lines.stop + TEXTURE_LINES)
    busy = _line_steps(image, valid, axis, start, stop, slice(first, last), along=True)
    bounds = np.zeros(lines.stop - lines.start, dtype=np.int8)
    if busy.size < 2 * TEXTURE_LINES + 1:
        return bounds
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(busy, TEXTURE_LINES), axis=1)
    quiet = np.isnan(windows[:, -1])  # NaN sorts last
    half = TEXTURE_LINES // 2
    middles = windows[:, half - 1 : half + 1].mean(axis=1)  # the median of an even count
    # The texture may end at line k: the window ending at k - 1 against the one from k + 1
    # (line k itself may be half of either, the pictures being blurred and warped).
    before, after = middles[: -TEXTURE_LINES - 1], middles[TEXTURE_LINES + 1 :]
    known = ~(quiet[: -TEXTURE_LINES - 1] | quiet[TEXTURE_LINES + 1 :])
    floor = CELL_LIMIT / 2
    rises = np.asarray(known & (after >= TEXTURE_RATIO * before) & (after - before >= floor))
    falls = np.asarray(known & (before >= TEXTURE_RATIO * after) & (before - after >= floor))
    # rises[i] is the boundary at line first + TEXTURE_LINES + i.
    at = np.arange(rises.size) + first + TEXTURE_LINES - lines.start
    keep = (at >= 0) & (at < bounds.size)
    bounds[at[keep]] = rises[keep].astype(np.int8) - falls[keep].astype(np.int8)
    return bounds


def _line_steps(
    image: FloatImage,
    valid: npt.NDArray[np.bool_],
    axis: int,
    start: int,
    stop: int,
    lines: slice,
    *,
    along: bool = False,
) -> npt.NDArray[np.float64]:
    """The mean absolute step between each of ``lines`` of ``image`` and the next (rows for
    axis 0, columns for 1), over the part ``start:stop`` of the lines; or, ``along``, between
    neighbouring pixels along each line (how busy it is). NaN for a line with less than half
    of that part (or 8 pixels) inside the overlap, whose few steps say nothing of it."""
    span = lines if along else slice(lines.start, lines.stop + 1)  # a step to the next line
    if axis == 0:
        part, inside = image[span, start:stop], valid[span, start:stop]
    else:
        part, inside = image[start:stop, span].T, valid[start:stop, span].T
    if along:
        steps = np.abs(np.diff(part, axis=1))
        both = inside[:, 1:] & inside[:, :-1]
    else:
        steps = np.abs(np.diff(part, axis=0))
        both = inside[1:, :] & inside[:-1, :]
    counted = both.sum(axis=1)
    total = (steps * both).sum(axis=1, dtype=np.float64)
    enough = counted >= max(8, (stop - start) / 2)
    return np.where(enough, total / np.maximum(counted, 1), np.nan)


def _edge_lines(steps: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which of these lines' steps are straight edges: :data:`EDGE_RATIO` times the middle
    step of the lines around them, and half of :data:`CELL_LIMIT` (a line without a step,
    NaN, is none)."""
    measured = steps[~np.isnan(steps)]
    if measured.size == 0:
        return np.zeros(steps.shape, dtype=np.bool_)
    middle = max(float(np.median(measured)), 0.5)
    with np.errstate(invalid="ignore"):
        edges = (steps >= EDGE_RATIO * middle) & (steps >= CELL_LIMIT / 2)
    return np.asarray(edges, dtype=np.bool_)


def _overlay_side(
    a: FloatImage,
    b: FloatImage,
    valid: npt.NDArray[np.bool_],
    disagreeing: npt.NDArray[np.bool_],
) -> str | None:
    """Which of two aligned grey pictures carries the overlay that makes them disagree.

    An overlay (banner, ticker, caption box, logo plate) is drawn with straight, axis-aligned
    edges, so the picture carrying it has rows (or columns) along which it steps sharply from
    one line to the next over the whole width of the disagreeing area; a photograph's edges
    seldom run straight across it. Over the box around the disagreeing cells, the mean step
    between neighbouring lines is taken line by line in both pictures; the picture whose
    steps exceed the other's the most somewhere carries the overlay. (Comparing the two
    pictures line by line keeps a shared straight edge, such as a horizon, from counting.)
    """
    height, width = a.shape
    rows, cols = np.nonzero(disagreeing)
    if rows.size == 0:
        return None
    cell_h, cell_w = height / GRID, width / GRID
    top = max(0, int((rows.min() - 1) * cell_h))
    bottom = min(height, int(np.ceil((rows.max() + 2) * cell_h)))
    left = max(0, int((cols.min() - 1) * cell_w))
    right = min(width, int(np.ceil((cols.max() + 2) * cell_w)))
    excess = {"a": 0.0, "b": 0.0}
    for axis in (0, 1):
        box_a, box_b = a[top:bottom, left:right], b[top:bottom, left:right]
        box_valid = valid[top:bottom, left:right]
        pair_valid = (
            box_valid[1:, :] & box_valid[:-1, :]
            if axis == 0
            else box_valid[:, 1:] & box_valid[:, :-1]
        )
        step_a = np.abs(np.diff(box_a, axis=axis))
        step_b = np.abs(np.diff(box_b, axis=axis))
        across = 1 - axis  # average along each line
        counted = pair_valid.sum(axis=across)
        usable = counted >= max(8, 0.5 * pair_valid.shape[across])
        if not usable.any():
            continue
        mean_a = (step_a * pair_valid).sum(axis=across)[usable] / counted[usable]
        mean_b = (step_b * pair_valid).sum(axis=across)[usable] / counted[usable]
        excess["a"] = max(excess["a"], float((mean_a - mean_b).max()))
        excess["b"] = max(excess["b"], float((mean_b - mean_a).max()))
    if excess["b"] >= SIDE_RATIO * max(excess["a"], 1.0):
        return "b"
    if excess["a"] >= SIDE_RATIO * max(excess["b"], 1.0):
        return "a"
    return None


def _phash(grey: npt.NDArray[Any]) -> Any:
    """The pHash of a grey picture (float levels, clipped to 0-255)."""
    return imagehash.phash(Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L"))


def margin_is_uniform(pixels: Image.Image, box: tuple[int, int, int, int]) -> bool:
    """Whether every strip of ``pixels`` outside ``box`` is a plain border (low variation)."""
    grey = np.asarray(pixels.convert("L"), dtype=np.float32)
    height, width = grey.shape
    left, top, right, bottom = box
    seam = max(2, round(0.01 * max(width, height)))
    strips = [
        grey[:, : max(0, left - seam)],
        grey[:, min(width, right + seam) :],
        grey[: max(0, top - seam), :],
        grey[min(height, bottom + seam) :, :],
    ]
    plain = total = 0
    for strip in strips:
        flat, blocks = _plain_blocks(strip)
        plain += flat
        total += blocks
    # Letterbox bars often carry a line of text or a logo; most of a bar is still plain.
    return total == 0 or plain >= BORDER_SHARE * total


#: A seam: along a box edge, the strongest step across the edge (within SEAM_NEAR of it)
#: exceeds SEAM_RATIO times the typical step between neighbouring lines further from it (out
#: to SEAM_REACH), plus SEAM_MARGIN grey levels. Distances are shares of the longer side.
SEAM_RATIO: Final = 2.0
SEAM_MARGIN: Final = 3.0
SEAM_NEAR: Final = 0.005
SEAM_REACH: Final = 0.025


def framed(pixels: Image.Image, box: tuple[int, int, int, int], *, every: bool = False) -> bool:
    """Whether the picture inside ``box`` ends at a seam, not continuing into what surrounds it.

    A collage tile or a photo on a social-media card stops at a straight edge where other
    material begins: the grey step between neighbouring lines peaks along the box edge. A
    crop's surroundings (the fuller original) continue the same picture, whose edges do not
    line up with an arbitrary crop line, so no such peak.

    Args:
        pixels: The larger image (RGB).
        box: ``(left, top, right, bottom)`` of the inner picture in ``pixels``' coordinates.
        every: Ask for a seam along every box edge that has room around it.

    Returns:
        True when at least half of the box edges that have room around them show a seam
        (every one when there are only one or two, or when ``every``).
    """
    grey = np.asarray(pixels.convert("L"), dtype=np.float32)
    height, width = grey.shape
    side = max(width, height)
    near, reach = max(2, round(SEAM_NEAR * side)), max(8, round(SEAM_REACH * side))
    left, top, right, bottom = box
    # Steps between consecutive columns (for vertical edges) or rows, averaged along the edge.
    column_steps = np.abs(np.diff(grey[top:bottom, :], axis=1)).mean(axis=0)
    row_steps = np.abs(np.diff(grey[:, left:right], axis=0)).mean(axis=1)
    # The seam of an edge at line e lies between lines e - 1 and e: step index e - 1.
    edges = [(column_steps, left - 1), (column_steps, right - 1), (row_steps, top - 1),
             (row_steps, bottom - 1)]  # fmt: skip
    checked = seams = 0
    for steps, at in edges:
        if at - reach < 0 or at + reach >= steps.shape[0]:
            continue
        checked += 1
        window = steps[at - reach : at + reach + 1]
        offsets = np.abs(np.arange(-reach, reach + 1))
        peak = float(window[offsets <= near].max())
        typical = float(np.median(window[offsets > 2 * near]))
        seams += peak > SEAM_RATIO * typical + SEAM_MARGIN
    if checked == 0:
        return False
    return seams * 2 >= checked if checked > 2 and not every else seams == checked


#: The key a picture's working copy is remembered under.
_WORKING: Final = "working"

#: Within :func:`pixels_remembered`: what was computed from each image, by the image's
#: identity and what was computed (the image is held, so its identity is not reused meanwhile).
_REMEMBERED: ContextVar[dict[tuple[int, Hashable], tuple[Image.Image, Any]] | None] = ContextVar(
    "provcat_remembered", default=None
)


@contextmanager
def pixels_remembered(copies: Iterable[WorkingCopy] = ()) -> Iterator[None]:
    """Within it (in this thread, and in threads running a copy of its context), what is
    computed from one image object is computed once: its :func:`working_copy`, its
    :func:`colourfulness` and its grey thumbnail and pHash in :func:`compare`.

    A look-up judges a pair in both directions, and the query against several candidates:
    each asks for the same pictures' values again. The images must not be changed in place
    meanwhile (decoded pixels never are). ``copies`` are working copies made before (the
    query's), remembered as its pictures' own.
    """
    token = _REMEMBERED.set(
        {(id(copy.picture), _WORKING): (copy.picture, copy) for copy in copies}
    )
    try:
        yield
    finally:
        _REMEMBERED.reset(token)


def _remembered(pixels: Image.Image, what: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, remembered for this image within :func:`pixels_remembered`. Two threads
    asking at once may both compute it; they compute the same."""
    memo = _REMEMBERED.get()
    if memo is None:
        return compute()
    key = (id(pixels), what)
    held = memo.get(key)
    if held is None or held[0] is not pixels:
        held = memo[key] = (pixels, compute())
    value: T = held[1]
    return value


def colourfulness(pixels: Image.Image) -> float:
    """Mean chroma (largest minus smallest channel, 0-255) of a 64 px thumbnail."""
    return _remembered(pixels, "colourfulness", lambda: _colourfulness(pixels))


def _thumbnail(pixels: Image.Image, size: tuple[int, int]) -> tuple[FloatImage, Any]:
    """``pixels`` at ``size``, grey (read-only), and its pHash."""

    def compute() -> tuple[FloatImage, Any]:
        grey = _grey(working_copy(pixels).resized(size, Image.Resampling.BILINEAR))
        grey.flags.writeable = False
        return grey, _phash(grey)

    return _remembered(pixels, ("thumbnail", size), compute)


def working_copy(pixels: Image.Image) -> WorkingCopy:
    """The picture's working copy (``provcat.working``), made once within
    :func:`pixels_remembered` for the pair checks here, its mirror image's features and its
    PDQ hashes alike: a picture 2,048 pixels or more on a side is shrunk from one reduced
    copy (a 4000 x 3000 picture's resize to 256 pixels took about 30 ms from the whole of
    it), a smaller one from itself, value for value as before."""
    return _remembered(pixels, _WORKING, lambda: WorkingCopy.of(pixels))


def _colourfulness(pixels: Image.Image) -> float:
    # Decoded pixels are RGB already; convert() would copy them whole (47 ms of 102 for a
    # 6000 x 4000 picture).
    if pixels.mode == "RGB":
        small = working_copy(pixels).resized((64, 64), Image.Resampling.BILINEAR)
    else:
        small = pixels.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32)
    return float(np.mean(rgb.max(axis=2) - rgb.min(axis=2)))


def _plain_blocks(strip: FloatImage) -> tuple[int, int]:
    """How many of a strip's BORDER_BLOCK-pixel blocks are plain, and how many there are."""
    height, width = strip.shape
    if height == 0 or width == 0:
        return 0, 0
    rows, cols = max(1, height // BORDER_BLOCK), max(1, width // BORDER_BLOCK)
    cut = strip[: rows * (height // rows), : cols * (width // cols)]
    blocks = cut.reshape(rows, height // rows, cols, width // cols).std(axis=(1, 3))
    return int((blocks < BORDER_STD).sum()), rows * cols


def _grey(image: Image.Image) -> FloatImage:
    return np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.float32))


#: The gain :func:`_fit_levels` gives is held within this factor either way: a copy's
#: contrast raised by 40% needs 0.71, lowered by half 2.0.
GAIN_LIMIT: Final = 2.5


def _fit_levels(a: FloatImage, b: FloatImage) -> tuple[float, float]:
    """Gain and offset taking b's grey levels to a's, fitted on the pixels that agree best.

    The fit starts where a copy's levels are (b as it is, moved by the median difference);
    each round keeps the 60% of pixels the last fit explains best and fits again on them
    alone, the gain held within :data:`GAIN_LIMIT` either way. Started instead from the
    least-squares fit of every pixel, a dark caption block over a third of a flat picture,
    or an unrelated picture, gave a gain near 0 (b levelled to a constant), and a flat
    picture then "agreed" with whatever b showed.
    """
    gain, offset = 1.0, float(np.median(a - b))
    for _ in range(4):
        residual = np.abs(a - (gain * b + offset))
        keep = residual <= np.quantile(residual, 0.6)
        x, y = b[keep], a[keep]
        spread = float(x.std())
        if spread < 1e-3:
            return gain, float(y.mean() - gain * x.mean())
        fitted = float(((x - x.mean()) * (y - y.mean())).mean() / spread**2)
        gain = min(GAIN_LIMIT, max(1 / GAIN_LIMIT, fitted))
        offset = float(y.mean() - gain * x.mean())
    return gain, offset


def _judge(diff: FloatImage, valid: npt.NDArray[np.bool_]) -> Comparison:
    """Judge the GRID x GRID cells of ``diff``: which disagree, and how far the rest are."""
    medians, usable = _cell_medians(diff, valid)
    if not usable.any():
        return Comparison(0.0, 255.0)
    disagreeing = usable & (medians > CELL_LIMIT)
    bad = int(disagreeing.sum())
    overlay_share = bad / int(usable.sum()) if bad >= OVERLAY_MIN else 0.0
    agreeing = medians[usable & ~disagreeing].astype(np.float64)
    difference = float(np.median(agreeing)) if agreeing.size else 255.0
    return Comparison(overlay_share, difference, disagreeing)


def _drawn_cells(
    a: FloatImage, b: FloatImage, valid: npt.NDArray[np.bool_], disagreeing: npt.NDArray[np.bool_]
) -> int:
    """How many of the ``disagreeing`` cells of two aligned, levelled grey pictures show
    something drawn over the picture, not the picture shaded.

    A vignette or a filter's tone curve changes a picture's brightness smoothly and keeps its
    content: where a cell has content of its own (:data:`SHADE_STRUCTURE` in either picture,
    once the plane that fits the cell is taken out, which a smooth shading's slope is), the
    two still correlate (:data:`SHADE_CORRELATION`); a banner, text or a logo replaces it.
    A flat cell says nothing of its own; it is drawn over when the two pictures' difference
    there steps by more than :data:`CELL_LIMIT` from an agreeing neighbour's where the
    original itself steps by no more than that: a shading passes the comparison's limit by
    degrees from one cell to the next, an overlay's edge jumps past it. (Where the original
    steps, at its own edges, a shading's difference steps with it.) Fitting a smooth gain
    over the picture instead took the name from overlays over dull pictures (docs/reuse.md).
    """
    rows, cols = _cell_edges(a.shape)
    at_row, at_col = np.nonzero(disagreeing)
    spread, correlation = _cell_planes(a, b, valid, rows, cols, at_row, at_col)
    content = spread.max(axis=1) >= SHADE_STRUCTURE
    drawn = int((content & ~(correlation >= SHADE_CORRELATION)).sum())

    # Flat cells: their levels and their agreeing neighbours' (medians), only those.
    flat = np.zeros((GRID, GRID), dtype=np.bool_)
    flat[at_row[~content], at_col[~content]] = True
    if not flat.any():
        return drawn
    _, usable = _cell_valid(valid, rows, cols)
    agreeing = usable & ~disagreeing
    asked = flat | (cv2.dilate(flat.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & agreeing
    levels = np.full((GRID, GRID), np.nan, dtype=np.float32)
    steps = np.full((GRID, GRID), np.nan, dtype=np.float32)
    at = np.nonzero(asked)
    levels[at] = _medians_at(a, valid, rows, cols, *at)[0]
    steps[at] = _medians_at((a - b).astype(np.float32), valid, rows, cols, *at)[0]
    for row, col in zip(*np.nonzero(flat), strict=True):
        around = (slice(max(0, row - 1), row + 2), slice(max(0, col - 1), col + 2))
        # Where the original steps itself (its own edge), a shading's difference steps too.
        near = agreeing[around] & (np.abs(levels[around] - levels[row, col]) <= CELL_LIMIT)
        if near.any() and float(np.abs(steps[around][near] - steps[row, col]).max()) > CELL_LIMIT:
            drawn += 1
    return drawn


def _cell_planes(
    a: FloatImage,
    b: FloatImage,
    valid: npt.NDArray[np.bool_],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    at_row: npt.NDArray[np.int64],
    at_col: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """For the cells at (``at_row``, ``at_col``): the standard deviation of ``a``'s and
    ``b``'s valid pixels less the plane that fits each best (``(K, 2)``), and the correlation
    of those residuals (NaN where either is constant), all cells in one pass."""
    picked, inside = _cell_pixels(a.shape, rows, cols, at_row, at_col)
    weight = (valid[picked] & inside).astype(np.float64)
    tall, wide = weight.shape[1:]
    count = weight.sum(axis=(1, 2))

    def centred(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        mean = (weight * values).sum(axis=(1, 2)) / count
        return np.asarray(values - mean[:, None, None])

    # The plane's slopes from the cell's centred coordinates: a 2 x 2 system per cell.
    y = centred(np.broadcast_to(np.arange(tall, dtype=np.float64)[None, :, None], weight.shape))
    x = centred(np.broadcast_to(np.arange(wide, dtype=np.float64)[None, None, :], weight.shape))
    xx, xy, yy = ((weight * p * q).sum(axis=(1, 2)) for p, q in ((x, x), (x, y), (y, y)))
    determinant = xx * yy - xy**2
    determinant[np.abs(determinant) < 1e-9] = np.inf  # a line of pixels: no slope fitted
    residuals = []
    for image in (a, b):
        values = centred(image[picked].astype(np.float64))
        vx, vy = ((weight * values * q).sum(axis=(1, 2)) for q in (x, y))
        slope_x = (vx * yy - vy * xy) / determinant
        slope_y = (vy * xx - vx * xy) / determinant
        residuals.append(values - slope_x[:, None, None] * x - slope_y[:, None, None] * y)
    squares = np.stack([(weight * r**2).sum(axis=(1, 2)) for r in residuals], axis=1)
    spread = np.sqrt(squares / count[:, None])
    cross = (weight * residuals[0] * residuals[1]).sum(axis=(1, 2)) / count
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = cross / (spread[:, 0] * spread[:, 1])
    correlation[(spread.min(axis=1) <= 1e-6)] = np.nan
    return spread, correlation


def _cell_pixels(
    shape: tuple[int, ...],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    at_row: npt.NDArray[np.int64],
    at_col: npt.NDArray[np.int64],
) -> tuple[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.bool_]]:
    """Indices gathering the cells at (``at_row``, ``at_col``) of a picture of ``shape``
    (cells between ``rows`` and ``cols``) into ``(K, tallest, widest)`` blocks, and which
    places of a block lie inside its cell (the rest repeat the picture's last line)."""
    tall, wide = int(np.diff(rows).max()), int(np.diff(cols).max())
    row_at = rows[at_row, None] + np.arange(tall)
    col_at = cols[at_col, None] + np.arange(wide)
    inside = (row_at < rows[at_row + 1, None])[:, :, None] & (col_at < cols[at_col + 1, None])[
        :, None, :
    ]
    picked = (
        np.minimum(row_at, shape[0] - 1)[:, :, None],
        np.minimum(col_at, shape[1] - 1)[:, None, :],
    )
    return picked, inside


def _cell_valid(
    valid: npt.NDArray[np.bool_], rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """How many valid pixels each cell between ``rows`` and ``cols`` holds, and which cells
    take part (:data:`CELL_VALID` of their pixels valid)."""
    size = np.diff(rows)[:, None] * np.diff(cols)[None, :]
    counted = np.add.reduceat(
        np.add.reduceat(valid.astype(np.int64), rows[:-1], axis=0), cols[:-1], axis=1
    )
    counted = np.where(size > 0, counted, 0)
    return counted, _usable(counted, rows, cols)


def _usable(
    counted: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Which cells take part, given how many valid pixels each holds (:data:`CELL_VALID`)."""
    size = np.diff(rows)[:, None] * np.diff(cols)[None, :]
    usable = (size > 0) & (counted >= 1)
    usable[usable] = counted[usable] / size[usable] >= CELL_VALID
    return usable


def _cell_edges(shape: tuple[int, ...]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The GRID + 1 row and column lines that cut a picture of ``shape`` into cells."""
    return (
        np.linspace(0, shape[0], GRID + 1).astype(int),
        np.linspace(0, shape[1], GRID + 1).astype(int),
    )


def _cell_medians(
    diff: FloatImage, valid: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """The median of each GRID x GRID cell's valid pixels of ``diff`` (what ``np.median``
    gives for them), computed for all cells in one sort, and which cells take part
    (:data:`CELL_VALID`)."""
    rows, cols = _cell_edges(diff.shape)
    at_row, at_col = np.nonzero(np.ones((GRID, GRID), np.bool_))
    medians, counted = _medians_at(diff, valid, rows, cols, at_row, at_col)
    return medians.reshape(GRID, GRID), _usable(counted.reshape(GRID, GRID), rows, cols)


def _medians_at(
    diff: FloatImage,
    valid: npt.NDArray[np.bool_],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    at_row: npt.NDArray[np.int64],
    at_col: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """The medians of the valid pixels of ``diff`` in the cells at (``at_row``,
    ``at_col``), in one sort, and how many valid pixels each cell holds."""
    # Each cell's pixels gathered into one line, padded to the tallest and widest cell; the
    # padding (outside the cell) and invalid pixels sort last as +inf.
    picked, inside = _cell_pixels(diff.shape, rows, cols, at_row, at_col)
    taken = (valid[picked] & inside).reshape(at_row.size, -1)
    values = np.where(taken, diff[picked].reshape(at_row.size, -1), np.float32(np.inf))
    values.sort(axis=1)
    counted = taken.sum(axis=1)
    low = np.take_along_axis(values, ((counted - 1) // 2).clip(0)[:, None], axis=1)[:, 0]
    top = values.shape[1] - 1
    high = np.take_along_axis(values, (counted // 2).clip(0, top)[:, None], axis=1)[:, 0]
    return ((low + high) / np.float32(2)).astype(np.float32), counted

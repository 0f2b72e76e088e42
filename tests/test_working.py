"""The working copy that hashes and features are resized from (provcat.working)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from provcat.fingerprints import compute
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.verify import verify
from provcat.working import WorkingCopy

from .imagegen import synthetic_photo

LANCZOS = Image.Resampling.LANCZOS


def large(size: tuple[int, int], seed: int = 7) -> Image.Image:
    """A photo-like picture of ``size``: a generated scene enlarged, with grain."""
    picture = synthetic_photo(seed, (size[0] // 4, size[1] // 4)).resize(
        size, Image.Resampling.BICUBIC
    )
    grain = np.random.default_rng(seed).integers(-6, 7, size=(size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(picture, np.int16) + grain, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("size", "factor", "copy_size"),
    [
        ((640, 480), (1, 1), (640, 480)),
        ((2047, 2047), (1, 1), (2047, 2047)),
        ((2048, 1536), (2, 2), (1024, 768)),
        ((4000, 3000), (3, 3), (1334, 1000)),
        ((1000, 5000), (4, 4), (250, 1250)),
        # A banner: its short side is not reduced below 64 pixels, nor at all under 128.
        ((10_000, 300), (9, 4), (1112, 75)),
        ((10_000, 50), (9, 1), (1112, 50)),
        ((3000, 2), (2, 1), (1500, 2)),
    ],
)
def test_a_large_picture_is_reduced_by_a_whole_factor_to_1024_pixels_or_more(
    size: tuple[int, int], factor: tuple[int, int], copy_size: tuple[int, int]
) -> None:
    picture = Image.new("RGB", size, (10, 20, 30))
    copy = WorkingCopy.of(picture)
    assert (copy.factor, copy.pixels.size, (copy.width, copy.height)) == (factor, copy_size, size)
    if factor == (1, 1):
        assert copy.pixels is picture
    else:
        assert 1024 <= max(copy.pixels.size) < 2048
        assert min(copy.pixels.size) >= min(64, min(size))


def test_a_banner_keeps_its_rows_for_phash() -> None:
    """A strip two pixels tall (two unlike rows of a scene) keeps both rows in its copy:
    averaged into one row, its pHash and dHash were 21 and 16 bits from the whole strip's."""
    scene = np.asarray(large((3000, 480)))
    banner = Image.fromarray(np.ascontiguousarray(scene[[100, 380]]))
    ours, whole = compute(banner), compute(banner, working=WorkingCopy.whole(banner))
    assert ours.phash - whole.phash <= 4
    assert ours.dhash - whole.dhash <= 4


@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize("grey", [False, True])
def test_below_2048_pixels_every_resize_is_the_pictures_own(grey: bool, mirror: bool) -> None:
    """A picture under 2,048 pixels is hashed and described exactly as before the copy."""
    picture = synthetic_photo(3, (1201, 799))
    expected = picture.convert("L") if grey else picture
    if mirror:
        expected = ImageOps.mirror(expected)
    got = WorkingCopy.of(picture).resized((512, 341), LANCZOS, grey=grey, mirror=mirror)
    assert got.tobytes() == expected.resize((512, 341), LANCZOS).tobytes()


@pytest.mark.parametrize("width", [4001, 4002])
def test_a_resize_of_the_copy_spans_the_picture(width: int) -> None:
    """A mark in the picture's last, partial, blocks lands where the picture's own resize puts
    it, and the mirror image's resize is that of the mirror image's own copy, value for value
    (a width its blocks divide, 4002, and one they do not, 4001)."""
    array = np.zeros((3001, width, 3), dtype=np.uint8)
    array[2900:2990, width - 100 : width - 10] = 255
    picture = Image.fromarray(array)
    copy = WorkingCopy.of(picture)
    assert copy.factor == (3, 3)
    size = (512, round(3001 * 512 / width))
    ours = np.asarray(copy.resized(size, LANCZOS, grey=True), dtype=np.float64)
    direct = np.asarray(picture.convert("L").resize(size, LANCZOS), dtype=np.float64)

    def centre(grey: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(grey > 128)
        return np.array([xs.mean(), ys.mean()])

    assert np.abs(centre(ours) - centre(direct)).max() < 0.25
    assert np.abs(ours - direct).mean() < 1.0

    mirror_copy = WorkingCopy.of(ImageOps.mirror(picture))
    for grey in (False, True):
        got = copy.resized(size, LANCZOS, grey=grey, mirror=True)
        assert got.tobytes() == mirror_copy.resized(size, LANCZOS, grey=grey).tobytes()


def test_hashes_from_the_copy_are_within_a_few_bits_of_the_whole_pictures() -> None:
    picture = large((2600, 1950))
    ours, whole = compute(picture), compute(picture, working=WorkingCopy.whole(picture))
    assert ours.phash - whole.phash <= 4
    assert ours.dhash - whole.dhash <= 4
    assert ours.pdq - whole.pdq <= 8


def _alike(a: Features, b: Features, tolerance: float) -> float:
    """Share of ``a``'s keypoints with one of ``b``'s within ``tolerance`` pixels and a
    descriptor within 16 bits."""
    near = np.linalg.norm(a.keypoints[:, None] - b.keypoints[None], axis=2) <= tolerance
    bits = np.unpackbits(a.descriptors, axis=1)[:, None] != np.unpackbits(b.descriptors, axis=1)
    return float(((bits.sum(axis=2) <= 16) & near).any(axis=1).mean())


def test_features_from_the_copy_are_in_the_pictures_own_pixels() -> None:
    """Keypoints map back to the whole picture (not the copy's smaller grid): most have a
    keypoint of the whole picture's features beside them, alike, and verification finds the
    two the same photo, not a resized copy."""
    picture = large((3001, 2000))
    ours = extract(picture)
    whole = extract(picture, working=WorkingCopy.whole(picture))
    assert (ours.width, ours.height) == (3001, 2000)
    assert ours.keypoints[:, 0].max() > 0.9 * 3001
    assert _alike(ours, whole, tolerance=2 * 3001 / 512) > 0.5
    relation = verify(whole, ours)
    assert relation.same_photo
    assert relation.inliers > 0.5 * len(ours)
    assert "resized" not in relation.kinds


@pytest.mark.parametrize("size", [(2048, 1536), (2561, 1601)])
def test_mirror_features_of_a_large_picture_are_the_mirror_images(size: tuple[int, int]) -> None:
    """Bit for bit, as below 2,048 pixels (verification and the postings rely on it)."""
    picture = large(size)
    got, expected = mirrored(picture), extract(ImageOps.mirror(picture))
    assert np.array_equal(got.descriptors, expected.descriptors)
    assert np.array_equal(got.keypoints, expected.keypoints)


def test_pixel_comparisons_of_a_large_picture_find_what_the_whole_picture_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Comparing a camera-size picture with a copy carrying a banner, at full size and at half
    size (shrunk before the warp), from the working copies: the same cells disagree, with the
    same overlay share and likeness within 2 bits, and the same colourfulness, as when shrunk
    from the whole pictures."""
    from provcat.reuse import pixels

    original = large((2600, 1950))
    copy = original.copy()
    copy.paste((200, 20, 20), (0, 1600, 2600, 1950))
    half = copy.resize((1300, 975), Image.Resampling.LANCZOS)
    pairs = [(copy, np.eye(3)), (half, np.diag([2.0, 2.0, 1.0]))]

    def judged() -> tuple[list[pixels.Comparison], float]:
        found = [pixels.compare(original, b, fit) for b, fit in pairs]
        return found, pixels.colourfulness(copy)

    ours, ours_colour = judged()
    monkeypatch.setattr(pixels, "working_copy", WorkingCopy.whole)
    whole, whole_colour = judged()
    for got, expected in zip(ours, whole, strict=True):
        assert np.array_equal(got.disagreeing, expected.disagreeing)
        assert got.disagreeing[-2:].mean() > 0.6  # the banner's rows of cells
        assert not got.disagreeing[:12].any()
        assert abs(got.overlay_share - expected.overlay_share) < 0.01
        assert got.global_distance is not None
        assert expected.global_distance is not None
        assert abs(got.global_distance - expected.global_distance) <= 2
    assert abs(ours_colour - whole_colour) < 1.0


def test_a_look_up_reduces_each_large_picture_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The query's copy serves its features, mirror features, PDQ hashes and pixel checks,
    and a likely candidate's copy its mirror features and pixel checks: each large picture a
    look-up decodes is reduced once."""
    from provcat.catalogue import Catalogue

    original = large((2400, 1800), seed=11)
    folder = tmp_path / "stored"
    folder.mkdir()
    original.save(folder / "original.jpg", quality=90)
    query = tmp_path / "query.jpg"
    ImageOps.mirror(original).save(query, quality=85)
    catalogue = Catalogue(db_url)
    try:
        catalogue.ingest([folder])
        reduced: list[tuple[int, int]] = []
        of = WorkingCopy.of.__func__  # type: ignore[attr-defined]

        def counting(cls: type[WorkingCopy], picture: Image.Image) -> WorkingCopy:
            copy = of(cls, picture)
            if copy.factor != (1, 1):
                reduced.append(picture.size)
            return copy

        monkeypatch.setattr(WorkingCopy, "of", classmethod(counting))
        found = catalogue.similar(query)
    finally:
        catalogue.close()
    assert [f.relation for f in found] == [("mirrored",)]
    # The query and the stored picture, once each.
    assert sorted(reduced) == [(2400, 1800), (2400, 1800)]

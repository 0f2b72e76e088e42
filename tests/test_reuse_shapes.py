"""Reuse shapes beyond a similarity: stretched, keystoned and inset copies; flat pictures."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from provcat import matching
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.fingerprints import compute
from provcat.reuse import pixels
from provcat.reuse.features import FEATURE_SIDE, PYRAMID_SPAN, Features, extract, mirrored
from provcat.reuse.verify import (
    KINDS,
    RICH_INLIERS,
    Relation,
    believable_scale,
    bridgeable,
    verify,
)
from provcat.reuse.weak import GlobalPrints, low_information, weak_relation

from .imagegen import flat_shapes, gravel, sky, star_field
from .reuse_fixtures import (
    collage,
    crop_area,
    faded_filter,
    in_frame,
    jpeg,
    keystone,
    middle_band,
    parallax_frame,
    scene,
    social_card,
    stretch,
    text_overlay,
    tiled_watermark,
    translucent,
    vignette,
    warm_filter,
)


def _relate(a: Image.Image, b: Image.Image) -> Relation:
    relation = verify(extract(a), extract(b), a_pixels=a, b_pixels=b, b_mirrored=mirrored(b))
    assert set(relation.kinds) <= set(KINDS)
    return relation


def _near(
    box: tuple[int, int, int, int] | None, truth: tuple[int, int, int, int], side: int
) -> bool:
    return box is not None and bool(np.abs(np.subtract(box, truth)).max() <= 0.02 * side)


@pytest.fixture(scope="module")
def original() -> Image.Image:
    """A generated photo-like scene, 640 x 480."""
    return scene(11)


@pytest.mark.parametrize(("fx", "fy"), [(1.3, 1.0), (1.0, 0.75)])
def test_stretched_copy_gives_both_scales(original: Image.Image, fx: float, fy: float) -> None:
    """An aspect change is fitted by the affine model and reported with its x and y scales."""
    relation = _relate(original, stretch(original, fx, fy))
    assert relation.same_photo
    assert relation.model == "affine"
    assert "stretched" in relation.kinds
    assert "resized" not in relation.kinds  # one axis kept its size
    assert relation.scale_x == pytest.approx(fx, abs=0.02)
    assert relation.scale_y == pytest.approx(fy, abs=0.02)


def test_photo_of_a_screen_is_perspective_with_its_box(original: Image.Image) -> None:
    """A keystoned shot of the picture on a screen: perspective, box of the picture in the shot."""
    shot, matrix = keystone(original)
    relation = _relate(original, shot)
    assert relation.same_photo
    assert relation.model == "perspective"
    assert "perspective" in relation.kinds
    assert "stretched" not in relation.kinds
    corners = np.array([[0, 0, 1], [640, 0, 1], [640, 480, 1], [0, 480, 1]], dtype=np.float64)
    mapped = corners @ matrix.T
    points = mapped[:, :2] / mapped[:, 2:]
    low, high = points.min(axis=0), points.max(axis=0)
    truth = (round(low[0]), round(low[1]), round(high[0]), round(high[1]))
    assert _near(relation.crop_box, truth, max(shot.size)), (relation.crop_box, truth)


def test_collage_tile_is_contained_with_its_box(original: Image.Image) -> None:
    """One tile of a 2 x 2 collage: the collage contains the photo; box in the collage."""
    copy, box = collage(original, [scene(90), scene(91), scene(92)], slot=3)
    relation = _relate(original, copy)
    assert relation.same_photo
    assert "contained" in relation.kinds
    assert "cropped" not in relation.kinds
    assert relation.direction == "b_contains_a"
    assert relation.scale == pytest.approx(0.5, abs=0.02)
    assert _near(relation.crop_box, box, max(copy.size)), (relation.crop_box, box)


def test_social_media_card_contains_the_photo(original: Image.Image) -> None:
    """A screenshot card with header and footer text holds the photo: contained, with its box."""
    card, box = social_card(original)
    relation = _relate(original, card)
    assert relation.same_photo
    assert "contained" in relation.kinds
    assert _near(relation.crop_box, box, max(card.size)), (relation.crop_box, box)


def test_a_crop_of_the_original_is_not_contained(original: Image.Image) -> None:
    """The reverse of a crop (the fuller original as the copy) continues the picture: cropped."""
    crop, box = crop_area(original, 0.4, 0.5, 0.5)
    relation = _relate(crop, original)
    assert relation.same_photo
    assert "cropped" in relation.kinds
    assert "contained" not in relation.kinds
    assert _near(relation.crop_box, box, 640)


@pytest.mark.parametrize(
    ("turn", "degrees"), [(Image.Transpose.ROTATE_90, 90), (Image.Transpose.ROTATE_270, -90)]
)
def test_quarter_turns(original: Image.Image, turn: Image.Transpose, degrees: int) -> None:
    """90 and 270 degree turns are rotations by +90 and -90 (counter-clockwise positive)."""
    relation = _relate(original, original.transpose(turn))
    assert relation.same_photo
    assert relation.kinds == ("rotated",)
    assert relation.rotation_degrees == pytest.approx(degrees, abs=1)


def test_grayscale_copy_is_named(original: Image.Image) -> None:
    """A grey copy of a colour photo is "grayscale" (only with pixels to see the colour)."""
    grey = original.convert("L").convert("RGB")
    assert _relate(original, grey).kinds == ("grayscale",)
    assert verify(extract(original), extract(grey)).kinds == ("reencoded",)


def test_large_text_overlay(original: Image.Image) -> None:
    """Big text on a block over a third of the picture is still the photo, overlaid."""
    relation = _relate(original, text_overlay(original))
    assert relation.same_photo
    assert "overlaid" in relation.kinds


def test_quarter_area_crop_and_jpeg_q10(original: Image.Image) -> None:
    """A crop keeping 25% of the area (box in the original) and a JPEG at quality 10."""
    crop, box = crop_area(original, 0.25, 0.2, 0.7)
    relation = _relate(original, crop)
    assert relation.kinds == ("cropped",)
    assert _near(relation.crop_box, box, 640)
    assert _relate(original, jpeg(original, 10)).same_photo


def test_other_view_of_a_scene_is_not_joined_by_richer_models() -> None:
    """Hard negative for the affine and perspective paths: another shot of a scene with depth,
    keystoned or stretched on top of the parallax, is not the same photo."""
    for seed in (3, 5):
        first = parallax_frame(seed, 0, 0)
        other = parallax_frame(seed, 12, 52)
        for copy in (keystone(other, squeeze=0.05)[0], stretch(other, 1.2, 1.0)):
            relation = _relate(first, copy)
            assert not relation.same_photo, (seed, relation)
            # Features alone (no pixels to see the parallax): still refused.
            assert not verify(extract(first), extract(copy)).same_photo, seed


def test_low_information_sky_is_found_as_weak_evidence() -> None:
    """A plain sky has no corners: its half-size mirror is found by global hashes, labelled
    weak; a different sky is not."""
    picture = sky(1)
    prints = compute(picture)
    assert low_information(prints.pdq_quality, len(extract(picture)))
    reference = GlobalPrints.of(picture, prints)
    copy = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((320, 240))
    assert not _relate(picture, copy).same_photo
    relation = weak_relation(reference, copy)
    assert relation is not None
    assert relation.evidence == "weak"
    assert relation.kinds == ("weak_global_hash", "resized", "mirrored")
    assert relation.score < 0.5
    for seed in range(2, 8):
        assert weak_relation(reference, sky(seed)) is None, seed
    assert not low_information(100, 1000)


def test_catalogue_labels_weak_matches_and_show_says_low_information(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """Ingested skies: the copy is matched as weak evidence, `similar` and `show` say so."""
    picture = sky(3)
    picture.save(tmp_path / "sky.png")
    picture.rotate(90, expand=True).save(tmp_path / "sky-turned.png")
    sky(4).save(tmp_path / "other-sky.png")
    catalogue.ingest([tmp_path])
    [cluster] = catalogue.reused_photos()
    assert "weak_evidence" in cluster.flags
    sha = hashlib.sha256((tmp_path / "sky.png").read_bytes()).hexdigest()
    record = catalogue.image(sha)
    assert record.low_information is not None
    assert "PDQ quality" in record.low_information
    [twin] = record.same_photo
    assert "weak_global_hash" in twin.relation
    query = tmp_path / "query.jpg"
    picture.resize((320, 240)).save(query, quality=90)
    found = catalogue.similar(query)
    assert sha in {match.sha256 for match in found}
    assert {match.evidence for match in found} == {"weak"}
    other = hashlib.sha256((tmp_path / "other-sky.png").read_bytes()).hexdigest()
    assert other not in {match.sha256 for match in found}
    runner = CliRunner()
    shown = runner.invoke(cli, ["--db", catalogue.url, "show", sha[:12]], catch_exceptions=False)
    assert "low-information image (PDQ quality" in shown.stdout
    assert "weak evidence" in shown.stdout
    similar = runner.invoke(cli, ["--db", catalogue.url, "similar", str(query)])
    assert "WEAK EVIDENCE" in similar.stdout


def _burst(seed: int) -> tuple[Image.Image, Image.Image]:
    """Two frames of a camera sliding past a textured far layer (moving 14 px) with six smooth,
    nearly featureless near objects (moving 64 px): features see one motion, pixels two."""
    rng = np.random.default_rng(seed)
    far = scene(seed, (700, 480))
    patches = []
    for _ in range(6):
        w, h = int(rng.integers(120, 200)), int(rng.integers(100, 160))
        y, x = np.mgrid[0:h, 0:w]
        level = rng.uniform(60, 200) + 25 * np.sin(x / w * np.pi) * np.cos(y / h * np.pi)
        flat = np.repeat(level[..., None], 3, axis=2).astype(np.uint8)
        patches.append(
            (Image.fromarray(flat, "RGB"), int(rng.integers(64, 580)), int(rng.integers(0, 330)))
        )
    frames = []
    for k in range(2):
        frame = far.crop((14 * k, 0, 14 * k + 640, 480))
        for patch, x, y in patches:
            frame.paste(patch, (x - 64 * k, y))
        frames.append(frame)
    return frames[0], frames[1]


def test_burst_with_smooth_moving_subjects_is_not_joined() -> None:
    """Hard negative: the near objects carry few features, so the second motion is small (18-32
    matches against 250-300); its matches sit where the pixels disagree (moved subjects), which
    refuses the pair. With (almost) no matched feature on the near objects (seeds 2 and 10
    give second motions of 5-16) nothing tells the frames apart: the documented limit, as in
    test_reuse.py's xfail."""
    for seed in (4, 6, 8):
        first, second = _burst(seed)
        assert not _relate(first, second).same_photo, seed
        assert not _relate(second, first).same_photo, seed


@pytest.mark.parametrize("size", [(1, 1), (1, 5000), (20000, 3), (3, 900), (600, 38)])
def test_a_picture_too_thin_for_keypoints_has_none(size: tuple[int, int]) -> None:
    """A banner strip or a spacer GIF has no room for a keypoint (ORB keeps 19 pixels from
    every edge of its 512-pixel working copy); OpenCV's pyramid failed on the thinnest,
    and that ended an ingest."""
    pixels = Image.effect_noise(size, 80).convert("RGB")
    for features in (extract(pixels), mirrored(pixels)):
        assert len(features) == 0
        assert (features.width, features.height) == size


def test_thin_pictures_are_ingested_and_looked_up_with_the_rest(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    folder = tmp_path / "page-furniture"
    folder.mkdir()
    Image.effect_noise((20000, 3), 60).convert("RGB").save(folder / "rule.png")
    Image.new("RGB", (1, 5000), "navy").save(folder / "spacer.png")
    scene(3).save(folder / "photo.jpg", quality=90)
    result = catalogue.ingest([folder])
    assert result.rejected == []
    assert result.images_added == 3
    found = {Path(x.path).name: x for x in catalogue.similar_files([folder])}
    assert {name: x.status for name, x in found.items()} == dict.fromkeys(
        ("photo.jpg", "rule.png", "spacer.png"), "answered"
    )
    for name, lookup in found.items():
        assert lookup.matches[0].relation[0] == "identical_file", name


def test_a_degenerate_fit_is_not_worth_decoding_for() -> None:
    """A star field's clustered keypoints fit a photo at a scale of 0 (the whole field mapped
    onto one point) with far more inliers than a stretched copy needs to be worth decoding:
    verification refuses that scale before looking at pixels, and does with them too, so a
    first look does not decode the pair for it. A fit of a believable scale with as many
    inliers still is."""
    photo, stars = scene(810), star_field(10)
    look = verify(extract(photo), extract(stars))
    assert not look.same_photo
    assert look.inliers >= RICH_INLIERS
    assert not believable_scale(look.scale)
    assert not matching._worth_pixels(look)
    assert not _relate(photo, stars).same_photo
    stretched = Relation(False, (), None, look.inliers, 0.5, 0.0, 1.2, "same_extent", 1.44, 1.0)
    assert matching._worth_pixels(stretched)


@pytest.mark.parametrize(
    ("seed", "edit", "model"),
    [
        (3, "stretched 1.4", "affine"),
        (2, "stretched 1.4", "affine"),
        (2, "keystoned 15%", "perspective"),
        (3, "mirrored, stretched 1.4", "affine"),
    ],
)
def test_a_stretched_copy_of_a_low_texture_picture_is_found_rectified(
    seed: int, edit: str, model: str
) -> None:
    """A low-texture picture keeps too few matches once stretched or photographed at an angle
    for any model to pass on features alone; a tentative affine map of a few of them says the
    pixels are worth a look, and the copy warped back into the original's frame gives its
    features again: the fit found through them is the copy's own, in the copy's frame."""
    original = flat_shapes(seed)
    if edit == "stretched 1.4":
        copy = jpeg(stretch(original, 1.4, 1.0), 85)
    elif edit == "mirrored, stretched 1.4":
        # Warped from the mirror image's matches: the fit is told in the copy's own frame.
        copy = jpeg(ImageOps.mirror(stretch(original, 1.4, 1.0)), 85)
    else:
        copy = jpeg(keystone(original, 0.15)[0], 85)
    first = verify(extract(original), extract(copy), b_mirrored=mirrored(copy))
    assert not first.same_photo
    assert first.inliers < RICH_INLIERS  # not sent to the pixels for its inliers
    assert first.rectifiable
    assert matching._worth_pixels(first)
    relation = _relate(original, copy)
    assert relation.same_photo, relation
    assert relation.model == model
    assert not relation.rectifiable
    assert ("mirrored" in relation.kinds) == edit.startswith("mirrored")
    if model == "affine":
        assert "stretched" in relation.kinds
        assert relation.scale_x == pytest.approx(1.4, abs=0.03)
        assert relation.scale_y == pytest.approx(1.0, abs=0.03)
    else:
        assert "perspective" in relation.kinds


def test_a_rectified_look_joins_no_two_low_texture_pictures() -> None:
    """Different low-texture pictures, stretched: no tentative warp makes them one photo, with
    pixels or without."""
    pictures = [flat_shapes(seed) for seed in range(1, 6)]
    for i, first in enumerate(pictures):
        for j, second in enumerate(pictures):
            if i == j:
                continue
            copy = jpeg(stretch(second, 1.3, 1.0), 85)
            assert not _relate(first, copy).same_photo, (i, j)


@pytest.mark.parametrize(("seed", "fx", "fy"), [(2, 1.4, 1.0), (2, 0.7, 1.0), (3, 1.0, 0.75)])
def test_a_catalogue_finds_a_stretched_copy_of_a_low_texture_picture(
    catalogue: Catalogue, tmp_path: Path, seed: int, fx: float, fy: float
) -> None:
    """Ingest decodes the pair its first look found rectifiable and records the stretch;
    `similar` finds the original from the copy. (Features alone find none of these three.)"""
    original = flat_shapes(seed)
    original.save(tmp_path / "wallpaper.png")
    stretched = jpeg(stretch(original, fx, fy), 85)
    stretched.save(tmp_path / "wallpaper-wide.jpg", quality=95)
    flat_shapes(5).save(tmp_path / "other.png")
    catalogue.ingest([tmp_path])
    [cluster] = catalogue.reused_photos()
    assert len(cluster.members) == 2
    sha = hashlib.sha256((tmp_path / "wallpaper.png").read_bytes()).hexdigest()
    wide = hashlib.sha256((tmp_path / "wallpaper-wide.jpg").read_bytes()).hexdigest()
    assert {m.sha256 for m in cluster.members} == {sha, wide}
    assert "stretched" in {kind for m in cluster.members for kind in m.relation}
    found = catalogue.similar(tmp_path / "wallpaper-wide.jpg")
    assert sha in {match.sha256 for match in found}


@pytest.mark.parametrize("share", [0.06, 0.09, 0.12, 0.2])
def test_different_pictures_in_one_textured_frame_are_not_joined(share: float) -> None:
    """A template's textured border around different pictures matches frame onto frame with
    a hundred inliers or more, all in the border; two low-texture or smooth pictures inside,
    levelled, agree in most cells. The inliers keep out of the middle where both pictures
    have keypoints: not a copy. (Seven of the nine pairs were joined before that rule.) A
    wider border is most of the picture, and the inliers in it reach the middles: what
    disagrees lies inside the border's texture, which ends there in both pictures (one of
    the three pairs at a fifth of each side was joined before the frame rule looked for a
    texture's end; one of a quarter is still told less surely: docs/reuse.md.)"""
    frame = gravel(7)
    pictures = [flat_shapes(1), flat_shapes(4), scene(2).resize((1280, 800))]
    framed = [jpeg(in_frame(picture, frame, share), 85) for picture in pictures]
    for i, first in enumerate(framed):
        for second in framed[i + 1 :]:
            assert not _relate(first, second).same_photo


def test_different_pictures_on_one_social_media_card_are_not_joined() -> None:
    """One account's card (avatar, name, caption, buttons) around different pictures: the
    card's text matches, above and below; the pictures between do not. (All six pairs were
    joined before the inliers were asked to reach the middle.)"""
    pictures = [scene(1), scene(3), flat_shapes(2).resize((640, 400)), flat_shapes(6)]
    cards = [jpeg(social_card(picture.resize((800, 600)))[0], 85) for picture in pictures]
    for i, first in enumerate(cards):
        for second in cards[i + 1 :]:
            assert not _relate(first, second).same_photo


@pytest.mark.parametrize(
    ("first", "second"),
    [(("scene", 1), ("scene", 3)), (("flat", 1), ("flat", 2)), (("scene", 2), ("flat", 4))],
    ids=["scenes", "flat", "scene-flat"],
)
def test_different_wide_pictures_on_one_social_media_card_are_not_joined(
    first: tuple[str, int], second: tuple[str, int]
) -> None:
    """A 16:9 picture, a news photo's usual shape, fills only 58% of the card: its header,
    caption and buttons match frame onto frame, its caption lies in the middle rule 3 looks
    at, and two different pictures disagree over less than half of the cells. The card's
    edge around the picture runs through both; what disagrees lies inside it. (27 of 28
    pairs of four generated scenes and four pictures of flat shapes so were joined before;
    158 of the 870 ordered pairs of the KDE wallpapers' cards, docs/reuse.md.)"""

    def card(kind: str, seed: int) -> Image.Image:
        maker = scene if kind == "scene" else flat_shapes
        return social_card(maker(seed, (1280, 720)))[0]

    a, b = card(*first), card(*second)
    assert not _relate(a, b).same_photo
    assert not _relate(b, a).same_photo


def _plate(image: Image.Image) -> Image.Image:
    """A broadcaster's logo plate in the picture's middle: an enclosed overlay, whose edge
    lies in the copy alone."""
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    box = (width * 3 // 8, height * 3 // 8, width * 5 // 8, height * 5 // 8)
    draw.rectangle(box, fill=(20, 40, 160), outline=(250, 250, 250), width=4)
    draw.text((box[0] + 12, box[1] + 12), "LIVE  NEWS 24", fill=(250, 250, 250))
    return copy


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_copy_under_a_plate_in_the_middle_of_a_card_or_a_picture_is_joined(seed: int) -> None:
    """What disagrees inside a frame the copy alone draws is an overlay, not a template: a
    plate over the middle of a wide picture, on its own and on a card, is found."""
    picture = scene(seed, (1280, 720))
    relation = _relate(picture, _plate(picture))
    assert relation.same_photo
    assert "overlaid" in relation.kinds
    card = social_card(picture)[0]
    assert _relate(card, social_card(_plate(picture))[0]).same_photo


@pytest.mark.parametrize(
    "picture", [flat_shapes(2), flat_shapes(3), flat_shapes(4), scene(1), scene(3)]
)
def test_a_copy_under_a_band_of_text_across_the_middle_is_joined(picture: Image.Image) -> None:
    """A band of text over the middle third hides the middle as a template's pictures
    differ there: the middles asked of the inliers stop short of it (one a quarter of the
    shorter side in refuses the second; with one at three tenths, all five)."""
    relation = _relate(picture, jpeg(middle_band(picture), 75))
    assert relation.same_photo
    assert "overlaid" in relation.kinds


@pytest.mark.parametrize("share", [0.09, 0.25])
def test_a_copy_of_a_framed_picture_is_joined(share: float) -> None:
    """The same framed picture, re-encoded hard or halved: its inliers lie in the middle as
    well as in the frame, as its keypoints do."""
    framed = jpeg(in_frame(flat_shapes(4), gravel(7), share), 85)
    half = framed.resize((framed.width // 2, framed.height // 2))
    for copy in (jpeg(framed, 20), jpeg(half, 60)):
        assert _relate(framed, copy).same_photo


@pytest.mark.parametrize("seeds", [(1, 2), (3, 4), (5, 6)])
def test_two_colourful_low_texture_pictures_under_one_identical_texture_are_not_joined(
    seeds: tuple[int, int],
) -> None:
    """Found with the rectified look's real-picture run: the keystone fixture lays the same
    moire and noise over the whole shot (its surround, a third of it, and the picture
    alike), so two different low-texture pictures shot with it match everywhere, in the
    middle too, at the texture's keypoints, and levelled to grey two smooth pictures agree
    in most cells. Their colours do not (rule 5's chroma; a known limit until session 52)."""
    first, second = (jpeg(keystone(flat_shapes(seed), 0.15)[0], 85) for seed in seeds)
    assert not _relate(first, second).same_photo


@pytest.mark.xfail(
    strict=True,
    reason="one identical texture over two grey low-texture pictures joins them (docs/reuse.md)",
)
def test_two_grey_low_texture_pictures_under_one_identical_texture_are_not_joined() -> None:
    """Known limit: as above, with pictures that have no colour to tell them apart."""
    first, second = (jpeg(keystone(_grey(flat_shapes(seed)), 0.15)[0], 85) for seed in (7, 8))
    assert not _relate(first, second).same_photo


def _grey(image: Image.Image) -> Image.Image:
    return image.convert("L").convert("RGB")


@pytest.mark.parametrize("seed", [1, 6])
def test_a_flat_picture_under_a_dark_block_is_levelled_as_itself(seed: int) -> None:
    """A dark block of text over a third of a picture with little contrast of its own. The
    level fit once started from the least-squares line of every pixel, which the block bent
    to a gain near 0: the copy was levelled to about one grey, and the comparison told
    little of either picture (seed 1's band: 11% of the cells disagreeing, the rest 8.8
    levels apart). Started from the copy's own levels, the block is the disagreement (a
    third of the rows) and the rest agrees."""
    original = flat_shapes(seed)
    for edit in (middle_band, text_overlay):
        found = pixels.compare(original, jpeg(edit(original), 75), np.eye(3))
        assert 0.3 <= found.overlay_share <= 0.4, edit.__name__
        assert found.difference < 1, edit.__name__


def test_unrelated_flat_pictures_are_not_levelled_into_agreement() -> None:
    """Two unrelated pictures of a few flat shapes laid on each other: a least-squares level
    fit of one onto the other has a gain near 0 (nothing of one explains the other), which
    levelled the second to about one grey, within a few levels of the first's cells (0.3 to
    0.5 apart). The gain is now held within GAIN_LIMIT of a copy's, and the pictures stay
    apart where they differ."""
    for seed in (1, 2, 3):
        found = pixels.compare(flat_shapes(seed), flat_shapes(seed + 10), np.eye(3))
        assert found.difference >= 2, seed


def _saturated(image: Image.Image) -> Image.Image:
    return ImageEnhance.Color(image).enhance(1.6)


@pytest.mark.parametrize("kind", ["scene", "flat"])
@pytest.mark.parametrize("edit", [warm_filter, faded_filter, _saturated, vignette])
def test_copies_through_a_social_media_apps_filters_are_found(
    kind: str, edit: Callable[[Image.Image], Image.Image]
) -> None:
    """An app's filters: tone curves per channel that bend with brightness (a warm one, a
    faded one with teal shadows), saturation raised by 60%, a vignette. One gain and offset
    of grey cannot undo a curve, but the cells stay within the comparison's limit. Found
    either way, on a photo-like scene and on a picture of flat shapes alike, and not called
    `overlaid`: where a vignette's corners or a curve's shadows pass the limit, the copy's
    content still follows the original's (until session 53 the vignette and the warm filter
    were named `overlaid` here)."""
    picture = scene(2, (1024, 768)) if kind == "scene" else flat_shapes(2)
    copy = jpeg(edit(picture), 80)
    for relation in (_relate(picture, copy), _relate(copy, picture)):
        assert relation.same_photo
        assert "overlaid" not in relation.kinds


def _box(image: Image.Image, alpha: int) -> Image.Image:
    """A box over the bottom 30% of ``image``, plain light grey (``alpha`` 255) or a dark
    translucent one, with nothing written on it."""
    fill = (200, 200, 200, 255) if alpha == 255 else (0, 0, 0, alpha)
    return translucent(image, lambda draw, w, h: draw.rectangle((0, int(0.7 * h), w, h), fill))


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_vignette_shades_the_picture_and_a_box_is_drawn_over_it(seed: int) -> None:
    """Naming, not acceptance: the corners of a vignette over a picture of flat shapes pass
    the cells' limit as a box over its bottom does (seeds 4-6: 12-20% of the cells). The box
    replaces the picture's content and its edge steps past the limit from one cell to the
    next; the vignette keeps the content and deepens by degrees, also across the shapes'
    own edges. Before session 53 any cells past the limit made an overlay: seven of these
    eight vignettes were `overlaid`, and 41 of the bench's 51 (docs/reuse.md)."""
    picture = flat_shapes(seed)
    shaded = pixels.compare(picture, jpeg(vignette(picture), 80), np.eye(3))
    assert not shaded.overlaid
    for alpha in (255, 160):
        boxed = pixels.compare(picture, jpeg(_box(picture, alpha), 80), np.eye(3))
        assert boxed.overlaid, alpha
        assert boxed.drawn_cells >= pixels.OVERLAY_MIN


def test_a_copy_under_a_stock_agencys_tiled_watermark_is_found() -> None:
    """A stock agency's preview: its name tiled over the whole picture, turned 30 degrees,
    at 110 of 255. A textured picture keeps features of its own through it, either way."""
    for seed in (2, 5):
        picture = scene(seed, (1280, 800))
        preview = jpeg(tiled_watermark(picture), 80)
        assert _relate(picture, preview).same_photo, seed
        assert _relate(preview, picture).same_photo, seed


def test_different_textured_pictures_under_one_tiled_watermark_are_not_joined() -> None:
    """Previews of three different photo-like pictures under one agency's tiled mark: the
    mark's keypoints match, but the pictures' own features outnumber them and disagree."""
    previews = [jpeg(tiled_watermark(scene(seed, (1280, 800))), 80) for seed in (1, 2, 3)]
    for first, second in itertools.combinations(previews, 2):
        assert not _relate(first, second).same_photo


@pytest.mark.parametrize("seeds", [(1, 2), (3, 4), (5, 6)])
def test_different_colourful_low_texture_pictures_under_one_tiled_watermark_are_not_joined(
    seeds: tuple[int, int],
) -> None:
    """Two pictures of a few flat shapes carry almost no keypoints of their own, so the
    mark's letters make the fit, over the whole frame; levelled to grey, the two agree
    within 24 levels in most cells (pink on red against red on purple), and until session
    52 were joined (41 of 45 pairs of ten such pictures). Their chroma, levelled as the grey
    is, disagrees over most of the picture (70% or more of the cells for these seeds)."""
    first, second = (jpeg(tiled_watermark(flat_shapes(seed)), 80) for seed in seeds)
    assert not _relate(first, second).same_photo


@pytest.mark.xfail(
    strict=True,
    reason="one tiled watermark over two grey low-texture pictures joins them (docs/reuse.md)",
)
def test_different_grey_low_texture_pictures_under_one_tiled_watermark_are_not_joined() -> None:
    """Known limit: two grey pictures of a few flat shapes under the mark have no colour to
    tell them apart, and their grey agrees in most cells once levelled."""
    first, second = (jpeg(tiled_watermark(_grey(flat_shapes(seed))), 80) for seed in (1, 2))
    assert not _relate(first, second).same_photo


def _recoloured(image: Image.Image, edit: str) -> Image.Image:
    """A copy whose colour was changed the ways reposts change it: made grey, toned sepia,
    washed out (saturation at 30%), or its hues turned by 15 degrees."""
    if edit == "grey":
        return _grey(image)
    if edit == "sepia":
        grey = np.asarray(image.convert("L"), dtype=np.float32)[..., None]
        toned = grey * np.array([1.07, 0.95, 0.75]) + np.array([20, 8, 0])
        return Image.fromarray(np.clip(toned, 0, 255).astype(np.uint8), "RGB")
    if edit == "washed out":
        return ImageEnhance.Color(image).enhance(0.3)
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + round(15 / 360 * 256)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


@pytest.mark.parametrize("kind", ["scene", "flat"])
@pytest.mark.parametrize("edit", ["grey", "sepia", "washed out", "hues turned"])
def test_copies_whose_colour_was_changed_are_found(kind: str, edit: str) -> None:
    """Rule 5 compares chroma only where both pictures have enough of it, within a gain of
    each other: a grey, sepia or washed-out copy keeps too little of the original's colour
    to compare, and is judged on its grey as before; hues turned a little stay within the
    cells' limit. Found either way, on a photo-like scene and a picture of flat shapes."""
    picture = scene(2, (1024, 768)) if kind == "scene" else flat_shapes(2)
    copy = jpeg(_recoloured(picture, edit), 80)
    assert _relate(picture, copy).same_photo
    assert _relate(copy, picture).same_photo


def test_a_sliver_of_overlap_is_compared_in_no_cell() -> None:
    """The copy laid over only the original's last 40 pixel columns (a sliver narrower than
    most of a cell): no cell takes part, in grey or in colour, and nothing is said."""
    picture = flat_shapes(1)
    shifted = np.array([[1.0, 0.0, picture.width - 40], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    found = pixels.compare(picture, flat_shapes(2), shifted)
    assert found.overlay_share == 0
    assert found.difference == 255
    assert found.colour_share is None


def test_colour_tells_apart_what_grey_cannot() -> None:
    """A picture and the same shapes with their colours turned to the opposite hues (CIELAB
    a* and b* negated, the lightness kept): the grey agrees everywhere, the chroma nowhere
    the picture has colour. A grey copy has no chroma to compare."""
    picture = flat_shapes(3)
    lab = cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2Lab).astype(np.int16)
    lab[..., 1:] = 256 - lab[..., 1:]
    opposite = Image.fromarray(
        cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_Lab2RGB), "RGB"
    )
    found = pixels.compare(picture, opposite, np.eye(3))
    assert found.overlay_share <= 0.1
    assert found.colour_share is not None
    assert found.colour_share > 0.5
    same = pixels.compare(picture, jpeg(picture, 80), np.eye(3))
    assert same.colour_share == 0
    assert pixels.compare(picture, _grey(picture), np.eye(3)).colour_share is None


def _sole_cluster(catalogue: Catalogue, folder: Path) -> set[str]:
    """Ingest ``folder``; the names of the files in the one cluster of reused photos."""
    catalogue.ingest([folder])
    [cluster] = catalogue.reused_photos()
    names = {hashlib.sha256(path.read_bytes()).hexdigest(): path.name for path in folder.iterdir()}
    return {names[member.sha256] for member in cluster.members}


def test_a_catalogue_keeps_watermarked_previews_apart_and_joins_a_previews_copy(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """Through ingest: one stock agency's previews of three different colourful pictures of
    flat shapes (its tiled mark over each), and a smaller, re-encoded copy of one preview.
    Joined pairs chain in the report's clusters, so one wrong pair would make a photo of
    several pictures; there is one cluster, of that preview and its copy."""
    for seed in (1, 3, 5):
        jpeg(tiled_watermark(flat_shapes(seed)), 85).save(tmp_path / f"preview-{seed}.png")
    shot = Image.open(tmp_path / "preview-3.png")
    jpeg(shot.resize((shot.width // 2, shot.height // 2)), 70).save(tmp_path / "copy.jpg")
    assert _sole_cluster(catalogue, tmp_path) == {"preview-3.png", "copy.jpg"}


def test_a_catalogue_keeps_framed_pictures_apart_and_joins_a_framed_copy(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """Through ingest: three different pictures in one template's border, and a smaller,
    re-encoded copy of one of them; one cluster, of that picture and its copy."""
    frame = gravel(7)
    for seed in (1, 4, 6):
        in_frame(flat_shapes(seed), frame).save(tmp_path / f"framed-{seed}.png")
    shot = Image.open(tmp_path / "framed-4.png")
    jpeg(shot.resize((shot.width // 2, shot.height // 2)), 70).save(tmp_path / "copy.jpg")
    assert _sole_cluster(catalogue, tmp_path) == {"framed-4.png", "copy.jpg"}


def _planted(
    places: np.ndarray, descriptors: np.ndarray, size: tuple[int, int], step: float | None = None
) -> Features:
    return Features(
        keypoints=np.asarray(places, dtype=np.float32),
        descriptors=np.ascontiguousarray(descriptors, dtype=np.uint8),
        width=size[0],
        height=size[1],
        step=step,
    )


@pytest.mark.parametrize(
    ("places", "spread", "joined"), [(8, 24.0, False), (16, 24.0, True), (8, 1.0, True)]
)
def test_matches_bundled_on_a_few_keypoints_are_a_few_correspondences(
    places: int, spread: float, joined: bool
) -> None:
    """The ratio test lets several of b's keypoints take one of a's: the strokes of a
    banner's lettering took 5 keypoints of a KDE wallpaper 15 times, in a fit that shrank the
    other wallpaper six times into a patch of it, and the two were joined. Four keypoints
    of b spread over 24 pixels on each of 8 places of a patch of a, magnified 6 times, fit
    within RANSAC's tolerance (4 pixels of a): 32 inliers, 8 correspondences, not the 15 a
    copy needs; on 16 places they are enough. Four keypoints at one place of b (one
    structure found on several pyramid levels) count as a's own such keypoints would."""
    rng = np.random.default_rng(places)
    size, scale = (640, 480), 6.0
    window = np.array(size) / scale
    spread_out = rng.uniform(0, 1, (300, 2)) * size
    patch = rng.uniform(0.05, 0.95, (places, 2)) * window + (200, 150)
    descriptors = rng.integers(0, 256, (300 + places, 32))
    a = _planted(np.vstack([spread_out, patch]), descriptors, size)
    offsets = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]) * spread
    points = ((patch - (200, 150)) * scale)[:, None, :] + offsets[None, :, :]
    b = _planted(points.reshape(-1, 2), np.repeat(descriptors[300:], 4, axis=0), size)
    relation = verify(a, b)
    assert relation.inliers == 4 * places
    assert relation.same_photo is joined


@pytest.mark.parametrize(("scale", "joined"), [(5.0, True), (10.0, False)])
def test_a_fit_magnified_beyond_orbs_pyramid_is_refused(scale: float, joined: bool) -> None:
    """ORB finds a keypoint on one of 12 pyramid levels 1.2 apart: features of a copy
    magnified past their span (about 7.4 times, in the pictures ORB ran on) cannot be the
    same structures at the same size. 30 features of a patch of a, found again over the
    whole of b (the same size as a) at 10 times, are refused; at 5 times they are a crop.
    Two KDE wallpapers were joined on a fit of 17 times into a 70 x 49 pixel patch."""
    rng = np.random.default_rng(7)
    size = (1000, 750)
    spread = rng.uniform(0, 1, (400, 2)) * size
    patch = rng.uniform(0, 1, (30, 2)) * np.array(size) / scale + (300, 200)
    a_descriptors = rng.integers(0, 256, (430, 32))
    a = _planted(np.vstack([spread, patch]), a_descriptors, size)
    b = _planted((patch - (300, 200)) * scale, a_descriptors[400:], size)
    relation = verify(a, b)
    assert relation.same_photo is joined
    assert bridgeable(a, b, scale) is joined
    # Resizing a whole picture changes nothing: both are described at the same size.
    small = _planted(b.keypoints / 4, b.descriptors, (250, 188))
    assert bridgeable(a, small, scale / 4) is joined
    # Features of a part (the second look's) are described at that part's size: half of b
    # described as a whole picture is, its content at half the scale in b's pixels.
    part = _planted(b.keypoints, b.descriptors, size, step=b.described_step / 2)
    assert bridgeable(a, part, scale / 2) is joined
    assert not bridgeable(a, part, 2 * scale)


def test_features_say_the_size_they_were_described_at() -> None:
    """A whole picture is described at FEATURE_SIDE on its longer side; stored features are."""
    features = extract(scene(821, (1200, 800)))
    assert features.step is None
    assert features.described_step == 1200 / FEATURE_SIDE
    stored = Features.from_bytes(features.to_bytes())
    assert stored.described_step == features.described_step
    assert pytest.approx(1.2**11) == PYRAMID_SPAN

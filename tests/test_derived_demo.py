"""The synthetic reuse demonstration: scripts/derive_copies.py, its copies and ground truth."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from provcat.catalogue import Catalogue
from provcat.manifest import load_manifest
from provcat.metadata import read_metadata

from .paths import CATALOGUE_DIR, MONTENEGRO, REPO

DEMO = CATALOGUE_DIR / "montenegro-reuse-demo"
SCRIPT = REPO / "scripts" / "derive_copies.py"
KINDS = ("reencoded", "resized", "cropped", "mirrored", "rotated", "overlaid", "padded")
INSTRUCTIONS = (
    "SYNTHETIC DEMONSTRATION derived by provcat scripts/derive_copies.py from a stand-in; "
    "not a real publication"
)
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"
#: JPEG ringing spreads an edge over its 8x8 block (16x16 with chroma subsampling).
RING = 16


def _expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEMO / "expected.json").read_text(encoding="utf-8"))
    return data


COPIES: list[dict[str, Any]] = _expected()["copies"]


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _source(copy: dict[str, Any]) -> Image.Image:
    return _rgb(MONTENEGRO / "images" / copy["source"])


def _rebuild(copy: dict[str, Any], *, mirror: bool | None = None, shift: int = 0) -> np.ndarray:
    """The picture part of a copy rebuilt from its source by the edits expected.json lists.

    ``mirror`` overrides whether to mirror; ``shift`` moves the crop window right (pixels), to
    show that a wrong box is told apart from the right one.
    """
    source = _source(copy)
    box = copy["crop_box"] or [0, 0, source.width, source.height]
    left, top, right, bottom = box
    picture = source.crop((left + shift, top, right + shift, bottom))
    if copy["mirrored_before_resize"] if mirror is None else mirror:
        picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    x0, y0, x1, y1 = copy["content_box"]
    if picture.size != (x1 - x0, y1 - y0):
        picture = picture.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
    return np.asarray(picture, dtype=np.float64)


def _content(copy: dict[str, Any]) -> np.ndarray:
    x0, y0, x1, y1 = copy["content_box"]
    image = _rgb(DEMO / copy["file"])
    return np.asarray(image.crop((x0, y0, x1, y1)), dtype=np.float64)


def _clean_mask(copy: dict[str, Any], margin: int = RING) -> np.ndarray:
    """True over the picture away from its edges and from every overlay (picture coordinates)."""
    x0, y0, x1, y1 = copy["content_box"]
    mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    width, height = copy["size"]
    # Only edges that border padding ring; the copy's own frame edge does not.
    mask[
        margin if y0 > 0 else 0 : (y1 - y0) - (margin if y1 < height else 0),
        margin if x0 > 0 else 0 : (x1 - x0) - (margin if x1 < width else 0),
    ] = True
    for left, top, right, bottom in copy["overlays"]:
        mask[
            max(0, top - y0 - margin) : bottom - y0 + margin,
            max(0, left - x0 - margin) : right - x0 + margin,
        ] = False
    return mask


def _mad(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(a - b)[mask].mean())


@pytest.fixture(scope="module")
def rerun(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The record folder the script writes when run again, into a temporary folder."""
    out = tmp_path_factory.mktemp("derived")
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    return out


def test_script_reproduces_committed_files_byte_for_byte(rerun: Path) -> None:
    made = sorted(p.relative_to(rerun).as_posix() for p in rerun.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(DEMO).as_posix() for p in DEMO.rglob("*") if p.is_file())
    assert made == committed
    assert len(made) == 7
    for name in made:
        assert (rerun / name).read_bytes() == (DEMO / name).read_bytes(), name


def test_manifest_loads_and_every_file_exists() -> None:
    manifest = load_manifest(DEMO / "manifest.toml")
    original = load_manifest(MONTENEGRO / "manifest.toml")
    assert manifest.article.id == "montenegro-reuse-demo"
    assert manifest.article.url is None
    assert manifest.article.publisher == "provcat demonstration (synthetic)"
    assert original.article.published_until is not None
    assert manifest.article.published is not None
    assert manifest.article.published > original.article.published_until
    assert manifest.article.note is not None
    assert "no such publication exists" in manifest.article.note
    assert manifest.people == ()
    assert len(manifest.images) == 5
    for image in manifest.images:
        assert (DEMO / image.file).is_file(), image.file
        assert image.stand_in
        assert image.people == ()
        assert image.note is not None
        assert image.note.startswith("SYNTHETIC derived copy of ")
        (printing,) = image.printings
        assert printing.caption is not None
        assert printing.caption.startswith("Synthetic demo caption")
    credits = sorted(i.printings[0].credit or "" for i in manifest.images)
    assert credits == ["Sky News"] + ["provcat demonstration (synthetic)"] * 4


def test_two_copies_are_recaptioned_differently_from_the_original() -> None:
    manifest = load_manifest(DEMO / "manifest.toml")
    original = load_manifest(MONTENEGRO / "manifest.toml")
    by_file = {c["file"]: c["source"] for c in COPIES}
    printed = {
        image.file.name: {p.caption for p in image.printings if p.caption}
        for image in original.images
    }
    recaptioned = [
        image
        for image in manifest.images
        if "recaptioned" in (image.printings[0].caption or "")
        and printed[by_file[image.file.as_posix()]]
    ]
    assert len(recaptioned) == 2
    for image in recaptioned:
        assert image.printings[0].caption not in printed[by_file[image.file.as_posix()]]


def test_expected_lists_every_manifest_image_with_valid_kinds() -> None:
    manifest = load_manifest(DEMO / "manifest.toml")
    assert [c["file"] for c in COPIES] == [i.file.as_posix() for i in manifest.images]
    assert _expected()["kinds_vocabulary"] == list(KINDS)
    for copy in COPIES:
        kinds = copy["kinds"]
        assert kinds, copy["file"]
        assert kinds == [k for k in KINDS if k in kinds], "kinds in vocabulary order, no repeats"
        source_path = MONTENEGRO / "images" / copy["source"]
        assert hashlib.sha256(source_path.read_bytes()).hexdigest() == copy["source_sha256"]
        box = copy["crop_box"]
        assert (box is not None) == ("cropped" in kinds)
        if box is not None:
            with Image.open(source_path) as source:
                width, height = source.size
            left, top, right, bottom = box
            assert 0 <= left < right <= width
            assert 0 <= top < bottom <= height
            assert (right - left) * (bottom - top) < width * height


def test_kinds_agree_with_the_recorded_geometry() -> None:
    for copy in COPIES:
        kinds = set(copy["kinds"])
        blank = io.BytesIO()
        Image.new("RGB", (8, 8)).save(blank, "JPEG", quality=copy["quality"])
        with (
            Image.open(DEMO / copy["file"]) as image,
            Image.open(MONTENEGRO / "images" / copy["source"]) as source,
            Image.open(blank) as reference,
        ):
            assert isinstance(image, JpegImageFile)
            assert isinstance(source, JpegImageFile)
            assert isinstance(reference, JpegImageFile)
            assert list(image.size) == copy["size"]
            # Quantisation tables tell which quality a JPEG was saved at.
            assert image.quantization != source.quantization
            assert image.quantization == reference.quantization
            shown = source.size
        x0, y0, x1, y1 = copy["content_box"]
        if copy["crop_box"]:
            left, top, right, bottom = copy["crop_box"]
            shown = (right - left, bottom - top)
        assert ("resized" in kinds) == ((x1 - x0, y1 - y0) != shown)
        assert ("padded" in kinds) == ([x0, y0, x1, y1] != [0, 0, *copy["size"]])
        assert ("overlaid" in kinds) == bool(copy["overlays"])
        assert ("mirrored" in kinds) == copy["mirrored_before_resize"]
        assert "reencoded" in kinds
        assert "rotated" not in kinds
        for left, top, right, bottom in copy["overlays"]:
            assert x0 <= left < right <= x1
            assert y0 <= top < bottom <= y1


@pytest.mark.parametrize("copy", COPIES, ids=[c["file"] for c in COPIES])
def test_picture_is_the_source_under_the_recorded_edits(copy: dict[str, Any]) -> None:
    content, mask = _content(copy), _clean_mask(copy)
    assert mask.mean() > 0.5
    close = _mad(content, _rebuild(copy), mask)
    assert close < 6.0, close
    # A window one pixel off is clearly worse: the recorded box is exact, not merely near.
    assert _mad(content, _rebuild(copy, shift=1), mask) > 1.5 * close + 1
    # So is the picture with the mirroring recorded the wrong way round.
    wrong = not copy["mirrored_before_resize"]
    assert _mad(content, _rebuild(copy, mirror=wrong), mask) > 2 * close + 4


@pytest.mark.parametrize(
    "copy", [c for c in COPIES if c["overlays"]], ids=[c["file"] for c in COPIES if c["overlays"]]
)
def test_overlays_cover_the_picture_where_recorded(copy: dict[str, Any]) -> None:
    diff = np.abs(_content(copy) - _rebuild(copy)).mean(axis=2)
    x0, y0, _x1, _y1 = copy["content_box"]
    for box in copy["overlays"]:
        left, top, right, bottom = box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0
        # Each edge: the 2 px just inside are the mark, the picture 2-6 px outside is untouched,
        # so a box off by more than 2 px on any side fails.
        edges = {
            "top": (
                diff[top : top + 2, left:right],
                diff[max(0, top - 6) : max(0, top - 2), left:right],
            ),
            "bottom": (
                diff[bottom - 2 : bottom, left:right],
                diff[bottom + 2 : bottom + 6, left:right],
            ),
            "left": (
                diff[top:bottom, left : left + 2],
                diff[top:bottom, max(0, left - 6) : max(0, left - 2)],
            ),
            "right": (diff[top:bottom, right - 2 : right], diff[top:bottom, right + 2 : right + 6]),
        }
        for edge, (inside, outside) in edges.items():
            assert float(inside.mean()) > 25, (box, edge)
            if outside.size:
                assert float(outside.mean()) < 10, (box, edge)


def test_mirrored_copy_mirrored_back_matches_the_source() -> None:
    (copy,) = [c for c in COPIES if "mirrored" in c["kinds"]]
    source = np.asarray(_source(copy), dtype=np.float64)
    back = _rgb(DEMO / copy["file"]).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    back_pixels = np.asarray(back.resize((640, 427), Image.Resampling.LANCZOS), dtype=np.float64)
    mask = np.ones(source.shape[:2], dtype=bool)
    scale = 640 / copy["size"][0]
    for left, top, right, bottom in copy["overlays"]:
        # The label sits in the copy's frame: mirror its box back too.
        width = copy["size"][0]
        mask[
            round(top * scale) - RING : round(bottom * scale) + RING,
            max(0, round((width - right) * scale) - RING) : round((width - left) * scale) + RING,
        ] = False
    matched = _mad(back_pixels, source, mask)
    unmirrored = _rgb(DEMO / copy["file"]).resize((640, 427), Image.Resampling.LANCZOS)
    assert matched < 8.0, matched
    assert _mad(np.asarray(unmirrored, dtype=np.float64), source, mask) > 2 * matched + 4


@pytest.mark.parametrize(
    "copy", [c for c in COPIES if "padded" in c["kinds"]], ids=lambda c: str(c["file"])
)
def test_padding_is_black_bars(copy: dict[str, Any]) -> None:
    pixels = np.asarray(_rgb(DEMO / copy["file"]), dtype=np.float64).max(axis=2)
    x0, y0, x1, _y1 = copy["content_box"]
    # The bars above the highest overlay (a banner may run across them) are plain black; the
    # bar below the picture may carry a label, so it is not checked here.
    floor = min([top for _l, top, _r, _b in copy["overlays"]] or [pixels.shape[0]])
    bars = [
        pixels[: max(0, y0 - RING), :],
        pixels[:floor, : max(0, x0 - RING)],
        pixels[:floor, x1 + RING :],
    ]
    bars = [bar for bar in bars if bar.size]
    assert bars
    for bar in bars:
        assert float(np.percentile(bar, 99)) < 12


def test_letterbox_label_is_in_the_padding_only() -> None:
    (copy,) = [c for c in COPIES if c["file"] == "images/letterboxed-social.jpg"]
    assert copy["overlays"] == []
    pixels = np.asarray(_rgb(DEMO / copy["file"]), dtype=np.float64).max(axis=2)
    bottom_bar = pixels[copy["content_box"][3] + RING :, :]
    assert float((bottom_bar > 128).mean()) > 0.01, "the label's words are drawn in the bar"


@pytest.mark.parametrize("copy", COPIES, ids=[c["file"] for c in COPIES])
def test_copy_carries_only_the_synthetic_xmp(copy: dict[str, Any]) -> None:
    path = DEMO / copy["file"]
    assert path.stat().st_size < 80_000
    manifest = load_manifest(DEMO / "manifest.toml")
    (image,) = [i for i in manifest.images if i.file.as_posix() == copy["file"]]
    with Image.open(path) as opened:
        assert "exif" not in opened.info
        assert "icc_profile" not in opened.info
        fields = read_metadata(path, opened)
    assert {(f.standard, f.key, f.value) for f in fields} == {
        ("XMP", "dc:description", image.printings[0].caption),
        ("XMP", "photoshop:Instructions", INSTRUCTIONS),
        ("XMP", "Iptc4xmpExt:DigitalSourceType", COMPOSITE),
    }


def test_demo_record_ingests(catalogue: Catalogue) -> None:
    result = catalogue.ingest([DEMO])
    assert result.rejected == []
    assert (result.articles_added, result.images_added, result.appearances_added) == (1, 5, 5)

"""Derive synthetic "republished copies" of the Montenegro stand-ins, with their ground truth.

Each copy is made from one stand-in in catalogue/montenegro-coup-2017/images by a known chain of
edits (crop, mirror, resize, pad, overlay, JPEG re-encode), is visibly marked as a synthetic
demonstration, and carries only an XMP packet saying so. The script writes the copies, the
manifest that ingests them as the record ``montenegro-reuse-demo``, and expected.json: for each
copy its source, the edits made (the kinds provcat's reuse detection reports) and the crop box.
Nothing here is a real publication.

Usage: ``python scripts/derive_copies.py [--sources DIR] [--out DIR]``. Output is
byte-identical on every run with the same Pillow and the same source files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from provcat.wiremeta import build_xmp

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = ROOT / "catalogue/montenegro-coup-2017/images"
DEFAULT_OUT = ROOT / "catalogue/montenegro-reuse-demo"
ARTICLE_ID = "montenegro-reuse-demo"
SOURCE_ARTICLE_ID = "montenegro-coup-2017"
DEMO_CREDIT = "provcat demonstration (synthetic)"
INSTRUCTIONS = (
    "SYNTHETIC DEMONSTRATION derived by provcat scripts/derive_copies.py from a stand-in; "
    "not a real publication"
)
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"
#: The relation kinds, in the order provcat.reuse reports them.
KINDS = ("reencoded", "resized", "cropped", "mirrored", "rotated", "overlaid", "padded")
Box = tuple[int, int, int, int]
Size = tuple[int, int]
#: The size and JPEG quality of every stand-in (scripts/render_standins.py); checked on read.
SOURCE_SIZE: Size = (640, 427)
SOURCE_QUALITY = 75
RGB = tuple[int, int, int]
#: Draws the copy's marks on the finished canvas; returns the box of every mark it drew.
Decorate = Callable[[Image.Image], list[Box]]


@dataclass(frozen=True)
class Derivation:
    """One derived copy: which stand-in it comes from and the edits that make it.

    The edits run in this order: crop the source to ``crop_box`` (None: keep it whole), mirror
    it left-right, resize it to ``content_size``, paste it at ``origin`` on a black canvas of
    ``canvas_size``, draw the marks, save as JPEG at ``quality``.
    """

    filename: str
    source: str
    crop_box: Box | None
    mirror: bool
    content_size: Size
    canvas_size: Size
    origin: tuple[int, int]
    quality: int
    decorate: Decorate
    caption: str
    credit: str
    summary: str

    @property
    def content_box(self) -> Box:
        """Where the source's picture lies in the copy, in the copy's pixel coordinates."""
        x, y = self.origin
        return (x, y, x + self.content_size[0], y + self.content_size[1])


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_block(
    image: Image.Image,
    corner: tuple[int, int],
    lines: Sequence[str],
    size: int,
    *,
    fill: RGB = (0, 0, 0),
    ink: RGB = (255, 214, 0),
    pad: int = 5,
) -> Box:
    """Draw lines of text on a solid box whose top-left corner is ``corner``; return the box."""
    draw = ImageDraw.Draw(image)
    font = _font(size)
    width = max(round(draw.textlength(line, font=font)) for line in lines)
    step = size + 3
    box = (
        corner[0],
        corner[1],
        corner[0] + width + 2 * pad,
        corner[1] + step * len(lines) + 2 * pad - 3,
    )
    draw.rectangle(box, fill=fill)
    for i, line in enumerate(lines):
        draw.text((corner[0] + pad, corner[1] + pad + i * step), line, font=font, fill=ink)
    # PIL rectangles include their far edge; report the half-open box the pixels occupy.
    return (box[0], box[1], box[2] + 1, box[3] + 1)


def _banner(
    image: Image.Image,
    top: int,
    lines: Sequence[str],
    sizes: Sequence[int],
    *,
    fill: RGB,
    stripe: RGB,
) -> Box:
    """Draw a full-width lower banner from ``top`` down, with an accent stripe; return its box."""
    draw = ImageDraw.Draw(image)
    width, height = image.size
    draw.rectangle((0, top, width - 1, height - 1), fill=fill)
    draw.rectangle((0, top, width - 1, top + 5), fill=stripe)
    y = top + 14
    for line, size in zip(lines, sizes, strict=True):
        draw.text((24, y), line, font=_font(size), fill=(255, 255, 255))
        y += size + 8
    return (0, top, width, height)


def _decorate_broadcast(image: Image.Image) -> list[Box]:
    banner = _banner(
        image,
        image.height - round(0.18 * image.height),
        (
            "SYNTHETIC DEMO - BROADCAST BANNER",
            "derived by provcat from a stand-in; not a broadcast",
        ),
        (28, 17),
        fill=(18, 36, 96),
        stripe=(196, 24, 36),
    )
    draw = ImageDraw.Draw(image)
    # A channel bug over the top-right corner of the picture, as broadcasters put one.
    logo = (700, 16, 769, 49)
    draw.rectangle(logo, fill=(196, 24, 36), outline=(255, 255, 255), width=2)
    draw.text((711, 22), "DEMO", font=_font(18), fill=(255, 255, 255))
    return [banner, (logo[0], logo[1], logo[2] + 1, logo[3] + 1)]


def _decorate_crop_label(image: Image.Image) -> list[Box]:
    return [_text_block(image, (4, 4), ("SYNTHETIC DEMO COPY", "derived from a stand-in"), 12)]


def _decorate_mirror_label(image: Image.Image) -> list[Box]:
    lines = ("SYNTHETIC DEMO: mirrored copy", "derived from a provcat stand-in")
    return [_text_block(image, (14, 14), lines, 12)]


def _decorate_letterbox(image: Image.Image) -> list[Box]:
    # The words go in the bottom bar (added padding), so the picture itself is not overlaid.
    lines = ("SYNTHETIC DEMONSTRATION", "letterboxed copy derived from a provcat stand-in")
    return [_text_block(image, (40, 940), lines, 30, ink=(210, 210, 210))]


def _decorate_crop_banner(image: Image.Image) -> list[Box]:
    banner = _banner(
        image,
        image.height - round(image.height / 5),
        ("SYNTHETIC DEMO - CROPPED + BANNER", "derived by provcat from a stand-in"),
        (22, 16),
        fill=(90, 20, 20),
        stripe=(255, 214, 0),
    )
    return [banner]


DERIVATIONS: tuple[Derivation, ...] = (
    Derivation(
        filename="broadcaster-frame-banner.jpg",
        source="02-surveillance-belgrade-meeting.jpg",
        crop_box=None,
        # 640x427 scaled up to the full height of a 16:9 SD frame (854x480), pillarboxed.
        mirror=False,
        content_size=(719, 480),
        canvas_size=(854, 480),
        origin=(67, 0),
        quality=80,
        decorate=_decorate_broadcast,
        caption="Synthetic demo caption: broadcaster frame of the 'Plotters' stand-in",
        credit="Sky News",
        summary="a pillarboxed 16:9 broadcast frame with a lower-third banner and a corner logo",
    ),
    Derivation(
        filename="cropped-portrait-shishmakov.jpg",
        source="01-portraits-shishmakov-popov.jpg",
        crop_box=(6, 16, 294, 379),
        mirror=False,
        content_size=(288, 363),
        canvas_size=(288, 363),
        origin=(0, 0),
        quality=85,
        decorate=_decorate_crop_label,
        caption=(
            "Synthetic demo caption: the left panel of the 'Accusations' portraits stand-in, "
            "cropped"
        ),
        credit=DEMO_CREDIT,
        summary="a crop of the left portrait panel with a corner label",
    ),
    Derivation(
        filename="mirrored-aggregator.jpg",
        source="02-surveillance-belgrade-meeting.jpg",
        crop_box=None,
        mirror=True,
        content_size=(480, 320),
        canvas_size=(480, 320),
        origin=(0, 0),
        quality=70,
        decorate=_decorate_mirror_label,
        # A recaption: the position cue follows the mirrored picture, unlike the original's.
        caption=(
            "Synthetic demo caption (recaptioned mirrored copy): Shishmakov, right, is pictured "
            "meeting Serbian agent Aleksandar Sindjelic"
        ),
        credit=DEMO_CREDIT,
        summary="a left-right mirror at 75% size with a corner label",
    ),
    Derivation(
        filename="letterboxed-social.jpg",
        source="03-portrait-djukanovic.jpg",
        crop_box=None,
        mirror=False,
        content_size=(1080, 721),
        canvas_size=(1080, 1080),
        origin=(0, 179),
        quality=85,
        decorate=_decorate_letterbox,
        # A recaption with none of the original's words about the plot.
        caption=(
            "Synthetic demo caption (recaptioned social copy): Milo Djukanovic, pictured, "
            "then Prime Minister of Montenegro"
        ),
        credit=DEMO_CREDIT,
        summary="a 1080x1080 square with black bars above and below, label in the bottom bar",
    ),
    Derivation(
        filename="cropped-banner-reencoded.jpg",
        source="04-surveillance-bench.jpg",
        crop_box=(64, 24, 602, 380),
        mirror=False,
        content_size=(538, 356),
        canvas_size=(538, 356),
        origin=(0, 0),
        quality=60,
        decorate=_decorate_crop_banner,
        caption="Synthetic demo caption: cropped copy of the bench stand-in under a banner",
        credit=DEMO_CREDIT,
        summary="a crop keeping 70% of the area, a banner over the bottom fifth",
    ),
)


def _intersect(a: Box, b: Box) -> Box | None:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


def render(derivation: Derivation, source: Image.Image) -> tuple[Image.Image, list[Box]]:
    """Apply a derivation's edits to its decoded source.

    Args:
        derivation: The edits.
        source: The source stand-in, decoded to RGB.

    Returns:
        The copy, and the boxes of its marks that lie over the picture (overlays), clipped to
        the picture, in the copy's coordinates.
    """
    picture = source.crop(derivation.crop_box) if derivation.crop_box else source.copy()
    if derivation.mirror:
        picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if picture.size != derivation.content_size:
        picture = picture.resize(derivation.content_size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", derivation.canvas_size, (0, 0, 0))
    canvas.paste(picture, derivation.origin)
    marks = derivation.decorate(canvas)
    overlays = [box for mark in marks if (box := _intersect(mark, derivation.content_box))]
    return canvas, overlays


def kinds(derivation: Derivation, overlays: Sequence[Box]) -> list[str]:
    """The relation kinds a derivation's edits amount to, in `KINDS` order."""
    crop = derivation.crop_box
    shown = (crop[2] - crop[0], crop[3] - crop[1]) if crop else SOURCE_SIZE
    done = {
        # Every copy is decoded and saved again as JPEG at a quality the source did not have.
        "reencoded": True,
        "resized": derivation.content_size != shown,
        "cropped": crop is not None,
        "mirrored": derivation.mirror,
        "rotated": False,
        "overlaid": bool(overlays),
        "padded": derivation.content_box != (0, 0, *derivation.canvas_size),
    }
    return [kind for kind in KINDS if done[kind]]


def jpeg_bytes(image: Image.Image, quality: int, xmp: bytes) -> bytes:
    """Encode a JPEG carrying only the given XMP packet (no EXIF, no IPTC-IIM, no ICC)."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True, xmp=xmp)
    return buffer.getvalue()


# A JSON array of numbers, null and plain words, as json.dumps(indent=2) spreads it out.
_FLAT_ARRAY = re.compile(r'\[\s*((?:-?\d+|null|"[\w-]*")(?:,\s*(?:-?\d+|null|"[\w-]*"))*)\s*\]')


def _compact_lists(text: str) -> str:
    """Put each flat array of an indented JSON document on one line, for reading boxes."""
    return _FLAT_ARRAY.sub(lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]", text)


def _toml_string(text: str) -> str:
    # A JSON string without ASCII escaping is also a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def manifest_text(derivations: Sequence[Derivation], relations: Sequence[list[str]]) -> str:
    """The TOML manifest of the demonstration record (docs/manifest.md)."""
    out = [
        "# GENERATED by scripts/derive_copies.py: do not edit by hand; run the script instead.",
        "# A SYNTHETIC demonstration record. Every image here is a copy derived by that script",
        "# from the Montenegro stand-ins, and every caption and credit is invented for the",
        "# demonstration. expected.json holds the ground truth of how each copy was made.",
        "",
        "[article]",
        f"id = {_toml_string(ARTICLE_ID)}",
        'title = "Synthetic demonstration: republished copies of the Montenegro stand-ins"',
        f"publisher = {_toml_string(DEMO_CREDIT)}",
        'published = "2017-05"',
        "published_note = "
        + _toml_string(
            "Invented for the demonstration: a date after the original article "
            f"({SOURCE_ARTICLE_ID}, April 2017) so that earliest-appearance ordering has "
            "something to order. Nothing was published on this date."
        ),
        "note = "
        + _toml_string(
            "SYNTHETIC DEMONSTRATION. Every image, caption and credit in this record is "
            "synthetic, made by scripts/derive_copies.py from the stand-in images of the "
            f"{SOURCE_ARTICLE_ID} record; no such publication exists. The copies exercise "
            "reuse detection (crops, resizes, mirrors, banners, letterboxes, re-encodes) and "
            "the caption report; the record makes no claims about the people shown."
        ),
    ]
    for position, (derivation, relation) in enumerate(
        zip(derivations, relations, strict=True), start=1
    ):
        note = (
            f"SYNTHETIC derived copy of {derivation.source} ({', '.join(relation)}): "
            f"{derivation.summary}. Made by scripts/derive_copies.py; not a real publication."
        )
        out += [
            "",
            "[[images]]",
            f"file = {_toml_string('images/' + derivation.filename)}",
            "stand_in = true",
            f"note = {_toml_string(note)}",
            "",
            "  [[images.printings]]",
            f"  position = {position}",
            f"  caption = {_toml_string(derivation.caption)}",
            f"  credit = {_toml_string(derivation.credit)}",
        ]
    return "\n".join(out) + "\n"


def expected_record(
    derivation: Derivation, source_bytes: bytes, relation: list[str], overlays: list[Box]
) -> dict[str, Any]:
    """The ground-truth entry of one copy for expected.json."""
    return {
        "file": f"images/{derivation.filename}",
        "source": derivation.source,
        "source_sha256": hashlib.sha256(source_bytes).hexdigest(),
        "kinds": relation,
        "crop_box": list(derivation.crop_box) if derivation.crop_box else None,
        "mirrored_before_resize": derivation.mirror,
        "size": list(derivation.canvas_size),
        "content_box": list(derivation.content_box),
        "overlays": [list(box) for box in overlays],
        "quality": derivation.quality,
    }


def derive(sources: Path, out: Path) -> list[Path]:
    """Write every copy, the manifest and expected.json into ``out``.

    Args:
        sources: The folder holding the Montenegro stand-ins.
        out: The record's folder; ``images/`` is created in it.

    Returns:
        The files written.

    Raises:
        ValueError: A source is not the 640x427 stand-in the derivations were laid out for.
    """
    (out / "images").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    records: list[dict[str, Any]] = []
    relations: list[list[str]] = []
    for derivation in DERIVATIONS:
        source_bytes = (sources / derivation.source).read_bytes()
        with Image.open(sources / derivation.source) as opened:
            if opened.size != SOURCE_SIZE:
                raise ValueError(f"{derivation.source} is {opened.size}, not {SOURCE_SIZE}")
            # A fresh RGB image: nothing of the source's metadata may travel into the copy.
            source = Image.new("RGB", opened.size)
            source.paste(opened.convert("RGB"))
        copy, overlays = render(derivation, source)
        relation = kinds(derivation, overlays)
        xmp = build_xmp(
            {
                "dc:description": derivation.caption,
                "photoshop:Instructions": INSTRUCTIONS,
                "Iptc4xmpExt:DigitalSourceType": DIGITAL_SOURCE_TYPE,
            }
        )
        path = out / "images" / derivation.filename
        path.write_bytes(jpeg_bytes(copy, derivation.quality, xmp))
        written.append(path)
        relations.append(relation)
        records.append(expected_record(derivation, source_bytes, relation, overlays))
    expected = {
        "note": (
            "Ground truth for the SYNTHETIC copies of this record, written by "
            "scripts/derive_copies.py. Coordinates are pixels, boxes (left, top, right, "
            "bottom) half-open. crop_box: the part of the source the copy shows, in the "
            "source's coordinates, null when it shows all of it. Edits run: crop, mirror "
            "(left-right), resize to the content box's size, paste at the content box on a "
            "black canvas of the given size, draw the marks, save as JPEG. content_box: where "
            "the picture lies in the copy. overlays: marks drawn over the picture, clipped "
            "to it, in the copy's coordinates (marks in added padding are not overlays). "
            "reencoded: saved again as JPEG at a quality other than the source's "
            f"{SOURCE_QUALITY}; true of every copy."
        ),
        "source_article": SOURCE_ARTICLE_ID,
        "source_folder": f"../{SOURCE_ARTICLE_ID}/images",
        "kinds_vocabulary": list(KINDS),
        "copies": records,
    }
    expected_path = out / "expected.json"
    expected_path.write_text(_compact_lists(json.dumps(expected, indent=2)) + "\n", "utf-8")
    manifest_path = out / "manifest.toml"
    manifest_path.write_text(manifest_text(DERIVATIONS, relations), encoding="utf-8")
    return [*written, expected_path, manifest_path]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--sources`` and ``--out`` and derive the copies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES, help="stand-in folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output record folder")
    args = parser.parse_args(argv)
    for path in derive(args.sources, args.out):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

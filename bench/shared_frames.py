"""Benchmark: different pictures in one template, and copies under overlays, on a folder.

Run: .venv/bin/python bench/shared_frames.py --photos DIR [--limit N]

A template (a textured border, a social-media card) around two different pictures matches
frame onto frame on the template alone; an overlay (a banner, a band of text, a logo) on a
copy hides part of the same picture. Verification must refuse the first and keep the second
(``provcat.reuse.verify``: the inliers must reach the middle). For the pictures of DIR (every
file Pillow opens, each read at most 1,920 pixels on a side), this prints:

- every pair of two of them, each resized to 1280 x 800 so that one template fits both, in
  one textured border of 9% and of 15% of each side (scikit-image's brick, gravel and grass
  textures, and the test suite's generated grain), on one social-media card (the test
  suite's fixture) and under one watermark over the whole picture (a stock agency's name
  tiled and turned, as on its previews; an agency's name in four rows): how many pairs
  verification joins, with both pictures' pixels;
- edited copies of each (JPEG q10 and q5; a banner over the bottom fifth, at q85 and q20;
  halved at q15; mirrored at q10; big text over the top third; a band of text across the
  middle third; a logo in the centre; a stamp; the two watermarks; a social-media app's
  warm and faded filters, whose tone curves bend with brightness; saturation raised; a
  vignette): how many it finds, and how many of those it names `overlaid` (an overlay
  should be; a filter or a vignette, which shades the picture, should not).

The pictures are the measure (docs/reuse.md names the ones used).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from first_look import pictures_in
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from provcat.reuse.features import extract, mirrored
from provcat.reuse.verify import Relation, verify

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.imagegen import gravel
from tests.reuse_fixtures import (
    banner,
    faded_filter,
    in_frame,
    jpeg,
    middle_band,
    social_card,
    text_overlay,
    tiled_watermark,
    translucent,
    vignette,
    warm_filter,
)

SIZE = (1280, 800)


def related(first: Image.Image, second: Image.Image) -> Relation:
    """verify's answer with both pictures' pixels (and the second's mirror image)."""
    return verify(
        extract(first), extract(second),
        a_pixels=first, b_pixels=second, b_mirrored=mirrored(second),
    )  # fmt: skip


def textures() -> dict[str, Image.Image]:
    """scikit-image's brick, gravel and grass (when it is installed), and a generated grain."""
    found = {"generated grain": gravel(7, SIZE)}
    try:
        from skimage import data
    except ImportError:
        return found
    for name in ("brick", "gravel", "grass"):
        found[f"scikit-image {name}"] = Image.fromarray(getattr(data, name)()).convert("RGB")
    return found


def centre_logo(image: Image.Image) -> Image.Image:
    """A play button in the centre, an eighth of the shorter side across."""
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    r, cx, cy = min(width, height) // 8, width // 2, height // 2
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(250, 250, 250))
    half = r // 2
    draw.polygon(
        [(cx - half, cy - half), (cx - half, cy + half), (cx + half, cy)], fill=(200, 0, 0)
    )
    return copy


def stamp(image: Image.Image) -> Image.Image:
    """The word FAKE stamped across the picture at 25 degrees, a quarter of its height."""

    def draw(d: ImageDraw.ImageDraw, width: int, height: int) -> None:
        d.text((width // 6, height // 3), "FAKE", fill=(230, 0, 0, 200),
               font=ImageFont.load_default(size=max(10, height // 4)))  # fmt: skip

    return translucent(image, draw, 25)


def watermark(image: Image.Image) -> Image.Image:
    """An agency's name in four translucent rows over the picture."""

    def draw(d: ImageDraw.ImageDraw, width: int, height: int) -> None:
        font = ImageFont.load_default(size=max(10, height // 14))
        for row in range(4):
            d.text((width // 10, height // 10 + row * height // 5), "(c) STOCK AGENCY  " * 2,
                   fill=(255, 255, 255, 90), font=font)  # fmt: skip

    return translucent(image, draw)


def edits(picture: Image.Image) -> dict[str, Image.Image]:
    """The edited copies, each saved as a JPEG."""
    half = picture.resize((picture.width // 2, picture.height // 2))
    return {
        "JPEG q10": jpeg(picture, 10),
        "JPEG q5": jpeg(picture, 5),
        "banner over the bottom fifth": jpeg(banner(picture), 85),
        "banner, q20": jpeg(banner(picture), 20),
        "halved, q15": jpeg(half, 15),
        "mirrored, q10": jpeg(picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 10),
        "text over the top third": jpeg(text_overlay(picture), 60),
        "band of text across the middle": jpeg(middle_band(picture), 75),
        "logo in the centre": jpeg(centre_logo(picture), 75),
        "stamp": jpeg(stamp(picture), 75),
        "watermark": jpeg(watermark(picture), 75),
        "stock agency's tiled watermark": jpeg(tiled_watermark(picture), 80),
        "warm filter (tone curves), q80": jpeg(warm_filter(picture), 80),
        "faded filter (teal shadows), q80": jpeg(faded_filter(picture), 80),
        "saturation +60%, q80": jpeg(ImageEnhance.Color(picture).enhance(1.6), 80),
        "vignette, q80": jpeg(vignette(picture), 80),
        "warm filter and vignette, halved, q70": jpeg(vignette(warm_filter(half)), 70),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="a folder of pictures")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pictures")
    args = parser.parse_args()
    began = time.perf_counter()
    pictures: dict[str, Image.Image] = {}
    for path, pixels in pictures_in(args.photos):
        pixels.thumbnail((1920, 1920))
        pictures[path.name] = pixels
        if args.limit and len(pictures) == args.limit:
            break
    names = sorted(pictures)
    pairs = list(itertools.combinations(names, 2))
    fitted = {name: pictures[name].resize(SIZE) for name in names}
    print(f"{len(names)} pictures, {len(pairs)} pairs of different pictures\n")
    print("| template around two different pictures | pairs | joined |")
    print("|---|---|---|")
    templates: dict[str, Callable[[Image.Image], Image.Image]] = {
        f"{texture_name} border, {share:.0%} of each side": (
            lambda picture, texture=texture, share=share: in_frame(picture, texture, share)
        )
        for texture_name, texture in textures().items()
        for share in (0.09, 0.15)
    }
    templates["social-media card"] = lambda picture: social_card(picture.resize((800, 600)))[0]
    templates["one stock agency's tiled watermark over the whole"] = tiled_watermark
    templates["one agency's rows of text over the whole"] = watermark
    for label, template in templates.items():
        shown = {name: jpeg(template(fitted[name]), 85) for name in names}
        count = sum(related(shown[x], shown[y]).same_photo for x, y in pairs)
        print(f"| {label} | {len(pairs)} | {count} |", flush=True)

    found: Counter[str] = Counter()
    overlaid: Counter[str] = Counter()
    for name in names:
        for edit, copy in edits(pictures[name]).items():
            relation = related(pictures[name], copy)
            found[edit] += relation.same_photo
            overlaid[edit] += "overlaid" in relation.kinds
    print("\n| edited copy | copies | found | named `overlaid` |")
    print("|---|---|---|---|")
    for edit, count in found.items():
        print(f"| {edit} | {len(names)} | {count} | {overlaid[edit]} |")
    print(f"\nWhole run: {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()

"""Benchmark: different pictures kept apart when both sides are copies social media made.

Run: .venv/bin/python bench/unrelated_copies.py --photos DIR [--limit N]

Each picture of DIR (every file Pillow opens, reduced to 2,048 pixels on its longer side, as
a news site's original might be) gets the copies a photo desk meets, made here and seeded:
an app's upload (1,080 pixels on the longer side, JPEG quality 72), a crop (75% x 78% of
the sides, off centre, resized to 1,200, q80), the upload mirrored (q75), the upload under a
broadcaster's red banner with a line of text over its bottom 18% (q78), the upload as WebP
(q60), the upload on a social-media card (the test suite's fixture, PNG) and the upload
through a filter (contrast 1.3, colour 1.5, a slight blur, q70). Then:

- every ordered pair of images of two *different* pictures (the originals and all their
  copies) is verified as a matching turn's first look does (features alone, with the
  second's mirror features), and again with both pictures' pixels where that accepts the
  pair or finds it worth decoding for (``provcat.matching._worth_pixels``); every pair
  joined is printed with its fit (inliers, the scale in pixels and in the pictures ORB
  ran on, what the copy was called);
- every copy is verified against its own original with pixels: found per edit.

The pictures are the measure (docs/reuse.md names those used); nothing here is timed.
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
from collections import Counter
from pathlib import Path

from first_look import pictures_in
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from provcat.matching import _worth_pixels
from provcat.reuse.features import FEATURE_SIDE, Features, extract, mirrored
from provcat.reuse.verify import Relation, verify

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reuse_fixtures import social_card

#: The longer side of an original here, and of an app's upload.
ORIGINAL_SIDE = 2048
UPLOAD_SIDE = 1080


def _saved(image: Image.Image, kind: str, **options: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _resized(image: Image.Image, side: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def _banner(image: Image.Image, name: str) -> Image.Image:
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    draw.rectangle((0, round(height * 0.82), width, height), fill=(180, 10, 20))
    draw.text((20, round(height * 0.86)), f"BREAKING: Sky News - {name}", fill=(255, 255, 255))
    return copy


def copies(picture: Image.Image, name: str) -> dict[str, Image.Image]:
    """The edited copies of ``picture`` (its original excluded)."""
    upload = _saved(_resized(picture, UPLOAD_SIDE), "JPEG", quality=72)
    width, height = picture.size
    crop = picture.crop((round(0.10 * width), round(0.12 * height), round(0.85 * width),
                         round(0.90 * height)))  # fmt: skip
    filtered = ImageEnhance.Color(ImageEnhance.Contrast(upload).enhance(1.3)).enhance(1.5)
    return {
        "upload": upload,
        "crop": _saved(_resized(crop, 1200), "JPEG", quality=80),
        "mirrored": _saved(ImageOps.mirror(upload), "JPEG", quality=75),
        "banner": _saved(_banner(upload, name), "JPEG", quality=78),
        "webp": _saved(upload, "WEBP", quality=60),
        "card": social_card(upload)[0],
        "filter": _saved(filtered.filter(ImageFilter.GaussianBlur(0.6)), "JPEG", quality=70),
    }


def _described(look: Relation, a: Features, b: Features) -> float:
    """The fit's scale in the pictures ORB ran on (each whole picture at FEATURE_SIDE)."""
    a_step = max(a.width, a.height) / FEATURE_SIDE
    b_step = max(b.width, b.height) / FEATURE_SIDE
    return look.scale * a_step / b_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="a folder of pictures")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pictures")
    args = parser.parse_args()
    images: dict[tuple[str, str], Image.Image] = {}
    for number, (path, pixels) in enumerate(pictures_in(args.photos)):
        if args.limit and number >= args.limit:
            break
        original = _resized(pixels, ORIGINAL_SIDE)
        images[path.stem, "original"] = original
        for edit, copy in copies(original, path.stem).items():
            images[path.stem, edit] = copy
    features = {key: (extract(image), mirrored(image)) for key, image in images.items()}
    pictures = sorted({picture for picture, _ in images})
    print(f"{len(pictures)} pictures, {len(images)} images")

    looked = worth = joined_alone = 0
    joined: list[str] = []
    for first, second in itertools.permutations(sorted(images), 2):
        if first[0] == second[0]:
            continue
        a, (b, b_mirror) = features[first][0], features[second]
        look = verify(a, b, b_mirrored=b_mirror)
        looked += 1
        joined_alone += look.same_photo
        if not _worth_pixels(look):
            continue
        worth += 1
        relation = verify(
            a, b, a_pixels=images[first], b_pixels=images[second], b_mirrored=b_mirror
        )
        if relation.same_photo:
            joined.append(
                f"  {first[0]} {first[1]} / {second[0]} {second[1]}: {relation.inliers} inliers, "
                f"scale {relation.scale:.3g} ({_described(relation, a, b):.3g} as described), "
                f"{', '.join(relation.kinds)}"
            )
    print(f"pairs of images of different pictures, each way round: {looked}")
    print(f"  joined from features alone: {joined_alone}")
    print(f"  worth decoding for: {worth}; joined with both pictures' pixels: {len(joined)}")
    print("\n".join(joined))

    found: Counter[str] = Counter()
    edits = sorted({edit for _, edit in images} - {"original"})
    for picture, edit in itertools.product(pictures, edits):
        original, copy = images[picture, "original"], images[picture, edit]
        relation = verify(
            features[picture, "original"][0], features[picture, edit][0],
            a_pixels=original, b_pixels=copy, b_mirrored=features[picture, edit][1],
        )  # fmt: skip
        found[edit] += relation.same_photo
    print(f"copies found against their original (of {len(pictures)}):")
    for edit in edits:
        print(f"  {edit}: {found[edit]}")


if __name__ == "__main__":
    main()

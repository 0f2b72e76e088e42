"""Benchmark: which pairs a matching turn's first look decodes for, on a folder of pictures.

Run: .venv/bin/python bench/first_look.py --photos DIR

A first look (``provcat.matching._first_look``) verifies a pair from features alone and
decodes both files for the pixel checks when features accept it, or when its best fit has as
many inliers as a stretched or keystoned copy needs (``RICH_INLIERS``) at a scale a copy can
have (``provcat.reuse.verify.believable_scale``). This prints, for the pictures of DIR (every
file Pillow opens, not its folders):

- every pair of two of them (unrelated pictures, as far as the folder is a set of distinct
  photographs): how many first looks, as it is and mirrored, fit that many inliers, and at
  what scale, so how many decodes the scale rule spares;
- edited copies of each (made from its working copy, ``provcat.working``, so large pictures
  cost little; each saved as a JPEG at quality 85): stretched 1.25 and 1.4 times, squashed to
  0.8, keystoned by 8 and 15%, cropped to 70% and stretched 1.2 times, each looked at against
  its original as a new image would be: accepted by features, sent to the pixels for its
  inliers (and whether its scale keeps it sent), or not found.

No figure is timed; the pictures are the measure (docs/reuse.md names the ones used).
"""

from __future__ import annotations

import argparse
import io
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from provcat.decode import open_image
from provcat.errors import InputError
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.verify import RICH_INLIERS, Relation, believable_scale, verify
from provcat.working import WorkingCopy


def looks(query: Features, query_mirror: Features, stored: Features) -> tuple[Relation, ...]:
    """The first look's two verifications: the pair in its own order (more pixels first),
    and the stored picture against the query's mirror image."""
    larger = query.width * query.height >= stored.width * stored.height
    a, b = (query, stored) if larger else (stored, query)
    return verify(a, b), verify(stored, query_mirror)


def keystoned(picture: Image.Image, squeeze: float) -> Image.Image:
    """The picture with its top edge narrowed by ``squeeze`` of its width on each side."""
    width, height = picture.size
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    moved = [(squeeze * width, 0), (width - squeeze * width, 0), (width, height), (0, height)]
    rows = []
    for (x, y), (u, v) in zip(corners, moved, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solved = np.linalg.solve(np.array(rows, dtype=float), np.array(moved, dtype=float).ravel())
    return picture.transform(
        (width, height), Image.Transform.PERSPECTIVE, tuple(solved), Image.Resampling.BICUBIC
    )


def edits(picture: Image.Image) -> dict[str, Image.Image]:
    width, height = picture.size
    box = (int(width * 0.15), int(height * 0.15), int(width * 0.85), int(height * 0.85))
    return {
        "stretched 1.25": picture.resize((int(width * 1.25), height)),
        "stretched 1.4": picture.resize((int(width * 1.4), height)),
        "squashed 0.8": picture.resize((width, int(height * 0.8))),
        "keystoned 8%": keystoned(picture, 0.08),
        "keystoned 15%": keystoned(picture, 0.15),
        "cropped 70%, stretched 1.2": picture.crop(box).resize(
            (int(width * 0.7 * 1.2), int(height * 0.7))
        ),
    }


def as_jpeg(picture: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=85)
    buffer.seek(0)
    with Image.open(buffer) as saved:
        return saved.convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="a folder of pictures")
    args = parser.parse_args()
    features: dict[str, tuple[Features, Features]] = {}
    working: dict[str, Image.Image] = {}
    for path in sorted(p for p in args.photos.iterdir() if p.is_file()):
        try:
            pixels = open_image(path).pixels
        except InputError as error:
            print(f"skipped: {error}")
            continue
        copy = WorkingCopy.of(pixels)
        features[path.name] = (extract(pixels, working=copy), mirrored(pixels, working=copy))
        working[path.name] = copy.pixels.copy()

    rich = spared = 0
    scales: list[float] = []
    pairs = list(itertools.combinations(sorted(features), 2))
    for first, second in pairs:
        for look in looks(*features[first], features[second][0]):
            if look.same_photo or look.inliers < RICH_INLIERS:
                continue
            rich += 1
            if not believable_scale(look.scale):
                spared += 1
                scales.append(look.scale)
    print(f"{len(features)} pictures, {len(pairs)} pairs, {2 * len(pairs)} first looks")
    print(f"  not the same photo, {RICH_INLIERS}+ inliers (decoded for before): {rich}")
    print(f"  of those at a scale no copy has (not decoded for now): {spared}")
    if scales:
        inside = [s for s in scales if s > 0]
        smallest = f"{min(inside):.3g}" if inside else "none"
        zero = sum(1 for s in scales if s == 0)
        print(f"  their scales: {zero} at 0; the smallest of the rest {smallest}")

    outcomes: Counter[tuple[str, str]] = Counter()
    for name, picture in working.items():
        for edit, edited in edits(picture).items():
            saved = as_jpeg(edited)
            look = looks(extract(saved), mirrored(saved), features[name][0])[0]
            if look.same_photo:
                outcome = "accepted by features"
            elif look.inliers >= RICH_INLIERS:
                kept = believable_scale(look.scale)
                outcome = "sent for its inliers, " + ("still sent" if kept else "NO LONGER SENT")
            else:
                outcome = "not found"
            outcomes[(edit, outcome)] += 1
    print(f"\n{len(working) * 6} edited copies")
    for (edit, outcome), count in sorted(outcomes.items()):
        print(f"  {edit}: {outcome}: {count}")


if __name__ == "__main__":
    main()

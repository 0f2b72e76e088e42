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
  cost little, with the test suite's fixtures; each saved as a JPEG at quality 85): stretched
  1.25 and 1.4 times, squashed to 0.8, photographed on a screen keystoned by 8 and 15%,
  cropped to 70% on a side and stretched 1.2 times, each looked at against
  its original as a new image would be: accepted by features, sent to the pixels for its
  inliers (and whether its scale keeps it sent), or not found.

No figure is timed; the pictures are the measure (docs/reuse.md names the ones used).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

from provcat.decode import open_image
from provcat.errors import InputError
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.verify import RICH_INLIERS, Relation, believable_scale, verify
from provcat.working import WorkingCopy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reuse_fixtures import crop_area, jpeg, keystone, stretch


def looks(query: Features, query_mirror: Features, stored: Features) -> tuple[Relation, ...]:
    """The first look's two verifications: the pair in its own order (more pixels first),
    and the stored picture against the query's mirror image."""
    larger = query.width * query.height >= stored.width * stored.height
    a, b = (query, stored) if larger else (stored, query)
    return verify(a, b), verify(stored, query_mirror)


def edits(picture: Image.Image) -> dict[str, Image.Image]:
    """The edited copies, from the test suite's fixtures (a keystone is a photograph of the
    picture on a screen: narrowed at the top, on a dark surround, with moire and noise)."""
    cropped, _box = crop_area(picture, 0.49, 0.5, 0.5)
    return {
        "stretched 1.25": stretch(picture, 1.25, 1.0),
        "stretched 1.4": stretch(picture, 1.4, 1.0),
        "squashed 0.8": stretch(picture, 1.0, 0.8),
        "keystoned 8%": keystone(picture, 0.08)[0],
        "keystoned 15%": keystone(picture, 0.15)[0],
        "cropped 70%, stretched 1.2": stretch(cropped, 1.2, 1.0),
    }


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
            saved = jpeg(edited, 85)
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

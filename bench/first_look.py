"""Benchmark: which pairs a matching turn's first look decodes for, on a folder of pictures.

Run: .venv/bin/python bench/first_look.py --photos DIR

A first look (``provcat.matching._first_look``) verifies a pair from features alone and
decodes both files for the pixel checks when features accept it, when its best fit has as
many inliers as a stretched or keystoned copy needs (``RICH_INLIERS``) at a scale a copy can
have (``provcat.reuse.verify.believable_scale``), or when a tentative affine map of a few
matches makes it ``rectifiable`` (a look at the copy's pixels warped into the original's
frame may find it). This prints, for the pictures of DIR (every file Pillow opens, not its
folders):

- every pair of two of them (unrelated pictures, as far as the folder is a set of distinct
  photographs): how many first looks, as it is and mirrored, fit that many inliers, and at
  what scale, so how many decodes the scale rule spares; how many are rectifiable (decoded
  for since the rectified look); and the first looks' time per look with the tentative
  warp's search and without it (``RECTIFY_INLIERS`` out of reach), alternating, in this run;
- edited copies of each (made from its working copy, ``provcat.working``, so large pictures
  cost little, with the test suite's fixtures; each saved as a JPEG at quality 85): stretched
  1.25 and 1.4 times, squashed to 0.8, photographed on a screen keystoned by 8 and 15%,
  cropped to 70% on a side and stretched 1.2 times, each looked at against its original as
  a new image would be: accepted by features, sent to the pixels (for its inliers, or as
  rectifiable) and what verification with both pictures' pixels then says, or not found.

The pictures are the measure (docs/reuse.md names the ones used); the one timing is a ratio
within the run.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from provcat.decode import open_image
from provcat.errors import InputError
from provcat.reuse import verify as verification
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.verify import RICH_INLIERS, Relation, believable_scale, verify
from provcat.working import WorkingCopy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reuse_fixtures import crop_area, jpeg, keystone, stretch


def pictures_in(folder: Path) -> Iterator[tuple[Path, Image.Image]]:
    """Every file of ``folder`` (not its folders) that Pillow opens, in name order, with its
    pixels; a file that does not open is named and skipped."""
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            pixels = open_image(path).pixels
        except InputError as error:
            print(f"skipped: {error}")
            continue
        yield path, pixels


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
    for path, pixels in pictures_in(args.photos):
        copy = WorkingCopy.of(pixels)
        features[path.name] = (extract(pixels, working=copy), mirrored(pixels, working=copy))
        working[path.name] = copy.pixels.copy()

    rich = spared = 0
    rectifiable: list[tuple[str, str]] = []
    scales: list[float] = []
    pairs = list(itertools.combinations(sorted(features), 2))
    for first, second in pairs:
        for look in looks(*features[first], features[second][0]):
            if look.same_photo:
                continue
            if look.rectifiable:
                rectifiable.append((first, second))
            if look.inliers < RICH_INLIERS:
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
    joined = sum(
        _joined(open_image(args.photos / x).pixels, open_image(args.photos / y).pixels)
        for x, y in rectifiable
    )
    print(
        f"  rectifiable (a tentative warp; decoded for since the rectified look): "
        f"{len(rectifiable)}, of which joined with both pictures' pixels: {joined}"
    )
    with_warp, without = _time_looks(features, pairs)
    print(
        f"  first looks: {with_warp * 1e3:.2f} ms a pair with the tentative warp's search, "
        f"{without * 1e3:.2f} without ({with_warp / without:.3f}x), best of 3 alternating"
    )

    outcomes: Counter[tuple[str, str]] = Counter()
    for path in sorted(p for p in args.photos.iterdir() if p.is_file() and p.name in working):
        original = open_image(path).pixels
        for edit, edited in edits(working[path.name]).items():
            saved = jpeg(edited, 85)
            look = looks(extract(saved), mirrored(saved), features[path.name][0])[0]
            if look.same_photo:
                outcome = "accepted by features"
            elif look.inliers >= RICH_INLIERS and believable_scale(look.scale):
                outcome = "sent for its inliers, " + _with_pixels(original, saved)
            elif look.rectifiable:
                outcome = "sent as rectifiable, " + _with_pixels(original, saved)
            else:
                outcome = "not found"
            outcomes[(edit, outcome)] += 1
    print(f"\n{len(working) * 6} edited copies")
    for (edit, outcome), count in sorted(outcomes.items()):
        print(f"  {edit}: {outcome}: {count}")


def _joined(first: Image.Image, second: Image.Image) -> bool:
    """Whether verification with pixels calls two pictures the same photo, either way round
    (a false positive where the folder holds distinct photographs)."""
    return any(
        verify(extract(a), extract(b), a_pixels=a, b_pixels=b, b_mirrored=mirrored(b)).same_photo
        for a, b in ((first, second), (second, first))
    )


def _with_pixels(original: Image.Image, copy: Image.Image) -> str:
    """What verification with both pictures' pixels says of an edited copy sent to them."""
    relation = verify(
        extract(original), extract(copy), a_pixels=original, b_pixels=copy,
        b_mirrored=mirrored(copy),
    )  # fmt: skip
    return f"found ({relation.model})" if relation.same_photo else "refused by the pixels"


def _time_looks(
    features: dict[str, tuple[Features, Features]], pairs: list[tuple[str, str]]
) -> tuple[float, float]:
    """Seconds a pair's first looks take with the tentative warp's search and without it."""
    least = verification.RECTIFY_INLIERS
    best = {True: float("inf"), False: float("inf")}
    try:
        for _round in range(3):
            for search in (True, False):
                verification.RECTIFY_INLIERS = least if search else 1 << 30  # type: ignore[misc]
                start = time.perf_counter()
                for first, second in pairs:
                    looks(*features[first], features[second][0])
                best[search] = min(best[search], (time.perf_counter() - start) / len(pairs))
    finally:
        verification.RECTIFY_INLIERS = least  # type: ignore[misc]
    return best[True], best[False]


if __name__ == "__main__":
    main()

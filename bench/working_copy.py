"""Benchmark: the per-file work on large pictures, resized from a reduced working copy
(provcat.working) against resized from the whole picture, in the same run.

Run: .venv/bin/python bench/working_copy.py [--photos DIR] [--sides 2048,4000,6000] [--repeats 3]

For each picture it prints, on one core: Pillow's decode of the file (the floor), provcat's
whole per-file work (``prepare_file``: safe decode, metadata, three hashes, ORB features) as
it runs now, the hashes and features alone from the working copy and from the whole picture
(a copy of factor (1, 1), which is what provcat did before the copy existed), and how far apart
the two ways' values are: bits of pHash, dHash and PDQ, and the share of the working copy's
keypoints that the whole picture's features have within 2 pixels of the 512-pixel grid with a
descriptor within 16 bits, beside the same share for the whole picture's features of the
picture saved again as JPEG at quality 90 (a re-encode, which every matcher must survive, as a
yardstick), and the inliers provcat's verification finds between the whole picture's
features and each of the two. Medians of ``--repeats`` runs.

The generated pictures are SYNTHETIC (the test suite's scene generator, JPEG quality 90, at
each of ``--sides`` wide, 4:3): smooth shapes and noise, not photographs. ``--photos DIR``
adds every picture under DIR at least 2,048 pixels on its longer side (real photographs are
the measure that counts; docs/scale.md names the ones used).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from provcat.decode import open_image
from provcat.fingerprints import compute
from provcat.prepare import prepare_file
from provcat.reuse.features import Features, extract
from provcat.reuse.verify import verify
from provcat.working import REDUCE_FROM, WorkingCopy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from imagegen import synthetic_photo


def median_ms(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def agreement(ours: Features, whole: Features) -> float:
    """Share of ``ours``' keypoints with one of ``whole``'s close by and alike."""
    if not len(ours.descriptors) or not len(whole.descriptors):
        return float("nan")
    tolerance = 2 * max(ours.width, ours.height) / 512
    near = (
        np.linalg.norm(ours.keypoints[:, None, :] - whole.keypoints[None, :, :], axis=2)
        <= tolerance
    )
    bits = (
        np.unpackbits(ours.descriptors, axis=1)[:, None, :]
        != np.unpackbits(whole.descriptors, axis=1)[None, :, :]
    )
    return float(((bits.sum(axis=2) <= 16) & near).any(axis=1).mean())


def inliers(stored: Features, copy: Features) -> str:
    """What provcat's verification finds between two feature sets of one picture."""
    relation = verify(stored, copy)
    return f"{relation.inliers}{'' if relation.same_photo else ' (not the same photo!)'}"


def generated(sides: list[int], folder: Path) -> list[Path]:
    paths = []
    for side in sides:
        picture = synthetic_photo(side, (320, 240)).resize(
            (side, side * 3 // 4), Image.Resampling.BICUBIC
        )
        noise = np.random.default_rng(side).integers(-6, 7, size=(side * 3 // 4, side, 3))
        noisy = np.clip(np.asarray(picture, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
        path = folder / f"synthetic-{side}.jpg"
        Image.fromarray(noisy).save(path, quality=90)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, help="a folder of real pictures (any depth)")
    parser.add_argument("--sides", default="2048,4000,6000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = generated([int(s) for s in args.sides.split(",") if s], Path(folder))
        if args.photos:
            for path in sorted(args.photos.rglob("*")):
                if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}:
                    with Image.open(path) as image:
                        if max(image.size) >= REDUCE_FROM:
                            paths.append(path)
        print(
            "| picture | size | factor | decode ms | prepare_file ms | hashes+features ms:"
            " working copy | whole picture | ratio | pHash / dHash / PDQ bits apart"
            " | keypoints alike | alike after a re-encode | inliers: working copy | re-encode |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        totals = {"decode": 0.0, "prepare": 0.0, "ours": 0.0, "whole": 0.0}
        apart: list[tuple[int, int, int]] = []
        for path in paths:
            pixels = open_image(path).pixels
            ours = WorkingCopy.of(pixels)
            whole = WorkingCopy.whole(pixels)

            def decode(path: Path = path) -> None:
                with Image.open(path) as image:
                    image.load()

            def both(copy: WorkingCopy) -> tuple[object, Features]:
                # The copy is made again each time: its reduce is part of the work.
                again = WorkingCopy.of(copy.picture) if copy.factor != (1, 1) else copy
                return compute(copy.picture, working=again), extract(copy.picture, working=again)

            times = {
                "decode": median_ms(decode, args.repeats),
                "prepare": median_ms(partial(prepare_file, path), args.repeats),
                "ours": median_ms(partial(both, ours), args.repeats),
                "whole": median_ms(partial(both, whole), args.repeats),
            }
            for key, value in times.items():
                totals[key] += value
            prints, features = compute(pixels, working=ours), extract(pixels, working=ours)
            prints_whole = compute(pixels, working=whole)
            features_whole = extract(pixels, working=whole)
            bits = (
                prints.phash.distance(prints_whole.phash),
                prints.dhash.distance(prints_whole.dhash),
                prints.pdq.distance(prints_whole.pdq),
            )
            apart.append(bits)
            buffer = io.BytesIO()
            pixels.save(buffer, "JPEG", quality=90)
            again = Image.open(buffer).convert("RGB")
            reencoded = extract(again, working=WorkingCopy.whole(again))
            name = str(path.relative_to(args.photos)) if args.photos in path.parents else path.name
            print(
                f"| {name} | {pixels.width} x {pixels.height} | {ours.factor[0]} x {ours.factor[1]}"
                f" | {times['decode']:.1f} | {times['prepare']:.1f} | {times['ours']:.1f}"
                f" | {times['whole']:.1f} | {times['ours'] / times['whole']:.2f}"
                f" | {bits[0]} / {bits[1]} / {bits[2]}"
                f" | {agreement(features, features_whole):.2f}"
                f" | {agreement(reencoded, features_whole):.2f}"
                f" | {inliers(features_whole, features)} | {inliers(features_whole, reencoded)} |",
                flush=True,
            )
        print(
            f"\n{len(paths)} pictures: decode {totals['decode']:.0f} ms, prepare_file"
            f" {totals['prepare']:.0f} ms ({totals['decode'] / totals['prepare']:.2f}x the"
            f" decode), hashes and features {totals['ours']:.0f} ms from the working copy"
            f" against {totals['whole']:.0f} ms from the whole picture"
            f" ({totals['ours'] / totals['whole']:.2f}x)."
        )
        worst = [max(bits[i] for bits in apart) for i in range(3)]
        print(f"Most bits apart: pHash {worst[0]}, dHash {worst[1]}, PDQ {worst[2]}.")


if __name__ == "__main__":
    main()

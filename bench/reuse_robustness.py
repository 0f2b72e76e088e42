"""Reused-photo detection on real photographs: recall per edit, false positives and speed.

Needs the photographs that scikit-image, scikit-learn and matplotlib ship (the ``bench`` extra);
they are read at run time and never stored in the repository. Run from the repository root:

    python3 -m venv /tmp/benchenv
    /tmp/benchenv/bin/pip install -e '.[dev,bench]'
    /tmp/benchenv/bin/python bench/reuse_robustness.py

For every photo and edit the copy is made by code, then judged by provcat
(``provcat.reuse.verify`` with the mirrored features and both images' pixels), by an
imagededup-style baseline (64-bit pHash, distance <= 10), by PDQ alone (<= 31) and by PDQ with
its 8 dihedral variants of the copy (<= 31). "index" is the share of copies whose original is
among the 20 candidates of a ``FeatureIndex`` holding the real photos plus synthetic stored
images up to 10^5 (uniformly random descriptors, 256 per image: the timing is real, the
distractors are easier than real photographs would be). False positives: all pairs of distinct
photos, plus the stereo pair (two views of one scene), each judged both ways round for provcat.
Prints Markdown (docs/reuse.md holds a copy).
"""

from __future__ import annotations

import io
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from provcat.fingerprints import compute, pdq_dihedral
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.index import INDEX_FEATURES, FeatureIndex
from provcat.reuse.verify import verify

PHASH_MAX = 10
PDQ_MAX = 31
STORED = (10_000, 100_000)

Edit = Callable[[Image.Image], Image.Image]


def photos() -> tuple[dict[str, Image.Image], tuple[Image.Image, Image.Image]]:
    """The real photographs, by name, and the stereo pair."""
    import matplotlib
    import skimage.data
    from sklearn.datasets import load_sample_images

    def rgb(array: np.ndarray) -> Image.Image:
        array = np.asarray(array)
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        return Image.fromarray(array[..., :3].astype(np.uint8), "RGB")

    names = [
        "astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "clock", "moon",
        "brick", "grass", "gravel", "page", "text", "hubble_deep_field",
        "immunohistochemistry", "retina", "cell",
    ]  # fmt: skip
    found = {name: rgb(getattr(skimage.data, name)()) for name in names}
    sample = load_sample_images()
    for path, image in zip(sample.filenames, sample.images, strict=True):
        found[Path(path).stem] = rgb(image)
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if hopper.exists():
        found["grace_hopper"] = Image.open(hopper).convert("RGB")
    left, right, _ = skimage.data.stereo_motorcycle()
    found["motorcycle_left"] = rgb(left)
    return found, (rgb(left), rgb(right))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def banner(image: Image.Image) -> Image.Image:
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    top = round(height * 0.8)
    draw.rectangle((0, top, width, height), fill=(180, 16, 24))
    draw.text((12, top + (height - top) // 3), "BREAKING NEWS: MINISTER RESIGNS", fill="white")
    return copy


def border(image: Image.Image) -> Image.Image:
    width, height = image.size
    pad_x, pad_y = round(width * 0.08), round(height * 0.12)
    canvas = Image.new("RGB", (width + 2 * pad_x, height + 2 * pad_y), (0, 0, 0))
    canvas.paste(image, (pad_x, pad_y))
    return canvas


def crop(share: float, fx: float, fy: float) -> Edit:
    def edit(image: Image.Image) -> Image.Image:
        width, height = image.size
        cw, ch = round(width * share**0.5), round(height * share**0.5)
        left, top = round((width - cw) * fx), round((height - ch) * fy)
        return image.crop((left, top, left + cw, top + ch))

    return edit


def half(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)


def rotate(degrees: float) -> Edit:
    return lambda im: im.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)


OFFSETS = ((0.0, 0.0), (0.5, 0.5), (1.0, 0.3))

FAMILIES: dict[str, list[Edit]] = {
    "resize 50%": [half],
    "resize 25%": [
        lambda im: im.resize((im.width // 4, im.height // 4), Image.Resampling.BILINEAR)
    ],
    "JPEG q30": [lambda im: jpeg(im, 30)],
    "JPEG q10": [lambda im: jpeg(im, 10)],
    "brightness +30%": [lambda im: ImageEnhance.Brightness(im).enhance(1.3)],
    "contrast +40%": [lambda im: ImageEnhance.Contrast(im).enhance(1.4)],
    "grayscale": [lambda im: im.convert("L").convert("RGB")],
    "banner bottom 20%": [banner],
    "border (letterbox)": [border],
    "mirror": [ImageOps.mirror],
    "rotate 3 / 5 deg": [rotate(3), rotate(-5)],
    "crop 90%": [crop(0.9, fx, fy) for fx, fy in OFFSETS],
    "crop 70%": [crop(0.7, fx, fy) for fx, fy in OFFSETS],
    "crop 50%": [crop(0.5, fx, fy) for fx, fy in OFFSETS],
    "crop 25%": [crop(0.25, fx, fy) for fx, fy in OFFSETS],
    "crop 70% + banner + q40": [lambda im: jpeg(banner(crop(0.7, 0.3, 0.3)(im)), 40)],
    "mirror + resize 50%": [lambda im: half(ImageOps.mirror(im))],
    "rotate 3 + crop 70%": [lambda im: rotate(3)(crop(0.7, 0.5, 0.5)(im))],
}


class Judges:
    """provcat and the global-hash baselines, with everything computed once per image."""

    def __init__(self, images: dict[str, Image.Image]) -> None:
        self.images = images
        self.features = {name: extract(image) for name, image in images.items()}
        self.prints = {name: compute(image) for name, image in images.items()}

    def judge(self, name: str, copy: Image.Image) -> tuple[bool, bool, bool, bool, Features]:
        copy_features = extract(copy)
        relation = verify(
            self.features[name],
            copy_features,
            a_pixels=self.images[name],
            b_pixels=copy,
            b_mirrored=mirrored(copy),
        )
        original = self.prints[name]
        copy_prints = compute(copy)
        phash = original.phash - copy_prints.phash <= PHASH_MAX
        pdq = original.pdq - copy_prints.pdq <= PDQ_MAX
        dihedral = min(original.pdq - h for h, _ in pdq_dihedral(copy).values()) <= PDQ_MAX
        return relation.same_photo, phash, pdq, dihedral, copy_features


def build_index(real: dict[str, Features], total: int) -> tuple[FeatureIndex, float]:
    """An index of the real photos (ids 0..) and random stored images up to ``total``."""
    index = FeatureIndex()
    rng = np.random.default_rng(7)
    for image_id, features in enumerate(real.values()):
        index.add(image_id, features)
    start = time.perf_counter()
    empty = np.zeros((INDEX_FEATURES, 2), dtype=np.float32)
    for image_id in range(len(real), total):
        descriptors = rng.integers(0, 256, (INDEX_FEATURES, 32), dtype=np.uint8)
        index.add(image_id, Features(empty, descriptors, 640, 480))
    index.candidates(next(iter(real.values())), limit=1)  # seal: the build cost, paid once
    return index, time.perf_counter() - start


def main() -> None:
    images, (left, right) = photos()
    names = list(images)
    start = time.perf_counter()
    for image in images.values():
        extract(image)
    per_second = len(images) / (time.perf_counter() - start)
    judges = Judges(images)
    print(f"{len(names)} photographs: {', '.join(names)}\n", file=sys.stderr)

    copies: dict[str, list[tuple[int, Features, Features]]] = {}
    rows = []
    for family, edits in FAMILIES.items():
        counts = np.zeros(4, dtype=int)
        total = 0
        copies[family] = []
        for image_id, name in enumerate(names):
            for edit in edits:
                copy = edit(images[name])
                *verdicts, copy_features = judges.judge(name, copy)
                counts += np.array(verdicts, dtype=int)
                total += 1
                copies[family].append((image_id, copy_features, mirrored(copy)))
        rows.append((family, total, counts))

    recall_at: dict[int, dict[str, float]] = {}
    timing: dict[int, tuple[float, float]] = {}
    for stored in STORED:
        index, build = build_index(judges.features, stored)
        found: dict[str, float] = {}
        times = []
        for family, queries in copies.items():
            hits = 0
            for image_id, features, mirror in queries:
                begin = time.perf_counter()
                candidates = index.candidates(features, mirrored=mirror, limit=20)
                times.append(time.perf_counter() - begin)
                hits += image_id in {i for i, _ in candidates}
            found[family] = hits / len(queries)
        recall_at[stored] = found
        timing[stored] = (float(np.median(times)) * 1000, build)
        del index

    print(
        "| edit family | copies | provcat | pHash <= 10 | PDQ <= 31 | PDQ dihedral <= 31 "
        "| index top-20 at 10^4 / 10^5 |"
    )
    print("|---|---|---|---|---|---|---|")
    for family, total, counts in rows:
        cells = " | ".join(f"{c / total:.2f}" for c in counts)
        idx = " / ".join(f"{recall_at[s][family]:.2f}" for s in STORED)
        print(f"| {family} | {total} | {cells} | {idx} |")

    pairs = list(itertools.combinations(names, 2))
    false = np.zeros(4, dtype=int)
    worst_inliers = 0
    for x, y in pairs:
        for a, b in ((x, y), (y, x)):
            relation = verify(
                judges.features[a], judges.features[b],
                a_pixels=images[a], b_pixels=images[b], b_mirrored=mirrored(images[b]),
            )  # fmt: skip
            false[0] += relation.same_photo
            worst_inliers = max(worst_inliers, relation.inliers)
        pa, pb = judges.prints[x], judges.prints[y]
        false[1] += pa.phash - pb.phash <= PHASH_MAX
        false[2] += pa.pdq - pb.pdq <= PDQ_MAX
        false[3] += min(pa.pdq - h for h, _ in pdq_dihedral(images[y]).values()) <= PDQ_MAX
    stereo = verify(extract(left), extract(right), a_pixels=left, b_pixels=right,
                    b_mirrored=mirrored(right))  # fmt: skip
    sl, sr = compute(left), compute(right)
    stereo_row = [
        stereo.same_photo,
        sl.phash - sr.phash <= PHASH_MAX,
        sl.pdq - sr.pdq <= PDQ_MAX,
        min(sl.pdq - h for h, _ in pdq_dihedral(right).values()) <= PDQ_MAX,
    ]
    print(
        f"| **false positives**, {len(pairs)} distinct pairs | {len(pairs)} | "
        + " | ".join(str(int(v)) for v in false)
        + " | |"
    )
    print(
        "| **false positives**, stereo pair | 1 | "
        + " | ".join(str(int(v)) for v in stereo_row)
        + " | |"
    )
    print()
    print(
        f"Most RANSAC inliers between distinct photos: {worst_inliers}; stereo pair: "
        f"{stereo.inliers} (coverage/second-motion rules reject both)."
    )
    print(f"Features extracted: {per_second:.0f} images/s (one core, {os.cpu_count()} present).")
    for stored in STORED:
        query, build = timing[stored]
        print(
            f"Index with {stored:,} stored images: query {query:.1f} ms median "
            f"(copy + mirror), build {build:.1f} s."
        )


if __name__ == "__main__":
    main()

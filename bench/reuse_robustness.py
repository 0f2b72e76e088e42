"""Reused-photo detection on real photographs: recall per edit, false positives and speed.

Needs the photographs that scikit-image, scikit-learn and matplotlib ship (the ``bench`` extra);
they are read at run time and never stored in the repository. Run from the repository root:

    python3 -m venv /tmp/benchenv
    /tmp/benchenv/bin/pip install -e '.[dev,bench]'
    /tmp/benchenv/bin/python bench/reuse_robustness.py [--stored 10000,100000]

For every photo and edit the copy is made by code (seeded), then judged by provcat the way
``Matcher.find`` judges a candidate (``provcat.reuse.verify`` with the mirrored features and
both images' pixels; for a low-information pair, the weak global-hash check of
``provcat.reuse.weak`` on PDQ candidates), by an imagededup-style baseline (64-bit pHash,
distance <= 10), by PDQ alone (<= 31) and by PDQ with its 8 dihedral variants of the copy
(<= 31). "index" is the share of copies whose original is among the 20 candidates of the
postings stage (``provcat.reuse.postings``, an SQLite table like the catalogue's) holding the
real photos plus synthetic stored images (uniformly random descriptors, 256 per image: the
timing is real, the distractors are easier than real photographs would be). Originals that
are low-information (PDQ quality < 50 or under 100 keypoints) are reported apart, with
generated plain skies. False positives: all pairs of
distinct originals, the stereo pair, burst-like frames built from the photos (a far layer that
shifts a little, a near layer that shifts more) and another view of the stereo scene
(the right view keystoned), each judged both ways round for provcat.
Prints Markdown (docs/reuse.md holds a copy).
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.fingerprints import Fingerprints, compute, pdq_dihedral
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.postings import POSTED_DESCRIPTORS, post, shared_words
from provcat.reuse.verify import verify
from provcat.reuse.weak import WEAK_PDQ, GlobalPrints, low_information, weak_relation

# The generated skies (low-information pictures) are the test suite's: one generator for both.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from imagegen import sky

PHASH_MAX = 10
PDQ_MAX = 31
STORED = (10_000, 100_000)
PDQ_CANDIDATE = 31

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


def stretch(fx: float, fy: float) -> Edit:
    """Resized to a new aspect ratio: x by ``fx``, y by ``fy``."""
    return lambda im: im.resize(
        (round(im.width * fx), round(im.height * fy)), Image.Resampling.BILINEAR
    )


def screen_photo(seed: int) -> Edit:
    """A photograph of the picture on a screen: keystone, dark surround, moire, noise, gain."""

    def edit(image: Image.Image) -> Image.Image:
        rng = np.random.default_rng(seed)
        width, height = image.size
        canvas_w, canvas_h = round(width * 1.25), round(height * 1.25)
        inset_x, inset_y = (canvas_w - width) / 2, (canvas_h - height) / 2
        # The screen's far edge (top) narrower: a camera below and to one side of it.
        squeeze = rng.uniform(0.06, 0.1) * width
        tilt = rng.uniform(-0.04, 0.04) * height
        source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        target = np.float32(
            [
                [inset_x + squeeze, inset_y + tilt],
                [inset_x + width - squeeze, inset_y - tilt],
                [inset_x + width, inset_y + height],
                [inset_x, inset_y + height],
            ]
        )
        matrix = cv2.getPerspectiveTransform(source, target)
        surround = rng.uniform(15, 40)
        warped = cv2.warpPerspective(
            np.asarray(image, dtype=np.float32), matrix, (canvas_w, canvas_h),
            flags=cv2.INTER_LINEAR, borderValue=(surround, surround, surround),
        )  # fmt: skip
        y, x = np.mgrid[0:canvas_h, 0:canvas_w].astype(np.float32)
        moire = 6 * np.sin(2 * np.pi * (x * 0.21 + y * 0.05))[..., None]
        noise = rng.normal(0, 4, warped.shape)
        shot = warped * rng.uniform(0.75, 0.9) + 10 + moire + noise
        return Image.fromarray(np.clip(shot, 0, 255).astype(np.uint8), "RGB")

    return edit


def collage(others: list[Image.Image], seed: int) -> Edit:
    """The picture as one tile of a 2 x 2 collage with three other photographs."""

    def edit(image: Image.Image) -> Image.Image:
        rng = np.random.default_rng(seed + image.width * 7 + image.height)
        tile_w, tile_h = image.width // 2, image.height // 2
        gap = 6
        canvas = Image.new("RGB", (2 * tile_w + 3 * gap, 2 * tile_h + 3 * gap), (245, 245, 245))
        slot = int(rng.integers(0, 4))
        pool = [other for other in others if other is not image]
        tiles = iter([pool[int(i)] for i in rng.choice(len(pool), 3, replace=False)])
        for position in range(4):
            tile = image if position == slot else next(tiles)
            cell = tile.resize((tile_w, tile_h), Image.Resampling.BILINEAR)
            column, row = position % 2, position // 2
            canvas.paste(cell, (gap + column * (tile_w + gap), gap + row * (tile_h + gap)))
        return canvas

    return edit


def social_card(dark: bool) -> Edit:
    """The picture inset in a social-media screenshot card: header, caption and buttons."""

    def edit(image: Image.Image) -> Image.Image:
        back, ink = ((21, 24, 28), (230, 233, 236)) if dark else ((255, 255, 255), (20, 23, 26))
        scale = 520 / image.width
        picture = image.resize(
            (520, max(1, round(image.height * scale))), Image.Resampling.BILINEAR
        )
        width = 600
        header, footer = 90, 120
        canvas = Image.new("RGB", (width, header + picture.height + footer), back)
        draw = ImageDraw.Draw(canvas)
        big = ImageFont.load_default(size=20)
        small = ImageFont.load_default(size=15)
        draw.ellipse((40, 20, 90, 70), fill=(90, 140, 200))
        draw.text((104, 22), "Daily Dispatch", fill=ink, font=big)
        draw.text((104, 48), "@dailydispatch - 2h", fill=(120, 126, 132), font=small)
        canvas.paste(picture, (40, header))
        base = header + picture.height + 14
        draw.text((40, base), "This is what they don't want you to see. Share before", fill=ink,
                  font=small)  # fmt: skip
        draw.text((40, base + 22), "it gets taken down! #breaking #news", fill=ink, font=small)
        for k, label in enumerate(("Reply 1.2K", "Repost 8.4K", "Like 31K")):
            x0 = 40 + k * 180
            draw.rounded_rectangle((x0, base + 56, x0 + 150, base + 90), radius=12,
                                   outline=(120, 126, 132), width=2)  # fmt: skip
            draw.text((x0 + 20, base + 64), label, fill=ink, font=small)
        return canvas

    return edit


def text_overlay(image: Image.Image) -> Image.Image:
    """Big text on a banner over the top third of the picture."""
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    draw.rectangle((0, 0, width, height // 3), fill=(10, 10, 10))
    font = ImageFont.load_default(size=max(12, height // 9))
    draw.text((width // 20, height // 30), "THEY LIED", fill=(255, 230, 0), font=font)
    draw.text((width // 20, height // 6), "TO YOU", fill=(255, 255, 255), font=font)
    return copy


OFFSETS = ((0.0, 0.0), (0.5, 0.5), (1.0, 0.3))


def families(others: list[Image.Image]) -> dict[str, list[Edit]]:
    """Edit families by name; ``others`` fill the collages."""
    return {
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
        "text overlay, top third": [text_overlay],
        "border (letterbox)": [border],
        "mirror": [ImageOps.mirror],
        "rotate 3 / 5 deg": [rotate(3), rotate(-5)],
        "rotate 90 / 270 deg": [
            lambda im: im.transpose(Image.Transpose.ROTATE_90),
            lambda im: im.transpose(Image.Transpose.ROTATE_270),
        ],
        "stretch x1.3 / squash y0.75": [stretch(1.3, 1.0), stretch(1.0, 0.75)],
        "photo of a screen (perspective)": [screen_photo(1), screen_photo(2)],
        "collage tile (2 x 2)": [collage(others, 3)],
        "social-media card (light / dark)": [social_card(False), social_card(True)],
        "crop 90%": [crop(0.9, fx, fy) for fx, fy in OFFSETS],
        "crop 70%": [crop(0.7, fx, fy) for fx, fy in OFFSETS],
        "crop 50%": [crop(0.5, fx, fy) for fx, fy in OFFSETS],
        "crop 25%": [crop(0.25, fx, fy) for fx, fy in OFFSETS],
        "crop 70% + banner + q40": [lambda im: jpeg(banner(crop(0.7, 0.3, 0.3)(im)), 40)],
        "mirror + resize 50%": [lambda im: half(ImageOps.mirror(im))],
        "rotate 3 + crop 70%": [lambda im: rotate(3)(crop(0.7, 0.5, 0.5)(im))],
    }


def burst_pair(far: Image.Image, near: Image.Image, seed: int) -> tuple[Image.Image, Image.Image]:
    """Two frames of a camera moving past a scene with depth, built from two photographs.

    The far layer (``far``) shifts by 2% of the width between the frames, six patches of
    ``near`` (each 20-35% of the side) in front of it by 10%; each frame gets its own sensor grain.
    """
    rng = np.random.default_rng(seed)
    width, height = far.size
    near = near.resize(far.size, Image.Resampling.BILINEAR)
    shift_far, shift_near = round(0.02 * width), round(0.1 * width)
    inner = (width - shift_far, height)
    patches = []
    for _ in range(6):
        w, h = round(width * rng.uniform(0.2, 0.35)), round(height * rng.uniform(0.2, 0.35))
        sx, sy = int(rng.integers(0, near.width - w)), int(rng.integers(0, near.height - h))
        x, y = int(rng.integers(0, inner[0] - w)), int(rng.integers(0, height - h))
        patches.append((near.crop((sx, sy, sx + w, sy + h)), x, y))
    frames = []
    for k in range(2):
        frame = far.crop((k * shift_far, 0, k * shift_far + inner[0], height))
        for patch, x, y in patches:
            frame.paste(patch, (x - k * shift_near, y))
        grain = rng.normal(0, 3, (height, inner[0], 3))
        noisy = np.asarray(frame, dtype=np.float64) + grain
        frames.append(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB"))
    return frames[0], frames[1]


class Judges:
    """provcat and the global-hash baselines, with everything computed once per original."""

    def __init__(self, images: dict[str, Image.Image]) -> None:
        self.images = images
        self.features = {name: extract(image) for name, image in images.items()}
        self.prints = {name: compute(image) for name, image in images.items()}
        self.low = {
            name: low_information(self.prints[name].pdq_quality, len(self.features[name]))
            for name in images
        }
        self.times: list[float] = []

    def provcat(
        self, name: str, copy: Image.Image, copy_features: Features, copy_prints: Fingerprints
    ) -> tuple[bool, bool]:
        """(same photo, on weak evidence): verify, then for a low-information pair the weak
        global-hash check on a PDQ candidate, as ``Matcher.find`` does."""
        begin = time.perf_counter()
        relation = verify(
            self.features[name], copy_features,
            a_pixels=self.images[name], b_pixels=copy, b_mirrored=mirrored(copy),
        )  # fmt: skip
        weak = False
        if not relation.same_photo:
            copy_low = low_information(copy_prints.pdq_quality, len(copy_features))
            if copy_low or self.low[name]:
                limit = max(PDQ_CANDIDATE, WEAK_PDQ) if copy_low else PDQ_CANDIDATE
                near = min(self.prints[name].pdq - h for h, _ in pdq_dihedral(copy).values())
                reference = GlobalPrints.of(self.images[name], self.prints[name])
                weak = near <= limit and weak_relation(reference, copy) is not None
        self.times.append(time.perf_counter() - begin)
        return relation.same_photo or weak, weak

    def judge(self, name: str, copy: Image.Image) -> tuple[list[bool], bool, Features]:
        copy_features = extract(copy)
        original = self.prints[name]
        copy_prints = compute(copy)
        same, weak = self.provcat(name, copy, copy_features, copy_prints)
        phash = original.phash - copy_prints.phash <= PHASH_MAX
        pdq = original.pdq - copy_prints.pdq <= PDQ_MAX
        dihedral = min(original.pdq - h for h, _ in pdq_dihedral(copy).values()) <= PDQ_MAX
        return [same, phash, pdq, dihedral], weak, copy_features


def build_index(real: dict[str, Features], total: int) -> tuple[Session, float]:
    """The postings and word counts of the real photos (ids 0..) and random stored images up
    to ``total``, in an SQLite file of a temporary folder (the catalogue's tables, without the
    rest)."""
    folder = Path(tempfile.mkdtemp(prefix="provcat-postings-"))
    engine = create_engine(f"sqlite:///{folder / 'postings.db'}")
    m.WordPosting.__table__.create(engine)
    session = Session(engine)
    rng = np.random.default_rng(7)
    post(session, [(image_id, f.descriptors) for image_id, f in enumerate(real.values())])
    start = time.perf_counter()
    for first in range(len(real), total, 1000):
        post(
            session,
            [
                (image_id, rng.integers(0, 256, (POSTED_DESCRIPTORS, 32), dtype=np.uint8))
                for image_id in range(first, min(total, first + 1000))
            ],
        )
    session.commit()
    return session, time.perf_counter() - start


def pair_verdicts(judges: Judges, a: Image.Image, b: Image.Image) -> tuple[list[int], int]:
    """False-positive verdicts for a pair of different exposures: provcat (both ways round,
    weak path included), pHash, PDQ, PDQ dihedral; and provcat's most inliers."""
    fa, fb = extract(a), extract(b)
    pa, pb = compute(a), compute(b)
    provcat, inliers = 0, 0
    for (x, fx), (y, fy, py) in (((a, fa), (b, fb, pb)), ((b, fb), (a, fa, pa))):
        one = Judges({"x": x})
        same, _ = one.provcat("x", y, fy, py)
        judges.times.extend(one.times)
        provcat += same
        relation = verify(fx, fy, a_pixels=x, b_pixels=y, b_mirrored=mirrored(y))
        inliers = max(inliers, relation.inliers)
    dihedral = min(pa.pdq - h for h, _ in pdq_dihedral(b).values()) <= PDQ_MAX
    return [provcat, pa.phash - pb.phash <= PHASH_MAX, pa.pdq - pb.pdq <= PDQ_MAX, dihedral], (
        inliers
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stored", default=",".join(str(n) for n in STORED),
        help="index sizes to time, comma-separated (default: %(default)s)",
    )  # fmt: skip
    sizes = tuple(int(n) for n in parser.parse_args().stored.split(",") if n)
    began = time.perf_counter()
    images, (left, right) = photos()
    start = time.perf_counter()
    for image in images.values():
        extract(image)
    per_second = len(images) / (time.perf_counter() - start)
    judges = Judges(images)
    normal = [name for name in images if not judges.low[name]]
    real_low = [name for name in images if judges.low[name]]
    skies = {f"sky_{seed}": sky(seed) for seed in range(6)}
    sky_judges = Judges({**{n: images[n] for n in real_low}, **skies})
    low_names = list(sky_judges.images)
    print(f"{len(normal)} photographs: {', '.join(normal)}", file=sys.stderr)
    print(f"low-information: {', '.join(low_names)}\n", file=sys.stderr)

    table = families(list(images.values()))
    copies: dict[str, list[tuple[int, Features, Features]]] = {}
    rows = []
    low_rows = []
    for family, edits in table.items():
        counts, low_counts = np.zeros(4, dtype=int), np.zeros(5, dtype=int)
        total = low_total = 0
        copies[family] = []
        for image_id, name in enumerate(images):
            if judges.low[name]:
                continue  # reported with the low-information originals below
            for edit in edits:
                copy = edit(images[name])
                verdicts, _, copy_features = judges.judge(name, copy)
                counts += np.array(verdicts, dtype=int)
                total += 1
                copies[family].append((image_id, copy_features, mirrored(copy)))
        for name in low_names:
            for edit in edits:
                verdicts, weak, _ = sky_judges.judge(name, edit(sky_judges.images[name]))
                low_counts += np.array([*verdicts, weak], dtype=int)
                low_total += 1
        rows.append((family, total, counts))
        low_rows.append((family, low_total, low_counts))

    recall_at: dict[int, dict[str, float]] = {}
    timing: dict[int, tuple[float, float]] = {}
    for stored in sizes:
        postings, build = build_index(judges.features, stored)
        found: dict[str, float] = {}
        times = []
        for family, queries in copies.items():
            hits = 0
            for image_id, features, mirror in queries:
                begin = time.perf_counter()
                candidates = shared_words(
                    postings,
                    [features.descriptors, mirror.descriptors],
                    limit=20,
                    images=stored,
                )
                times.append(time.perf_counter() - begin)
                hits += image_id in {i for i, _ in candidates}
            found[family] = hits / len(queries)
        recall_at[stored] = found
        timing[stored] = (float(np.median(times)) * 1000, build)
        postings.close()

    at = " / ".join(f"10^{len(str(s)) - 1}" for s in sizes)
    print(
        "| edit family | copies | provcat | pHash <= 10 | PDQ <= 31 | PDQ dihedral <= 31 "
        f"| index top-20 at {at} |"
    )
    print("|---|---|---|---|---|---|---|")
    for family, total, counts in rows:
        cells = " | ".join(f"{c / total:.2f}" for c in counts)
        idx = " / ".join(f"{recall_at[s][family]:.2f}" for s in sizes)
        print(f"| {family} | {total} | {cells} | {idx} |")

    # False positives: every pair of distinct originals (low-information ones and skies too).
    everything = {**images, **skies}
    all_judges = Judges(everything)
    pairs = list(itertools.combinations(everything, 2))
    false = np.zeros(4, dtype=int)
    worst_inliers = 0
    for x, y in pairs:
        for a, b in ((x, y), (y, x)):
            same, _ = all_judges.provcat(a, everything[b], all_judges.features[b],
                                         all_judges.prints[b])  # fmt: skip
            false[0] += same
            relation = verify(
                all_judges.features[a], all_judges.features[b],
                a_pixels=everything[a], b_pixels=everything[b],
                b_mirrored=mirrored(everything[b]),
            )  # fmt: skip
            worst_inliers = max(worst_inliers, relation.inliers)
        pa, pb = all_judges.prints[x], all_judges.prints[y]
        false[1] += pa.phash - pb.phash <= PHASH_MAX
        false[2] += pa.pdq - pb.pdq <= PDQ_MAX
        false[3] += min(pa.pdq - h for h, _ in pdq_dihedral(everything[y]).values()) <= PDQ_MAX

    negatives: dict[str, list[tuple[Image.Image, Image.Image]]] = {
        "stereo pair": [(left, right)],
        "another view (stereo right, keystoned)": [(left, screen_photo(5)(right))],
        "different photos under one banner": [
            # One size, so that the shared banner lines up frame onto frame.
            (banner(images[x].resize((640, 480))), banner(images[y].resize((640, 480))))
            for x, y in zip(normal[:10], normal[10:20], strict=True)
        ],
        "burst-like frames (parallax)": [
            burst_pair(images[far], images[near], seed)
            for seed, (far, near) in enumerate(zip(normal[:10], normal[10:20], strict=True))
        ],
    }
    print(
        f"| **false positives**, {len(pairs)} distinct pairs (incl. low-information) "
        f"| {len(pairs)} | " + " | ".join(str(int(v)) for v in false) + " | |"
    )
    hard_inliers = {}
    for label, found_pairs in negatives.items():
        counts = np.zeros(4, dtype=int)
        most = 0
        for a, b in found_pairs:
            verdicts, inliers = pair_verdicts(judges, a, b)
            counts += np.array(verdicts, dtype=int)
            most = max(most, inliers)
        hard_inliers[label] = most
        print(
            f"| **false positives**, {label} | {len(found_pairs)} | "
            + " | ".join(str(int(v)) for v in counts)
            + " | |"
        )
    print()
    print(
        f"Low-information originals ({', '.join(low_names)}: PDQ quality < 50 or under 100 "
        "keypoints), apart; provcat includes the weak global-hash answers, counted again in the "
        "last column:\n"
    )
    print("| edit family | copies | provcat | pHash <= 10 | PDQ <= 31 | PDQ dihedral <= 31 "
          "| of which weak |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for family, total, counts in low_rows:
        print(f"| {family} | {total} | " + " | ".join(f"{c / total:.2f}" for c in counts) + " |")
    print()
    print(
        f"Most RANSAC inliers between distinct originals: {worst_inliers}; hard negatives: "
        + ", ".join(f"{label} {n}" for label, n in hard_inliers.items())
        + " (the coverage, single-motion and pixel rules reject them)."
    )
    print(f"Features extracted: {per_second:.0f} images/s (one core, {os.cpu_count()} present).")
    judged = judges.times + sky_judges.times
    print(
        f"provcat verification per copy (mirror features, pixels, weak check): "
        f"{float(np.median(judged)) * 1000:.0f} ms median, "
        f"{float(np.percentile(judged, 95)) * 1000:.0f} ms 95th percentile."
    )
    for stored in sizes:
        query, build = timing[stored]
        print(
            f"Index with {stored:,} stored images: query {query:.1f} ms median "
            f"(copy + mirror), build {build:.1f} s."
        )
    print(f"Whole run: {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()

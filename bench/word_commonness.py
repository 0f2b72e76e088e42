"""How common visual words are among real photographs, against the scale bench's pictures.

Run from the repository root (not part of the unit tests; needs the ``bench`` extra):

    .venv/bin/python bench/word_commonness.py

A word posted by more than 200 images is a stop word (``provcat.reuse.postings``), so what
decides how many of a photo's words a large catalogue still counts is how often other
pictures post the same words. This bench measures that on small sets where it can be counted
exactly, for short and long words apart:

- **real**: the 21 real photographs of ``bench/reuse_robustness.py`` (the pictures
  scikit-image, scikit-learn and matplotlib ship), each against the 20 others;
- **generated**: 21 pictures of the test suite's scene generator (the scale bench's planted
  originals, SYNTHETIC), each against the 20 others;
- **generated vs distractors**: those 21 against 20 of the scale bench's stored distractors
  (descriptors drawn from 100 other generated pictures with 24 of 256 bits flipped, SYNTHETIC).

For each, per picture: the words it posts, the mean number it shares with one other picture,
and the share of them posted by at least one of the 20 others (a word that one picture in 20
posts is posted by about 5,000 images of 10^5, far past the stop limit).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reuse_robustness import photos
from scale import SIDE, distractor_descriptors
from tests.reuse_fixtures import scene

from provcat.decode import open_image
from provcat.matching import extract_features
from provcat.reuse.postings import POSTED_DESCRIPTORS, long_words, sample, words

OTHERS = 20


def descriptors(image: Image.Image) -> np.ndarray:
    """The ORB descriptors provcat stores for ``image`` (saved as a JPEG, quality 90)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "picture.jpg"
        image.convert("RGB").save(path, "JPEG", quality=90)
        return extract_features(open_image(path)).descriptors


def posts(found: list[np.ndarray], make: Callable[[np.ndarray], np.ndarray]) -> list[set[int]]:
    """The words (of one kind) each of these pictures posts."""
    return [set(make(sample(d, POSTED_DESCRIPTORS)).tolist()) for d in found]


def rest(group: list[set[int]]) -> list[list[set[int]]]:
    """For each picture of ``group``, the others."""
    return [group[:n] + group[n + 1 :] for n in range(len(group))]


def row(label: str, kind: str, own: list[set[int]], others: list[list[set[int]]]) -> str:
    posted = np.mean([len(words) for words in own])
    pairs = np.mean([len(w & o) for w, group in zip(own, others, strict=True) for o in group])
    common = np.mean(
        [len(w & set().union(*group)) / len(w) for w, group in zip(own, others, strict=True)]
    )
    return f"| {label} | {kind} | {posted:.0f} | {pairs:.1f} | {common:.3f} |"


def main() -> None:
    real = [descriptors(image) for image in photos()[0].values()]
    generated = [descriptors(scene(50_000 + n, SIDE)) for n in range(len(real))]
    pool = np.concatenate([descriptors(scene(50_020 + n, SIDE)) for n in range(100)])
    rng = np.random.default_rng(1)
    stored = [distractor_descriptors(pool, rng) for _ in range(OTHERS)]
    print("| pictures | words | posted per picture | shared with one other (mean) "
          "| share posted by another of 20 |")  # fmt: skip
    print("|---|---|---|---|---|")
    for kind, make in (("short (24 bits)", words), ("long (40 bits)", long_words)):
        real_words, generated_words = posts(real, make), posts(generated, make)
        stored_words = posts(stored, make)
        print(row("real, each against the 20 others", kind, real_words, rest(real_words)))
        print(row("generated, each against the 20 others", kind, generated_words,
                  rest(generated_words)))  # fmt: skip
        print(row("generated, against 20 distractors", kind, generated_words,
                  [stored_words] * len(generated_words)))  # fmt: skip
        print(row("real, against 20 distractors", kind, real_words,
                  [stored_words] * len(real_words)))  # fmt: skip


if __name__ == "__main__":
    main()

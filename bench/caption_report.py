"""Benchmark: duplicate-caption grouping on synthetic captions with planted duplicates.

Run: .venv/bin/python bench/caption_report.py [--sizes 100000 1000000] [--baseline 4000]

Each size runs in a fresh process, so its peak memory (max RSS, workers included) is its own.
Captions are generated from a seed: unique base captions (news-style templates filled with
random invented names, places and numbers), and planted copies of some of them whose answers
are known: exact copies (quotes, spacing, case changed) and near copies (a name misspelt by one
or two letters, a dropped word, a changed label, a credit tail added). Recall is the share of
planted pairs that end up in one group; precision is the share of grouped pairs that were
planted. In the same run an all-pairs baseline (rapidfuzz ``cdist`` over every pair of bodies,
multi-threaded C++) groups the first ``--baseline`` captions, and provcat groups the same
captions, so the two times are comparable.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
from rapidfuzz.distance import Indel
from rapidfuzz.process import cdist

from provcat.duplicates import NEAR_THRESHOLD, find_duplicates, parse_all

LABELS = ["", "", "", "", "Pictured: ", "Revealed: ", "'Accused': ", "Scene: ", "Exclusive: "]
CREDITS = ["(Photo: Reuters)", "Credit: AFP", "(Picture: Sky News)", "Photo: Getty Images"]
SYLLABLES = ["ka", "ro", "vi", "len", "mar", "to", "shi", "dra", "po", "vel", "nik", "sa", "bo",
             "lu", "zen", "ter", "io", "gor", "ana", "mil", "dev", "rak", "sto", "jan", "ek", "ul",
             "fa", "ne", "qui", "tor", "bra", "sel", "hu", "pen", "dor", "wi", "cas", "mon"]
FUNCTION_WORDS = ["the", "of", "in", "and", "a", "to", "at", "after", "with", "on", "for", "is",
                  "was", "as", "by", "from", "during", "outside", "near", "before"]


class Vocabulary:
    """Invented words with Zipf-distributed frequencies, and a large pool of invented names.

    Real captions mix very common words with rare names and places; a Zipf law (exponent 1.1
    over 40,000 words) gives that mix without copying any real text.
    """

    def __init__(self, rng: random.Random, words: int = 40_000, names: int = 300_000) -> None:
        seen: set[str] = set()
        self.words: list[str] = []
        while len(self.words) < words:
            w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))
            if w not in seen:
                seen.add(w)
                self.words.append(w)
        weights = 1.0 / np.arange(1, words + 1) ** 1.1
        self.cumulative = list(np.cumsum(weights / weights.sum()))
        self.names = [
            "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
            for _ in range(names)
        ]

    def word(self, rng: random.Random) -> str:
        if rng.random() < 0.35:
            return rng.choice(FUNCTION_WORDS)
        return self.words[bisect.bisect_left(self.cumulative, rng.random())]


def _base(rng: random.Random, vocabulary: Vocabulary) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(1, 3)):
        name = f"{rng.choice(vocabulary.names)} {rng.choice(vocabulary.names)}"
        cue = rng.choice(["", "", ", left,", ", right,", ", pictured,"])
        parts.append(name + cue)
        parts.extend(vocabulary.word(rng) for _ in range(rng.randint(3, 9)))
    if rng.random() < 0.3:
        parts.append(f"in {rng.randint(1990, 2025)}")
    return rng.choice(LABELS) + " ".join(parts)


def _exact_copy(text: str, rng: random.Random) -> str:
    out = text.replace("'", "\u2018", 1).replace("'", "\u2019", 1)
    out = out.replace(", ", " , ", 1) if rng.random() < 0.5 else out.replace(" ", "  ", 1)
    return out.upper() if rng.random() < 0.1 else out


def _near_copy(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    kind = rng.randrange(4)
    spots = [i for i, w in enumerate(words) if w[:1].isupper() and len(w) > 4]
    if kind == 0 and spots:  # misspell a capitalised word by one letter
        i = rng.choice(spots)
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        words[i] = w[:j] + rng.choice("aeiouy") + w[j + 1 :]
    elif kind <= 1:  # drop a small lower-case word
        spots = [i for i, w in enumerate(words[2:-1], start=2) if w.isalpha() and w.islower()]
        if spots:
            del words[rng.choice(spots)]
        else:
            return text + " " + rng.choice(CREDITS)
    elif kind == 2:  # change the label
        return "Exclusive: " + text.split(": ", 1)[-1]
    else:  # add a credit tail
        return text + " " + rng.choice(CREDITS)
    return " ".join(words)


def make_corpus(n: int, seed: int = 7) -> tuple[list[str], list[int]]:
    """``n`` captions and, for each, the id of the base caption it was made from."""
    rng = random.Random(seed)
    vocabulary = Vocabulary(rng)
    texts: list[str] = []
    origin: list[int] = []
    base_id = -1
    while len(texts) < n:
        base_id += 1
        text = _base(rng, vocabulary)
        texts.append(text)
        origin.append(base_id)
        if rng.random() < 0.2:  # a fifth of the bases are reprinted once or twice
            for _ in range(rng.randint(1, 2)):
                copy = _exact_copy(text, rng) if rng.random() < 0.5 else _near_copy(text, rng)
                texts.append(copy)
                origin.append(base_id)
    return texts[:n], origin[:n]


def _pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {(a, b) for g in groups for i, a in enumerate(g) for b in g[i + 1 :]}


def score(groups: list[list[int]], origin: list[int]) -> tuple[float, float, int]:
    """(precision, recall, planted pairs) of ``groups`` against the planted answers."""
    by_origin: dict[int, list[int]] = defaultdict(list)
    for i, o in enumerate(origin):
        by_origin[o].append(i)
    truth = _pairs([ids for ids in by_origin.values() if len(ids) > 1])
    found = _pairs(groups)
    hits = len(truth & found)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    return precision, recall, len(truth)


def brute_force(texts: list[str], threshold: float) -> list[list[int]]:
    """Every pair compared: rapidfuzz cdist on body keys, connected components."""
    parsed = parse_all(texts, workers=1)
    bodies = [parsed.bodies[k] for k in parsed.keys]
    matrix = cdist(bodies, bodies, scorer=Indel.normalized_similarity, workers=-1, dtype=np.float32)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(*np.nonzero(np.triu(matrix >= threshold, k=1)), strict=True):
        parent[find(int(a))] = find(int(b))
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        groups[find(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def run_one(n: int, mode: str) -> dict[str, float]:
    """Measure one size in this process; prints nothing, returns the figures."""
    texts, origin = make_corpus(n)
    start = time.perf_counter()
    groups = brute_force(texts, NEAR_THRESHOLD) if mode == "brute" else find_duplicates(texts)
    seconds = time.perf_counter() - start
    precision, recall, planted = score(groups, origin)
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return {
        "n": n,
        "mode": mode,
        "seconds": seconds,
        "precision": precision,
        "recall": recall,
        "planted_pairs": planted,
        "groups": len(groups),
        "peak_mib": peak_kib / 1024,
    }


def main() -> None:
    """Run every size in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--baseline", type=int, default=4_000)
    parser.add_argument("--one", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(int(args.one[0]), args.one[1])))
        return
    runs = [(args.baseline, "brute"), (args.baseline, "provcat")]
    runs += [(n, "provcat") for n in args.sizes]
    rows = []
    for n, mode in runs:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), mode],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout))
    print(f"threshold {NEAR_THRESHOLD}")
    print(
        f"{'method':9} {'captions':>9} {'seconds':>8} {'per 1k':>7} {'peak MiB':>8} "
        f"{'planted':>8} {'precision':>9} {'recall':>7}"
    )
    for r in rows:
        print(
            f"{r['mode']:9} {r['n']:9d} {r['seconds']:8.2f} {1000 * r['seconds'] / r['n']:7.3f} "
            f"{r['peak_mib']:8.0f} {r['planted_pairs']:8d} {r['precision']:9.4f} "
            f"{r['recall']:7.4f}"
        )
    brute, small = rows[0], rows[1]
    print(
        f"\nat {brute['n']} captions: provcat takes {small['seconds'] / brute['seconds']:.2f}x "
        f"the all-pairs baseline's time"
    )
    big = rows[2:]
    for a, b in itertools.pairwise(big):
        growth = (b["seconds"] / a["seconds"]) / (b["n"] / a["n"])
        print(
            f"{a['n']} -> {b['n']}: time grew {b['seconds'] / a['seconds']:.1f}x for "
            f"{b['n'] / a['n']:.0f}x the captions ({growth:.2f} of linear)"
        )
    pairs_at = brute["n"] * (brute["n"] - 1) / 2
    for r in big:
        estimate = brute["seconds"] * (r["n"] * (r["n"] - 1) / 2) / pairs_at
        print(
            f"all-pairs baseline at {r['n']} captions, extrapolated from its measured rate: "
            f"{estimate:,.0f} s"
        )


if __name__ == "__main__":
    main()

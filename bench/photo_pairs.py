"""Benchmark: the PDQ pairs behind photo grouping (provcat.photos), through the hashes' pieces
against comparing every pair, on the same hashes in the same run.

Run: .venv/bin/python bench/photo_pairs.py [--sizes 100000,1000000] [--every-up-to 1000000]

The hashes are SYNTHETIC: uniformly random 256-bit hashes (PDQ's bits are balanced, each a
median threshold, but real photographs' hashes are not independent, and near copies of one
photo crowd a few of the pieces' buckets; provcat counts the buckets first and compares every
pair where the pieces would not pay), with 1,000 planted copies 20 to 32 bits from a random
original, so that some pairs sit at and just past the threshold of 31. For each size it
prints the decision (counting the buckets), the pairs through the pieces, the baseline
(faiss's kernel over every pair, a thread per core) where the size is within
``--every-up-to``, their ratio, whether both found the same pairs, and the process's peak
RSS so far.

With ``--real``, the hashes are instead those of real photographs and their edited copies
(the reuse bench's photographs and edit families: resizes, JPEG, crops, banners, mirrors,
collages...), each of those hashes again ``--repeats`` times with 0 to 8 of its bits flipped
(as re-encodes of one file drift), the rest of each size random: near copies crowding a
few buckets, as a photo desk's archive of one story would.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from provcat.fingerprints import pdq_dihedral
from provcat.photos import PDQ_SAME_PHOTO, _by_pieces, _every_pair, _piece_pairs

PLANTED = 1_000


def hashes(size: int, seed: int = 1) -> np.ndarray:
    """``size`` random hashes with :data:`PLANTED` copies 20-32 bits from another."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    for _ in range(min(PLANTED, size // 2)):
        original, copy = rng.choice(size, 2, replace=False)
        bits = np.unpackbits(codes[original])
        bits[rng.choice(256, int(rng.integers(20, 33)), replace=False)] ^= 1
        codes[copy] = np.packbits(bits)
    return codes


def real_hashes(repeats: int, seed: int = 2) -> np.ndarray:
    """PDQ hashes of the real photographs and their edited copies, each again ``repeats``
    times with 0-8 bits flipped."""
    from reuse_robustness import families, photos

    images, _stereo = photos()
    pictures = list(images.values())
    edited = [edit(p) for edits in families(pictures).values() for edit in edits for p in pictures]
    found = [pdq_dihedral(p)["original"][0].to_bytes() for p in pictures + edited]
    codes = np.frombuffer(b"".join(found), dtype=np.uint8).reshape(len(found), 32)
    rng = np.random.default_rng(seed)
    copies = [codes]
    for _ in range(repeats):
        bits = np.unpackbits(codes, axis=1)
        for row in bits:
            row[rng.choice(256, int(rng.integers(0, 9)), replace=False)] ^= 1
        copies.append(np.packbits(bits, axis=1))
    return np.concatenate(copies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument(
        "--every-up-to",
        type=int,
        default=300_000,
        help="compare every pair (the baseline) up to this size (10^6 takes minutes)",
    )
    parser.add_argument("--real", action="store_true", help="real photographs' copies (above)")
    parser.add_argument("--repeats", type=int, default=20, help="with --real (above)")
    args = parser.parse_args()
    real = real_hashes(args.repeats) if args.real else None
    if real is not None:
        print(f"{real.shape[0]:,} hashes of real photographs and their copies")
    print(
        "| hashes | pieces chosen | decide s | pieces s | every pair s | ratio | same | pairs "
        "| peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        codes = hashes(size)
        if real is not None:
            codes[: real.shape[0]] = real[:size]
        start = time.perf_counter()
        chosen = _by_pieces(codes, PDQ_SAME_PHOTO)
        decide = time.perf_counter() - start
        start = time.perf_counter()
        first, second = _piece_pairs(codes, PDQ_SAME_PHOTO)
        pieces = time.perf_counter() - start
        found = list(zip(first.tolist(), second.tolist(), strict=True))
        every, ratio, same = "-", "-", "-"
        if size <= args.every_up_to:
            start = time.perf_counter()
            baseline = sorted(_every_pair(codes, PDQ_SAME_PHOTO))
            seconds = time.perf_counter() - start
            every, ratio = f"{seconds:.2f}", f"{pieces / seconds:.3f}x"
            same = str(baseline == found)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"| {size:,} | {chosen} | {decide:.3f} | {pieces:.2f} | {every} | {ratio} | {same} "
            f"| {len(found):,} | {rss:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

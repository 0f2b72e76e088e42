"""Photo grouping of a whole catalogue: the pairs recorded as images are matched, against
comparing every pair of hashes when the report runs.

Run from the repository root (not part of the unit tests):

    .venv/bin/python bench/photo_grouping.py --work DIR [--sizes 100000,1000000] \
        [--postgres URL] [--waiting 1000]

For each size N, in a fresh process and a fresh catalogue (a SQLite file in DIR, or a new
database on the PostgreSQL server), it stores N image rows, each with a PDQ hash and nothing
else: SYNTHETIC hashes, uniformly random, with 1,000 copies planted 20 to 32 bits from
another (``bench/photo_pairs.py``'s) and one photo stored 1,000 times (each copy a few bits
from it), so that some pairs sit at and past the threshold of 31 and one photo crowds a few
of the pieces' buckets. Then, in the same process:

- **every pair** (the baseline, what grouping did before revision 0011 and still does while
  many images wait to be matched): ``photo_ids`` with every image waiting;
- **fill**: ``fill_pairs``, what revision 0011 runs once on a catalogue stored before it,
  and the pairs it records;
- **recorded**: ``photo_ids`` with every image matched, reading the recorded pairs;
- **waiting**: ``photo_ids`` with the last ``--waiting`` images (1,000: an ingest's worth)
  waiting to be matched, compared against every other;
- **turn**: what a matching turn pays to record its image's pairs (``link_matched`` with the
  matcher's scan of every stored hash; the turn's commit, which it shares, left out), per
  image, over 200 new images, each a few bits from a stored image of a photo stored more
  than once; then grouping with the pairs they recorded is checked against every pair
  compared again;

each as seconds and as a ratio of the baseline, and whether each grouping equals the
baseline's. Then the catalogue is grouped once more each way, every image waiting and every
image matched, each in a fresh process of its own: the memory it held before grouping
(Python, the imports, the catalogue open) and its peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from photo_pairs import hashes
from scale import fresh_url

CROWD = 1_000
TURNS = 200


def _memory_mb(field: str) -> float:
    """``VmHWM`` (the peak) or ``VmRSS`` (now) of this process, in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def mark(url: str, matched: bool) -> None:
    """Mark every image of the catalogue matched, or waiting to be matched."""
    from sqlalchemy import update

    from provcat import Catalogue
    from provcat import models as m

    with Catalogue(url) as catalogue, catalogue.session() as session:
        session.execute(update(m.Image).values(match_seq=1 if matched else None))
        session.commit()


def group(url: str) -> None:
    """Group the catalogue once, in this fresh process: print one JSON line of the time and
    the process's memory before it (imports and the catalogue open) and at its peak."""
    from provcat import Catalogue
    from provcat.photos import photo_ids

    with Catalogue(url) as catalogue, catalogue.session() as session:
        held = _memory_mb("VmRSS")
        start = time.perf_counter()
        photo_ids(session=session)
        seconds = time.perf_counter() - start
    figures = {"held_mb": held, "peak_mb": _memory_mb("VmHWM"), "seconds": seconds}
    print(json.dumps(figures), flush=True)


def _codes(size: int) -> np.ndarray:
    """The size's hashes: photo_pairs' random ones and planted copies, then a crowd."""
    codes = hashes(size)
    rng = np.random.default_rng(5)
    crowd = min(CROWD, size // 10)
    for row in range(size - crowd, size):
        codes[row] = _near_copy(codes[0], rng)
    return codes


def _near_copy(code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(256, int(rng.integers(0, 9)), replace=False)] ^= 1
    return np.packbits(bits)


def _store(url: str, codes: np.ndarray, first_id: int = 1) -> None:
    from sqlalchemy import insert

    from provcat import Catalogue
    from provcat import models as m

    with Catalogue(url) as catalogue, catalogue.session() as session:
        step = 20_000
        for start in range(0, codes.shape[0], step):
            ids = range(first_id + start, first_id + min(codes.shape[0], start + step))
            session.execute(
                insert(m.Image),
                [
                    {
                        "id": i,
                        "sha256": f"{i:064x}",
                        "format": "JPEG",
                        "width": 800,
                        "height": 600,
                        "file_size": 1,
                        "pixel_digest": f"{i:064x}",
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(m.Fingerprint),
                [
                    {
                        "image_id": i,
                        "algorithm": "pdq",
                        "value": codes[i - first_id].tobytes().hex(),
                        "quality": 90,
                    }
                    for i in ids
                ],
            )
            session.commit()


def child(size: int, url: str, waiting: int) -> None:
    """Store ``size`` images in a fresh catalogue at ``url``, time each way of grouping them,
    and print one JSON line of figures."""
    from sqlalchemy import delete, func, select, update

    from provcat import Catalogue
    from provcat import models as m
    from provcat.matching import _PdqTable
    from provcat.photos import PDQ_SAME_PHOTO, fill_pairs, link_matched, photo_ids

    codes = _codes(size)
    start = time.perf_counter()
    _store(url, codes)
    figures: dict[str, Any] = {"size": size, "store_s": time.perf_counter() - start}
    with Catalogue(url) as catalogue, catalogue.session() as session:
        start = time.perf_counter()
        every = photo_ids(session=session)
        figures["every_s"] = time.perf_counter() - start
        session.commit()

        session.execute(update(m.Image).values(match_seq=1))
        start = time.perf_counter()
        figures["filled"] = fill_pairs(session.connection())
        session.commit()
        figures["fill_s"] = time.perf_counter() - start

        start = time.perf_counter()
        recorded = photo_ids(session=session)
        figures["recorded_s"] = time.perf_counter() - start
        figures["recorded_same"] = recorded == every
        session.commit()

        last = size - waiting
        session.execute(update(m.Image).where(m.Image.id > last).values(match_seq=None))
        session.execute(delete(m.PdqPair).where(m.PdqPair.second_id > last))
        session.commit()
        start = time.perf_counter()
        partly = photo_ids(session=session)
        figures["waiting_s"] = time.perf_counter() - start
        figures["waiting_same"] = partly == every
        figures["waiting"] = size - last
        # Their pairs again (deleted above), as their turns would have recorded them.
        fill_pairs(session.connection())
        session.execute(update(m.Image).values(match_seq=1))
        session.commit()

        # A turn's part: new images, each a copy of a stored one (a planted copy's or the
        # crowd's) a few bits away, matched one at a time.
        groups = [members for members in _members(every).values() if len(members) > 1]
        rng = np.random.default_rng(9)
        sources = [int(rng.choice(groups[int(k)])) for k in rng.integers(len(groups), size=TURNS)]
        fresh = np.stack([_near_copy(codes[i - 1], rng) for i in sources])
        _store(url, fresh, first_id=size + 1)
        table = _PdqTable()
        table.add(np.arange(1, size + TURNS + 1, dtype=np.int64), np.concatenate([codes, fresh]))
        linked, spent = 0, 0.0
        for image_id in range(size + 1, size + TURNS + 1):
            start = time.perf_counter()
            linked += link_matched(
                session.connection(),
                image_id,
                lambda hashed: table.within([hashed], PDQ_SAME_PHOTO),
            )
            spent += time.perf_counter() - start
            session.execute(update(m.Image).where(m.Image.id == image_id).values(match_seq=2))
            session.commit()
        figures["turn_ms"] = spent / TURNS * 1000
        figures["turn_pairs"] = linked / TURNS
        after = photo_ids(session=session)
        session.execute(update(m.Image).values(match_seq=None))
        session.commit()
        figures["after_turns_same"] = after == photo_ids(session=session)
        figures["pairs"] = session.scalar(select(func.count()).select_from(m.PdqPair))
    print(json.dumps(figures), flush=True)


def _members(photo: dict[int, int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for image_id, root in photo.items():
        out.setdefault(root, []).append(image_id)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="where catalogues are made")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--postgres", help="a PostgreSQL URL (the server makes the catalogues)")
    parser.add_argument(
        "--waiting", type=int, default=1_000, help="images left waiting to be matched"
    )
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--mark", nargs=2, metavar=("MATCHED", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--group", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1], args.waiting)
        return
    if args.mark:
        mark(args.mark[1], args.mark[0] == "matched")
        return
    if args.group:
        group(args.group)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    print(
        "Synthetic PDQ hashes (random, 1,000 planted copies, one photo stored up to 1,000 times),"
        " no other data.\n"
    )
    print(
        "| images | every pair s (baseline) | fill s | pairs filled | recorded s | ratio "
        "| waiting | waiting s | ratio | turn ms/image | same "
        "| MB held, peak: every pair | recorded |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def run(*given: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, __file__, "--work", str(args.work), *given],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        lines = done.stdout.strip().splitlines()
        return dict(json.loads(lines[-1])) if lines else {}

    for size in (int(s) for s in args.sizes.split(",")):
        name = f"provcat_grouping_{size}"
        url = fresh_url(args.work, args.postgres, name)
        f = run("--waiting", str(args.waiting), "--child", str(size), url)
        # The child leaves every image waiting: grouped so first, then every image matched.
        every = run("--group", url)
        run("--mark", "matched", url)
        recorded = run("--group", url)
        same = f["recorded_same"] and f["waiting_same"] and f["after_turns_same"]
        print(
            f"| {size:,} | {f['every_s']:.2f} | {f['fill_s']:.2f} | {f['filled']:,} "
            f"| {f['recorded_s']:.2f} | {f['recorded_s'] / f['every_s']:.3f}x "
            f"| {f['waiting']:,} | {f['waiting_s']:.2f} | {f['waiting_s'] / f['every_s']:.3f}x "
            f"| {f['turn_ms']:.2f} ({f['turn_pairs']:.2f} pairs) | {same} "
            f"| {every['held_mb']:,.0f}, {every['peak_mb']:,.0f} "
            f"| {recorded['held_mb']:,.0f}, {recorded['peak_mb']:,.0f} |",
            flush=True,
        )
        if not args.postgres:
            for leftover in args.work.glob(f"{name}.db*"):
                leftover.unlink()


if __name__ == "__main__":
    main()

"""Candidate-stage recall at scale: is the original among the 20 candidates, per postings budget?

Run from the repository root (not part of the unit tests), on a catalogue that already holds
the distractors, for example the one ``bench/scale.py --work DIR`` leaves behind:

    .venv/bin/python bench/candidate_recall.py --url sqlite:///DIR/provcat_scale_100000.db \
        [--budgets 20000,50000,100000] [--scenes 1500]

What it does, and what is synthetic:

- In one transaction that is rolled back at the end (the catalogue is left as it was), it
  posts the words of the 21 real photographs of ``bench/reuse_robustness.py`` (the pictures
  scikit-image, scikit-learn and matplotlib ship; the ``bench`` extra) and of ``--scenes``
  pictures from the test suite's scene generator (SYNTHETIC hard distractors: one generator,
  shared textures), under ids above the catalogue's own.
- Every edited copy of the real photographs that the robustness bench makes (its 33 edits in
  24 families: crops down to 25%, collage tiles, photos of a screen, social-media cards...)
  is then looked up with ``provcat.reuse.postings.shared_words`` (the copy and its mirror,
  20 candidates), once per budget. A copy counts when its original is among the answers.
- Prints, per budget: the share of copies found, the weakest families, and the look-up time.

The distractors the scale bench stores are descriptors drawn from generated scenes with 24 of
256 bits flipped: SYNTHETIC, labelled so in its own docstring.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reuse_robustness import families, photos
from tests.reuse_fixtures import scene

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.reuse import postings
from provcat.reuse.features import extract, mirrored

LIMIT = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the catalogue holding the distractors")
    parser.add_argument("--budgets", default="20000,50000,100000")
    parser.add_argument("--scenes", type=int, default=1500)
    parser.add_argument(
        "--query-descriptors",
        type=int,
        default=0,
        help="look up with an even sample of this many of each query's descriptors "
        "(default: all of them, as the matcher does)",
    )
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",") if b]

    images, _stereo = photos()
    real = {name: extract(picture) for name, picture in images.items()}
    table = families(list(images.values()))
    queries: list[tuple[str, int, list[np.ndarray]]] = []
    for family, edits in table.items():
        for number, picture in enumerate(images.values()):
            for edit in edits:
                copy = edit(picture)
                sides = [extract(copy).descriptors, mirrored(copy).descriptors]
                if args.query_descriptors:
                    sides = [postings.sample(d, args.query_descriptors) for d in sides]
                queries.append((family, number, sides))
    print(f"{len(queries)} copies of {len(real)} real photographs", file=sys.stderr)

    catalogue = Catalogue(args.url)
    with catalogue.session() as session:
        stored = int(session.scalar(select(func.count()).select_from(m.Image)) or 0)
        first = int(session.scalar(select(func.max(m.Image.id))) or 0) + 1
        postings.post(
            session, [(first + n, f.descriptors) for n, f in enumerate(real.values())]
        )
        for start in range(0, args.scenes, 100):
            postings.post(
                session,
                [
                    (first + len(real) + n, extract(scene(5000 + n)).descriptors)
                    for n in range(start, min(args.scenes, start + 100))
                ],
            )
        total = stored + len(real) + args.scenes
        print(
            f"# Candidate recall: {stored:,} stored images, plus {len(real)} real photographs "
            f"and {args.scenes:,} generated scenes (rolled back afterwards); query descriptors: "
            f"{args.query_descriptors or 'all'}\n"
        )
        print("| budget (postings) | top-20 recall | look-up p50 / p95 ms | weakest families |")
        print("|---|---|---|---|")
        for budget in budgets:
            print(row(session, queries, first, total, budget), flush=True)
        session.rollback()
    catalogue.close()


def row(
    session: Session,
    queries: list[tuple[str, int, list[np.ndarray]]],
    first: int,
    total: int,
    budget: int,
) -> str:
    """One budget's line of the table."""
    postings.POSTINGS_BUDGET = budget
    found: defaultdict[str, list[bool]] = defaultdict(list)
    times = []
    for family, number, descriptors in queries:
        start = time.perf_counter()
        answers = postings.shared_words(session, descriptors, limit=LIMIT, images=total)
        times.append(1000 * (time.perf_counter() - start))
        found[family].append(first + number in {image_id for image_id, _ in answers})
    share = sum(sum(hits) for hits in found.values()) / len(queries)
    weakest = sorted(found.items(), key=lambda item: sum(item[1]) / len(item[1]))[:3]
    names = ", ".join(f"{family} {sum(hits) / len(hits):.2f}" for family, hits in weakest)
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"| {budget:,} | {share:.3f} | {statistics.median(times):.1f} / {p95:.1f} | {names} |"


if __name__ == "__main__":
    main()

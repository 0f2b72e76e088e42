"""Sweep the near-duplicate threshold over the labelled caption pairs and print the table.

Run: .venv/bin/python bench/caption_threshold.py
The labelled set is tests/data/caption_pairs.py; docs/duplicates.md quotes this output.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from data.caption_pairs import labelled_pairs
from provcat.duplicates import NEAR_THRESHOLD, are_near, similarity


def main() -> None:
    """Print the similarity range per edit family and precision/recall per threshold."""
    pairs = labelled_pairs()
    scored = [(similarity(a, b), same, family) for a, b, same, family in pairs]
    ruled = {(a, b): are_near(a, b, threshold=0.0001) for a, b, _same, _family in pairs}
    by_family: dict[str, list[float]] = defaultdict(list)
    for score, _same, family in scored:
        by_family[family].append(score)
    print(f"{len(pairs)} labelled pairs; threshold in use {NEAR_THRESHOLD}")
    print(f"{'family':24} {'pairs':>5} {'min':>6} {'max':>6}")
    for family, scores in sorted(by_family.items()):
        print(f"{family:24} {len(scores):5d} {min(scores):6.3f} {max(scores):6.3f}")
    print()
    print("similarity alone, and similarity with the word-edit rule (what provcat uses):")
    print(
        f"{'threshold':>9} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7}   "
        f"{'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7}"
    )
    for step in range(70, 100, 3):
        t = step / 100
        cells = []
        for use_rule in (False, True):
            said = [
                s >= t and (ruled[(a, b)] or not use_rule)
                for (a, b, _same, _family), (s, _, _) in zip(pairs, scored, strict=True)
            ]
            tp = sum(1 for yes, (_, same, _) in zip(said, scored, strict=True) if yes and same)
            fp = sum(1 for yes, (_, same, _) in zip(said, scored, strict=True) if yes and not same)
            fn = sum(1 for yes, (_, same, _) in zip(said, scored, strict=True) if not yes and same)
            precision = tp / (tp + fp) if tp + fp else 1.0
            cells.append(f"{fp:4d} {fn:4d} {precision:9.3f} {tp / (tp + fn):7.3f}")
        print(f"{t:9.2f} " + "   ".join(cells))


if __name__ == "__main__":
    main()

"""Precision and recall of caption extraction on the labelled fixtures in tests/data/articles.

Run from the repository root:

    .venv/bin/python bench/extraction_quality.py

A found caption occurrence matches a labelled one when text (exactly) and origin agree; the
matching is position-aware: the two sequences are aligned in order (longest common
subsequence), so a caption printed three times must be found three times, and a repeat found
in the wrong place does not count twice. Matched pairs are also checked for image_refs and
credit. Prints one Markdown table (docs/extraction.md holds a copy of its output).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from provcat.articles import read_article

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "articles"


@dataclass(frozen=True)
class Score:
    """Counts for one fixture or a group of fixtures."""

    labelled: int
    found: int
    matched: int
    refs_ok: int
    credit_ok: int

    def __add__(self, other: Score) -> Score:
        return Score(
            self.labelled + other.labelled,
            self.found + other.found,
            self.matched + other.matched,
            self.refs_ok + other.refs_ok,
            self.credit_ok + other.credit_ok,
        )


def align(
    found: list[dict[str, object]], labelled: list[dict[str, object]]
) -> list[tuple[int, int]]:
    """Longest common subsequence of two caption lists on (text, origin); returns index pairs."""
    keys_f = [(c["text"], c["origin"]) for c in found]
    keys_l = [(c["text"], c["origin"]) for c in labelled]
    n, m = len(keys_f), len(keys_l)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if keys_f[i] == keys_l[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if keys_f[i] == keys_l[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def score_fixture(path: Path) -> tuple[Score, dict[str, object]]:
    """Score one fixture against its .expected.json."""
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text("utf-8"))
    article = read_article(path)
    found: list[dict[str, object]] = [
        {"text": c.text, "origin": c.origin, "image_refs": list(c.image_refs), "credit": c.credit}
        for c in article.captions
    ]
    labelled: list[dict[str, object]] = expected["captions"]
    pairs = align(found, labelled)
    refs_ok = sum(found[i]["image_refs"] == labelled[j]["image_refs"] for i, j in pairs)
    credit_ok = sum(found[i]["credit"] == labelled[j]["credit"] for i, j in pairs)
    return Score(len(labelled), len(found), len(pairs), refs_ok, credit_ok), expected


def ratio(numerator: int, denominator: int) -> str:
    """A 0-1 figure with three decimals, or n/a when the denominator is 0."""
    return f"{numerator / denominator:.3f}" if denominator else "n/a"


def row(name: str, kind: str, group: str, score: Score) -> str:
    """One Markdown table row."""
    return (
        f"| {name} | {kind} | {group} | {score.labelled} | {score.found} | {score.matched} | "
        f"{ratio(score.matched, score.found)} | {ratio(score.matched, score.labelled)} | "
        f"{score.refs_ok}/{score.matched} | {score.credit_ok}/{score.matched} |"
    )


def main() -> int:
    """Print the table; return 0."""
    paths = sorted(
        p for p in FIXTURES.iterdir() if p.is_file() and not p.name.endswith(".expected.json")
    )
    totals: dict[tuple[str, str], Score] = {}
    print(
        "| fixture | kind | set | labelled | found | matched | precision | recall | "
        "refs ok | credit ok |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        score, expected = score_fixture(path)
        kind = str(expected["kind"])
        group = "held-out" if expected.get("held_out") else "tuning"
        print(row(path.name, kind, group, score))
        for key in ((kind, group), (kind, "all"), ("all", group), ("all", "all")):
            totals[key] = totals.get(key, Score(0, 0, 0, 0, 0)) + score
    for kind, group in (
        ("text", "tuning"),
        ("html", "tuning"),
        ("text", "held-out"),
        ("html", "held-out"),
        ("all", "tuning"),
        ("all", "held-out"),
        ("all", "all"),
    ):
        if (kind, group) in totals:
            print(row("**total**", kind, group, totals[(kind, group)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

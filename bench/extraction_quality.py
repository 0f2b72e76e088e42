"""Precision and recall of caption extraction: the labelled fixtures and the invented corpus.

Run from the repository root:

    .venv/bin/python bench/extraction_quality.py

Two tables. The first is the hand-labelled fixtures in tests/data/articles. The second is the
SYNTHETIC plain-text corpus that tests/data/news_corpus.py generates (invented Daily-Mail-style
scrapes, a dev split the rules were tuned on and a held-out split from other word banks),
scored per caption pattern for the current extractor and, in the same run, for the baseline:
the plain-text extractor as it was before issue 8 part 2 (src/provcat/articles/text.py at
commit 582f92a), read from the repository's history with git when the bench starts.

A found caption occurrence matches a labelled one when text (exactly) and origin agree; the
matching is position-aware: the two sequences are aligned in order (longest common
subsequence), so a caption printed three times must be found three times, and a repeat found
in the wrong place does not count twice. Matched pairs are also checked for image_refs and
credit. Prints one Markdown table (docs/extraction.md holds a copy of its output).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from data.news_corpus import (
    HELD_OUT,
    PATTERNS,
    SyntheticArticle,
    align,
    dev_corpus,
    held_out_corpus,
    score,
)
from provcat.articles import ScrapedArticle, parse_text, read_article

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


def align_captions(
    found: list[dict[str, object]], labelled: list[dict[str, object]]
) -> list[tuple[int, int]]:
    """Longest common subsequence of two caption lists on (text, origin); index pairs."""
    return align(
        [(c["text"], c["origin"]) for c in found], [(c["text"], c["origin"]) for c in labelled]
    )


def score_fixture(path: Path) -> tuple[Score, dict[str, object]]:
    """Score one fixture against its .expected.json."""
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text("utf-8"))
    article = read_article(path)
    found: list[dict[str, object]] = [
        {"text": c.text, "origin": c.origin, "image_refs": list(c.image_refs), "credit": c.credit}
        for c in article.captions
    ]
    labelled: list[dict[str, object]] = expected["captions"]
    pairs = align_captions(found, labelled)
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


Reader = Callable[[str], ScrapedArticle]


def _current(text: str) -> ScrapedArticle:
    return parse_text(text, source_path=Path("synthetic.txt"))


#: The commit whose plain-text extractor is the baseline (the last one before issue 8 part 2).
BASELINE_COMMIT = "582f92a"


def _load_baseline() -> Callable[..., ScrapedArticle]:
    """parse_text of the baseline commit's extractor, loaded as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:src/provcat/articles/text.py"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="provcat-baseline-"))
    (folder / "baseline_text.py").write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_text", folder / "baseline_text.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the baseline extractor of {BASELINE_COMMIT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_text"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    parse: Callable[..., ScrapedArticle] = module.parse_text
    return parse


_BASELINE_PARSE: list[Callable[..., ScrapedArticle]] = []


def _baseline(text: str) -> ScrapedArticle:
    if not _BASELINE_PARSE:
        _BASELINE_PARSE.append(_load_baseline())
    return _BASELINE_PARSE[0](text, source_path=Path("synthetic.txt"))


def corpus_counts(articles: list[SyntheticArticle], read: Reader) -> Counter[tuple[str, str]]:
    """Summed ``score`` counts over a split, plus title, publisher and warning checks."""
    total: Counter[tuple[str, str]] = Counter()
    for article in articles:
        parsed = read(article.text)
        total += score(article, [c.text for c in parsed.captions])
        total["articles", "all"] += 1
        total["title ok", "all"] += parsed.title == article.title
        total["publisher ok", "all"] += parsed.publisher == article.publisher
        warned = bool(getattr(parsed, "warnings", ()))
        total["flattened", "all"] += article.flattened
        total["flattened warned", "all"] += article.flattened and warned
        total["warned wrongly", "all"] += warned and not article.flattened
    return total


def _pr(counts: Counter[tuple[str, str]], patterns: list[str]) -> tuple[int, int, int]:
    truth = sum(counts["truth", p] for p in patterns)
    matched = sum(counts["matched", p] for p in patterns)
    spurious = sum(counts["spurious", p] for p in patterns)
    return truth, matched, spurious


def corpus_table() -> None:
    """Print precision and recall per pattern, baseline and current, on both splits."""
    print(
        "\n| split | pattern | occurrences | baseline recall | baseline precision | "
        "recall | precision |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    summaries = []
    for name, articles in (("dev", dev_corpus()), (HELD_OUT, held_out_corpus())):
        before = corpus_counts(articles, _baseline)
        after = corpus_counts(articles, _current)
        blamed = sorted({k for (what, k) in before + after if what == "spurious"})
        rows = [(p, [p]) for p in PATTERNS]
        rows += [(f"non-caption: {k}", [k]) for k in blamed if k not in PATTERNS]
        everything = list(PATTERNS) + [k for k in blamed if k not in PATTERNS]
        without_flat = [k for k in everything if k != "flattened"]
        rows += [("**all but flattened**", without_flat), ("**all**", everything)]
        for label, keys in rows:
            cells = []
            for counts in (before, after):
                truth, matched, spurious = _pr(counts, keys)
                cells += [ratio(matched, truth), ratio(matched, matched + spurious)]
            truth_cell = str(_pr(after, keys)[0])
            if label.startswith("non-caption"):
                truth_cell = "-"
                cells = ["", f"{_pr(before, keys)[2]} wrong", "", f"{_pr(after, keys)[2]} wrong"]
            print(f"| {name} | {label} | {truth_cell} | " + " | ".join(cells) + " |")
        summaries.append((name, before, after))
    print(
        "\n| split | articles | title right (baseline / now) | publisher right | "
        "flattened articles warned | other articles warned |"
    )
    print("|---|---:|---|---|---|---|")
    for name, before, after in summaries:
        n = after["articles", "all"]
        print(
            f"| {name} | {n} | {before['title ok', 'all']} / {after['title ok', 'all']} | "
            f"{before['publisher ok', 'all']} / {after['publisher ok', 'all']} | "
            f"{before['flattened warned', 'all']} / {after['flattened warned', 'all']} of "
            f"{after['flattened', 'all']} | "
            f"{before['warned wrongly', 'all']} / {after['warned wrongly', 'all']} |"
        )


def main() -> int:
    """Print the tables; return 0."""
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
    corpus_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())

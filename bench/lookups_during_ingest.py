"""Look-ups while an ingest stores: how long a photo desk's `similar` waits on a SQLite catalogue
that another process is adding files to.

    .venv/bin/python bench/lookups_during_ingest.py --catalogue DIR/provcat_scale_100000.db \\
        --files NEW_FILES --queries DIR --work /tmp/during

The catalogue (and its postings file, if any) is copied into ``--work`` and synced to disk
first, so the original is left as it was. One process loads the look-up index and looks up
the first five ``query-*.jpg`` (else ``*.jpg``) files of ``--queries`` in a loop: ten
look-ups with nothing else running (the baseline, in the same run), then as many as fit
while ``provcat ingest --files`` runs on the copy in a process of its own. It prints both,
and their ratio. With the rollback journal a reader waits while a writer holds the
database's exclusive lock (through each commit, and once a batch's changed pages spill out
of the page cache), so the longest look-up is the figure to watch (docs/scale.md, session
24). The two processes share the machine's cores, so the typical look-up and the ingest's
time also move with how much CPU each took from the other.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scale import percentile

from provcat.catalogue import Catalogue


def copy_catalogue(source: Path, work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    target = work / source.name
    for leftover in work.glob(source.name + "*"):
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    shutil.copyfile(source, target)
    words = source.with_name(source.name + ".words")
    if words.is_dir():
        shutil.copytree(words, target.with_name(target.name + ".words"))
    os.sync()  # the copy's pages written now, not by the first commit timed below
    return target


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, required=True, help="a SQLite catalogue file")
    parser.add_argument("--files", type=Path, required=True, help="a folder to ingest")
    parser.add_argument("--queries", type=Path, required=True, help="a folder of files to look up")
    parser.add_argument("--work", type=Path, required=True, help="where the copy is made")
    args = parser.parse_args()

    queries = sorted(args.queries.glob("query-*.jpg"))[:5] or sorted(args.queries.glob("*.jpg"))[:5]
    if not queries:
        parser.error(f"no .jpg files in {args.queries}")
    database = copy_catalogue(args.catalogue, args.work)
    catalogue = Catalogue(f"sqlite:///{database}")
    try:
        for query in queries:  # the index loaded and the pages read once
            catalogue.similar(query)
        quiet: list[float] = []
        for query in queries * 2:
            start = time.perf_counter()
            catalogue.similar(query)
            quiet.append(time.perf_counter() - start)
        cli = "from provcat.cli import main; main()"
        command = [sys.executable, "-c", cli, "--db", str(database), "ingest"]
        ingest = subprocess.Popen(
            [*command, str(args.files)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        started = time.perf_counter()
        during: list[float] = []
        while ingest.poll() is None:
            query = queries[len(during) % len(queries)]
            start = time.perf_counter()
            catalogue.similar(query)
            during.append(time.perf_counter() - start)
        ingest_s = time.perf_counter() - started
        errors = ingest.stderr.read().decode(errors="replace") if ingest.stderr else ""
    finally:
        catalogue.close()
    if ingest.returncode != 0:
        sys.exit(f"provcat ingest failed ({ingest.returncode}): {errors[-500:]}")
    if not during:
        sys.exit("the ingest ended before a look-up: give it more files")

    def row(name: str, times: list[float]) -> str:
        return (
            f"| {name} | {len(times)} | {ms(statistics.median(times))} "
            f"| {ms(percentile(times, 0.9))} | {ms(max(times))} |"
        )

    print(f"# look-ups while `provcat ingest` stores ({database.name}, {len(queries)} query files)")
    print()
    print("| look-ups | count | p50 ms | p90 ms | longest ms |")
    print("|---|---|---|---|---|")
    print(row("nothing else running (baseline)", quiet))
    print(row(f"during the ingest ({ingest_s:.1f} s)", during))
    print()
    ratio = max(during) / statistics.median(quiet)
    print(f"longest look-up during the ingest: {ratio:.1f}x the baseline's p50")


if __name__ == "__main__":
    main()

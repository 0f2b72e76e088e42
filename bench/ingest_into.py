"""Ingest into a large catalogue: new photos added to one the scale bench built (issue 9).

Run from the repository root (not part of the unit tests), on a SQLite catalogue that
``bench/scale.py --sizes 100000 --work DIR`` left (``DIR/provcat_scale_100000.db``):

    .venv/bin/python bench/ingest_into.py DIR/provcat_scale_100000.db [--runs 2] [--new 72]

Each run copies the catalogue (and its postings file, ``.words``) to a scratch folder beside
it, writes the copy to the disk (``sync``, so that no run pays for flushing the copy), and
times ``Catalogue.ingest`` of a folder of new files: ``--new`` SYNTHETIC pictures (the test
suite's scene generator, 800 x 600, seeds the catalogue does not hold) and an edited copy of
each of 8 of the catalogue's 20 ingested originals (the scale bench's four everyday edits:
crop, mirror at half size, banner, turn). It prints, per run: the whole ingest in images/s,
the storing phase (every file prepared and written and, on SQLite since session 33, the
words of the stored images posted: ``posting`` times ``provcat.ingest.Ingester.
_post_pending``), matching, and what follows it (the postings file brought up to date when
enough is outside it), with the peak RSS of the process and whether every edited copy was
matched to its original. ``--keep`` leaves the last copy.

The phases are read from the ingest's progress calls (``provcat.ingest``): the storing
phase ends at the first "matching reused photos" call, matching at the last.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import edited
from tests.reuse_fixtures import scene

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.ingest import Ingester

COPIES = 8


def new_files(folder: Path, originals: list[Path], count: int) -> dict[Path, Path]:
    """``count`` new scenes and an edited copy of each of :data:`COPIES` originals in
    ``folder`` (made once); returns each copy's original."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        path = folder / f"new-{number:03d}.jpg"
        if not path.exists():
            scene(90_000 + number, (800, 600)).save(path, quality=88)
    copies = {}
    for number, original in enumerate(originals[:COPIES]):
        path = folder / f"copy-{number}-{original.stem}.jpg"
        if not path.exists():
            with Image.open(original) as image:
                edited(image.convert("RGB"), number).save(path, quality=85)
        copies[path] = original
    return copies


def one_run(
    database: Path, scratch: Path, folder: Path, copies: dict[Path, Path]
) -> dict[str, Any]:
    """Copy the catalogue into ``scratch``, ingest ``folder`` into the copy, time its phases."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    copy = scratch / database.name
    shutil.copyfile(database, copy)
    words = database.with_name(database.name + ".words")
    if words.is_dir():
        shutil.copytree(words, copy.with_name(copy.name + ".words"))
    subprocess.run(["sync"], check=True)
    catalogue = Catalogue(f"sqlite:///{copy}")
    marks: dict[str, float] = {}

    def progress(_done: int, _total: int, what: str) -> None:
        now = time.perf_counter()
        if what == "matching reused photos":
            marks.setdefault("matching", now)
            marks["matched"] = now

    # The words' posting timed where the ingest has it (provcat.ingest.Ingester._post_pending,
    # SQLite, since session 33; before, each batch posted its own words as it was stored).
    posting: list[float] = []
    post_pending = getattr(Ingester, "_post_pending", None)

    def timed(self: Ingester, *args: Any, **kwargs: Any) -> None:
        begun = time.perf_counter()
        assert post_pending is not None
        post_pending(self, *args, **kwargs)
        posting.append(time.perf_counter() - begun)

    if post_pending is not None:
        Ingester._post_pending = timed  # type: ignore[method-assign]
    start = time.perf_counter()
    try:
        result = catalogue.ingest([folder], progress=progress)
    finally:
        if post_pending is not None:
            Ingester._post_pending = post_pending  # type: ignore[method-assign]
    end = time.perf_counter()
    files = len(list(folder.iterdir()))
    found = 0
    with catalogue.session() as session:
        for path, original in copies.items():
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            wanted = hashlib.sha256(original.read_bytes()).hexdigest()
            image = session.scalar(select(m.Image).where(m.Image.sha256 == sha))
            assert image is not None
            pairs = session.scalars(
                select(m.PhotoMatch).where(
                    (m.PhotoMatch.copy_id == image.id) | (m.PhotoMatch.reference_id == image.id)
                )
            ).all()
            others = {p.reference.sha256 for p in pairs} | {p.copy.sha256 for p in pairs}
            found += wanted in others
    catalogue.close()
    assert result.images_added == files, result
    stored = marks.get("matching", end)
    return {
        "files": files,
        "seconds": end - start,
        "rate": files / (end - start),
        "storing": stored - start,
        "posting": sum(posting) if posting else None,
        "matching": marks.get("matched", stored) - stored,
        "after": end - marks.get("matched", stored),
        "found": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="a SQLite catalogue the scale bench built")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--new", type=int, default=72, help="new scenes (besides 8 copies)")
    parser.add_argument("--keep", action="store_true", help="leave the last copy")
    args = parser.parse_args()
    database = args.database.resolve()
    work = database.parent
    originals = sorted((work / "files").glob("*.jpg"))[:20]
    folder = work / f"ingest-into-{args.new}"
    copies = new_files(folder, originals, args.new)
    scratch = work / "ingest-into-scratch"
    print(f"# Ingest into {database.name} (pid {os.getpid()})\n")
    print(
        "| run | files | s | images/s | storing s (posting s) | matching s | after it s "
        "| copies found |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in range(1, args.runs + 1):
        row = one_run(database, scratch, folder, copies)
        posting = "-" if row["posting"] is None else f"{row['posting']:.1f}"
        print(
            f"| {run} | {row['files']} | {row['seconds']:.1f} | {row['rate']:.2f} "
            f"| {row['storing']:.1f} ({posting}) | {row['matching']:.1f} | {row['after']:.1f} "
            f"| {row['found']} of {len(copies)} |",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak RSS of this process: {peak:.0f} MB.")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

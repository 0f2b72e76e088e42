"""Ingest into a large catalogue: new photos added to one the scale bench built (issue 9).

Run from the repository root (not part of the unit tests), on a SQLite catalogue that
``bench/scale.py --sizes 100000 --work DIR`` left (``DIR/provcat_scale_100000.db``):

    .venv/bin/python bench/ingest_into.py DIR/provcat_scale_100000.db [--runs 2] [--new 72]

Or on a PostgreSQL catalogue the scale bench left on the server (``bench/scale.py --sizes
10000 --postgres URL --work DIR``), given by its URL and the bench's folder:

    .venv/bin/python bench/ingest_into.py \
        postgresql+psycopg://postgres@127.0.0.1:5432/provcat_scale_10000 --work DIR

Each run copies the catalogue (and its postings file, ``.words``) to a scratch folder beside
it and writes the copy to the disk (``sync``, so that no run pays for flushing the copy), or
on PostgreSQL copies the database on the server (``CREATE DATABASE ... TEMPLATE``, then a
checkpoint), and times ``Catalogue.ingest`` of a folder of new files: ``--new`` SYNTHETIC
pictures (the test suite's scene generator, 800 x 600, seeds the catalogue does not hold)
and an edited copy of each of 8 of the catalogue's 20 ingested originals (the scale bench's
four everyday edits: crop, mirror at half size, banner, turn). It prints, per run: the whole
ingest in images/s; the storing phase (every file prepared and written and, on SQLite since
session 33, the words of the stored images posted: ``posting`` times
``provcat.ingest.Ingester._post_pending``); ``upserts``, the time spent upserting words into
the postings table (``provcat.reuse.postings.post_words``) on either engine, which on
PostgreSQL, posting each batch's words as it stores it, is all of its posting; matching; and
what follows it (the postings file brought up to date when enough is outside it); with the
peak RSS of the process and whether every edited copy was matched to its original.
``--keep`` leaves the last copy.

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
from provcat.reuse import postings

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


def sqlite_copy(database: Path, scratch: Path) -> str:
    """A copy of the SQLite catalogue (and its postings file) in ``scratch``, made anew and
    written to the disk; its URL."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    copy = scratch / database.name
    shutil.copyfile(database, copy)
    words = database.with_name(database.name + ".words")
    if words.is_dir():
        shutil.copytree(words, copy.with_name(copy.name + ".words"))
    subprocess.run(["sync"], check=True)
    return f"sqlite:///{copy}"


def postgres_copy(url: str) -> str:
    """A copy of the PostgreSQL catalogue at ``url`` (``CREATE DATABASE ... TEMPLATE``, as
    ``<name>_ingest_into``, made anew), checkpointed so that no run pays for writing the
    copy; its URL. From PostgreSQL 15 the files are copied (``STRATEGY = FILE_COPY``): its
    default writes the whole copy to the write-ahead log, gigabytes at 10^4 images, whose
    checkpoints then ran during the timed ingests (the same runs took 17.6-31.6 s)."""
    from sqlalchemy import create_engine, text

    base, name = url.rsplit("/", 1)
    copy = f"{name}_ingest_into"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        version = int(conn.scalar(text("SHOW server_version_num")) or 0)
        strategy = " STRATEGY = FILE_COPY" if version >= 150000 else ""
        conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"{strategy}'))
        conn.execute(text("CHECKPOINT"))
    admin.dispose()
    return f"{base}/{copy}"


def one_run(url: str, folder: Path, copies: dict[Path, Path]) -> dict[str, Any]:
    """Ingest ``folder`` into the catalogue at ``url`` (a fresh copy), time its phases."""
    catalogue = Catalogue(url)
    marks: dict[str, float] = {}

    def progress(_done: int, _total: int, what: str) -> None:
        now = time.perf_counter()
        if what == "matching reused photos":
            marks.setdefault("matching", now)
            marks["matched"] = now

    # The words' posting timed where the ingest has it (provcat.ingest.Ingester._post_pending,
    # SQLite, since session 33; before, each batch posted its own words as it was stored).
    posting: list[float] = []
    upserts: list[float] = []
    post_pending = getattr(Ingester, "_post_pending", None)
    post_words = postings.post_words

    def timed_upsert(*args: Any, **kwargs: Any) -> None:
        begun = time.perf_counter()
        post_words(*args, **kwargs)
        upserts.append(time.perf_counter() - begun)

    def timed(self: Ingester, *args: Any, **kwargs: Any) -> None:
        begun = time.perf_counter()
        assert post_pending is not None
        post_pending(self, *args, **kwargs)
        posting.append(time.perf_counter() - begun)

    if post_pending is not None:
        Ingester._post_pending = timed  # type: ignore[method-assign]
    postings.post_words = timed_upsert  # type: ignore[assignment]
    start = time.perf_counter()
    try:
        result = catalogue.ingest([folder], progress=progress)
    finally:
        postings.post_words = post_words  # type: ignore[assignment]
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
        "upserts": sum(upserts),
        "matching": marks.get("matched", stored) - stored,
        "after": end - marks.get("matched", stored),
        "found": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "database",
        help="a SQLite catalogue the scale bench built, or the URL of a PostgreSQL one"
        " (postgresql+psycopg://.../provcat_scale_10000; give --work then)",
    )
    parser.add_argument("--work", type=Path, help="the scale bench's folder (PostgreSQL)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--new", type=int, default=72, help="new scenes (besides 8 copies)")
    parser.add_argument("--keep", action="store_true", help="leave the last copy")
    args = parser.parse_args()
    postgres = args.database.startswith("postgresql")
    if postgres and args.work is None:
        parser.error("a PostgreSQL catalogue needs --work, the scale bench's folder (its files/)")
    database = Path(args.database).resolve()
    work = args.work if postgres else database.parent
    originals = sorted((work / "files").glob("*.jpg"))[:20]
    folder = work / f"ingest-into-{args.new}"
    copies = new_files(folder, originals, args.new)
    scratch = work / "ingest-into-scratch"
    print(f"# Ingest into {database.name} (pid {os.getpid()})\n")
    if postgres:  # the copy is made on the server
        print(f"PostgreSQL: each run on a copy of {args.database.rsplit('/', 1)[1]}.\n")
    print(
        "| run | files | s | images/s | storing s (posting s) | upserts s | matching s "
        "| after it s | copies found |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for run in range(1, args.runs + 1):
        url = postgres_copy(args.database) if postgres else sqlite_copy(database, scratch)
        row = one_run(url, folder, copies)
        posting = "-" if row["posting"] is None else f"{row['posting']:.1f}"
        print(
            f"| {run} | {row['files']} | {row['seconds']:.1f} | {row['rate']:.2f} "
            f"| {row['storing']:.1f} ({posting}) | {row['upserts']:.1f} | {row['matching']:.1f} "
            f"| {row['after']:.1f} "
            f"| {row['found']} of {len(copies)} |",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak RSS of this process: {peak:.0f} MB.")
    if not args.keep and not postgres:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Ingest's memory as the input grows: a folder against one manifest listing the same files.

Run from the repository root (not part of the unit tests):

    .venv/bin/python bench/ingest_memory.py --work DIR [--sizes 400,1600] \
        [--postgres URL] [--cache-kib 2048] [--match]

Issue 9 asks for ingest in flat memory. For each size N (the scale bench's 800 x 600
pictures, made in ``DIR/files`` if missing) it ingests, each in a fresh process and into a
fresh catalogue (a SQLite file in DIR, or a new database on the PostgreSQL server), the folder
of the first N files and a manifest listing them (``bench/scale.py``'s ``as_manifest``: one
printing each), and prints each process's peak resident memory (``VmHWM``) when matching
starts: every file prepared and stored and, on SQLite, the words of the stored images
posted. Matching is left out unless ``--match`` (the matcher's own memory is the scale
bench's business), in which case the peak at the end is printed too.

The baseline, measured in the same run: the folder of the smallest size. Each row prints its
peak as a ratio of that, so flat memory reads as ratios near 1 whatever the size, and the
manifest's row beside the folder's at the same size shows what holding a manifest's files
costs. ``--cache-kib`` sets SQLite's page cache per connection (``provcat.db.
SQLITE_CACHE_KIB``, 64 MiB as shipped): the cache fills with the catalogue's pages up to
that size, real memory but bounded, which a small value keeps out of the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import as_manifest, fresh_url, make_files


def _peak_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(kind: str, size: int, url: str, given: Path, cache_kib: int, match: bool) -> None:
    """Ingest ``given`` (a folder or a manifest) and print one JSON line of figures."""
    import provcat.db
    from provcat import Catalogue

    provcat.db.SQLITE_CACHE_KIB = cache_kib
    figures: dict[str, Any] = {"kind": kind, "size": size}
    start = time.perf_counter()

    def progress(_done: int, _total: int, what: str) -> None:
        if what == "matching reused photos" and "stored_mb" not in figures:
            figures["stored_mb"] = _peak_mb()
            figures["stored_s"] = time.perf_counter() - start
            if not match:
                print(json.dumps(figures), flush=True)
                os._exit(0)  # the matching is not measured: the catalogue is thrown away

    catalogue = Catalogue(url)
    result = catalogue.ingest([given], progress=progress)
    assert result.images_added == size, result
    figures["end_mb"] = _peak_mb()
    figures["end_s"] = time.perf_counter() - start
    print(json.dumps(figures), flush=True)


def run(kind: str, size: int, files: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    work: Path = args.work
    name = f"provcat_memory_{kind}_{size}"
    if kind == "folder":
        given = work / f"folder-{size}"
        shutil.rmtree(given, ignore_errors=True)
        given.mkdir()
        for path in files[:size]:
            os.link(path, given / path.name)
    else:
        given = as_manifest(files[:size], work / f"record-{size}")
    url = fresh_url(work, args.postgres, name)
    command = [sys.executable, __file__, "--work", str(work), "--child", kind, str(size), url]
    command += [str(given)]
    command += ["--cache-kib", str(args.cache_kib), *(["--match"] if args.match else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    _drop(work, args.postgres, name)
    if done.returncode != 0:
        raise SystemExit(f"{kind} of {size} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _drop(work: Path, postgres: str | None, name: str) -> None:
    """Throw the catalogue away (the next size needs the disk more than anyone needs it)."""
    if not postgres:
        for made in work.glob(f"{name}.db*"):
            made.unlink()
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    import provcat.db

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sizes", default="400,1600")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server's URL")
    parser.add_argument("--cache-kib", type=int, default=provcat.db.SQLITE_CACHE_KIB)
    parser.add_argument("--match", action="store_true", help="measure the matching too")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, size, url, given = args.child
        child(kind, int(size), url, Path(given), args.cache_kib, args.match)
        return

    sizes = sorted(int(n) for n in args.sizes.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    files = make_files(args.work / "files", sizes[-1])
    rows = [run(kind, size, files, args) for size in sizes for kind in ("folder", "manifest")]
    base = rows[0]["stored_mb"]
    engine = "PostgreSQL" if args.postgres else f"SQLite, {args.cache_kib} KiB page cache"
    print(f"\nIngest's peak resident memory ({engine}; baseline: the folder of {sizes[0]})\n")
    end = " | peak at the end MB | x baseline" if args.match else ""
    print(f"| input | files | peak when matching starts MB | x baseline | storing s{end} |")
    print("|---|---|---|---|---|" + ("---|---|" if args.match else ""))
    for row in rows:
        line = f"| {row['kind']} | {row['size']:,} | {row['stored_mb']:.0f} "
        line += f"| {row['stored_mb'] / base:.2f} | {row['stored_s']:.1f} |"
        if args.match:
            line += f" {row['end_mb']:.0f} | {row['end_mb'] / base:.2f} |"
        print(line)


if __name__ == "__main__":
    main()

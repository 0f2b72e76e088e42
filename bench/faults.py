"""Fault bench: kill -9 at random points of an ingest, run it again, compare with a clean ingest;
and several ingesters at once against one.

    .venv/bin/python bench/faults.py                      # 50 kills, 300 images, SQLite
    .venv/bin/python bench/faults.py --postgres postgresql://postgres@127.0.0.1:5432/test

The corpus is synthetic and labelled so: textured pictures generated here, each original with
one edited copy (crop, mirror, half size, JPEG quality 40 or a caption banner), a manifest
record with credits, and three broken files (rejections). Every comparison covers every table
of the catalogue: rows are compared as multisets after replacing database ids with the natural
key of the row they point at, leaving out timestamps, a rejection's attempt count (a file
attempted in a killed run and again in its re-run was attempted twice) and the number of the
matching turn an image was matched in (concurrent runs number turns in another order); only
whether an image was matched is compared. A photo match is compared as its pair of images
and its relation kinds, and also with its direction, which is reported apart for concurrent
runs: which of two copies was stored first is a race there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from provcat import models as m
from provcat.config import database_url
from provcat.reuse.postings import unpack

PROVCAT = str(Path(sys.executable).with_name("provcat"))
LEFT_OUT = {"id", "first_seen_at", "created_at", "found_at", "first_at", "last_at", "attempts"}


# -- the corpus --------------------------------------------------------------------------------


def picture(rng: np.random.Generator, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A textured synthetic picture: colour field, noise and 30 random shapes."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            120 + 80 * np.sin(rng.uniform(1, 6) * x / width + rng.uniform(0, 6))
            + 40 * np.cos(rng.uniform(1, 6) * y / height)
            for _ in range(3)
        ],
        axis=-1,
    )
    base += rng.normal(0, 12, base.shape)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x0, y0 = int(rng.integers(0, width - 30)), int(rng.integers(0, height - 30))
        x1, y1 = x0 + int(rng.integers(12, 140)), y0 + int(rng.integers(12, 110))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=colour)
    # Soften the drawn edges and add sensor-like grain, as a photograph has.
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    grain = rng.normal(0, 5, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8), "RGB")


def edited(image: Image.Image, kind: str, number: int) -> Image.Image:
    """One edited copy of ``image``."""
    width, height = image.size
    if kind == "crop":
        return image.crop((width // 6, height // 8, width - width // 8, height - height // 6))
    if kind == "mirror":
        return ImageOps.mirror(image)
    if kind == "small":
        return image.resize((width // 2, height // 2))
    if kind == "banner":
        copy = image.copy()
        draw = ImageDraw.Draw(copy)
        top = height - height // 6
        draw.rectangle((0, top, width, height), fill=(20 + number % 200, 30, 140))
        draw.text((12, top + 12), f"STORY {number}: DEVELOPING", fill=(255, 255, 255))
        return copy
    return image  # "jpeg": the same picture, saved at a low quality below


def build_corpus(folder: Path, images: int, seed: int) -> None:
    """``images`` image files in ``folder`` (half originals, half copies), one manifest record
    and three broken files."""
    rng = np.random.default_rng(seed)
    loose = folder / "loose"
    loose.mkdir(parents=True)
    kinds = ["crop", "mirror", "small", "jpeg", "banner"]
    originals = images // 2 - 5
    for number in range(originals):
        image = picture(rng)
        image.save(loose / f"{number:04d}-original.jpg", quality=92)
        kind = kinds[number % len(kinds)]
        quality = 40 if kind == "jpeg" else 88
        edited(image, kind, number).save(loose / f"{number:04d}-{kind}.jpg", quality=quality)
    record = folder / "record"
    (record / "images").mkdir(parents=True)
    entries = []
    for number in range(10):
        picture(rng).save(record / "images" / f"{number}.jpg", quality=90)
        entries.append(
            f'[[images]]\nfile = "images/{number}.jpg"\n  [[images.printings]]\n'
            f"  position = {number + 1}\n  caption = \"Synthetic stand-in picture {number}\"\n"
            f'  credit = "Photographer {number % 3} via Agency {number % 2}"\n'
        )
    (record / "manifest.toml").write_text(
        '[article]\nid = "fault-bench"\ntitle = "Synthetic stand-in record"\n'
        'publisher = "Bench Daily"\npublished = "2017-02-20"\n\n' + "\n".join(entries),
        encoding="utf-8",
    )
    (loose / "zz-not-an-image.jpg").write_bytes(b"plain text, not a picture\n")
    whole = (loose / "0000-original.jpg").read_bytes()
    (loose / "zz-truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (loose / "zz-empty.png").write_bytes(b"")


# -- databases ---------------------------------------------------------------------------------


class Databases:
    """Fresh catalogue databases: SQLite files, or PostgreSQL databases created and dropped."""

    def __init__(self, work: Path, postgres: str | None) -> None:
        self.work = work
        self.postgres = database_url(postgres) if postgres else None
        self.made: list[str] = []

    def fresh(self) -> str:
        name = f"faults_{uuid.uuid4().hex[:10]}"
        if self.postgres is None:
            return f"sqlite:///{self.work / (name + '.db')}"
        admin = create_engine(self.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.made.append(name)
        return make_url(self.postgres).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.postgres is None:
            return
        admin = create_engine(self.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def ingest_command(url: str, corpus: Path) -> list[str]:
    return [PROVCAT, "--db", url, "ingest", "--json", str(corpus)]


def run_ingest(url: str, corpus: Path) -> dict[str, Any]:
    done = subprocess.run(ingest_command(url, corpus), capture_output=True, text=True, check=False)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


# -- comparing catalogues ----------------------------------------------------------------------


def dump(url: str, *, directed: bool = True) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every table as a multiset of rows, ids replaced by the natural key of their target."""
    engine = create_engine(database_url(url))
    keys: dict[tuple[str, Any], tuple[Any, ...]] = {}
    tables: dict[str, Counter[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        # The postings name images by id without a foreign key: read after the images.
        ordered = sorted(m.Base.metadata.sorted_tables, key=lambda t: t.name == "word_posting")
        for table in ordered:
            foreign = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
            rows: Counter[tuple[Any, ...]] = Counter()
            for row in conn.execute(select(table)).mappings():
                values: list[Any] = []
                for column in table.columns:
                    name = column.name
                    value = row[name]
                    if name in LEFT_OUT:
                        continue
                    if name in foreign and value is not None:
                        value = keys[(foreign[name], value)]
                    elif name in ("match_seq", "resolved_at"):
                        value = value is not None
                    elif table.name == "word_posting" and name == "ids" and value is not None:
                        # Image ids, in the order their ingests committed: compared as the
                        # set of the images' natural keys.
                        value = frozenset(keys[("image", i)] for i in unpack(value).tolist())
                    elif isinstance(value, bytes):
                        value = hashlib.sha256(value).hexdigest()
                    values.append((name, value))
                key = tuple(values)
                if table.name == "photo_match" and not directed:
                    named = dict(values)
                    pair = frozenset((named["reference_id"], named["copy_id"]))
                    key = (("pair", pair), ("kinds", named["kinds"]))
                if "id" in table.columns:
                    keys[(table.name, row["id"])] = key
                rows[key] += 1
            if table.name == "pdq_pair":
                # Which pairs join a photo depends on the order its images were matched in:
                # compared as the photos they make.
                rows = _joined(rows)
            tables[table.name] = rows
    engine.dispose()
    return tables


def _joined(pairs: Counter[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """The groups of images that ``pdq_pair``'s rows join, each a row of its own."""
    group: dict[Any, frozenset[Any]] = {}
    for row in pairs:
        named = dict(row)
        first, second = named["first_id"], named["second_id"]
        joined = group.get(first, frozenset([first])) | group.get(second, frozenset([second]))
        for member in joined:
            group[member] = joined
    return Counter((("images", members),) for members in set(group.values()))


def differences(
    clean: dict[str, Counter[tuple[Any, ...]]], other: dict[str, Counter[tuple[Any, ...]]]
) -> tuple[int, int]:
    """(rows the clean catalogue has and the other lacks, rows the other has in excess)."""
    lost = sum(sum((clean[t] - other[t]).values()) for t in clean)
    extra = sum(sum((other[t] - clean[t]).values()) for t in clean)
    return lost, extra


def pending_images(url: str) -> tuple[int, int]:
    """(images stored, images stored whose matching had not finished)."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM image")).scalar() or 0
            waiting = (
                conn.execute(text("SELECT count(*) FROM image WHERE match_seq IS NULL")).scalar()
                or 0
            )
    except Exception:  # killed before the schema existed
        return 0, 0
    finally:
        engine.dispose()
    return int(stored), int(waiting)


# -- the two experiments -----------------------------------------------------------------------


def killed_ingest(url: str, corpus: Path, delay: float) -> tuple[bool, int, int]:
    """Start an ingest and SIGKILL it after ``delay`` seconds: (whether it was still running,
    images stored, images pending matching)."""
    child = subprocess.Popen(
        ingest_command(url, corpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    killed = child.poll() is None
    child.send_signal(signal.SIGKILL)
    child.wait()
    stored, waiting = pending_images(url)
    return killed, stored, waiting


def kill_trial(
    dbs: Databases, corpus: Path, clean: dict[str, Counter[tuple[Any, ...]]], delay: float
) -> tuple[bool, int, int, int, int]:
    """Ingest into a fresh catalogue, kill -9 after ``delay`` seconds, run the ingest again to
    the end and compare with the clean catalogue: (killed, stored, pending, lost, extra);
    killed is False when the ingest had ended before the kill."""
    url = dbs.fresh()
    killed, stored, waiting = killed_ingest(url, corpus, delay)
    run_ingest(url, corpus)
    lost, extra = differences(clean, dump(url))
    return killed, stored, waiting, lost, extra


def kill_trials(
    dbs: Databases, corpus: Path, clean: dict[str, Counter[tuple[Any, ...]]], trials: int,
    clean_seconds: float, seed: int, jobs: int,
) -> None:
    rng = random.Random(seed)
    # Spread over the run (side-by-side trials run slower, so the span is stretched by --jobs,
    # and kept short of the end so every kill lands while the ingest still runs).
    delays = [rng.uniform(0.02, 0.9) * clean_seconds for _ in range(trials)]
    identical = landed = during_matching = total_lost = total_extra = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(lambda d: kill_trial(dbs, corpus, clean, d), delays)
        for trial, (delay, (killed, stored, waiting, lost, extra)) in enumerate(
            zip(delays, results, strict=True), start=1
        ):
            landed += killed
            during_matching += waiting > 0
            identical += lost == extra == 0
            total_lost += lost
            total_extra += extra
            when = "killed" if killed else "ended before the kill"
            print(
                f"  trial {trial:2d}, {when} at {delay:5.1f} s: {stored:3d} images stored, "
                f"{waiting} pending matching; after re-run {lost} rows lost, {extra} extra",
                flush=True,
            )
    print(
        f"kill -9 and re-run: {identical}/{trials} identical to the clean ingest; {landed} of "
        f"the kills landed during the ingest, {during_matching} of them with images pending "
        f"matching; rows lost {total_lost}, duplicated or extra {total_extra}"
    )


def kill_chain(
    dbs: Databases, corpus: Path, clean: dict[str, Counter[tuple[Any, ...]]], kills: int,
    clean_seconds: float, seed: int,
) -> None:
    """One catalogue, ``kills`` ingests killed one after another (each resuming what the last
    left), then a last ingest to the end, compared with the clean catalogue."""
    rng = random.Random(seed)
    url = dbs.fresh()
    # A started ingest spends its first seconds importing and loading its index; the kills are
    # spread so that together they cover the whole ingest.
    startup = 3.0
    share = clean_seconds / kills
    landed = during_matching = 0
    for number in range(1, kills + 1):
        delay = startup + rng.uniform(0.0, 2 * share)
        killed, stored, waiting = killed_ingest(url, corpus, delay)
        landed += killed
        during_matching += waiting > 0
        print(
            f"  kill {number:2d} after {delay:4.1f} s: {'killed' if killed else 'had ended'}, "
            f"{stored:3d} images stored, {waiting} pending matching",
            flush=True,
        )
    run_ingest(url, corpus)
    lost, extra = differences(clean, dump(url))
    verdict = "identical" if lost == extra == 0 else "DIFFERENT"
    print(
        f"{kills} kill -9 in a row, then a run to the end: {verdict} "
        f"to the clean ingest ({lost} rows lost, {extra} extra); {landed} kills landed during "
        f"an ingest, {during_matching} with images pending matching"
    )


def concurrent_trial(
    dbs: Databases, corpus: Path, clean_url: str, workers: int
) -> None:
    url = dbs.fresh()
    subprocess.run([PROVCAT, "--db", url, "articles"], capture_output=True, check=False)
    started = time.perf_counter()
    children = [
        subprocess.Popen(ingest_command(url, corpus), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    codes = []
    errors = []
    for child in children:
        _out, err = child.communicate()
        codes.append(child.returncode)
        if "Traceback" in err:
            errors.append(err[-1500:])
    seconds = time.perf_counter() - started
    lost, extra = differences(dump(clean_url, directed=False), dump(url, directed=False))
    d_lost, d_extra = differences(dump(clean_url), dump(url))
    engine = create_engine(database_url(url))
    with engine.connect() as conn:
        matches = conn.execute(text("SELECT count(*) FROM photo_match")).scalar()
    engine.dispose()
    print(
        f"{workers} ingesters at once ({seconds:.1f} s, exit codes {codes}, "
        f"{len(errors)} tracebacks): {lost} rows lost, {extra} extra against one ingester "
        f"({matches} photo matches); with match direction compared too: {d_lost} lost, "
        f"{d_extra} extra"
    )
    for error in errors:
        print(error)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="independent kill trials")
    parser.add_argument(
        "--chain", type=int, default=0, help="kills in a row on one catalogue (0: none)"
    )
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--jobs", type=int, default=1, help="kill trials run side by side (each is slower)"
    )
    parser.add_argument("--postgres", help="PostgreSQL URL of a server to make databases on")
    args = parser.parse_args(list(argv) if argv is not None else None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        build_corpus(corpus, args.images, args.seed)
        files = sum(1 for p in corpus.rglob("*") if p.is_file())
        dbs = Databases(work, args.postgres)
        try:
            engine = "PostgreSQL" if args.postgres else "SQLite"
            print(f"{engine}; synthetic corpus of {files} files (seed {args.seed}); "
                  f"{os.cpu_count()} CPUs")
            clean_url = dbs.fresh()
            started = time.perf_counter()
            summary = run_ingest(clean_url, corpus)
            clean_seconds = time.perf_counter() - started
            print(
                f"clean ingest: {clean_seconds:.1f} s, {summary['images_added']} images, "
                f"{summary['matches_added']} matches, {len(summary['rejected'])} rejected"
            )
            clean = dump(clean_url)
            again = run_ingest(clean_url, corpus)
            same = differences(clean, dump(clean_url)) == (0, 0)
            print(f"second ingest of the same corpus changes nothing: {same} "
                  f"({again['images_known']} images known)")
            if args.workers > 1:
                concurrent_trial(dbs, corpus, clean_url, args.workers)
            if args.chain:
                kill_chain(dbs, corpus, clean, args.chain, clean_seconds, args.seed)
            if args.trials:
                kill_trials(
                    dbs, corpus, clean, args.trials, clean_seconds * args.jobs, args.seed,
                    args.jobs,
                )
        finally:
            dbs.drop_all()


if __name__ == "__main__":
    main()

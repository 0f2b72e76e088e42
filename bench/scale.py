"""Scale bench: ingest speed, look-up latency and recall, memory and database size as the
catalogue grows (issue 9).

Run from the repository root (not part of the unit tests):

    .venv/bin/python bench/scale.py [--sizes 1000,10000] [--files 120] [--postgres URL]
        [--work DIR [--reuse-catalogues]]

(``--reuse-catalogues`` times the look-ups again on the catalogues an earlier run left in
``--work``, or on the server with ``--postgres``, without building them again.)

What it does, in one run, and what is synthetic:

- **Files.** ``--files`` JPEG pictures (800 x 600 unless ``--side`` says otherwise, quality 88)
  are generated from seeds by the test suite's scene generator (smooth colour fields,
  blotches, textured shapes, grain): a SYNTHETIC stand-in for photographs, the same kind the
  reuse tests use.
- **Ingest speed** on those files (or, with ``--ingest-photos DIR``, on the files of DIR:
  real pictures, such as camera-size photographs), in images per second: the decode-only
  floor (Pillow's open and load, nothing else), provcat's safe decode
  (``provcat.decode.open_image``: read, SHA-256, decode with pixel limits, EXIF orientation,
  RGB, pixel digest), imagehash's pHash (open, decode, pHash) and provcat's per-file work
  (``provcat.prepare.prepare_file``: decode, metadata, the three hashes, ORB features), each in
  a process pool on all cores, and ``provcat ingest`` of the folder into a fresh catalogue
  (everything: the per-file work in its worker pool, storage, and the reuse matching, which
  runs in the main process one image at a time), then of a manifest listing the same files
  (hard links to them in a record folder), into another.
- **Look-ups at each size.** A fresh catalogue holds 20 of the files, ingested for real, and
  stored distractors up to the size. The distractors are STORED DESCRIPTORS ONLY, not
  pictures: each has 1,000 ORB descriptors drawn from the real files' descriptors with 24 of
  256 bits flipped at random (so they collide with real descriptors as often as look-alike
  pictures would, more than uniformly random bits), a random PDQ, pHash and dHash, a
  thumbnail of about 7 kB (one of 64 generated scenes', as ingest stores one), and is
  marked matched; it posts its words as an ingested image does. For each of the 20 originals
  an edited copy (crop to 70%, mirror at half size, a banner and JPEG quality 40, a 5 degree
  turn) is looked up with ``similar``: recall is the share whose original is among the
  answers. Timed per look-up: the candidate stage alone
  (``provcat.reuse.postings.shared_words`` with the query's mirror and a record of the
  catalogue's stop words as a matcher keeps it, read from the table at its first look-up
  or learnt from the postings file, here as 20 look-ups of other pictures left it: the rows
  of the query's words, the long words of its stop words, and the images of the rarest
  within the budget); a warm ``Matcher.find`` (candidates, PDQ
  near matches and verification, the query's features given); a cold ``Catalogue.similar``
  (what one ``provcat similar`` call pays: loading the catalogue's PDQ hashes first); and
  ``Catalogue.similar`` on each query file once the index is loaded (decode, features and
  the look-up: what each call of a loop pays). On SQLite these are timed twice in the same
  process: first reading the postings table (the baseline), then through the postings file
  (``provcat.reuse.word_file``, what a catalogue's look-ups read once an ingest or
  ``provcat index`` has made it), made from scratch in between and its time and size
  printed; a second table prints both and their ratio. Then the ``provcat similar`` command
  run in a process of its own (what a user waits for: the interpreter, imports, opening the
  catalogue, loading the index and the look-up), beside the interpreter starting and
  importing the command-line module alone, measured in the same run. Each look-up's
  candidate stage is also timed right after with the NumPy passes that the compiled ones
  replace (``provcat.reuse.compiled``), and a third table prints both. Also: peak RSS
  of the process, database bytes per stored image, and the time to build the reuse report.

Each size runs in a fresh process, so its peak memory is its own (a SQLite catalogue is
built in one and timed in another). Prints Markdown.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image, ImageDraw, ImageOps
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reuse_fixtures import scene
from thumbnails import stand_in_thumbnails

from provcat import models as m
from provcat.allocator import keep_freed_memory
from provcat.catalogue import Catalogue
from provcat.db import make_engine
from provcat.decode import open_image
from provcat.fingerprints import pdq_dihedral
from provcat.matching import Matcher, extract_features
from provcat.prepare import PreparedImage, prepare_file
from provcat.reuse import compiled
from provcat.reuse.features import Features, mirrored
from provcat.reuse.postings import StopWords, post, post_pending, shared_words
from provcat.reuse.word_file import SUFFIX, WordFile, location

SIDE = (800, 600)
PLANTED = 20
DESCRIPTORS = 1000
FLIPPED_BITS = 24


# -- the files -----------------------------------------------------------------------------------


def make_files(folder: Path, count: int, side: tuple[int, int] = SIDE) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"scene-{number:05d}.jpg"
        if not path.exists():
            scene(50_000 + number, side).save(path, quality=88)
        paths.append(path)
    return paths


def edited(image: Image.Image, number: int) -> Image.Image:
    """One of four everyday edits, by ``number``."""
    width, height = image.size
    kind = number % 4
    if kind == 0:
        dx, dy = round(width * 0.16), round(height * 0.16)
        return image.crop((dx, dy, width - dx, height - dy))
    if kind == 1:
        return ImageOps.mirror(image).resize((width // 2, height // 2))
    if kind == 2:
        copy = image.copy()
        draw = ImageDraw.Draw(copy)
        draw.rectangle((0, round(height * 0.8), width, height), fill=(180, 16, 24))
        draw.text((20, round(height * 0.85)), "BREAKING NEWS", fill=(255, 255, 255))
        return copy
    return image.rotate(5, resample=Image.Resampling.BICUBIC, expand=True)


def planted(folder: Path, files: list[Path]) -> Path:
    """``folder``, holding links to the PLANTED originals (the first files), to ingest."""
    folder.mkdir(exist_ok=True)
    for path in files[:PLANTED]:
        target = folder / path.name
        if not target.exists():
            target.symlink_to(path)
    return folder


def write_query(source: Path, number: int, query: Path) -> Path:
    """The edited copy of a planted original that is looked up (``edited``), as ``query``."""
    with Image.open(source) as image:
        edited(image.convert("RGB"), number).save(query, quality=40 if number % 4 == 2 else 85)
    return query


# -- ingest speed -------------------------------------------------------------------------------


def _pillow(path: Path) -> int:
    with Image.open(path) as image:
        image.load()
        return image.width


def _decode(path: Path) -> int:
    decoded = open_image(path)
    return decoded.width if decoded.pixel_digest else 0  # the digest is computed when asked


def _prepare(path: Path) -> bool:
    return isinstance(prepare_file(path), PreparedImage)


def _phash(path: Path) -> str:
    with Image.open(path) as image:
        return str(imagehash.phash(image))


def rate(work: Callable[[Path], Any], paths: list[Path], workers: int) -> float:
    """Files per second of ``work`` in a pool of ``workers`` processes, started and warmed up
    before the clock starts, the best of three passes: with 120 files the floor's whole run
    is a fraction of a second, and starting the processes (importing NumPy, OpenCV...) or a
    moment of the machine's other work made it vary threefold. Every pool's processes keep
    freed memory as provcat's own workers do (``provcat.allocator``), so that the rows
    compare the work, not the allocator."""
    with ProcessPoolExecutor(workers, initializer=keep_freed_memory) as pool:
        list(pool.map(work, paths[:workers], chunksize=1))
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            list(pool.map(work, paths, chunksize=4))
            best = max(best, len(paths) / (time.perf_counter() - start))
        return best


def as_manifest(paths: list[Path], record: Path) -> Path:
    """A manifest's record (``record``, made anew) holding links to ``paths`` (copies where
    the file system has no hard links: a manifest takes no file outside its folder) and a
    manifest.toml listing each with one printing: what a photo desk's record of an article
    is."""
    shutil.rmtree(record, ignore_errors=True)
    record.mkdir(parents=True)
    lines = ["[article]", 'id = "scale-bench"', 'title = "The scale bench\'s files"', ""]
    for number, path in enumerate(paths, start=1):
        try:
            os.link(path, record / path.name)
        except OSError:
            shutil.copyfile(path, record / path.name)
        lines += ["[[images]]", f"file = {json.dumps(path.name)}", "", "  [[images.printings]]"]
        lines += [f"  position = {number}", f'  caption = "Bench file {number}"', ""]
    manifest = record / "manifest.toml"
    manifest.write_text("\n".join(lines), encoding="utf-8")
    return manifest


def ingest_rate(paths: list[Path], url: str, given: Path | None = None) -> tuple[float, float]:
    """Images per second of ``provcat ingest`` of the folder (or of ``given``, a manifest
    listing the same files): all of it, and its storing phase alone (every file decoded,
    hashed, described and written, before the matching starts)."""
    folder = given or paths[0].parent
    catalogue = Catalogue(url)
    stored_at = 0.0

    def progress(_done: int, _total: int, what: str) -> None:
        nonlocal stored_at
        if what != "matching reused photos":
            stored_at = time.perf_counter()

    start = time.perf_counter()
    result = catalogue.ingest([folder], progress=progress)
    elapsed = time.perf_counter() - start
    catalogue.close()
    assert result.images_added == len(paths), result
    return len(paths) / elapsed, len(paths) / (stored_at - start)


# -- one size -----------------------------------------------------------------------------------


def fresh_url(work: Path, postgres: str | None, name: str) -> str:
    if not postgres:
        for leftover in work.glob(f"{name}.db*"):  # a run before, in the same --work
            leftover.unlink()
        return f"sqlite:///{work / (name + '.db')}"
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres.rsplit("/", 1)[0] + "/" + name


def existing_url(work: Path, postgres: str | None, name: str) -> str | None:
    """The URL of catalogue ``name`` as an earlier run left it (a file in ``work``, or a
    database on the PostgreSQL server), None if there is none."""
    if not postgres:
        path = work / f"{name}.db"
        return f"sqlite:///{path}" if path.exists() else None
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres)
    with admin.connect() as conn:
        found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
    admin.dispose()
    return postgres.rsplit("/", 1)[0] + "/" + name if found else None


def add_light_distractors(catalogue: Catalogue, count: int, seed: int) -> None:
    """Image rows with a random PDQ hash only: what a matcher holds in memory, for 10^6."""
    rng = np.random.default_rng(seed)
    batch = 20_000
    with catalogue.session() as session:
        first = (session.scalar(select(func.max(m.Image.id))) or 0) + 1
        for start in range(0, count, batch):
            ids = range(first + start, first + min(count, start + batch))
            session.execute(
                insert(m.Image),
                [
                    {
                        "id": image_id,
                        "sha256": hashlib.sha256(f"light-{seed}-{image_id}".encode()).hexdigest(),
                        "format": "JPEG",
                        "mime": "image/jpeg",
                        "width": SIDE[0],
                        "height": SIDE[1],
                        "file_size": 100_000,
                        "pixel_digest": hashlib.sha256(f"p{image_id}".encode()).hexdigest(),
                        "stand_in": True,
                        "note": "scale bench distractor: a PDQ hash only",
                        "match_seq": 0,
                    }
                    for image_id in ids
                ],
            )
            session.execute(
                insert(m.Fingerprint),
                [
                    {"image_id": i, "algorithm": "pdq", "value": value, "quality": 100}
                    for i, value in zip(ids, (rng.bytes(32).hex() for _ in ids), strict=True)
                ],
            )
            session.commit()


def light_size(size: int, work: Path, files: list[Path], postgres: str | None) -> dict[str, Any]:
    """Memory and PDQ look-up at ``size`` stored images that are PDQ hashes only."""
    url = fresh_url(work, postgres, f"provcat_scale_light_{size}")
    catalogue = Catalogue(url)
    start = time.perf_counter()
    add_light_distractors(catalogue, size, seed=size)
    build = time.perf_counter() - start
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    variants = [pdq_dihedral(open_image(path).pixels) for path in files[:PLANTED]]

    def load_and_look() -> tuple[float, float, int]:
        """A matcher's start, in seconds, its PDQ look-ups' p50 in ms, and its images."""
        start = time.perf_counter()
        matcher = Matcher(catalogue._sessions)
        load = time.perf_counter() - start
        pdq_ms = []
        for each in variants:
            start = time.perf_counter()
            matcher._pdq_near(each, 1000)
            pdq_ms.append(1000 * (time.perf_counter() - start))
        return load, statistics.median(pdq_ms), len(matcher)

    load, pdq_p50, loaded = load_and_look()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # On SQLite, again once the postings file (which keeps the PDQ hashes of the images it
    # covers) is made: the second matcher maps them instead of reading the database.
    file_load = file_pdq_p50 = None
    if catalogue.index_postings(full=True) is not None:
        file_load, file_pdq_p50, loaded_from_file = load_and_look()
        assert loaded_from_file == loaded == size, (loaded_from_file, loaded, size)
    catalogue.close()
    return {
        "size": size,
        "distractors_s": build,
        "load_s": load,
        "pdq_p50_ms": pdq_p50,
        "file_load_s": file_load,
        "file_pdq_p50_ms": file_pdq_p50,
        "rss_before_mb": before,
        "rss_mb": peak,
        "bytes_per_image": database_bytes(url, work) / size,
    }


def distractor_descriptors(pool: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One distractor's descriptors: DESCRIPTORS drawn from ``pool``, FLIPPED_BITS of each
    one's 256 bits flipped at random."""
    picks = pool[rng.integers(0, pool.shape[0], DESCRIPTORS)].copy()
    flips = rng.integers(0, 256, (DESCRIPTORS, FLIPPED_BITS))
    bits = np.unpackbits(picks, axis=1)
    np.put_along_axis(bits, flips, 1 - np.take_along_axis(bits, flips, 1), 1)
    return np.packbits(bits, axis=1)


def add_distractors(catalogue: Catalogue, count: int, pool: np.ndarray, seed: int) -> None:
    """Stored images with descriptors only (see the module docstring), in batches."""
    rng = np.random.default_rng(seed)
    batch = 500
    # Through an engine of its own: on SQLite its connections get 2 GiB of page cache, the
    # rollback journal in memory and no syncs (a bench fixture: a crash may leave the file
    # unusable, and the next run builds it again). A batch's 512,000 word upserts spread
    # over the whole postings table; with provcat's 64 MiB SQLite spilled dirty pages to
    # the file throughout every batch, and each page's first change went to the journal on
    # disk (a 10^6 build slowed to hours). The engine is disposed of after the build:
    # look-ups are timed on the catalogue's own, with provcat's settings.
    engine = make_engine(catalogue.url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _build_cache)
    pictures = stand_in_thumbnails()
    with Session(engine) as session:
        for start in range(0, count, batch):
            size = min(batch, count - start)
            images, features, prints = [], [], []
            for k in range(size):
                number = start + k
                descriptors = distractor_descriptors(pool, rng)
                keypoints = rng.uniform(0, 600, (DESCRIPTORS, 2)).astype(np.float32)
                blob = Features(keypoints, descriptors, *SIDE).to_bytes()
                sha = hashlib.sha256(f"distractor-{seed}-{number}".encode()).hexdigest()
                images.append(
                    {
                        "sha256": sha,
                        "format": "JPEG",
                        "mime": "image/jpeg",
                        "width": SIDE[0],
                        "height": SIDE[1],
                        "file_size": 100_000,
                        "pixel_digest": hashlib.sha256(sha.encode()).hexdigest(),
                        "stand_in": True,
                        "note": "scale bench distractor: stored descriptors only",
                        "match_seq": 0,
                    }
                )
                features.append((sha, blob))
                prints.append((sha, rng.bytes(32).hex(), rng.bytes(8).hex(), rng.bytes(8).hex()))
            session.execute(insert(m.Image), images)
            rows = session.execute(
                select(m.Image.sha256, m.Image.id).where(
                    m.Image.sha256.in_([row["sha256"] for row in images])
                )
            ).all()
            ids: dict[str, int] = {str(sha): int(image_id) for sha, image_id in rows}
            session.execute(
                insert(m.Feature),
                [
                    {"image_id": ids[sha], "algorithm": "orb", "count": DESCRIPTORS, "data": blob}
                    for sha, blob in features
                ],
            )
            # On SQLite as an ingest does: the words of the images after the postings table's
            # mark (these), posted and the mark moved past them; on PostgreSQL, as stored.
            if not post_pending(session.connection(), most=None):
                post(
                    session,
                    [(ids[sha], Features.from_bytes(blob).descriptors) for sha, blob in features],
                )
            # What an ingest stores for the reports' pages (stand-ins: a generated scene's).
            session.execute(
                insert(m.Thumbnail),
                [
                    {"image_id": ids[sha], "data": pictures[ids[sha] % len(pictures)]}
                    for sha, _ in features
                ],
            )
            session.execute(
                insert(m.Fingerprint),
                [
                    {"image_id": ids[sha], "algorithm": name, "value": value, "quality": q}
                    for sha, pdq, phash, dhash in prints
                    for name, value, q in (
                        ("pdq", pdq, 100),
                        ("phash", phash, None),
                        ("dhash", dhash, None),
                    )
                ],
            )
            session.commit()
    engine.dispose()


def _build_cache(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA cache_size=-2097152")
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def database_bytes(url: str, work: Path) -> int:
    if url.startswith("sqlite"):
        return (work / url.rsplit("/", 1)[1]).stat().st_size
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    engine.dispose()
    return int(size or 0)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def one_size(
    size: int,
    work: Path,
    files: list[Path],
    postgres: str | None,
    *,
    reuse: bool = False,
    build_only: bool = False,
) -> dict[str, Any]:
    name = f"provcat_scale_{size}"
    build = 0.0
    earlier = existing_url(work, postgres, name) if reuse else None
    if earlier:
        # Built by an earlier run (10^5 takes most of an hour here): only time the look-ups.
        catalogue = Catalogue(earlier)
    else:
        catalogue = Catalogue(fresh_url(work, postgres, name))
        catalogue.ingest([planted(work / f"originals-{size}", files)])
        pool = np.concatenate(
            [extract_features(open_image(path)).descriptors for path in files[PLANTED:]]
        )
        start = time.perf_counter()
        add_distractors(catalogue, size - PLANTED, pool, seed=size)
        build = time.perf_counter() - start
        if build_only:
            catalogue.close()
            return {"size": size, "distractors_s": build}
    url = catalogue.url

    queries = []
    for number, path in enumerate(files[:PLANTED]):
        query = write_query(path, number, work / f"query-{size}-{number}.jpg")
        queries.append((query, hashlib.sha256(path.read_bytes()).hexdigest()))

    # On SQLite the look-ups are timed twice: reading the postings table (no postings file),
    # then through the postings file made for the catalogue (provcat.reuse.word_file), as
    # look-ups of a SQLite catalogue this large read them after an ingest. PostgreSQL reads
    # its table only.
    folder = Path(f"{work / name}.db{SUFFIX}")
    shutil.rmtree(folder, ignore_errors=True)
    table = look_ups(catalogue, size, queries)
    index_s = file_mb = None
    if not postgres:
        start = time.perf_counter()
        catalogue.index_postings(full=True)
        index_s = time.perf_counter() - start
        file_mb = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
    looked_up = table if postgres else look_ups(catalogue, size, queries)
    start = time.perf_counter()
    catalogue.reused_photos()
    report = time.perf_counter() - start
    catalogue.close()
    command_s, startup_s = similar_command(url, [query for query, _original in queries[:3]])
    batch_s = similar_batch(url, [query for query, _original in queries])
    stored = database_bytes(url, work)
    return {
        "size": size,
        "distractors_s": build,
        **looked_up,
        "table": table,
        "postings_file_s": index_s,
        "postings_file_mb": file_mb,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bytes_per_image": stored / size,
        "report_s": report,
        "command_s": command_s,
        "startup_s": startup_s,
        "batch_s": batch_s,
    }


def look_ups(catalogue: Catalogue, size: int, queries: list[tuple[Path, str]]) -> dict[str, Any]:
    """The look-ups' figures on this catalogue as it is now (with or without its postings
    file): the matcher's load, the candidate stage alone (through the file when the
    catalogue has one), a warm find, ``similar`` cold and warm, and recall."""
    catalogue._matcher = None  # similar() below starts cold
    start = time.perf_counter()
    matcher = Matcher(catalogue._sessions)
    load = time.perf_counter() - start
    with catalogue.session() as session:
        folder = location(session.connection())
        word_file = None if folder is None else WordFile.open(folder, session.connection())
    looked = []
    for query, original in queries:
        decoded = open_image(query)
        looked.append((decoded, extract_features(decoded), mirrored(decoded.pixels), original))

    def candidates(decoded_features: Features, mirror: Features, record: StopWords) -> float:
        start = time.perf_counter()
        with catalogue.session() as session:
            caught_up = word_file is not None and word_file.delta.catch_up(session.connection())
            shared_words(
                session,
                [decoded_features.descriptors, mirror.descriptors],
                limit=20,
                images=size,
                stop_words=record,
                word_file=word_file if caught_up else None,
            )
        return 1000 * (time.perf_counter() - start)

    # One untimed pass first, so that the table's pages and the file's are read from the
    # page cache in both timings (right after a build the table's are mostly on disk).
    untimed = StopWords()
    for _decoded, features, mirror, _original in looked:
        candidates(features, mirror, untimed)
    # The record of stop words a matcher keeps: read from the table at its first look-up,
    # or, through the postings file, learnt from its look-ups. Each timed look-up starts
    # from the record as look-ups of other pictures left it (generated scenes that are not
    # in the catalogue), not knowing its own query's stop words from the pass above.
    warmed = StopWords()
    for number in range(PLANTED):
        path = queries[0][0].with_name(f"other-{number}.jpg")
        if not path.exists():
            scene(90_000 + number, SIDE).save(path, quality=85)
        other = open_image(path)
        candidates(extract_features(other), mirrored(other.pixels), warmed)
    candidate_ms, numpy_ms, find_ms, found = [], [], [], 0
    for number, (decoded, features, mirror, original) in enumerate(looked):
        # The same look-up with the NumPy passes the compiled ones replace (the baseline),
        # before or after it in turn: the second of two reads of the table finds its pages
        # in SQLite's own cache.
        active = compiled.active
        for numpy_passes in (False, True) if number % 2 else (True, False):
            compiled.active = active and not numpy_passes
            try:
                took = candidates(features, mirror, copy.deepcopy(warmed))
            finally:
                compiled.active = active
            (numpy_ms if numpy_passes else candidate_ms).append(took)
        start = time.perf_counter()
        answers = matcher.find(
            decoded.pixels, features, sha256=decoded.sha256, pixel_digest=decoded.pixel_digest
        )
        find_ms.append(1000 * (time.perf_counter() - start))
        found += original in {a.sha256 for a in answers}
    start = time.perf_counter()
    catalogue.similar(queries[0][0])
    cold = time.perf_counter() - start
    # What each `provcat similar` call pays once the index is loaded: decode, features and
    # the look-up.
    similar_ms = []
    for query, _original in queries:
        start = time.perf_counter()
        catalogue.similar(query)
        similar_ms.append(1000 * (time.perf_counter() - start))
    return {
        "index_load_s": load,
        "candidates_p50_ms": statistics.median(candidate_ms),
        "candidates_p95_ms": percentile(candidate_ms, 0.95),
        "candidates_compiled": compiled.active,
        "candidates_numpy_p50_ms": statistics.median(numpy_ms),
        "candidates_numpy_p95_ms": percentile(numpy_ms, 0.95),
        "find_p50_ms": statistics.median(find_ms),
        "find_p95_ms": percentile(find_ms, 0.95),
        "similar_cold_s": cold,
        "similar_p50_ms": statistics.median(similar_ms),
        "similar_p95_ms": percentile(similar_ms, 0.95),
        "recall": found / len(queries),
        "rss_file_mb": _status_mb("RssFile"),
        "rss_anon_mb": _status_mb("RssAnon"),
        "rss_file_2mib_mb": _status_mb("FilePmdMapped", "smaps_rollup"),
    }


def _status_mb(field: str, source: str = "status") -> float | None:
    """This process's resident memory of one kind now, in MB, from /proc (None elsewhere):
    RssFile counts the pages of mapped files (the postings file's, shared with the page
    cache), RssAnon the process's own; FilePmdMapped (in smaps_rollup) the mapped files'
    pages mapped 2 MiB at a time (the page cache kept them in 2 MiB folios: the postings
    file's writer writes whole aligned blocks for that)."""
    try:
        for line in Path(f"/proc/self/{source}").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def similar_command(url: str, queries: list[Path]) -> tuple[float, float]:
    """What a user waits for ``provcat similar QUERY`` at this size: the command run in a
    process of its own (interpreter, imports, opening the catalogue, loading the index, the
    look-up), median of ``queries``; and, as its baseline in the same run, the same
    interpreter starting and importing the command-line module alone."""
    ran = []
    for query in queries:
        start = time.perf_counter()
        subprocess.run([*PROVCAT, "--db", url, "similar", str(query)], **_QUIET)
        ran.append(time.perf_counter() - start)
    started = []
    for _query in queries:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import provcat.cli"], **_QUIET)
        started.append(time.perf_counter() - start)
    return statistics.median(ran), statistics.median(started)


def similar_batch(url: str, queries: list[Path]) -> float:
    """``provcat similar`` given every query file at once, in a process of its own: the
    seconds per file (start, imports and the index's load paid once)."""
    start = time.perf_counter()
    subprocess.run([*PROVCAT, "--db", url, "similar", *map(str, queries)], **_QUIET)
    return (time.perf_counter() - start) / len(queries)


_QUIET: dict[str, Any] = {"capture_output": True, "check": True}
#: The provcat command of the Python running this bench (the code under test, wherever it is).
PROVCAT = [sys.executable, "-c", "from provcat.cli import main; main()"]


def in_own_process(flag: str, size: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One size measured by this script in a fresh process (so its peak RSS is its own).

    A SQLite catalogue is built in one process and timed in another: the build's 2 GiB
    page cache (add_distractors) would otherwise be the timing process's peak RSS.
    """
    command = [sys.executable, __file__, flag, str(size), "--work", str(work),
               "--files", str(args.files), "--side", args.side]  # fmt: skip
    if args.postgres:
        command += ["--postgres", args.postgres]
    built: dict[str, Any] = {}
    if args.reuse_catalogues:
        command.append("--reuse-catalogues")
    elif flag == "--one-size" and not args.postgres:
        built = _last_json(subprocess.run([*command, "--build-only"], **_CAPTURE))
        command.append("--reuse-catalogues")
    row = _last_json(subprocess.run(command, **_CAPTURE))
    row.update(built)
    return row


_CAPTURE: dict[str, Any] = {"capture_output": True, "text": True, "check": True}


def _last_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to make databases on")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument(
        "--light-sizes",
        default="",
        help="sizes to fill with PDQ hashes only, for the matcher's memory (e.g. 1000000)",
    )
    parser.add_argument(
        "--reuse-catalogues",
        action="store_true",
        help="time the look-ups again on the catalogues an earlier run left in --work "
        "(SQLite) or on the server (--postgres); skips building them, so their build time "
        "is not measured",
    )
    parser.add_argument(
        "--side",
        default="800x600",
        help="the generated files' size, WIDTH x HEIGHT (the stored distractors stay 800 x 600)",
    )
    parser.add_argument(
        "--ingest-photos",
        type=Path,
        help="a folder of real pictures (its files, not its folders) to time the ingest rows"
        " on, in place of the generated files (camera-size photographs, say)",
    )
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one-light", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="provcat-scale-"))
    width, height = (int(v) for v in args.side.lower().split("x"))
    folder = "files" if (width, height) == SIDE else f"files-{width}x{height}"
    files = make_files(work / folder, args.files, (width, height))
    if args.one_size:
        row = one_size(
            args.one_size,
            work,
            files,
            args.postgres,
            reuse=args.reuse_catalogues,
            build_only=args.build_only,
        )
        print(json.dumps(row))
        return
    if args.one_light:
        print(json.dumps(light_size(args.one_light, work, files, args.postgres)))
        return

    cores = os.cpu_count() or 1
    engine = "PostgreSQL" if args.postgres else "SQLite"
    print(f"# provcat scale bench ({engine}, {cores} cores, {len(files)} synthetic files, "
          f"{width} x {height})\n")  # fmt: skip
    timed = files
    if args.ingest_photos:
        timed = sorted(p for p in args.ingest_photos.iterdir() if p.is_file())
        print(f"The ingest rows: the {len(timed)} files of {args.ingest_photos} (real pictures).\n")
    floor = rate(_pillow, timed, cores)
    decoded = rate(_decode, timed, cores)
    phash = rate(_phash, timed, cores)
    prepared = rate(_prepare, timed, cores)
    ingest, storing = ingest_rate(timed, fresh_url(work, args.postgres, "provcat_scale_ingest"))
    listed, _ = ingest_rate(
        timed,
        fresh_url(work, args.postgres, "provcat_scale_manifest"),
        as_manifest(timed, work / "manifest-record"),
    )
    print("| ingest of the files | images/s | vs decode-only floor (all cores) |")
    print("|---|---|---|")
    print(f"| decode-only floor (Pillow: open, load) | {floor:.1f} | 1.00 |")
    print(f"| provcat's safe decode (`open_image`: read, SHA-256, limits, orientation, RGB, "
          f"pixel digest) | {decoded:.1f} | {decoded / floor:.2f} |")  # fmt: skip
    print(f"| imagehash pHash (open, decode, hash) | {phash:.1f} | {phash / floor:.2f} |")
    print(f"| provcat's per-file work (`prepare_file`: decode, metadata, hashes, features) "
          f"| {prepared:.1f} | {prepared / floor:.2f} |")  # fmt: skip
    print(f"| `provcat ingest`, its storing phase (per-file work in the pool, then the writes) "
          f"| {storing:.1f} | {storing / floor:.3f} |")  # fmt: skip
    print(f"| `provcat ingest` (everything, matching too) | {ingest:.1f} | {ingest / floor:.3f} |")
    print(f"| `provcat ingest` of a manifest listing the same files (everything) "
          f"| {listed:.1f} | {listed / floor:.3f} |")  # fmt: skip
    print()
    print(
        "| stored | recall "
        "| candidates p50 / p95 ms | find p50 / p95 ms | `similar` p50 / p95 ms | cold `similar` s "
        "| `provcat similar` command s (start and imports s) | one command for all, s a file "
        "| index load s | peak RSS MB | DB bytes/image | reuse report s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        row = in_own_process("--one-size", size, work, args)
        rows.append(row)
        print(
            f"| {row['size']:,} | {row['recall']:.2f} "
            f"| {row['candidates_p50_ms']:.1f} / {row['candidates_p95_ms']:.1f} "
            f"| {row['find_p50_ms']:.0f} / {row['find_p95_ms']:.0f} "
            f"| {row['similar_p50_ms']:.0f} / {row['similar_p95_ms']:.0f} "
            f"| {row['similar_cold_s']:.1f} | {row['command_s']:.1f} ({row['startup_s']:.1f}) "
            f"| {row['batch_s']:.2f} "
            f"| {row['index_load_s']:.1f} | {row['rss_mb']:.0f} "
            f"| {row['bytes_per_image']:,.0f} | {row['report_s']:.2f} |",
            flush=True,
        )
    if not args.postgres and rows:
        # The look-ups above read the postings file; the same look-ups, timed in the same
        # process before the file was made, read the postings table (the baseline).
        print()
        print(
            "| stored | postings read from | recall | candidates p50 / p95 ms "
            "| find p50 / p95 ms | `similar` p50 / p95 ms | cold `similar` s "
            "| candidates p50, file / table | RSS now: mapped files (in 2 MiB pages) / own MB "
            "| making the file s | file MB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            for source, figures in (("table", row["table"]), ("file", row)):
                ratio = row["candidates_p50_ms"] / row["table"]["candidates_p50_ms"]
                print(
                    f"| {row['size']:,} | {source} | {figures['recall']:.2f} "
                    f"| {figures['candidates_p50_ms']:.1f} / {figures['candidates_p95_ms']:.1f} "
                    f"| {figures['find_p50_ms']:.0f} / {figures['find_p95_ms']:.0f} "
                    f"| {figures['similar_p50_ms']:.0f} / {figures['similar_p95_ms']:.0f} "
                    f"| {figures['similar_cold_s']:.1f} "
                    + (f"| {ratio:.3f} " if source == "file" else "| 1 ")
                    + f"| {figures['rss_file_mb'] or 0:,.0f} "
                    + f"({figures.get('rss_file_2mib_mb') or 0:,.0f}) "
                    + f"/ {figures['rss_anon_mb'] or 0:,.0f} "
                    + (
                        f"| {row['postings_file_s']:.1f} | {row['postings_file_mb']:,.0f} |"
                        if source == "file"
                        else "| | |"
                    ),
                    flush=True,
                )
    if rows:
        # Each look-up's candidate stage timed again, right after, with the NumPy passes that
        # the compiled ones replace (provcat.reuse.compiled): the baseline of the same run.
        print()
        print(
            "| stored | postings read from | candidate stage: compiled passes p50 / p95 ms "
            "| NumPy passes p50 / p95 ms | compiled / NumPy p50 |"
        )
        print("|---|---|---|---|---|")
        for row in rows:
            sources = [("file", row)] if args.postgres else [("table", row["table"]), ("file", row)]
            for source, figures in sources:
                if not figures["candidates_compiled"]:
                    print(f"| {row['size']:,} | {source} | not built or turned off | | |")
                    continue
                print(
                    f"| {row['size']:,} | {'database' if args.postgres else source} "
                    f"| {figures['candidates_p50_ms']:.1f} / {figures['candidates_p95_ms']:.1f} "
                    f"| {figures['candidates_numpy_p50_ms']:.1f} / "
                    f"{figures['candidates_numpy_p95_ms']:.1f} "
                    f"| {figures['candidates_p50_ms'] / figures['candidates_numpy_p50_ms']:.2f} |",
                    flush=True,
                )
    lights = [int(s) for s in args.light_sizes.split(",") if s]
    if lights:
        print()
        print("| stored (PDQ hashes only) | matcher load s | PDQ look-up p50 ms "
              "| through the postings file: load s, look-up p50 ms "
              "| RSS before matcher MB | peak RSS MB (reading the database) |")  # fmt: skip
        print("|---|---|---|---|---|---|")
    for size in lights:
        row = in_own_process("--one-light", size, work, args)
        through_file = (
            f"{row['file_load_s']:.2f}, {row['file_pdq_p50_ms']:.1f}"
            if row["file_load_s"] is not None
            else "(no file on PostgreSQL)"
        )
        print(
            f"| {row['size']:,} | {row['load_s']:.2f} | {row['pdq_p50_ms']:.1f} "
            f"| {through_file} | {row['rss_before_mb']:.0f} | {row['rss_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Tests for provcat.prepare: ingest's per-file work in worker processes."""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased

from provcat import ingest, prepare
from provcat import models as m
from provcat.articles import read_article
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.decode import open_image
from provcat.prepare import (
    MIRROR_FROM,
    POOL_MIN_FILES,
    Failed,
    PreparedImage,
    Preparer,
    Spool,
    prepare_file,
)
from provcat.reuse import postings
from provcat.reuse.features import mirrored
from provcat.working import WorkingCopy

from .paths import REPO
from .postings_state import expected_postings, image_words, stored_postings
from .reuse_fixtures import crop_area, mirror, scene
from .test_cli import _warning_jpeg


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve scenes, three of them with a copy, a broken JPEG and one with odd EXIF."""
    folder = tmp_path_factory.mktemp("mixed")
    for seed in range(12):
        original = scene(300 + seed, (400, 300))
        original.save(folder / f"{seed:02}.jpg", quality=90)
        if seed < 3:
            edited = mirror(original) if seed % 2 else crop_area(original, 0.6, 0.4, 0.5)[0]
            edited.save(folder / f"{seed:02}-copy.jpg", quality=85)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a JPEG at all")
    _warning_jpeg(folder / "odd.jpg")
    return folder


def _content(catalogue: Catalogue) -> dict[str, object]:
    """What a catalogue holds, by natural keys (ids differ between catalogues)."""
    ref, copy = aliased(m.Image), aliased(m.Image)
    with catalogue.session() as session:
        images = sorted(
            session.execute(
                select(m.Image.sha256, m.Image.width, m.Image.pixel_digest, m.Feature.data).join(
                    m.Feature, m.Feature.image_id == m.Image.id
                )
            ).all()
        )
        sha_of = dict(session.execute(select(m.Image.id, m.Image.sha256)).all())
        words = sorted((sha_of[image_id], word) for image_id, word in image_words(session))
        prints = sorted(
            session.execute(
                select(m.Image.sha256, m.Fingerprint.algorithm, m.Fingerprint.value).join(
                    m.Fingerprint, m.Fingerprint.image_id == m.Image.id
                )
            ).all()
        )
        fields = sorted(
            session.execute(
                select(m.Image.sha256, m.MetadataField.key, m.MetadataField.value).join(
                    m.MetadataField, m.MetadataField.image_id == m.Image.id
                )
            ).all()
        )
        matches = sorted(
            session.execute(
                select(ref.sha256, copy.sha256, m.PhotoMatch.kinds, m.PhotoMatch.inliers)
                .join(m.PhotoMatch, m.PhotoMatch.reference_id == ref.id)
                .join(copy, m.PhotoMatch.copy_id == copy.id)
            ).all()
        )
        rejections = sorted(session.execute(select(m.Rejection.path, m.Rejection.reason)).all())
    return {
        "images": images,
        "words": words,
        "prints": prints,
        "fields": fields,
        "matches": matches,
        "rejections": rejections,
    }


def test_parallel_ingest_stores_what_a_serial_one_does(
    mixed_folder: Path, db_url: str, other_db_url: str
) -> None:
    with Catalogue(db_url) as serial, Catalogue(other_db_url) as parallel:
        one = serial.ingest([mixed_folder], workers=1)
        two = parallel.ingest([mixed_folder], workers=2)
        assert one.images_added == two.images_added == 16
        assert one.matches_added == two.matches_added == 3
        assert [r.path for r in two.rejected] == [str(mixed_folder / "broken.jpg")]
        assert _content(serial) == _content(parallel)
        again = parallel.ingest([mixed_folder], workers=2)
    assert (again.images_added, again.images_known) == (0, 16)


def _record_and_page(mixed_folder: Path, folder: Path) -> list[Path]:
    """A manifest's record holding the mixed folder's files and listing them, a missing file
    and a link to one outside the record; a saved HTML page with its images beside it (one of them
    broken); and a folder of loose files, one of them also in the record."""
    record = folder / "record"
    record.mkdir(parents=True)
    names = sorted(path.name for path in mixed_folder.glob("*.jpg"))
    for name in names:
        shutil.copy(mixed_folder / name, record / name)
    scene(401, (400, 300)).save(folder / "outside.jpg", quality=90)
    (record / "outside.jpg").symlink_to(folder / "outside.jpg")
    lines = ["[article]", 'id = "mixed"', 'title = "The mixed folder"', ""]
    for number, name in enumerate([*names, "missing.jpg", "outside.jpg"], start=1):
        lines += ["[[images]]", f'file = "{name}"', "", "  [[images.printings]]"]
        lines += [f"  position = {number}", f'  caption = "Picture {number}"', ""]
    (record / "manifest.toml").write_text("\n".join(lines), encoding="utf-8")
    page = folder / "courier-tortoise.html"
    shutil.copy(REPO / "tests" / "data" / "articles" / "courier-tortoise.html", page)
    files = folder / "courier-tortoise_files"
    files.mkdir()
    for seed, ref in enumerate(read_article(page).images):
        name = ref.ref.rsplit("/", 1)[-1]
        if seed == 0:
            (files / name).write_bytes(b"\xff\xd8\xff not a JPEG at all")
        else:
            scene(410 + seed, (400, 300)).save(files / name, quality=90)
    loose = folder / "loose"
    loose.mkdir()
    shutil.copy(mixed_folder / "00-copy.jpg", loose / "again.jpg")
    mirror(scene(420, (400, 300))).save(loose / "flipped.jpg", quality=90)
    return [record, page, loose]


def _refuse_preparing_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make preparing an image file in the ingesting process fail the test."""

    def refused(*_args: object, **_options: object) -> object:
        raise AssertionError("an image file was prepared in the ingesting process")

    monkeypatch.setattr(ingest, "open_image", refused)  # a file no worker prepared
    monkeypatch.setattr(prepare, "prepare_file", refused)  # a Preparer without workers


def test_manifest_and_article_pictures_are_prepared_by_the_workers(
    mixed_folder: Path,
    db_url: str,
    other_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The image files a manifest or an article names are prepared in the worker processes
    with the loose ones: none is prepared in the ingesting process, and the catalogue (its
    images, words, hashes, metadata, matches, rejections and printings) is what a serial
    ingest makes of the same inputs."""
    inputs = _record_and_page(mixed_folder, tmp_path)
    with Catalogue(db_url) as serial, Catalogue(other_db_url) as parallel:
        one = serial.ingest(inputs, workers=1)
        _refuse_preparing_here(monkeypatch)
        two = parallel.ingest(inputs, workers=2)
        assert one.to_dict() == two.to_dict()
        assert (two.images_added, two.images_known) == (16 + 4 + 1, 1)  # again.jpg is known
        assert sorted(Path(r.path).name for r in two.rejected) == [
            "broken.jpg",
            "missing.jpg",
            "outside.jpg",
            read_article(inputs[1]).images[0].ref.rsplit("/", 1)[-1],
        ]
        assert _content(serial) == _content(parallel)
        assert _printed(serial) == _printed(parallel)
        # Each new image's words posted once, none for a file rejected in its savepoint.
        with parallel.session() as session:
            assert stored_postings(session) == expected_postings(session)


def test_a_spool_gives_back_what_it_was_given_from_memory_and_from_its_file(
    mixed_folder: Path,
) -> None:
    """Past its first ``held``, a spool writes what it is given to its file and reads it back
    as often as asked; a path given twice keeps the first, one never given is None."""
    paths = sorted(mixed_folder.glob("*.jpg"))[:4]
    given = {path: prepare_file(path) for path in paths}
    given[mixed_folder / "broken.jpg"] = prepare_file(mixed_folder / "broken.jpg")
    assert isinstance(given[mixed_folder / "broken.jpg"], Failed)
    with Spool(held=1) as spool:
        for path, prepared in given.items():
            spool.put(path, prepared)
        spool.put(paths[2], given[paths[0]])  # given again: the first is kept
        assert len(spool) == len(given)
        for _ in range(2):  # a transaction run again reads them again
            for path, prepared in given.items():
                back = spool.get(path)
                assert back is not None
                assert pickle.dumps(back) == pickle.dumps(prepared)
        assert spool.get(mixed_folder / "never.jpg") is None
    assert len(spool) == 0
    assert spool.get(paths[3]) is None


def test_a_spool_that_cannot_write_its_file_holds_the_rest_in_memory(
    mixed_folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full temporary folder (the second write fails, part written) costs memory, not the
    files: what was written is read back, the rest is held, and a warning says so once."""
    paths = sorted(mixed_folder.glob("*.jpg"))[:5]
    given = {path: prepare_file(path) for path in paths}
    writes: list[int] = []
    pwrite = os.pwrite

    def filling(fd: int, data: bytes, offset: int) -> int:
        writes.append(offset)
        if len(writes) > 1:
            pwrite(fd, data[:100], offset)  # what fitted
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", filling)
    with caplog.at_level(logging.WARNING), Spool(held=1) as spool:
        for path, prepared in given.items():
            spool.put(path, prepared)
        for path, prepared in given.items():
            assert pickle.dumps(spool.get(path)) == pickle.dumps(prepared)
    assert len(writes) == 2
    assert caplog.text.count("No space left on device") == 1


def test_a_manifest_holds_few_prepared_files_while_it_is_stored(
    mixed_folder: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest's prepared files wait in a spool, not in memory: while its 16 pictures are
    stored, no more than the spool's two held and the one being stored are alive at once
    (all 16 were before)."""
    inputs = _record_and_page(mixed_folder, tmp_path)
    monkeypatch.setattr(prepare, "SPOOL_HELD", 2)
    alive: list[int] = []
    store = ingest._store_image

    def counted(prepared: PreparedImage, **options: object) -> object:
        alive.append(sum(isinstance(o, PreparedImage) for o in gc.get_objects()))
        return store(prepared, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "_store_image", counted)
    with Catalogue(db_url) as catalogue:
        result = catalogue.ingest(inputs[:1], workers=1)
    assert result.images_added == 16
    assert len(alive) == 16  # the broken file is refused before it is stored
    assert max(alive) <= 2 + 2


def test_a_manifest_run_again_after_a_lost_race_reads_its_spooled_files_again(
    mixed_folder: Path,
    db_url: str,
    other_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A manifest's transaction that lost a race runs again on the files its spool wrote,
    none prepared in the ingesting process, and stores what a serial ingest does (its words
    posted a range at a time)."""
    inputs = _record_and_page(mixed_folder, tmp_path)
    with Catalogue(db_url) as serial:
        serial.ingest(inputs, workers=1)
    monkeypatch.setattr(prepare, "SPOOL_HELD", 1)
    monkeypatch.setattr(postings, "_POST_RANGE", 3_000)  # the words posted in ranges
    _refuse_preparing_here(monkeypatch)
    resolve = ingest.resolve_rejections
    lost: list[str] = []

    def losing(paths: list[str], **options: object) -> None:
        if paths[0].endswith("manifest.toml") and not lost:
            lost.append(paths[0])
            raise OperationalError("resolve", {}, sqlite3.OperationalError("database is locked"))
        resolve(paths, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "resolve_rejections", losing)
    with Catalogue(db_url) as serial, Catalogue(other_db_url) as parallel:
        parallel.ingest(inputs, workers=2)
        assert len(lost) == 1
        assert _content(serial) == _content(parallel)
        assert _printed(serial) == _printed(parallel)
        with parallel.session() as session:
            assert stored_postings(session) == expected_postings(session)


def _printed(catalogue: Catalogue) -> list[tuple[object, ...]]:
    with catalogue.session() as session:
        rows = session.execute(
            select(m.Article.key, m.Appearance.position, m.Appearance.caption, m.Image.sha256)
            .join(m.Appearance, m.Appearance.article_id == m.Article.id)
            .outerjoin(m.Image, m.Image.id == m.Appearance.image_id)
        ).all()
    return sorted(rows, key=repr)


def test_worker_warnings_reach_the_main_log(
    mixed_folder: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), Catalogue(db_url) as catalogue:
        catalogue.ingest([mixed_folder], workers=2)
    messages = [r.getMessage() for r in caplog.records]
    assert any("odd.jpg: UserWarning: Truncated File Read" in text for text in messages)


def test_preparer_keeps_the_order_given(mixed_folder: Path) -> None:
    files = sorted(mixed_folder.glob("*.jpg"))
    assert len(files) >= POOL_MIN_FILES
    with Preparer(files, workers=2) as preparer:
        first = preparer.take(files[0])
        with pytest.raises(ValueError, match="not the next file"):
            preparer.take(files[2])
        second = preparer.take(files[1])
    assert isinstance(first, PreparedImage)
    assert isinstance(second, PreparedImage)
    assert first.path == files[0]
    assert second.path == files[1]
    assert first.features is not None
    assert first.sha256 == prepare_file(files[0]).sha256  # type: ignore[union-attr]


def test_a_bad_file_is_a_failure_not_an_exception(mixed_folder: Path) -> None:
    failed = prepare_file(mixed_folder / "broken.jpg")
    assert isinstance(failed, Failed)
    assert failed.path == str(mixed_folder / "broken.jpg")
    assert "not an image" in failed.reason
    assert failed.error().reason == failed.reason


_HOLD_WORKERS = """
import sys, time
from pathlib import Path
from provcat.prepare import Preparer
files = sorted(Path(sys.argv[1]).glob("*.jpg"))
preparer = Preparer(files, workers=2)
preparer.take(files[0])
print(" ".join(str(pid) for pid in preparer._pool._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_workers_exit_when_the_ingest_is_killed(mixed_folder: Path) -> None:
    """kill -9 of an ingest cannot stop its workers: they notice and exit on their own."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WORKERS, str(mixed_folder)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    workers = [int(pid) for pid in holder.stdout.readline().split()]
    assert len(workers) == 2
    assert all(_alive(pid) for pid in workers)
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)


def test_a_script_without_a_main_guard_can_ingest_in_parallel(
    mixed_folder: Path, tmp_path: Path
) -> None:
    """Spawned workers do not run the caller's script again (which would ingest again in
    every worker, and which multiprocessing refuses): a plain top-level script works."""
    script = tmp_path / "plain.py"
    script.write_text(
        "import sys\n"
        "from provcat.catalogue import Catalogue\n"
        "with Catalogue(sys.argv[1]) as catalogue:\n"
        "    result = catalogue.ingest([sys.argv[2]], workers=2)\n"
        "print(result.images_added, len(result.rejected))\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 'plain.db'}", str(mixed_folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert done.stdout.split() == ["16", "1"]
    assert "Traceback" not in done.stderr
    assert "worker process died" not in done.stderr


def test_cli_takes_a_worker_count(mixed_folder: Path, db_url: str) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["--db", db_url, "ingest", "-j", "2", str(mixed_folder), "--json"])
    assert done.exit_code == 3, done.output  # the broken JPEG is rejected; the rest went in
    assert json.loads(done.stdout)["images_added"] == 16
    refused = runner.invoke(cli, ["--db", db_url, "ingest", "--workers", "0", str(mixed_folder)])
    assert refused.exit_code == 2
    assert "--workers" in refused.stderr


def test_large_pictures_carry_their_mirror_features_to_their_turn(tmp_path: Path) -> None:
    """A worker (and ``prepare_file``) hands a picture of MIRROR_FROM pixels or more its
    mirror image's features, the values its matching turn would extract after decoding the
    file again; a smaller picture's turn decodes it (cheaper than extracting in the worker),
    and a file already catalogued carries nothing."""
    large, small = tmp_path / "large.jpg", tmp_path / "small.jpg"
    picture = scene(31)
    picture.resize((MIRROR_FROM, MIRROR_FROM * 3 // 4)).save(large, quality=90)
    picture.save(small, quality=90)
    for path in (large, small):
        done, _records = prepare._prepare_in_worker(path)
        assert isinstance(done, PreparedImage)
        assert done.features is not None
        alone = prepare_file(path)
        assert isinstance(alone, PreparedImage)
        if path is small:
            assert done.mirror is None
            assert alone.mirror is None
            continue
        pixels = open_image(path).pixels
        expected = mirrored(pixels, working=WorkingCopy.of(pixels))
        for carried in (done.mirror, alone.mirror):
            assert carried is not None
            assert carried.to_bytes() == expected.to_bytes()
        assert prepare.prepare_image(open_image(path), known=True, mirror=True).mirror is None

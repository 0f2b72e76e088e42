"""An ingest into a SQLite catalogue file writes through a write-ahead log (provcat.db.write_ahead)
and leaves the catalogue one file in rollback-journal mode, even after a kill."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provcat import db
from provcat.catalogue import Catalogue
from tests.reuse_fixtures import scene

ROOT = Path(__file__).resolve().parents[1]


def _images(folder: Path, seeds: range) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        scene(seed, (320, 240)).save(folder / f"scene-{seed}.jpg", quality=90)
    return folder


def _mode(database: Path) -> str:
    """The catalogue's journal mode, read by a connection closed at once."""
    connection = sqlite3.connect(database)
    try:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        connection.close()


def _beside(database: Path) -> list[str]:
    return sorted(p.name for p in database.parent.iterdir() if p.name.startswith(database.name))


def _stored_alone(database: Path, elsewhere: Path) -> tuple[int, int]:
    """(images, images matched) in a copy of the catalogue's file alone, nothing beside it."""
    elsewhere.mkdir()
    copy = elsewhere / database.name
    shutil.copyfile(database, copy)
    connection = sqlite3.connect(copy)
    try:
        images, matched = connection.execute(
            "SELECT count(*), count(match_seq) FROM image"
        ).fetchone()
    finally:
        connection.close()
    return int(images), int(matched)


def test_an_ingest_writes_through_the_log_and_ends_as_one_file(tmp_path: Path) -> None:
    database = tmp_path / "cat.db"
    folder = _images(tmp_path / "in", range(7100, 7106))
    modes: set[str] = set()
    catalogue = Catalogue(f"sqlite:///{database}")
    try:
        result = catalogue.ingest([folder], progress=lambda *_: modes.add(_mode(database)))
    finally:
        catalogue.close()
    assert result.images_added == 6
    assert modes == {"wal"}  # storing and matching alike
    assert _mode(database) == "delete"
    assert _beside(database) == ["cat.db", "cat.db.ingest-lock"]
    assert _stored_alone(database, tmp_path / "copy") == (6, 6)


def test_a_reader_open_at_the_end_keeps_the_log_until_the_next_ingest(tmp_path: Path) -> None:
    """The mode cannot change while another connection has the catalogue open: the log stays,
    every commit readable through it, and the next ingest run alone ends as one file."""
    database = tmp_path / "cat.db"
    folder = _images(tmp_path / "in", range(7200, 7204))
    reader = sqlite3.connect(database)
    counted: list[int] = []

    def progress(*_: object) -> None:
        if not counted:  # the reader reads while the log is in use, and stays open
            counted.append(reader.execute("SELECT count(*) FROM image").fetchone()[0])

    catalogue = Catalogue(f"sqlite:///{database}")
    try:
        assert catalogue.ingest([folder], progress=progress).images_added == 4
        assert reader.execute("SELECT count(*) FROM image").fetchone() == (4,)
        assert _mode(database) == "wal"
        reader.close()
        _images(folder, range(7204, 7206))
        assert catalogue.ingest([folder]).images_added == 2
    finally:
        reader.close()
        catalogue.close()
    assert _mode(database) == "delete"
    assert _beside(database) == ["cat.db", "cat.db.ingest-lock"]
    assert _stored_alone(database, tmp_path / "copy") == (6, 6)


def test_a_killed_ingest_keeps_its_commits_and_the_next_one_tidies(tmp_path: Path) -> None:
    """Killed once its images are stored (in the log), before matching: the images are in the
    catalogue when it is opened again, and the next ingest matches them and ends as one file."""
    database = tmp_path / "cat.db"
    folder = _images(tmp_path / "in", range(7300, 7305))
    script = textwrap.dedent(
        f"""
        import os
        from provcat.catalogue import Catalogue

        def progress(done, total, what):
            if what == "matching reused photos":
                os._exit(9)

        Catalogue({f"sqlite:///{database}"!r}).ingest([{str(folder)!r}], progress=progress)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=300, check=False)
    assert killed.returncode == 9
    assert "cat.db-wal" in _beside(database)

    catalogue = Catalogue(f"sqlite:///{database}")
    try:
        assert len(catalogue.images()) == 5
        assert catalogue.ingest([folder]).images_known == 5
    finally:
        catalogue.close()
    assert _mode(database) == "delete"
    assert _beside(database) == ["cat.db", "cat.db.ingest-lock"]
    assert _stored_alone(database, tmp_path / "copy") == (5, 5)


def test_a_full_disk_keeps_the_rollback_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With less room than the log may take, the ingest writes as before: a log that filled
    the disk could not be emptied into the database until space was freed."""
    monkeypatch.setattr(db, "WAL_ROOM", 1 << 62)
    database = tmp_path / "cat.db"
    folder = _images(tmp_path / "in", range(7400, 7403))
    modes: set[str] = set()
    catalogue = Catalogue(f"sqlite:///{database}")
    try:
        result = catalogue.ingest([folder], progress=lambda *_: modes.add(_mode(database)))
    finally:
        catalogue.close()
    assert result.images_added == 3
    assert modes == {"delete"}
    assert _beside(database) == ["cat.db", "cat.db.ingest-lock"]

"""Ingest meets real folders: odd file names, devices, FIFOs, huge files, unreadable folders,
links out of a manifest's folder, and rejections that are cleared when a file is fixed."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select

from provcat import config
from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.files import path_bytes, path_text, read_regular, stored_path
from provcat.reports.writers import thumbnail_uri

from .imagegen import photo

LATIN1_NAME = os.fsdecode(b"b-\xe9t\xe9.jpg")


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail, rather than hang the suite, if the test blocks for 20 seconds (a FIFO read)."""

    def timed_out(_signum: int, _frame: object) -> None:
        raise TimeoutError("blocked for 20 s: a FIFO or device was read")

    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_file_name_that_is_not_utf8_is_stored_losslessly(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    photo(1).save(tmp_path / LATIN1_NAME)
    photo(2).save(tmp_path / "z-after.jpg")
    result = catalogue.ingest([tmp_path])
    assert result.images_added == 2
    assert result.rejected == []
    with catalogue.session() as session:
        rows = session.execute(select(m.ImagePath.path, m.ImagePath.path_bytes)).all()
    by_name = {Path(text).name: (text, raw) for text, raw in rows}
    text, raw = by_name["b-\\xe9t\\xe9.jpg"]
    assert raw is not None
    assert raw.endswith(b"/b-\xe9t\xe9.jpg")
    assert stored_path(text, raw) == (tmp_path / LATIN1_NAME).resolve()
    assert by_name["z-after.jpg"][1] is None
    # The name prints (show, JSON) and a second ingest knows the file.
    again = catalogue.ingest([tmp_path])
    assert (again.images_added, again.images_known) == (0, 2)


def test_cli_prints_a_latin1_name(catalogue: Catalogue, tmp_path: Path) -> None:
    (tmp_path / LATIN1_NAME).write_bytes(b"not an image")
    result = CliRunner().invoke(
        cli, ["--db", catalogue.url, "ingest", "--json", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 3
    summary = json.loads(result.stdout)
    assert [Path(r["path"]).name for r in summary["rejected"]] == ["b-\\xe9t\\xe9.jpg"]


def test_path_text_round_trip() -> None:
    assert path_text("/a/ok-é.jpg") == "/a/ok-é.jpg"
    assert path_bytes("/a/ok-é.jpg") is None
    odd = os.fsdecode(b"/a/\xff.jpg")
    assert path_text(odd) == "/a/\\xff.jpg"
    assert stored_path(path_text(odd), path_bytes(odd)) == Path(odd)


def test_a_link_to_dev_zero_is_refused_without_reading_it(
    catalogue: Catalogue, tmp_path: Path, alarm: None
) -> None:
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    result = catalogue.ingest([tmp_path / "zero.jpg"])
    assert [(Path(r.path).name, r.reason) for r in result.rejected] == [
        ("zero", "not a regular file: it is a character device")
    ]


def test_a_sparse_file_larger_than_the_limit_is_refused_before_reading(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    big = tmp_path / "huge.jpg"
    with big.open("wb") as handle:
        handle.truncate(config.MAX_IMAGE_BYTES * 8)  # sparse: takes no disk, reads as zeros
    photo(3).save(tmp_path / "fine.jpg")
    result = catalogue.ingest([tmp_path])
    assert result.images_added == 1
    assert [Path(r.path).name for r in result.rejected] == ["huge.jpg"]
    assert "larger than the 1,073,741,824-byte limit" in result.rejected[0].reason


def test_read_regular_stops_at_the_limit(tmp_path: Path) -> None:
    data = tmp_path / "d.bin"
    data.write_bytes(b"x" * 100)
    assert read_regular(data, limit=100) == b"x" * 100
    with pytest.raises(Exception, match="larger than the 99-byte limit"):
        read_regular(data, limit=99)


def test_a_fifo_in_a_folder_is_skipped_and_named_one_is_rejected(
    catalogue: Catalogue, tmp_path: Path, alarm: None
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    os.mkfifo(folder / "pipe.jpg")
    photo(4).save(folder / "fine.jpg")
    result = catalogue.ingest([folder])
    assert result.images_added == 1
    assert [(Path(s.path).name, s.reason) for s in result.skipped] == [
        ("pipe.jpg", "not a regular file: it is a FIFO (named pipe)")
    ]
    named = catalogue.ingest([folder / "pipe.jpg"])
    assert [r.reason for r in named.rejected] == ["not a regular file: it is a FIFO (named pipe)"]


def test_every_skipped_file_has_a_reason(catalogue: Catalogue, tmp_path: Path) -> None:
    folder = tmp_path / "walk"
    (folder / ".hidden-dir").mkdir(parents=True)
    photo(5).save(folder / "fine.png")
    (folder / "story.txt").write_text("An article.", encoding="utf-8")
    (folder / "page.html").write_text("<p>page</p>", encoding="utf-8")
    (folder / "phone.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (folder / ".DS_Store").write_bytes(b"\x00")
    (folder / "notes.toml").write_text("x = 1\n", encoding="utf-8")
    (folder / "broken.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "linked").symlink_to(tmp_path)
    result = catalogue.ingest([folder])
    assert result.images_added == 1
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons == {
        ".hidden-dir": "hidden folder",
        ".DS_Store": "hidden file",
        "story.txt": "scraped article: name it on the command line to ingest it",
        "page.html": "scraped article: name it on the command line to ingest it",
        "phone.HEIC": "HEIC/HEIF photo: no HEIF decoder is installed (pillow-heif)",
        "notes.toml": "TOML file not named manifest.toml",
        "broken.jpg": "broken symbolic link",
        "loop.jpg": "symbolic links that loop (Too many levels of symbolic links)",
        "linked": "symbolic link to a folder (not followed; name it on the command line)",
    }


def test_an_unreadable_folder_is_listed_with_its_reason(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "walk"
    locked = folder / "locked"
    locked.mkdir(parents=True)
    photo(6).save(folder / "fine.png")
    photo(7).save(locked / "hidden-from-us.png")
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        # Root can read any folder, so chmod 000 proves nothing here: refuse like the kernel.
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = catalogue.ingest([folder])
    assert result.images_added == 1
    assert [(Path(s.path).name, s.reason) for s in result.skipped] == [
        ("locked", "cannot read folder: Permission denied")
    ]


def _manifest(folder: Path, image: str) -> None:
    (folder / "manifest.toml").write_text(
        f'[article]\nid = "linked"\npublisher = "Paper"\n\n'
        f'[[images]]\nfile = "{image}"\n  [[images.printings]]\n  position = 1\n'
        '  caption = "a caption"\n',
        encoding="utf-8",
    )


def test_a_manifest_cannot_reach_outside_its_folder(catalogue: Catalogue, tmp_path: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    photo(8).save(outside / "secret.jpg")
    record = tmp_path / "record"
    (record / "images").mkdir(parents=True)
    (record / "images" / "photo.jpg").symlink_to(outside / "secret.jpg")
    _manifest(record, "images/photo.jpg")
    result = catalogue.ingest([record])
    assert result.images_added == 0
    assert result.appearances_added == 1  # the caption is kept, without the image
    assert len(result.rejected) == 1
    assert "resolves outside the manifest's folder" in result.rejected[0].reason
    with catalogue.session() as session:
        assert session.scalars(select(m.ImagePath.path)).all() == []


def test_a_loop_of_links_is_rejected_and_the_rest_ingested(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """A link loop named on the command line, or listed by a manifest, is one rejection
    naming it and why; it does not end the ingest (it raised out of it before)."""
    record = tmp_path / "record"
    (record / "images").mkdir(parents=True)
    (record / "images" / "a.jpg").symlink_to(record / "images" / "b.jpg")
    (record / "images" / "b.jpg").symlink_to(record / "images" / "a.jpg")
    _manifest(record, "images/a.jpg")
    named = tmp_path / "named.jpg"
    named.symlink_to(named)
    fine = tmp_path / "fine"
    fine.mkdir()
    photo(10).save(fine / "fine.jpg")
    result = catalogue.ingest([record, named, fine])
    assert result.images_added == 1
    assert result.appearances_added == 1  # the caption is kept, without the image
    reasons = {Path(r.path).name: r.reason for r in result.rejected}
    assert set(reasons) == {"a.jpg", "named.jpg"}
    assert "lists images/a.jpg, whose symbolic links cannot be resolved" in reasons["a.jpg"]
    assert reasons["named.jpg"].startswith("its symbolic links cannot be resolved")
    assert {Path(r.path).name for r in catalogue.rejections()} == {"a.jpg", "named.jpg"}


def test_a_manifest_may_use_a_link_inside_its_folder(catalogue: Catalogue, tmp_path: Path) -> None:
    record = tmp_path / "record"
    (record / "images").mkdir(parents=True)
    photo(9).save(record / "images" / "real.jpg")
    (record / "images" / "alias.jpg").symlink_to(record / "images" / "real.jpg")
    _manifest(record, "images/alias.jpg")
    result = catalogue.ingest([record])
    assert (result.images_added, result.rejected) == (1, [])


def test_a_fixed_file_clears_its_rejection(catalogue: Catalogue, tmp_path: Path) -> None:
    target = tmp_path / "later.png"
    target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    catalogue.ingest([target])
    assert [Path(r.path).name for r in catalogue.rejections()] == ["later.png"]
    photo(10).save(target)
    result = catalogue.ingest([target])
    assert (result.images_added, result.rejected) == (1, [])
    assert catalogue.rejections() == []
    history = catalogue.rejections(resolved=True)
    assert len(history) == 1
    assert history[0].resolved_at is not None
    # Broken again: the same row stands again, with the new reason.
    target.write_bytes(b"")
    catalogue.ingest([target])
    standing = catalogue.rejections()
    assert [(r.reason, r.attempts, r.resolved_at) for r in standing] == [("empty file", 2, None)]


def test_one_rejection_per_file_whatever_the_working_folder(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    bad = tmp_path / "sub" / "bad.jpg"
    bad.write_bytes(b"nope")
    monkeypatch.chdir(tmp_path)
    catalogue.ingest([Path("sub/bad.jpg")])
    monkeypatch.chdir(tmp_path / "sub")
    catalogue.ingest([Path("bad.jpg")])
    catalogue.ingest([Path("../sub/./bad.jpg")])
    rows = catalogue.rejections(resolved=True)
    assert [(r.path, r.attempts) for r in rows] == [(str(bad.resolve()), 3)]


def test_rejections_command_lists_resolved_only_when_asked(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    target = tmp_path / "later.png"
    target.write_bytes(b"")
    catalogue.ingest([target])
    photo(11).save(target)
    catalogue.ingest([target])
    runner = CliRunner()
    standing = runner.invoke(cli, ["--db", catalogue.url, "rejections"])
    assert standing.exit_code == 0
    assert standing.stdout == ""
    history = runner.invoke(cli, ["--db", catalogue.url, "rejections", "--all"])
    assert "later.png: empty file (seen 1x" in history.stdout
    assert "RESOLVED, ingested" in history.stdout


def test_a_report_does_not_hang_on_a_file_swapped_for_a_fifo(
    tmp_path: Path, alarm: None
) -> None:
    """Thumbnails read stored paths again; one replaced by a FIFO is passed over."""
    os.mkfifo(tmp_path / "was-a-photo.jpg")
    photo(12).save(tmp_path / "still-a-photo.jpg")
    uri = thumbnail_uri([str(tmp_path / "was-a-photo.jpg"), str(tmp_path / "still-a-photo.jpg")])
    assert uri is not None
    assert uri.startswith("data:image/jpeg;base64,")
    assert thumbnail_uri([str(tmp_path / "was-a-photo.jpg")]) is None


def test_a_fault_no_rule_foresaw_in_reading_an_article_rejects_only_it(
    catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Articles and manifests are read before anything is stored: a reader failing on one
    page in a way no rule foresaw rejects that page, with the error's name (the traceback
    goes to the log), and the rest is ingested."""
    from provcat import ingest

    pages = []
    for name in ("first", "odd", "last"):
        page = tmp_path / f"{name}.txt"
        page.write_text(f"{name.title()} page\n\nA photo. (Picture: Agency)\n", encoding="utf-8")
        pages.append(page)
    photo(13).save(tmp_path / "loose.jpg")
    real = ingest.read_article

    def failing(path: Path) -> object:
        if path.name == "odd.txt":
            raise RecursionError("maximum recursion depth exceeded")
        return real(path)

    monkeypatch.setattr(ingest, "read_article", failing)
    result = catalogue.ingest([*pages, tmp_path / "loose.jpg"])
    assert (result.articles_added, result.images_added) == (2, 1)
    [rejected] = result.rejected
    assert rejected.path.endswith("odd.txt")
    assert rejected.reason.startswith("could not be handled: RecursionError: maximum recursion")
    assert "Traceback" in caplog.text


def test_a_fault_no_rule_foresaw_rejects_only_its_file(
    catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A library failing on one odd picture (OpenCV did, on a 20,000 x 3 banner) ended the
    whole ingest with a traceback; now that file is rejected with the error's name, the
    traceback goes to the log, and the other files are catalogued."""
    from provcat import prepare

    folder = tmp_path / "batch"
    folder.mkdir()
    for number in range(3):
        photo(40 + number, (320, 240)).save(folder / f"{number}.jpg", quality=90)
    real = prepare.extract
    calls: list[int] = []

    def failing(pixels: Image.Image, **options: Any) -> prepare.Features:
        calls.append(1)
        if len(calls) == 2:  # the second file
            raise RuntimeError("OpenCV(5.1.0) resize.cpp: (-215:Assertion failed)")
        return real(pixels, **options)

    monkeypatch.setattr(prepare, "extract", failing)
    result = catalogue.ingest([folder], workers=1)
    assert result.images_added == 2
    [rejected] = result.rejected
    assert rejected.path.endswith("1.jpg")
    assert rejected.reason.startswith("could not be handled: RuntimeError: OpenCV(5.1.0)")
    assert "Traceback" in caplog.text
    # The same in a worker process's own function (run here, so the fault can be planted).
    calls[:] = [1]
    done, _records = prepare._prepare_in_worker(folder / "2.jpg")
    assert isinstance(done, prepare.Failed)
    assert done.reason.startswith("could not be handled: RuntimeError")

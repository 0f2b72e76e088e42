"""Report files appear whole or not at all: a report that fails, is interrupted or is killed
part way leaves an earlier report (and its pages) as they were."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.errors import CatalogueError
from provcat.reports import atomic, writers

from .paths import CATALOGUE_DIR


def _hidden(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".part"))


def test_a_part_takes_its_name_only_when_published(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("earlier report", encoding="utf-8")
    target.chmod(0o640)
    with atomic.Part(target) as part:
        part.stream.write("new report")
        part.stream.flush()
        # Written, not yet named: the earlier report is what a reader sees.
        assert target.read_text(encoding="utf-8") == "earlier report"
        assert len(_hidden(tmp_path)) == 1
        part.publish()
    assert target.read_text(encoding="utf-8") == "new report"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the replaced file's permissions
    assert _hidden(tmp_path) == []
    with atomic.Part(target) as part:
        part.stream.write("a report that never finished")
    assert target.read_text(encoding="utf-8") == "new report"
    assert _hidden(tmp_path) == []
    # A new report gets the process's default permissions, not a private temporary file's.
    fresh = tmp_path / "fresh.md"
    with atomic.Part(fresh) as part:
        part.publish()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _earlier_pages(db_url: str, folder: Path) -> tuple[Path, dict[Path, bytes]]:
    """The catalogue's records ingested, and a reused-photo report in pages written to
    ``folder`` (marked, so that it is told apart from the same report written again): its
    first page, and every page's bytes."""
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([CATALOGUE_DIR])
    folder.mkdir()
    first = folder / "reuse.html"
    done = CliRunner().invoke(
        cli, ["--db", db_url, "report", "reuse", "-o", str(first), "--images-per-page", "2"]
    )
    assert done.exit_code == 0, done.output
    for page in folder.iterdir():
        with page.open("a", encoding="utf-8") as file:
            file.write("<!-- the earlier report -->\n")
    pages = {p: p.read_bytes() for p in folder.iterdir()}
    assert len(pages) > 2
    return first, pages


@pytest.mark.parametrize("fails_on", [1, 3, "end"])
def test_a_report_that_fails_part_way_leaves_the_earlier_one_as_it_was(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_on: int | str
) -> None:
    """A failure while writing the first page, a later page, or after the last page was
    written: every earlier page as it was, byte for byte, and nothing else left."""
    folder = tmp_path / "out"
    first, earlier = _earlier_pages(db_url, folder)
    calls = 0
    real = writers._write_pieces

    def failing(pieces: object, out: object) -> None:
        nonlocal calls
        calls += 1
        real(pieces, out)  # type: ignore[arg-type]
        if calls == fails_on:
            raise CatalogueError("the catalogue went away")

    monkeypatch.setattr(writers, "_write_pieces", failing)
    if fails_on == "end":
        real_publish = atomic.Part.publish

        def publish(self: atomic.Part, **options: bool) -> None:
            if self.path == first:
                raise KeyboardInterrupt  # Ctrl-C once the other pages are named
            real_publish(self, **options)

        monkeypatch.setattr(atomic.Part, "publish", publish)
    done = CliRunner().invoke(
        cli, ["--db", db_url, "report", "reuse", "-o", str(first), "--images-per-page", "1"]
    )
    assert done.exit_code != 0
    if fails_on != "end":
        assert "the catalogue went away" in done.output
        assert {p: p.read_bytes() for p in folder.iterdir()} == earlier
    else:
        # The other pages were named before the first: they are the new report's (whole
        # files), and the first is still the earlier report's.
        assert first.read_bytes() == earlier[first]
        assert _hidden(folder) == []


def test_each_file_is_on_the_disk_before_it_is_named_and_the_names_after(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut as well as a failure: each page's bytes are synced before its rename,
    and the folder (whose entries the renames change) once they are all named, not once
    a page."""
    folder = tmp_path / "out"
    first, _earlier = _earlier_pages(db_url, folder)
    events: list[tuple[str, int]] = []
    for name in ("fdatasync", "fsync"):
        real = getattr(os, name)

        def spy(fd: int, real: object = real) -> None:
            events.append(("sync", os.fstat(fd).st_ino))
            real(fd)  # type: ignore[operator]

        monkeypatch.setattr(os, name, spy)
    real_replace = os.replace

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        events.append(("rename", os.stat(source).st_ino))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    done = CliRunner().invoke(
        cli, ["--db", db_url, "report", "reuse", "-o", str(first), "--images-per-page", "1"]
    )
    assert done.exit_code == 0, done.output
    renamed = [inode for kind, inode in events if kind == "rename"]
    assert len(renamed) == len(list(folder.iterdir())) > 2
    for inode in renamed:
        synced = events.index(("sync", inode))
        assert synced < events.index(("rename", inode))
    folder_syncs = [i for i, event in enumerate(events) if event == ("sync", folder.stat().st_ino)]
    assert folder_syncs
    assert folder_syncs[-1] > events.index(("rename", renamed[-1]))
    assert len(folder_syncs) <= 2  # the other pages' names, then the first's


def test_a_file_that_cannot_be_synced_is_not_named(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error syncing the new file (a failing disk): one line naming the report, the
    earlier one kept, nothing hidden left."""
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([CATALOGUE_DIR])
    target = tmp_path / "captions.json"
    target.write_text("the earlier report", encoding="utf-8")

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    monkeypatch.setattr(os, "fsync", failing)
    done = CliRunner().invoke(cli, ["--db", db_url, "report", "captions", "-o", str(target)])
    assert done.exit_code == 1
    assert f"cannot write the report to {target}: Input/output error" in done.output
    assert target.read_text(encoding="utf-8") == "the earlier report"
    assert _hidden(tmp_path) == []


def test_a_full_disk_names_the_report_and_keeps_the_earlier_one(
    db_url: str, tmp_path: Path
) -> None:
    """A real write error from the operating system (a file size limit: ``EFBIG``, as a
    full disk gives ``ENOSPC``), in a process of its own: one line naming the file and the
    reason, no traceback, the earlier report whole and no hidden file left."""
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([CATALOGUE_DIR])
    out = tmp_path / "reuse.json"
    done = CliRunner().invoke(cli, ["--db", db_url, "report", "reuse", "-o", str(out)])
    assert done.exit_code == 0, done.output
    earlier = out.read_bytes()
    assert len(earlier) > 4_000

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_000, 4_000))

    command = [sys.executable, "-c", "from provcat.cli import main; main()", "--db", db_url]
    for args in (["report", "reuse", "-o", str(out)], ["report", "captions", "-o", str(out)]):
        failed = subprocess.run(
            [*command, *args], capture_output=True, text=True, preexec_fn=limited, check=False
        )
        assert failed.returncode == 1, failed.stderr
        assert f"cannot write the report to {out}: File too large" in failed.stderr
        assert "Traceback" not in failed.stderr
        assert out.read_bytes() == earlier
        assert _hidden(tmp_path) == []


def test_a_killed_report_leaves_a_hidden_file_the_next_one_removes(
    db_url: str, tmp_path: Path
) -> None:
    """``kill -9`` while a report is written: the report file is the earlier one, the
    hidden file it was writing stays (nothing can remove it), and the next report written
    to that folder removes it, and no running process's, nor another machine's."""
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([CATALOGUE_DIR])
    out = tmp_path / "reuse.html"
    out.write_text("earlier report", encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from provcat.reports.atomic import Part
        part = Part(Path({str(out)!r}))
        part.stream.write("half a report" * 1000)
        part.stream.flush()
        print("written", flush=True)
        time.sleep(60)
        """
    )
    killed = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    alive = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        for process in (killed, alive):
            assert process.stdout is not None
            assert process.stdout.readline() == "written\n"
        killed.kill()
        killed.wait()
        left = {}
        for path in _hidden(tmp_path):
            found = atomic._LEFTOVER.fullmatch(path.name)
            assert found is not None
            assert found["host"] == atomic._host()
            left[int(found["pid"])] = path
        assert set(left) == {killed.pid, alive.pid}
        assert out.read_text(encoding="utf-8") == "earlier report"
        # Another report's file its killed writer left on this machine: removed too; one
        # from another machine sharing the folder (whose pid says nothing here), and one
        # of another report made before files named their machine: left.
        ours = tmp_path / f".other.html.{atomic._host()}-{killed.pid}-0123abcd.part"
        theirs = tmp_path / f".other.html.0badc0de-{killed.pid}-0123abcd.part"
        unnamed = tmp_path / f".other.html.{killed.pid}-0123abcd.part"
        for path in (ours, theirs, unnamed):
            path.write_text("another report's", encoding="utf-8")
        assert atomic._host() != "0badc0de"
        done = CliRunner().invoke(cli, ["--db", db_url, "report", "reuse", "-o", str(out)])
        assert done.exit_code == 0, done.output
        assert "removed 2 unfinished file(s) a killed report left" in done.output
        assert _hidden(tmp_path) == sorted([left[alive.pid], theirs, unnamed])
        # One of this report made before files named their machine: removed, as before.
        old = tmp_path / f".reuse.html.{killed.pid}-0123abcd.part"
        old.write_text("half a report", encoding="utf-8")
        done = CliRunner().invoke(cli, ["--db", db_url, "report", "reuse", "-o", str(out)])
        assert "removed 1 unfinished file(s) a killed report left" in done.output
        assert not old.exists()
        assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    finally:
        alive.kill()
        alive.wait()


def test_where_the_report_cannot_go_is_said_in_one_line(db_url: str, tmp_path: Path) -> None:
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([CATALOGUE_DIR])
    runner = CliRunner()
    missing = tmp_path / "no such folder" / "report.json"
    done = runner.invoke(cli, ["--db", db_url, "report", "captions", "-o", str(missing)])
    assert done.exit_code == 1
    assert done.output == (
        f"Error: cannot write the report to {missing}: No such file or directory\n"
    )
    # A device is written to as it is, in one page: nothing is made beside it.
    done = runner.invoke(
        cli,
        [
            "--db",
            db_url,
            "report",
            "reuse",
            "--format",
            "html",
            "-o",
            "/dev/null",
            "--images-per-page",
            "1",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "pages" not in done.output


def test_a_link_named_as_the_output_keeps_naming_the_report(db_url: str, tmp_path: Path) -> None:
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([CATALOGUE_DIR])
    reports = tmp_path / "reports"
    reports.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    link = shared / "latest.html"
    link.symlink_to(reports / "today.html")
    done = CliRunner().invoke(
        cli, ["--db", db_url, "report", "reuse", "-o", str(link), "--images-per-page", "2"]
    )
    assert done.exit_code == 0, done.output
    assert link.is_symlink()
    assert link.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # The other pages lie beside the page the link names, where its links lead.
    assert (reports / "today-2.html").is_file()
    assert [p.name for p in shared.iterdir()] == ["latest.html"]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_report_stopped_by_a_signal_removes_what_it_had_written(
    db_url: str, tmp_path: Path, stop: signal.Signals
) -> None:
    """`timeout`, `kill` or a service manager (SIGTERM) stops a report as Ctrl-C does: in a
    process of its own stopped while writing its third page, the hidden pages it had
    written are removed and the earlier report's pages are as they were."""
    folder = tmp_path / "out"
    first, earlier = _earlier_pages(db_url, folder)
    script = textwrap.dedent(
        """
        import signal, sys, time
        from provcat.cli import main
        from provcat.reports import writers
        real, calls = writers._write_pieces, []
        def slow(pieces, out):
            real(pieces, out)
            calls.append(1)
            if len(calls) == 3:
                print("third page written", flush=True)
                time.sleep(60)
        writers._write_pieces = slow
        signal.signal(signal.SIGINT, signal.default_int_handler)  # not ignored as in a job
        sys.argv[1:] = sys.argv[2:]
        main()
        """
    )
    command = ["--db", db_url, "report", "reuse", "-o", str(first), "--images-per-page", "1"]
    process = subprocess.Popen(
        [sys.executable, "-c", script, "--", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "third page written\n"
    assert len(_hidden(folder)) == 3  # pages 1 to 3, written under hidden names
    process.send_signal(stop)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in folder.iterdir()} == earlier

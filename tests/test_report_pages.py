"""HTML reports split into pages of a bounded number of thumbnails, linked to each other."""

from __future__ import annotations

import errno
import io
import os
import random
import re
import threading
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.errors import CatalogueError
from provcat.reports import atomic, writers

from .paths import CATALOGUE_DIR


def test_items_are_split_into_runs_within_the_budget() -> None:
    rng = random.Random(5)
    for _ in range(300):
        sizes = [rng.choice([1, 1, 2, 3, 5, 40]) for _ in range(rng.randrange(0, 30))]
        most = rng.choice([1, 4, 10, 50])
        runs = writers._split(sizes, most)
        assert [i for run in runs for i in run] == list(range(len(sizes)))  # in order, all
        assert all(len(run) > 0 for run in runs) or (sizes == [] and runs == [range(0, 0)])
        for number, run in enumerate(runs):
            total = sum(sizes[i] for i in run)
            assert total <= most or len(run) == 1  # a large item alone
            if number + 1 < len(runs):  # the next item did not fit
                assert total + sizes[runs[number + 1].start] > most


def _pages(first: Path) -> list[Path]:
    """The pages linked from the first, in their order, each checked to exist."""
    text = first.read_text(encoding="utf-8")
    nav = re.search(r'<nav class="pages">(.*?)</nav>', text, re.S)
    if nav is None:
        return [first]
    hrefs = re.findall(r'<a href="([^"]+)">\d+</a>|<strong>(\d+)</strong>', nav.group(1))
    pages = [first.parent / unquote(href) if href else first for href, _ in hrefs]
    assert all(page.exists() for page in pages)
    return pages


def _numbers(page: Path, kind: str) -> list[int]:
    return [int(n) for n in re.findall(rf'id="{kind}-(\d+)"', page.read_text(encoding="utf-8"))]


def test_the_reuse_report_is_written_in_linked_pages(db_url: str, tmp_path: Path) -> None:
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([CATALOGUE_DIR])
        clusters = catalogue.reused_photos()
    first = tmp_path / "my report #1.html"
    runner = CliRunner()
    done = runner.invoke(
        cli, ["--db", db_url, "report", "reuse", "-o", str(first), "--images-per-page", "3"]
    )
    assert done.exit_code == 0, done.output
    sizes = [len(c.members) for c in clusters]
    runs = writers._split(sizes, 3)
    pages = _pages(first)
    assert len(pages) == len(runs) > 1
    assert pages[1].name == "my report #1-2.html"
    assert f"{len(pages)} pages, my report #1-2.html to my report #1-{len(pages)}.html" in (
        done.output
    )
    for number, (page, run) in enumerate(zip(pages, runs, strict=True), start=1):
        text = page.read_text(encoding="utf-8")
        assert _numbers(page, "photo") == [i + 1 for i in run]  # numbered as in one page
        assert text.count("data:image/jpeg;base64,") == sum(sizes[i] for i in run)
        assert f"Page {number} of {len(pages)}" in text
        assert "Content-Security-Policy" in text
        assert f"{len(clusters)} photo(s) held as more than one image" in text
        # Previous and next link where they should.
        assert ('rel="prev"' in text) == (number > 1)
        assert ('rel="next"' in text) == (number < len(pages))
    whole = tmp_path / "whole.html"
    done = runner.invoke(
        cli, ["--db", db_url, "report", "reuse", "-o", str(whole), "--images-per-page", "0"]
    )
    assert done.exit_code == 0, done.output
    assert "pages" not in done.output
    assert _numbers(whole, "photo") == list(range(1, len(clusters) + 1))
    assert "<nav" not in whole.read_text(encoding="utf-8")
    # One page where there were several: the others go.
    done = runner.invoke(
        cli, ["--db", db_url, "report", "reuse", "-o", str(first), "--images-per-page", "0"]
    )
    assert f"removed {len(pages) - 1} page(s) an earlier report left" in done.output
    assert not any(page.exists() for page in pages[1:])


def test_one_page_is_the_page_written_whole(catalogue: Catalogue, tmp_path: Path) -> None:
    catalogue.ingest([CATALOGUE_DIR])
    report = catalogue.caption_report()
    reuse = catalogue.reuse_report()
    for write, made in ((writers.write_caption_html, report), (writers.write_reuse_html, reuse)):
        whole, paged = io.StringIO(), io.StringIO()
        write(made, whole)  # type: ignore[operator]
        pages = writers.Pages(tmp_path / "report.html", images=10**6)
        write(made, paged, pages=pages)  # type: ignore[operator]
        assert paged.getvalue() == whole.getvalue()
        assert pages.written == [tmp_path / "report.html"]


def test_the_caption_report_pages_take_the_groups_then_the_photos(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    catalogue.ingest([CATALOGUE_DIR])
    report = catalogue.caption_report()
    assert report.groups
    assert report.photos
    first = tmp_path / "captions.html"
    pages = writers.Pages(first, images=1)  # every group and photo alone on a page
    with first.open("w", encoding="utf-8") as out:
        writers.write_caption_html(report, out, pages=pages)
    found = _pages(first)
    assert found == pages.written
    assert len(found) == len(report.groups) + len(report.photos)
    heading = "Photos under different captions"
    for number, page in enumerate(found, start=1):
        text = page.read_text(encoding="utf-8")
        if number <= len(report.groups):
            assert _numbers(page, "group") == [number]
            assert heading not in text
        else:
            assert _numbers(page, "group") == []
            assert text.count('<section class="group photo">') == 1
            assert heading in text
        assert "No caption is printed more than once" not in text


def test_pages_left_by_a_longer_report_are_removed_and_no_other_file(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    catalogue.ingest([CATALOGUE_DIR])
    report = catalogue.reuse_report()
    folder = tmp_path / "out"
    folder.mkdir()
    first = folder / "reuse.html"
    long = writers.Pages(first, images=1)
    with first.open("w", encoding="utf-8") as out:
        writers.write_reuse_html(report, out, pages=long)
    assert len(long.written) == len(report.clusters) > 2
    theirs = first.with_name(f"reuse-{len(long.written) + 1}.html")
    theirs.write_text("<p>someone else's page</p>", encoding="utf-8")
    short = writers.Pages(first, images=4)
    with first.open("w", encoding="utf-8") as out:
        writers.write_reuse_html(report, out, pages=short)
    assert 1 < len(short.written) < len(long.written)
    assert short.removed == long.written[len(short.written) :]
    assert sorted(folder.iterdir()) == sorted([*short.written, theirs])


def test_two_reports_written_at_once_to_one_name_end_as_one_of_them(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report of many pages stops just before its first page takes its name (its other
    pages named); a report of one page is written to the same name meanwhile. The second
    waits for the first to finish, then takes the name and removes the first's other
    pages: the folder holds one report whose every link is there. (Without the folder's
    lock the second finishes first, and the first page named last links to pages the
    second removed.)"""
    catalogue.ingest([CATALOGUE_DIR])
    report = catalogue.reuse_report()
    folder = tmp_path / "out"
    folder.mkdir()
    first = folder / "reuse.html"
    paused, go_on = threading.Event(), threading.Event()
    held: list[atomic.Part] = []
    real_publish = atomic.Part.publish

    def publish(self: atomic.Part, **options: bool) -> None:
        if held and self is held[0]:
            paused.set()
            go_on.wait(60)
        real_publish(self, **options)

    monkeypatch.setattr(atomic.Part, "publish", publish)
    written: dict[str, writers.Pages] = {}

    def write(name: str, images: int, parts: list[atomic.Part]) -> None:
        with atomic.Part(first) as part:
            parts.append(part)
            pages = writers.Pages(first, images=images, first_file=part)
            writers.write_reuse_html(report, part.stream, pages=pages)
            part.publish()
        written[name] = pages

    many = threading.Thread(target=write, args=("many", 1, held))
    many.start()
    assert paused.wait(60)
    one = threading.Thread(target=write, args=("one", 10**6, []))
    one.start()
    one.join(2)  # time enough to finish, were it not waiting for the folder
    go_on.set()
    many.join(60)
    one.join(60)
    assert len(written["many"].written) == len(report.clusters) > 2
    assert written["one"].written == [first]
    assert written["one"].removed == written["many"].written[1:]
    assert _pages(first) == [first]  # the one-page report, linking to nothing
    assert sorted(folder.iterdir()) == [first]


def test_a_folder_that_cannot_be_locked_is_written_to_as_before(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that cannot lock a folder (a Linux NFS client: EBADF) still gets the
    report; any other failure to lock it names the report's file."""
    catalogue.ingest([CATALOGUE_DIR])
    report = catalogue.reuse_report()
    first = tmp_path / "reuse.html"

    def flock(fd: int, operation: int) -> None:
        raise OSError(failure, os.strerror(failure))

    monkeypatch.setattr(atomic.fcntl, "flock", flock)
    failure = errno.EBADF
    with atomic.Part(first) as part:
        pages = writers.Pages(first, images=1, first_file=part)
        writers.write_reuse_html(report, part.stream, pages=pages)
    assert len(_pages(first)) == len(pages.written) == len(report.clusters)
    failure = errno.EIO
    with atomic.Part(first) as part:
        pages = writers.Pages(first, images=2, first_file=part)
        with pytest.raises(CatalogueError, match=r"reuse\.html"):
            writers.write_reuse_html(report, part.stream, pages=pages)
    assert len(_pages(first)) == len(report.clusters)  # the earlier report, as it was
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []

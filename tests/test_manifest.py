"""Manifests: the Montenegro record parses, and every kind of mistake is reported with its line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from provcat.errors import ManifestError
from provcat.manifest import load_manifest, parse_date

from .paths import MONTENEGRO

GOOD = """\
[article]
id = "a1"
title = "Title"
publisher = "Paper"
published = "2020-02"

[[people]]
name = "Ann Example"
aliases = ["Anne Example"]

[[images]]
file = "one.jpg"
people = [{ name = "Anne Example", cue = "left" }]

  [[images.printings]]
  position = 1
  caption = "  Exact  caption, spaces kept "
  credit = "X via Y"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_montenegro_manifest_reads_as_the_article_printed_it() -> None:
    manifest = load_manifest(MONTENEGRO / "manifest.toml")
    assert manifest.article.publisher == "DailyMail.co.uk"
    assert manifest.article.url is None
    assert manifest.article.published_precision == "month"
    assert manifest.article.published == dt.date(2017, 4, 1)
    assert manifest.article.published_until == dt.date(2017, 4, 30)
    assert [len(i.printings) for i in manifest.images] == [1, 2, 2, 1]
    plotters = [p.caption for p in manifest.images[1].printings]
    assert plotters[0] is not None
    assert plotters[0].startswith("'Plotters':Shishmakov")
    assert plotters[1] is not None
    assert plotters[1] == plotters[0].replace("'Plotters'", "\u2018Plotters\u2019")
    assert manifest.images[0].printings[0].credit is None
    assert manifest.images[3].printings[0].caption is None
    assert all(image.stand_in for image in manifest.images)


def test_captions_are_kept_exactly(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, GOOD))
    assert manifest.images[0].printings[0].caption == "  Exact  caption, spaces kept "
    assert manifest.people[0].aliases == ("Anne Example",)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace('title = "Title"', "title = Title"), 3, "not valid TOML"),
        (GOOD.replace("  position = 1\n", "  position = 0\n"), 16, "position must be"),
        (
            GOOD.replace('  credit = "X via Y"\n', '  credit = "X via Y"\n  colour = "red"\n'),
            19,
            "unknown key 'colour'",
        ),
        (GOOD.replace('published = "2020-02"', 'published = "Feb 2020"'), 5, "YYYY-MM"),
        (GOOD.replace('file = "one.jpg"', 'file = "../one.jpg"'), 12, "inside the manifest"),
        (GOOD.replace('id = "a1"\n', ""), 1, "missing required key 'id'"),
        (GOOD.replace('"Anne Example", cue', '"Nobody", cue'), 13, "not listed in [[people]]"),
        (
            GOOD + '\n[[images]]\nfile = "two.jpg"\n  [[images.printings]]\n  position = 1\n',
            23,
            "position 1 is used twice",
        ),
        (GOOD.replace("  caption = ", "  caption = 5 #"), 17, "caption must be a string"),
        (GOOD.split("[[images]]")[0], None, "at least one [[images]]"),
    ],
)
def test_manifest_errors_name_the_file_and_line(
    tmp_path: Path, text: str, line: int | None, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    error = caught.value
    assert words in error.reason
    assert error.line == line
    assert str(error).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_unreadable_manifest(tmp_path: Path) -> None:
    path = tmp_path / "manifest.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_manifest(path)


@pytest.mark.parametrize(
    ("text", "first", "last", "precision"),
    [
        ("2017", dt.date(2017, 1, 1), dt.date(2017, 12, 31), "year"),
        ("2016-02", dt.date(2016, 2, 1), dt.date(2016, 2, 29), "month"),
        ("2017-04-28", dt.date(2017, 4, 28), dt.date(2017, 4, 28), "day"),
    ],
)
def test_parse_date(text: str, first: dt.date, last: dt.date, precision: str) -> None:
    assert parse_date(text) == (first, last, precision)


@pytest.mark.parametrize("text", ["2017-13", "2017-02-30", "17-04", "April 2017", ""])
def test_parse_date_refuses(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        parse_date(text)

"""The provcat command: help everywhere, JSON shapes, exit statuses, one-line errors."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy.exc import OperationalError

import provcat
from provcat import cli as cli_module
from provcat.catalogue import Catalogue
from provcat.cli import EXIT_REJECTED, cli
from provcat.db import make_engine
from provcat.terminal import json_printable

from .imagegen import photo
from .paths import MONTENEGRO


def run(db_url: str, *args: str) -> tuple[int, str, str]:
    """Run provcat against ``db_url``; return (exit status, stdout, stderr)."""
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def all_commands(group: click.Group) -> list[str]:
    """Every command name of the CLI."""
    return sorted(group.commands)


@pytest.mark.parametrize("command", all_commands(cli))
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: cli " + command in result.output or f"Usage: provcat {command}" in result.output
    assert cli.commands[command].help


def test_ingest_json_summary(db_url: str) -> None:
    status, out, _ = run(db_url, "ingest", "--json", str(MONTENEGRO))
    assert status == 0
    summary = json.loads(out)
    assert summary["images_added"] == 4
    assert summary["images_known"] == 0
    assert summary["appearances_added"] == 6
    assert summary["rejected"] == []
    status, out, _ = run(db_url, "ingest", "--json", str(MONTENEGRO))
    again = json.loads(out)
    assert (again["images_added"], again["images_known"], again["appearances_added"]) == (0, 4, 0)


def test_ingest_exit_status_says_something_was_rejected(db_url: str, tmp_path: Path) -> None:
    photo(0).save(tmp_path / "fine.png")
    (tmp_path / "fake.jpg").write_bytes(b"nope")
    status, out, err = run(db_url, "ingest", str(tmp_path))
    assert status == EXIT_REJECTED
    assert out.startswith("images: 1 added, 0 already known;")
    assert out.rstrip().endswith("rejected: 1")
    assert err.startswith(f"rejected {tmp_path / 'fake.jpg'}: not an image (Pillow cannot")
    assert sum(line.startswith("rejected ") for line in err.splitlines()) == 1
    status, out, _ = run(db_url, "ingest", "--json", str(tmp_path))
    assert status == EXIT_REJECTED
    [rejected] = json.loads(out)["rejected"]
    assert rejected["path"] == str(tmp_path / "fake.jpg")
    assert rejected["reason"].startswith("not an image (Pillow cannot identify it")


def test_images_json_and_show_json(db_url: str) -> None:
    run(db_url, "ingest", str(MONTENEGRO))
    status, out, _ = run(db_url, "images", "--json", "--caption", "Plotters")
    assert status == 0
    [image] = json.loads(out)
    assert {"sha256", "captions"} <= set(image)
    status, out, _ = run(db_url, "show", "--json", image["sha256"][:10])
    assert status == 0
    record = json.loads(out)
    assert {
        "sha256",
        "width",
        "height",
        "appearances",
        "provenance",
        "metadata",
        "fingerprints",
    } <= set(record)
    assert {"title", "publisher", "url"} <= set(record["appearances"][0]["article"])
    assert {"position", "caption", "credit"} <= set(record["appearances"][0])
    assert {"agent", "role"} <= set(record["provenance"][0])
    assert {"standard", "key", "value"} <= set(record["metadata"][0])
    assert {"phash", "dhash", "pdq"} == set(record["fingerprints"])


def test_show_text_lists_printings_chain_and_truncation(db_url: str) -> None:
    run(db_url, "ingest", str(MONTENEGRO))
    _, out, _ = run(db_url, "images", "--json", "--caption", "Plotters")
    sha = json.loads(out)[0]["sha256"]
    status, out, _ = run(db_url, "show", sha[:8])
    assert status == 0
    assert "STAND-IN, not the original photograph" in out
    assert out.count("caption: 'Plotters':Shishmakov") == 1
    assert out.count("caption: \u2018Plotters\u2019:Shishmakov") == 1
    assert (
        "unnamed European security service [originator] -> Sky News [supplier] -> "
        "DailyMail.co.uk [publisher]" in out
    )
    assert "2:110: unnamed European security servic [TRUNCATED]" in out


def test_errors_are_one_line(catalogue: Catalogue) -> None:
    db_url = catalogue.url
    result = CliRunner().invoke(cli, ["--db", db_url, "show", "abcdef"])
    assert result.exit_code == 1
    assert result.stderr == "Error: no image's SHA-256 starts with 'abcdef'\n"
    result = CliRunner().invoke(cli, ["--db", db_url, "images", "--from", "2017-02-30"])
    assert result.exit_code == 2
    assert "is not a date" in result.stderr


def test_db_from_environment(db_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["ingest", "--json", str(MONTENEGRO)], env={"PROVCAT_DATABASE_URL": db_url}
    )
    assert result.exit_code == 0
    _status, out, _ = run(db_url, "articles", "--json")
    assert [a["key"] for a in json.loads(out)] == ["montenegro-coup-2017"]


def test_agents_and_rejections_commands(db_url: str, tmp_path: Path) -> None:
    run(db_url, "ingest", str(MONTENEGRO))
    status, out, _ = run(db_url, "agents", "--json")
    assert status == 0
    assert {a["name"] for a in json.loads(out)} == {
        "unnamed European security service",
        "Sky News",
        "DailyMail.co.uk",
    }
    (tmp_path / "x.jpg").write_bytes(b"")
    run(db_url, "ingest", str(tmp_path / "x.jpg"))
    status, out, _ = run(db_url, "rejections")
    assert status == 0
    assert out.startswith(f"{tmp_path / 'x.jpg'}: empty file")


def test_db_takes_a_plain_sqlite_path(tmp_path: Path) -> None:
    photo(0).save(tmp_path / "one.png")
    db = tmp_path / "cats" / "my catalogue.db"
    db.parent.mkdir()
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "one.png")])
    assert result.exit_code == 0, result.output
    assert db.is_file()
    listed = CliRunner().invoke(cli, ["--db", str(db), "images", "--json"])
    assert len(json.loads(listed.stdout)) == 1


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("folder", "unable to open database file"),
        ("text", "file is not a database"),
        ("postgresql://postgres@127.0.0.1:1/nowhere", "Connection refused"),
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line(
    tmp_path: Path, target: str, reason: str
) -> None:
    if target == "folder":
        target = str(tmp_path)
    elif target == "text":
        (tmp_path / "notes.db").write_text("not a database\n" * 200, encoding="utf-8")
        target = str(tmp_path / "notes.db")
    for args in (["ingest", str(MONTENEGRO)], ["articles"]):
        result = CliRunner().invoke(cli, ["--db", target, *args])
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: cannot open catalogue ")
        assert reason in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("password", ["", ":s3cret"])
def test_a_database_error_names_the_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """A write the database refuses half-way (a full disk, seen so on a real one) is one
    line that says which catalogue it is about, never with its password."""
    if password:
        target = f"postgresql://postgres{password}@127.0.0.1:1/shared"
        shown = "postgresql+psycopg://postgres:***@127.0.0.1:1/shared"
    else:
        target = str(tmp_path / "full disk.db")
        shown = f"sqlite:///{tmp_path / 'full disk.db'}"
    full = sqlite3.OperationalError("database or disk is full")

    def ingest(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("INSERT INTO image ...", {}, full)

    monkeypatch.setattr(Catalogue, "__init__", lambda self, url=None, **_kw: None)
    monkeypatch.setattr(Catalogue, "close", lambda self: None)
    monkeypatch.setattr(Catalogue, "ingest", ingest)
    result = CliRunner().invoke(cli, ["--db", target, "ingest", str(MONTENEGRO)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: database error in {shown}: database or disk is full (the catalogue's disk, "
        f"or the temporary folder {tempfile.gettempdir()})\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["images"],
        ["articles"],
        ["agents"],
        ["rejections"],
        ["show", "abcd"],
        ["report", "captions", "--format", "json"],
        ["report", "reuse", "--format", "json"],
        ["match-caption", "Plotters"],
    ],
)
def test_read_commands_do_not_create_a_catalogue(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "absent.db"
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert result.exit_code == 1
    assert result.stderr == f"Error: no catalogue at {db} (run provcat ingest, or pass --db)\n"
    assert not db.exists()


def test_read_commands_refuse_an_empty_database(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    with engine.connect() as connection:  # an SQLite file now exists, with no tables
        connection.exec_driver_sql("SELECT 1")
    engine.dispose()
    result = CliRunner().invoke(cli, ["--db", empty_db_url, "articles"])
    assert result.exit_code == 1
    assert "holds no provcat catalogue (run provcat ingest)" in result.stderr


def _warning_jpeg(path: Path) -> None:
    """A JPEG whose EXIF points past its end: Pillow decodes it and warns 'Truncated File Read'."""
    exif = Image.Exif()
    exif[0x010E] = "description"
    buffer = io.BytesIO()
    photo(1).save(buffer, "JPEG", exif=exif.tobytes())
    data = bytearray(buffer.getvalue())
    tiff = data.find(b"Exif\x00\x00") + 6
    data[tiff + 18 : tiff + 22] = (0x7FFF).to_bytes(4, "big")  # the value's offset
    path.write_bytes(bytes(data))


def test_decoder_warnings_go_to_the_log_not_across_the_output(
    db_url: str, tmp_path: Path
) -> None:
    _warning_jpeg(tmp_path / "odd.jpg")
    quiet = CliRunner().invoke(cli, ["--db", db_url, "ingest", str(tmp_path / "odd.jpg")])
    assert quiet.exit_code == 0
    assert "Truncated File Read" not in quiet.stderr
    assert "warning(s) logged; -v shows them" in quiet.stderr
    log = tmp_path / "provcat.log"
    shown = CliRunner().invoke(
        cli,
        ["--db", db_url, "-v", "--log-file", str(log), "similar", str(tmp_path / "odd.jpg")],
    )
    assert shown.exit_code == 0
    assert "odd.jpg: UserWarning: Truncated File Read" in " ".join(shown.stderr.split())
    assert "odd.jpg: UserWarning: Truncated File Read" in log.read_text(encoding="utf-8")


def test_a_look_up_command_starts_without_ingest_or_the_reports() -> None:
    """`provcat similar` and the other look-ups import neither ingest (with the scraped
    articles' parsers) nor the reports (with the caption matching and the templates): a
    second of every command's start was provcat importing all its modules. The package's
    own names still come when asked for."""
    script = (
        "import sys, provcat.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('bs4', 'rapidfuzz', 'jinja2') or m.startswith(('provcat.ingest', "
        "'provcat.articles', 'provcat.reports.captions', 'provcat.reports.writers'))))\n"
        "import provcat\n"
        "from provcat import Catalogue, ImageQuery\n"
        "print(Catalogue.__name__, ImageQuery.__name__, sorted(provcat.__all__) == "
        "sorted(n for n in provcat.__all__ if hasattr(provcat, n)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["[]", "Catalogue ImageQuery True"]
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = provcat.Nothing  # type: ignore[attr-defined]


def test_a_long_listing_is_printed_as_it_is_read(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`provcat images` prints a table a page of rows at a time and its JSON an image at a
    time: the same JSON text as the whole list dumped at once, and every image in the
    tables."""
    monkeypatch.setattr(cli_module, "_TABLE_ROWS", 3)
    whole = [image.to_dict() for image in montenegro.images()]
    code, out, _err = run(montenegro.url, "images", "--json")
    assert code == 0
    assert out == json_printable(json.dumps(whole, indent=2, ensure_ascii=False)) + "\n"
    code, out, err = run(montenegro.url, "images")
    assert code == 0
    assert out.count("sha256") == 2  # two tables, of three images and of one
    assert all(image["sha256"][:12] in out for image in whole)
    assert "4 image(s)" in out + err
    code, out, _err = run(montenegro.url, "images", "--json", "--caption", "no such words")
    assert out == "[]\n"


def test_articles_and_agents_tables_are_printed_a_page_at_a_time(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`provcat articles` and `provcat agents` print tables of _TABLE_ROWS rows as they go
    (100,000 articles in one table held them all and printed nothing for 45 s): every row
    once, each page under its own header; none is one empty table."""
    monkeypatch.setattr(cli_module, "_TABLE_ROWS", 2)
    monkeypatch.setenv("COLUMNS", "400")  # no cell wraps
    code, out, _err = run(montenegro.url, "agents")
    assert code == 0
    agents = montenegro.agents()
    assert len(agents) == 3
    assert out.count("roles") == 2  # two tables: of two agents and of one
    assert all(out.count(agent.name) == 1 for agent in agents)
    assert "publisher x" in out
    code, out, _err = run(montenegro.url, "articles")
    assert code == 0
    assert out.count("printings") == 1
    assert all(out.count(article.key) == 1 for article in montenegro.articles())
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    Catalogue(empty).close()
    for command, header in (("articles", "printings"), ("agents", "roles")):
        code, out, _err = run(empty, command)
        assert code == 0
        assert out.count(header) == 1


def test_table_cells_are_shown_as_they_are_never_obeyed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cell holding rich markup shows it as text, and one holding a terminal's control
    sequence shows it without the control character, whether it came through _cell or as
    a plain string."""
    monkeypatch.setenv("COLUMNS", "400")
    rows = [
        (cli_module._cell("[bold]Sky News[/bold] \x1b[31mred"), "[red]kind[/red]"),
        (cli_module._cell("back\\slash [link=x]y[/link]"), "plain"),
    ]
    assert cli_module._print_tables(("name", "kind"), rows) == 2
    out = capsys.readouterr().out
    assert "[bold]Sky News[/bold]" in out
    assert "[red]kind[/red]" in out
    assert "back\\slash [link=x]y[/link]" in out
    assert "\x1b" not in out
    assert "[31mred" in out


def test_json_items_printed_one_at_a_time_are_the_list_printed_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    items = [{"a": [1, {"b": "x\u001b[31m"}]}, {}, [], "caf\u00e9\nline", None]
    for count in range(len(items) + 1):
        cli_module._echo_json(items[:count])
        whole = capsys.readouterr().out
        assert cli_module._echo_json_items(iter(items[:count])) == count
        assert capsys.readouterr().out == whole

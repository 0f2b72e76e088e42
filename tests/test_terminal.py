"""Untrusted text shown on a terminal: control characters are seen, never obeyed."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st

from provcat.cli import cli
from provcat.terminal import json_indented, json_printable, printable

from .imagegen import photo
from .records import write_record

#: What a hostile caption or file name carries: a window title (OSC ... BEL), a screen clear,
#: a carriage return over the line, a one-character CSI (C1) and a right-to-left override.
HOSTILE = "Plotters\x1b]0;pwned\x07 met\x1b[2J\r in Belgrade\x9b31m \u202egpj.exe"
#: Characters no output for people may hold raw.
UNSAFE = {chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))} | {
    *"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
}


def test_printable_escapes_what_a_terminal_obeys_and_keeps_the_rest() -> None:
    assert printable(HOSTILE) == (
        "Plotters\\x1b]0;pwned\\x07 met\\x1b[2J\\x0d in Belgrade\\x9b31m \\u202egpj.exe"
    )
    kept = "Đukanović\tcafé 🇲🇪 \u200d मि\u200cत्र مرحبا\nsecond line"
    assert printable(kept) == kept
    assert printable("a\nb\u2028c", one_line=True) == "a\\x0ab\\u2028c"


@given(st.text())
def test_printable_leaves_nothing_a_terminal_would_obey(text: str) -> None:
    shown = printable(text)
    assert not set(shown) & UNSAFE
    assert not set(printable(text, one_line=True)) & (UNSAFE | {"\n", "\u2028", "\u2029"})
    if not set(text) & UNSAFE:
        assert shown == text


@given(
    st.recursive(
        st.text() | st.integers(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)
    )
)
def test_json_printable_reads_back_as_the_same_data(data: object) -> None:
    dumped = json_printable(json.dumps(data, ensure_ascii=False))
    assert json.loads(dumped) == data
    assert not set(dumped) & UNSAFE


JSON_DATA = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
)


#: A line of indented JSON whose value is a number: what comes before it, and the number.
_NUMBER_LINE = re.compile(r'(\s*(?:"(?:[^"\\]|\\.)*": )?)(-?[0-9][0-9.eE+-]*)(,?)')


@given(JSON_DATA | st.lists(st.floats(min_value=-1e-3, max_value=1e-3)))
@example({"\x85": 8.945547416131491e-06})
@example({"a\u2028b": [1e-07]})
def test_json_indented_is_what_python_writes(data: object) -> None:
    """The listings' and reports' JSON as Python's indenting encoder wrote it, line for
    line, but for how a float is written (0.000021 and 1e-7 where Python writes 2.1e-05
    and 1e-07): the same number."""
    ours = json_indented(data)
    python = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # Lines at "\n" only: splitlines() also splits at characters a key may hold (U+0085,
    # U+2028: a failure on {"\x85": 8.9e-06}, session 45).
    assert len(ours.split("\n")) == len(python.split("\n"))
    for line, expected in zip(ours.split("\n"), python.split("\n"), strict=True):
        if line != expected:
            found, wanted = _NUMBER_LINE.fullmatch(line), _NUMBER_LINE.fullmatch(expected)
            assert found, (line, expected)
            assert wanted, (line, expected)
            assert (found[1], found[3]) == (wanted[1], wanted[3])
            assert float(found[2]) == float(wanted[2])
    assert json.loads(json_printable(ours)) == data


def test_json_indented_takes_what_orjson_would_not_as_python_did() -> None:
    """A file name that is not UTF-8 (a lone surrogate) and integers past 64 bits are
    written by Python's encoder; dates, NumPy's floats and other objects as ``str`` and
    ``float`` made them; keys that are not text as text."""
    import dataclasses
    import datetime as dt

    import numpy as np

    @dataclasses.dataclass
    class Kept:
        number: int

    for data in (
        {"path": "/photos/caf\udce9.jpg"},
        {"size": 2**70, "negative": -(2**64)},
        {"when": dt.datetime(2017, 2, 20, 9, 30, tzinfo=dt.UTC), "day": dt.date(2017, 2, 20)},
        {"score": np.float64(0.25), "half": np.float32(0.5), "count": np.int64(5)},
        {"object": Kept(1), 3: "three", 2.5: "a half", None: "none", True: "yes"},
    ):
        assert json_indented(data) == json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # Not a number: null, where Python wrote NaN, which is no JSON.
    assert json.loads(json_indented({"x": float("nan")})) == {"x": None}


@pytest.fixture
def hostile(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    """A catalogue whose caption, credit, publisher and title carry terminal commands, and a
    folder holding an image whose file name does."""
    write_record(
        tmp_path / "record",
        article_id="hostile",
        publisher=f"Daily {HOSTILE}",
        title=f"Title {HOSTILE}",
        images=[
            ("a.jpg", photo(5, (320, 240)), [(1, HOSTILE, f"Credit {HOSTILE}")]),
            ("b.jpg", photo(6, (320, 240)), [(2, HOSTILE, None)]),
        ],
    )
    done = CliRunner().invoke(cli, ["--db", db_url, "ingest", str(tmp_path / "record")])
    assert done.exit_code == 0, done.output
    drop = tmp_path / "drop"
    drop.mkdir()
    named = os.fsdecode(bytes(drop) + b"/\x1b]0;pwned\x07\xe2\x80\xaegpj.png")
    photo(5, (320, 240)).save(named, format="PNG")
    Path(named + "-not-an-image.jpg").write_bytes(b"\x1b[2J not a picture")
    done = CliRunner().invoke(cli, ["--db", db_url, "ingest", str(drop)])
    assert done.exit_code == 3, done.output  # the file that is not an image is rejected
    return db_url, drop


@pytest.mark.parametrize(
    "command",
    [
        ["images"],
        ["images", "--caption", "Belgrade"],
        ["articles"],
        ["agents"],
        ["match-caption", HOSTILE],
        ["report", "captions", "--format", "md"],
        ["report", "captions", "--format", "json"],
        ["report", "reuse", "--format", "md"],
        ["similar", "DROP"],
        ["similar", "--json", "DROP"],
        ["similar", "DROP/NOT-AN-IMAGE"],
        ["-v", "ingest", "DROP"],
        ["rejections"],
    ],
)
def test_no_command_prints_a_terminal_command_from_the_data(
    hostile: tuple[str, Path], command: list[str]
) -> None:
    db_url, drop = hostile
    bad = next(drop.glob("*-not-an-image.jpg"))
    places = {"DROP": str(drop), "DROP/NOT-AN-IMAGE": str(bad)}
    args = [places.get(arg, arg) for arg in command]
    done = CliRunner().invoke(cli, ["--db", db_url, *args])
    assert done.exit_code in (0, 1, 3), done.output
    printed = done.stdout + done.stderr
    assert "pwned" in printed or "2J" in printed or "31m" in printed, printed  # the data is shown
    assert not set(printed) & UNSAFE, repr(printed)


def test_the_record_shows_its_hostile_text_escaped(hostile: tuple[str, Path]) -> None:
    db_url, _ = hostile
    listed = CliRunner().invoke(cli, ["--db", db_url, "images", "--json"])
    sha = json.loads(listed.stdout)[0]["sha256"]
    # The JSON holds the data exactly.
    assert HOSTILE in json.loads(listed.stdout)[0]["captions"]
    shown = CliRunner().invoke(cli, ["--db", db_url, "show", sha[:12]])
    assert shown.exit_code == 0
    assert not set(shown.stdout) & UNSAFE
    assert "pwned\\x07" in shown.stdout
    assert "\\u202egpj.exe" in shown.stdout

"""Report items kept on disk while a report is made (provcat.reports.spill): given back in
their keys' order, one at a time, the same from memory as from the file."""

from __future__ import annotations

import errno
import io
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.reports import spill
from provcat.reports.spill import Spill
from tests.test_reuse_report import _fill


@dataclass(frozen=True)
class Item:
    number: int
    text: str
    boxes: tuple[tuple[int, int, int, int], ...]


def _items(count: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    return [
        Item(
            rng.randrange(20),
            "".join(rng.choice("aé\u0000\n<") for _ in range(rng.randrange(200))),
            tuple((i, i, i + 1, i + 2) for i in range(rng.randrange(3))),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("in_memory", [0, 1_000, 10**9])
def test_items_come_back_in_their_keys_order_equal_keys_as_added(in_memory: int) -> None:
    items = _items(500, 1)
    kept: Spill[Item] = Spill(in_memory=in_memory)
    for item in items:
        kept.add(item, -item.number)
    assert len(kept) == 500
    given = kept.sorted()
    expected = sorted(items, key=lambda x: -x.number)  # sorted() is stable
    assert list(given) == expected
    assert len(given) == 500
    assert given[0] == expected[0]
    assert given[-1] == expected[-1]
    assert given[123] == expected[123]
    assert list(given[10:20]) == expected[10:20]
    assert list(given[::-7][3:9]) == expected[::-7][3:9]
    assert given[490:][5] == expected[495]
    assert given == expected
    assert given != expected[1:]
    with pytest.raises(IndexError):
        given[500]
    with pytest.raises(IndexError):
        given[-501]
    assert len(kept) == 0  # emptied into the sequence given


def test_past_the_budget_the_items_are_in_a_file_and_held_nowhere_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spill, "IN_MEMORY", 5_000)
    items = _items(300, 2)
    kept: Spill[Item] = Spill()
    for n, item in enumerate(items):
        kept.add(item, n)
        if n == 5:
            assert kept._file is None  # under the budget: memory only
    assert kept._file is not None
    assert kept._held is None
    given = kept.sorted()
    assert given._store.held is None
    assert list(given) == items
    part = given[100:]
    given.close()
    with pytest.raises(ValueError, match="let go"):
        given[0]
    with pytest.raises(ValueError, match="let go"):
        part[0]


def test_threads_read_the_file_at_once() -> None:
    items = _items(2_000, 3)
    kept: Spill[Item] = Spill(in_memory=0)
    for n, item in enumerate(items):
        kept.add(item, n)
    given = kept.sorted()
    orders = [random.Random(n).sample(range(2_000), 2_000) for n in range(4)]
    seen: list[list[Item]] = [[] for _ in range(4)]

    def read(number: int) -> None:
        seen[number] = [given[i] for i in orders[number]]

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [[items[i] for i in order] for order in orders]


class _FullDisk(io.BytesIO):
    """A temporary file on a disk that fills after ``room`` bytes, found full at a write or
    (the writes buffered) only when it is flushed."""

    def __init__(self, room: int, *, at_flush: bool) -> None:
        super().__init__()
        self.room = room
        self.at_flush = at_flush

    def write(self, data: Any) -> int:
        if not self.at_flush and self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)

    def flush(self) -> None:
        if self.at_flush and self.tell() > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(("fmt", "at_flush"), [("json", False), ("html", False), ("json", True)])
def test_a_full_temporary_folder_fails_the_report_clearly_and_leaves_no_file(
    catalogue: Catalogue,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    at_flush: bool,
) -> None:
    """The spill's temporary file cannot grow: the command says why and where, and the
    report it had begun is not left behind as if it were whole."""
    _fill(catalogue, 5)
    monkeypatch.setattr(spill, "IN_MEMORY", 0)
    full = _FullDisk(3_000, at_flush=at_flush)
    monkeypatch.setattr(spill.tempfile, "TemporaryFile", lambda **_: full)
    out = tmp_path / f"report.{fmt}"
    done = CliRunner().invoke(cli, ["--db", db_url, "report", "reuse", "-o", str(out)])
    assert done.exit_code == 1
    assert "cannot keep the report's items in the temporary folder" in done.output
    assert "No space left on device" in done.output
    assert "Traceback" not in done.output
    assert not out.exists()
    # With room, the same command writes it (every cluster through the file).
    monkeypatch.undo()
    monkeypatch.setattr(spill, "IN_MEMORY", 0)
    done = CliRunner().invoke(cli, ["--db", db_url, "report", "reuse", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert out.stat().st_size > 0

"""The ingest gate (provcat.gate): matching turns wait while anyone is storing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.gate import IngestGate
from provcat.ingest import IngestResult
from tests.reuse_fixtures import scene

#: How long a blocked turn is given to (wrongly) get through. A turn that respects the gate
#: never does, however long it is given, so a slow machine cannot make this fail.
WAIT = 1.0


def test_a_turn_waits_for_every_storer(catalogue: Catalogue) -> None:
    first, second = IngestGate(catalogue.engine), IngestGate(catalogue.engine)
    entered = threading.Event()

    def take_turn() -> None:
        with IngestGate(catalogue.engine).turn():
            entered.set()

    with first.storing():
        with second.storing():  # storers do not wait for each other
            turn = threading.Thread(target=take_turn)
            turn.start()
            assert not entered.wait(WAIT)
        assert not entered.wait(WAIT)  # one storer is still at it
    assert entered.wait(30)
    turn.join()


def test_storing_waits_for_a_turn_under_way(catalogue: Catalogue) -> None:
    stored = threading.Event()

    def store() -> None:
        with IngestGate(catalogue.engine).storing():
            stored.set()

    with IngestGate(catalogue.engine).turn():
        storer = threading.Thread(target=store)
        storer.start()
        assert not stored.wait(WAIT)
    assert stored.wait(30)
    storer.join()


def test_an_ingest_matches_only_once_no_one_is_storing(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """An ingest beside another process's storing phase stores its images, then waits; its
    turns run once the other is done, so each image is matched against everything stored."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    original = scene(7, (400, 300))
    original.save(folder / "original.jpg", quality=92)
    original.resize((200, 150)).save(folder / "half.jpg", quality=90)
    original.crop((40, 30, 360, 270)).save(folder / "crop.jpg", quality=90)
    results: list[IngestResult] = []

    def count(*, pending: bool) -> int:
        with catalogue.session() as session:
            query = select(func.count()).select_from(m.Image)
            if pending:
                query = query.where(m.Image.match_seq.is_(None))
            return session.scalar(query) or 0

    with IngestGate(catalogue.engine).storing():  # another ingester, still storing
        ingest = threading.Thread(
            target=lambda: results.append(catalogue.ingest([folder], workers=1))
        )
        ingest.start()
        deadline = time.monotonic() + 120
        while count(pending=False) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count(pending=False) == 3  # it stores beside the other
        ingest.join(WAIT)
        assert ingest.is_alive()  # but its matching waits at the gate
        assert count(pending=True) == 3
    ingest.join(120)
    assert not ingest.is_alive()
    assert results[0].images_added == 3
    assert results[0].matches_added == 3
    assert count(pending=True) == 0


def test_a_sqlite_gate_is_a_lock_file_beside_the_catalogue(tmp_path: Path) -> None:
    with (
        Catalogue(f"sqlite:///{tmp_path / 'shared.db'}") as catalogue,
        IngestGate(catalogue.engine).storing(),
    ):
        assert (tmp_path / "shared.db.ingest-lock").is_file()


def test_an_in_memory_catalogue_needs_no_gate() -> None:
    with Catalogue("sqlite://") as catalogue:
        gate = IngestGate(catalogue.engine)
        with gate.storing(), gate.turn():  # no other process: neither waits
            pass

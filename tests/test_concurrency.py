"""Ingest interrupted and ingest twice at once: the catalogue ends as one clean run leaves it.

The reference is always a single uninterrupted ingest into a fresh SQLite file; the run under
test uses the test's database (SQLite, or PostgreSQL with PROVCAT_TEST_DATABASE_URL).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.db import current_revision, make_engine
from provcat.matching import Matcher

from .postings_state import expected_postings, stored_postings
from .reuse_fixtures import crop_area, mirror, scene

#: Spawned, not forked: a forked child would share the parent's open database connections.
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(scope="module")
def copies_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four scenes, each with a crop, a mirror and a half-size copy: 16 images."""
    folder = tmp_path_factory.mktemp("copies")
    for seed in range(4):
        original = scene(100 + seed, (400, 300))
        original.save(folder / f"{seed}-original.jpg", quality=92)
        crop_area(original, 0.5, 0.3, 0.6)[0].save(folder / f"{seed}-crop.jpg", quality=90)
        mirror(original).save(folder / f"{seed}-mirror.jpg", quality=90)
        original.resize((200, 150)).save(folder / f"{seed}-small.jpg", quality=85)
    return folder


@pytest.fixture(scope="module")
def reference(copies_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> set[frozenset[str]]:
    """The matched pairs of one uninterrupted ingest of the copies folder: every two images of
    one scene (4 scenes x 6 pairs), and nothing across scenes."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ref') / 'ref.db'}"
    with Catalogue(url) as catalogue:
        result = catalogue.ingest([copies_folder])
        assert result.images_added == 16
        pairs = matched_pairs(catalogue)
        scene_of = {
            sha: Path(paths[0]).name.split("-")[0]
            for sha, paths in catalogue.image_paths({s for p in pairs for s in p}).items()
        }
    assert len(pairs) == 24
    assert all(len({scene_of[sha] for sha in pair}) == 1 for pair in pairs)
    return pairs


def matched_pairs(catalogue: Catalogue) -> set[frozenset[str]]:
    """Every recorded match as the pair of SHA-256s (order-free)."""
    ref, copy = aliased(m.Image), aliased(m.Image)
    with catalogue.session() as session:
        rows = session.execute(
            select(ref.sha256, copy.sha256)
            .join(m.PhotoMatch, m.PhotoMatch.reference_id == ref.id)
            .join(copy, m.PhotoMatch.copy_id == copy.id)
        ).all()
    pairs = {frozenset(row) for row in rows}
    assert len(pairs) == len(rows), "a pair was recorded twice"
    return pairs


def pending(catalogue: Catalogue) -> int:
    """Images whose matching has not finished."""
    with catalogue.session() as session:
        return session.scalar(
            select(func.count()).select_from(m.Image).where(m.Image.match_seq.is_(None))
        ) or 0


def _ingest(url: str, paths: list[str]) -> None:
    """Child process: ingest and exit 0, or raise (exit 1 with a traceback)."""
    with Catalogue(url) as catalogue:
        catalogue.ingest([Path(p) for p in paths])


def _open(url: str) -> None:
    Catalogue(url).close()


def run_at_once(target: object, args: tuple[object, ...], processes: int) -> list[int | None]:
    """Start ``processes`` children on ``target(*args)`` together; their exit codes."""
    children = [SPAWN.Process(target=target, args=args) for _ in range(processes)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=300)
    return [child.exitcode for child in children]


def test_interrupted_matching_is_finished_by_the_next_run(
    catalogue: Catalogue,
    copies_folder: Path,
    reference: set[frozenset[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    real = Matcher._match_stored

    def interrupted(self: Matcher, image_id: int, *args: Any, **kw: Any) -> object:
        nonlocal calls
        calls += 1
        if calls == 7:
            raise KeyboardInterrupt  # Ctrl-C (or a kill) in the middle of matching
        return real(self, image_id, *args, **kw)

    monkeypatch.setattr(Matcher, "_match_stored", interrupted)
    with pytest.raises(KeyboardInterrupt):
        catalogue.ingest([copies_folder])
    # Everything is stored before matching starts: six images were matched, the seventh
    # turn rolled back, and it and the nine after it still wait.
    assert pending(catalogue) == 16 - 6
    monkeypatch.setattr(Matcher, "_match_stored", real)
    again = catalogue.ingest([copies_folder])
    assert again.images_added == 0
    assert again.images_known == 16
    assert pending(catalogue) == 0
    assert matched_pairs(catalogue) == reference


def test_two_ingests_of_one_folder_at_once_equal_one(
    db_url: str, copies_folder: Path, reference: set[frozenset[str]]
) -> None:
    Catalogue(db_url).close()  # the schema exists; creating it at once is the next test's
    assert run_at_once(_ingest, (db_url, [str(copies_folder)]), 2) == [0, 0]
    with Catalogue(db_url) as catalogue:
        assert matched_pairs(catalogue) == reference
        assert pending(catalogue) == 0
        with catalogue.session() as session:
            assert session.scalar(select(func.count()).select_from(m.Image)) == 16
            assert session.scalar(select(func.count()).select_from(m.ImagePath)) == 16
            # Each image's words posted once, whichever process posted them.
            assert stored_postings(session) == expected_postings(session)


def test_two_ingests_of_one_manifest_at_once_equal_one(db_url: str, tmp_path: Path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    for seed in range(3):
        scene(200 + seed, (320, 240)).save(record / f"{seed}.jpg", quality=90)
    (record / "manifest.toml").write_text(
        '[article]\nid = "same-story"\npublisher = "Paper"\n\n'
        + "".join(
            f'[[images]]\nfile = "{seed}.jpg"\n  [[images.printings]]\n'
            f'  position = {seed + 1}\n  caption = "Caption {seed}"\n'
            f'  credit = "Photographer via Agency {seed}"\n\n'
            for seed in range(3)
        ),
        encoding="utf-8",
    )
    Catalogue(db_url).close()
    assert run_at_once(_ingest, (db_url, [str(record)]), 2) == [0, 0]
    with Catalogue(db_url) as catalogue, catalogue.session() as session:
        count = {
            table: session.scalar(select(func.count()).select_from(table))
            for table in (m.Article, m.Appearance, m.Image, m.Agent, m.ProvenanceChain)
        }
    assert count == {
        m.Article: 1,
        m.Appearance: 3,
        m.Image: 3,
        m.Agent: 5,  # the photographer, three agencies, the publisher
        m.ProvenanceChain: 3,
    }


def test_processes_opening_a_fresh_catalogue_at_once_create_it_once(empty_db_url: str) -> None:
    assert run_at_once(_open, (empty_db_url,), 4) == [0, 0, 0, 0]
    engine = make_engine(empty_db_url)
    assert current_revision(engine) is not None
    engine.dispose()

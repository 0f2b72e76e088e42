"""The migration chain builds the schema from empty and matches the models (alembic check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Integer, column, func, inspect, select, table, text

from provcat import models as m
from provcat import photos
from provcat.catalogue import Catalogue
from provcat.db import SCHEMA_HEAD, alembic_config, current_revision, make_engine, migrate
from provcat.ingest import Ingester
from provcat.reuse import postings
from provcat.reuse.features import Features
from provcat.reuse.postings import LONG_BASE, posted_through, posting_rows

from .postings_state import expected_postings, image_words, posting_killed_at, stored_postings
from .reuse_fixtures import mirror, scene


def test_chain_from_empty_matches_the_models(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    assert current_revision(engine) is None
    migrate(engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(engine) == head
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(m.Base.metadata.tables)
    with engine.begin() as connection:
        # alembic check raises when autogenerate would emit any operation.
        try:
            command.check(alembic_config(connection))
        except CommandError as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"models and migrations differ: {exc}") from exc
    engine.dispose()


def test_downgrade_to_empty_and_up_again(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate(engine)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert set(m.Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_migrate_is_a_no_op_when_current(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate(engine)
    migrate(engine)
    assert current_revision(engine) is not None
    engine.dispose()


def test_schema_head_is_alembics_head() -> None:
    """Opening a catalogue at SCHEMA_HEAD skips Alembic: it must be the migrations' head."""
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_a_current_catalogue_opens_without_alembic(empty_db_url: str, tmp_path: Path) -> None:
    """A catalogue at the head opens without importing Alembic or taking the write lock;
    one a revision behind is still brought up to the head (through Alembic)."""
    engine = make_engine(empty_db_url)
    migrate(engine)
    assert current_revision(engine) == SCHEMA_HEAD
    script = (
        "import sys\n"
        "from provcat.catalogue import Catalogue\n"
        f"Catalogue({empty_db_url!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    with engine.begin() as connection:
        cfg = alembic_config(connection)
        command.downgrade(cfg, "-1")
    assert current_revision(engine) != SCHEMA_HEAD
    Catalogue(empty_db_url).close()
    assert current_revision(engine) == SCHEMA_HEAD
    engine.dispose()


def test_a_catalogue_a_newer_provcat_upgraded_is_refused_in_one_line(empty_db_url: str) -> None:
    """A catalogue stamped past this provcat's head (a newer provcat opened it) is refused
    with what happened and what to do, and left as it is; the command line says so in one
    line (Alembic alone says only that it cannot locate the revision)."""
    from click.testing import CliRunner

    from provcat.cli import cli
    from provcat.errors import CatalogueError

    engine = make_engine(empty_db_url)
    migrate(engine)
    newer = f"{int(SCHEMA_HEAD) + 1:04d}"
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": newer})
    with pytest.raises(CatalogueError, match=f"schema revision {newer}, made by a newer"):
        Catalogue(empty_db_url)
    result = CliRunner().invoke(cli, ["--db", empty_db_url, "articles"])
    assert result.exit_code != 0
    assert f"schema revision {newer}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert current_revision(engine) == newer
    engine.dispose()


def test_0004_posts_the_words_of_images_stored_before_it(empty_db_url: str, tmp_path: Path) -> None:
    """Upgrading a catalogue stored before the postings gives every image its words, and its
    copies are found afterwards."""
    original = scene(61, (400, 300))
    original.save(tmp_path / "original.jpg", quality=92)
    with Catalogue(empty_db_url) as catalogue:
        assert catalogue.ingest([tmp_path / "original.jpg"]).images_added == 1
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0003")
        assert "word_posting" not in inspect(catalogue.engine).get_table_names()
    with Catalogue(empty_db_url) as catalogue:  # opening upgrades
        with catalogue.session() as session:
            data = session.scalars(select(m.Feature.data)).one()
            image_id = session.scalars(select(m.Image.id)).one()
            stored = sorted(word for _, word in image_words(session) if word < LONG_BASE)
        expected = posting_rows(image_id, Features.from_bytes(data).descriptors)
        assert stored == sorted(row["word"] for row in expected)
        assert len(stored) > 500
        mirror(original).save(tmp_path / "mirror.jpg", quality=90)
        assert catalogue.ingest([tmp_path / "mirror.jpg"]).matches_added == 1
        with catalogue.session() as session:
            assert stored_postings(session) == expected_postings(session)


_feature_word = table("feature_word", column("word", Integer), column("image_id", Integer))
_word_frequency = table("word_frequency", column("word", Integer), column("images", Integer))


def test_0006_packs_the_postings_stored_before_it(empty_db_url: str, tmp_path: Path) -> None:
    """A catalogue from before the packed postings (one row per posting, counts apart) gets
    one row per word, with the same images and counts; its copies are found afterwards, and
    the rows then grow with each image stored. Downgrading gives the old tables back."""
    for seed in (62, 63):
        scene(seed, (400, 300)).save(tmp_path / f"{seed}.jpg", quality=92)
    original = scene(64, (400, 300))
    original.save(tmp_path / "original.jpg", quality=92)
    with Catalogue(empty_db_url) as catalogue:
        catalogue.ingest([tmp_path])
        with catalogue.session() as session:
            packed = stored_postings(session)
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0005")
            postings = connection.execute(select(_feature_word)).all()
            counts = dict(connection.execute(select(_word_frequency)).all())
        assert "word_posting" not in inspect(catalogue.engine).get_table_names()
    grouped: dict[int, list[int]] = {}
    for word, image_id in postings:
        grouped.setdefault(word, []).append(image_id)
    short = {w: posted for w, posted in packed.items() if w < LONG_BASE}
    assert {w: (len(ids), sorted(ids)) for w, ids in grouped.items()} == short
    assert counts == {w: len(ids) for w, ids in grouped.items()}
    assert len(postings) > 3 * 500
    with Catalogue(empty_db_url) as catalogue:  # opening upgrades
        with catalogue.session() as session:
            assert stored_postings(session) == packed
        assert {"feature_word", "word_frequency"}.isdisjoint(
            inspect(catalogue.engine).get_table_names()
        )
        copy = tmp_path / "copy"
        copy.mkdir()
        mirror(original).save(copy / "mirror.jpg", quality=90)
        assert catalogue.ingest([copy]).matches_added == 1
        with catalogue.session() as session:
            assert stored_postings(session) == expected_postings(session)


def test_0007_posts_the_long_words_of_images_stored_before_it(
    empty_db_url: str, tmp_path: Path
) -> None:
    """A catalogue from before the long words gets them, computed from its stored features,
    as an ingest would have posted them; downgrading deletes them and nothing else."""
    for seed in (65, 66, 67):
        scene(seed, (400, 300)).save(tmp_path / f"{seed}.jpg", quality=92)
    with Catalogue(empty_db_url) as catalogue:
        catalogue.ingest([tmp_path])
        with catalogue.session() as session:
            posted = stored_postings(session)
            assert posted == expected_postings(session)
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0006")
        with catalogue.session() as session:
            short = stored_postings(session)
    assert short == {w: rows for w, rows in posted.items() if w < LONG_BASE}
    assert len(posted) > len(short) + 3 * 500
    with Catalogue(empty_db_url) as catalogue, catalogue.session() as session:  # upgrades
        assert stored_postings(session) == posted


def _stored_not_posted(
    catalogue: Catalogue, folder: Path, seeds: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest a picture of each seed, as an ingest stopped before it posts their words."""
    for seed in seeds:
        scene(seed, (400, 300)).save(folder / f"{seed}.jpg", quality=92)
    with monkeypatch.context() as patched:
        patched.setattr(Ingester, "_post_pending", lambda *_args, **_kwargs: None)
        catalogue.ingest([folder])


def test_0010_marks_every_image_posted_and_its_downgrade_posts_what_waits(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upgrading, the mark starts past every stored image (their words are in the table);
    downgrading posts the words of the images stored after it (0009 takes every image's to
    be in the table). PostgreSQL has no mark: its words are posted as images are stored."""
    sqlite = empty_db_url.startswith("sqlite")
    with Catalogue(empty_db_url) as catalogue:
        _stored_not_posted(catalogue, tmp_path, (65, 66, 67), monkeypatch)
        with catalogue.session() as session:
            waiting = posted_through(session.connection())
            assert waiting == (0 if sqlite else None)
            assert (stored_postings(session) == {}) == sqlite
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0009")
        with catalogue.session() as session:
            assert stored_postings(session) == expected_postings(session)
            posted = stored_postings(session)
    with Catalogue(empty_db_url) as catalogue, catalogue.session() as session:  # upgrades
        last = session.scalar(select(func.max(m.Feature.image_id)))
        assert posted_through(session.connection()) == (last if sqlite else None)
        assert stored_postings(session) == posted


def test_0014_downgrade_finishes_a_posting_left_under_way(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A posting killed between its ranges of words leaves the table holding the lower
    words of its images (provcat.reuse.postings.Posted), which 0013 does not know of:
    downgrading posts the rest and moves the mark past them. Upgrading changes nothing."""
    sqlite = empty_db_url.startswith("sqlite")
    with Catalogue(empty_db_url) as catalogue:
        _stored_not_posted(catalogue, tmp_path, (68, 69, 70), monkeypatch)
        with posting_killed_at(monkeypatch, 3, range_words=1_000, dies=sqlite):
            catalogue.post_waiting_words()
        with catalogue.session() as session:
            state = postings.posting_state(session.connection())
            assert (state is not None and state.under_way) == sqlite
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0013")
        with catalogue.session() as session:
            last = session.scalar(select(func.max(m.Feature.image_id)))
            assert posted_through(session.connection()) == (last if sqlite else None)
            keys = set(session.scalars(select(m.CatalogueState.key)))
            assert not keys & {postings.POSTING_UPTO, postings.POSTING_BELOW}
            assert stored_postings(session) == expected_postings(session)
    with Catalogue(empty_db_url) as catalogue, catalogue.session() as session:  # upgrades
        assert stored_postings(session) == expected_postings(session)


def test_0011_records_the_pairs_of_images_stored_before_it(
    empty_db_url: str, tmp_path: Path
) -> None:
    """A catalogue from before the recorded pairs gets them for every image it holds, enough
    to join its re-encodes into one photo without the recorded matches; downgrading drops
    the table."""
    picture = scene(91, (640, 480))
    for quality in (95, 70, 50):
        picture.save(tmp_path / f"q{quality}.jpg", quality=quality)
    scene(92, (640, 480)).save(tmp_path / "other.jpg", quality=90)
    with Catalogue(empty_db_url) as catalogue:
        catalogue.ingest([tmp_path])
        with catalogue.session() as session:
            recorded = session.scalar(select(func.count()).select_from(m.PdqPair))
        assert recorded == 2
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0010")
            assert "pdq_pair" not in inspect(connection).get_table_names()
            connection.execute(m.PhotoMatch.__table__.delete())
    with Catalogue(empty_db_url) as catalogue, catalogue.session() as session:  # upgrades
        pairs = session.execute(select(m.PdqPair.first_id, m.PdqPair.second_id)).all()
        paths = session.execute(select(m.ImagePath.path, m.ImagePath.image_id)).all()
        photo = photos.photo_ids(session=session)
        pending = session.scalar(
            select(func.count()).select_from(m.Image).where(m.Image.match_seq.is_(None))
        )
    ids = {Path(path).name: image_id for path, image_id in paths}
    assert pending == 0
    assert len(pairs) == 2
    assert len({photo[ids[f"q{quality}.jpg"]] for quality in (95, 70, 50)}) == 1
    assert photo[ids["other.jpg"]] == ids["other.jpg"]

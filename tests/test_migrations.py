"""The migration chain builds the schema from empty and matches the models (alembic check)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect, select

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.db import alembic_config, current_revision, make_engine, migrate
from provcat.reuse.features import Features
from provcat.reuse.postings import posting_rows

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


def test_0004_posts_the_words_of_images_stored_before_it(
    empty_db_url: str, tmp_path: Path
) -> None:
    """Upgrading a catalogue stored before the postings gives every image its words, and its
    copies are found afterwards."""
    original = scene(61, (400, 300))
    original.save(tmp_path / "original.jpg", quality=92)
    with Catalogue(empty_db_url) as catalogue:
        assert catalogue.ingest([tmp_path / "original.jpg"]).images_added == 1
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0003")
        assert "feature_word" not in inspect(catalogue.engine).get_table_names()
    with Catalogue(empty_db_url) as catalogue:  # opening upgrades
        with catalogue.session() as session:
            data = session.scalars(select(m.Feature.data)).one()
            image_id = session.scalars(select(m.Image.id)).one()
            stored = sorted(session.scalars(select(m.FeatureWord.word)))
        expected = posting_rows(image_id, Features.from_bytes(data).descriptors)
        assert stored == sorted(row["word"] for row in expected)
        assert len(stored) > 500
        mirror(original).save(tmp_path / "mirror.jpg", quality=90)
        assert catalogue.ingest([tmp_path / "mirror.jpg"]).matches_added == 1

"""The migration chain builds the schema from empty and matches the models (alembic check)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

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
        with catalogue.session() as session:
            assert word_counts(session) == posting_counts(session)


def word_counts(session: Session) -> dict[int, int]:
    """``word_frequency`` as a dict."""
    rows = session.execute(select(m.WordFrequency.word, m.WordFrequency.images))
    return {int(word): int(images) for word, images in rows}


def posting_counts(session: Session) -> dict[int, int]:
    """Each word's count of images, from the postings themselves."""
    rows = session.execute(
        select(m.FeatureWord.word, func.count()).group_by(m.FeatureWord.word)
    )
    return {int(word): int(count) for word, count in rows}


def test_0005_counts_the_words_already_posted(empty_db_url: str, tmp_path: Path) -> None:
    """A catalogue from before the word counts gets every posted word's count, and the counts
    then grow with each image stored."""
    for seed in (62, 63):
        scene(seed, (400, 300)).save(tmp_path / f"{seed}.jpg", quality=92)
    original = scene(64, (400, 300))
    original.save(tmp_path / "original.jpg", quality=92)
    with Catalogue(empty_db_url) as catalogue:
        catalogue.ingest([tmp_path])
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0004")
        assert "word_frequency" not in inspect(catalogue.engine).get_table_names()
    with Catalogue(empty_db_url) as catalogue:  # opening upgrades
        with catalogue.session() as session:
            counted = word_counts(session)
            assert counted == posting_counts(session)
            assert sum(counted.values()) > 3 * 500
        copy = tmp_path / "copy"
        copy.mkdir()
        mirror(original).save(copy / "mirror.jpg", quality=90)
        assert catalogue.ingest([copy]).matches_added == 1
        with catalogue.session() as session:
            assert word_counts(session) == posting_counts(session)

"""The migration chain builds the schema from empty and matches the models (alembic check)."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect

from provcat import models as m
from provcat.db import alembic_config, current_revision, make_engine, migrate


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

"""provcat.db's helpers for statements with many rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import case, insert, make_url, null, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.db import (
    database_reason,
    execute_many,
    lost_race,
    make_engine,
    refresh_statistics,
)

from .paths import MONTENEGRO


def test_execute_many_passes_each_row_and_the_statements_constants(
    catalogue: Catalogue,
) -> None:
    """Every row is inserted or updated with its own values, given in any column order; the
    statement's own bound constants (here the 2 in the CASE) reach every row."""
    table = m.WordPosting
    with catalogue.session() as session:
        upsert = (
            pg_insert(table)
            if session.get_bind().dialect.name == "postgresql"
            else sqlite_insert(table)
        )
        total = table.images + upsert.excluded.images
        statement = upsert.on_conflict_do_update(
            index_elements=[table.word],
            set_={"images": total, "ids": case((total <= 2, upsert.excluded.ids), else_=null())},
        )
        # Columns in another order than the statement's, and a bytes value holding NUL.
        execute_many(
            session.connection(),
            statement,
            ("ids", "word", "images"),
            [(b"\x00a", 1, 1), (b"b", 2, 1), (b"c", 3, 2)],
        )
        execute_many(session.connection(), statement, ("word", "images", "ids"), [
            (2, 1, b"d"),
            (3, 1, b"e"),
        ])  # fmt: skip
        execute_many(session.connection(), statement, ("word", "images", "ids"), [])
        session.commit()
        rows = session.execute(
            select(table.word, table.images, table.ids).order_by(table.word)
        ).all()
    assert [tuple(row) for row in rows] == [(1, 1, b"\x00a"), (2, 2, b"d"), (3, 3, None)]


def test_execute_many_raises_sqlalchemys_errors(catalogue: Catalogue) -> None:
    """A duplicate key fails as SQLAlchemy's IntegrityError, which ``retrying`` reads as a race
    lost to another writer: the driver's own exception would escape the retry."""
    with catalogue.session() as session:
        statement = insert(m.WordPosting)
        with pytest.raises(IntegrityError) as failed:
            execute_many(session.connection(), statement, ("word", "images"), [(7, 1), (7, 1)])
        assert lost_race(failed.value)
        session.rollback()
        assert session.scalar(select(m.WordPosting.word)) is None


def test_a_savepoint_gone_with_its_transaction_reports_what_rolled_it_back() -> None:
    """SQLite rolls the whole transaction back on a full disk, and releasing the savepoint
    then fails: the reason given is the full disk, naming the temporary folder too (seen with
    a manifest's ingest and TMPDIR on a 64 kB file system)."""

    def error(statement: str, message: str) -> OperationalError:
        return OperationalError(statement, {}, sqlite3.OperationalError(message))

    try:
        try:
            raise error("INSERT INTO image ...", "database or disk is full")
        except OperationalError:  # as SQLAlchemy raises it: the first error as context only
            raise error(  # noqa: B904
                "RELEASE SAVEPOINT sa_savepoint_21", "no such savepoint: sa_savepoint_21"
            )
    except OperationalError as exc:
        reason = database_reason(exc)
    assert reason == (
        "database or disk is full (the catalogue's disk, or the temporary folder "
        f"{tempfile.gettempdir()})"
    )
    alone = error("RELEASE SAVEPOINT sa_savepoint_1", "no such savepoint: sa_savepoint_1")
    assert database_reason(alone) == "no such savepoint: sa_savepoint_1"


def _never_analysed(catalogue: Catalogue, tables: list[str]) -> list[str]:
    with catalogue.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT relname FROM pg_class WHERE relname = ANY(:t) AND reltuples < 0"),
            {"t": tables},
        )
        return sorted(rows.scalars())


def test_a_commit_that_failed_leaves_nothing_to_the_next_session(tmp_path: Path) -> None:
    """SQLite's COMMIT fails with "database is locked" while a reader holds its lock, and
    leaves the transaction open: the connection goes back to the pool rolled back, so the
    next session on it (a retry) starts afresh rather than inside the failed transaction."""
    path = tmp_path / "catalogue.db"
    Catalogue(f"sqlite:///{path}").close()
    engine = make_engine(f"sqlite:///{path}")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM image").fetchone()
    try:
        with Session(engine) as session:
            session.connection().exec_driver_sql("PRAGMA busy_timeout = 0")
            session.add(m.CatalogueState(key="probe", value=1))
            with pytest.raises(OperationalError, match="database is locked"):
                session.commit()
        with Session(engine) as session:
            assert session.get(m.CatalogueState, "probe") is None
    finally:
        reader.execute("COMMIT")
        reader.close()
    with Session(engine) as session:
        session.add(m.CatalogueState(key="probe", value=2))
        session.commit()
    with Session(engine) as session:
        assert session.get(m.CatalogueState, "probe").value == 2
    assert engine.pool.checkedin() == 1  # one connection, reused throughout
    engine.dispose()


def test_an_ingest_leaves_postgresql_with_planner_statistics(catalogue: Catalogue) -> None:
    """A PostgreSQL catalogue's tables are analysed when an ingest ends if the server has not
    (autovacuum off, or not round yet): without statistics its planner read whole tables to
    find a few rows by an indexed column (the reused-photo report at 10^6 images, 171 s
    against 51). What is analysed is not analysed again while it has not changed much."""
    if not catalogue.url.startswith("postgresql"):
        assert catalogue.refresh_statistics() == []  # nothing to do on SQLite
        return
    tables = ["image", "appearance", "image_path", "metadata_field", "provenance_chain"]
    assert _never_analysed(catalogue, tables) == sorted(tables)  # a new catalogue
    catalogue.ingest([MONTENEGRO])
    assert _never_analysed(catalogue, tables) == []
    assert "image" not in catalogue.refresh_statistics()


def test_tables_the_role_may_not_analyse_are_left_and_not_named(catalogue: Catalogue) -> None:
    """A role that may write the tables but not analyse them (not their owner): PostgreSQL
    skips each table with a warning, so none is said to be analysed, and the owner's call
    then analyses them."""
    if not catalogue.url.startswith("postgresql"):
        pytest.skip("planner statistics are made on PostgreSQL only")
    role = f"provcat_writer_{uuid.uuid4().hex[:12]}"
    with catalogue.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        connection.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    writer = make_engine(make_url(catalogue.url).set(username=role).render_as_string(False))
    try:
        assert refresh_statistics(writer, ["image", "appearance"]) == []
        assert _never_analysed(catalogue, ["image", "appearance"]) == ["appearance", "image"]
    finally:
        writer.dispose()
        with catalogue.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
    assert catalogue.refresh_statistics()[:2] == ["agent", "appearance"]
    assert _never_analysed(catalogue, ["image", "appearance"]) == []

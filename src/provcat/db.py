"""Engines and migrations: open a catalogue database and bring its schema to the newest revision."""

from __future__ import annotations

import contextlib
import itertools
import random
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from provcat.errors import CatalogueError

if TYPE_CHECKING:
    from alembic.config import Config

#: Where the migration scripts are in an installed wheel (pyproject maps alembic/ there).
PACKAGED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Where they are in a source checkout (an editable install): the top-level alembic/ folder.
CHECKOUT_MIGRATIONS = Path(__file__).resolve().parents[2] / "alembic"

#: PostgreSQL advisory lock key held while a catalogue's schema is checked and upgraded
#: ("provcat" in ASCII), so two processes opening a fresh catalogue do not both create it.
_MIGRATION_LOCK = 0x70726F76636174


def migrations_dir() -> Path:
    """The folder holding env.py and versions/: inside the package, else the checkout's."""
    for folder in (PACKAGED_MIGRATIONS, CHECKOUT_MIGRATIONS):
        if (folder / "env.py").is_file():
            return folder
    raise CatalogueError(
        f"migration scripts not found in {PACKAGED_MIGRATIONS} or {CHECKOUT_MIGRATIONS}; "
        "reinstall provcat"
    )


T = TypeVar("T")

#: How many times in all a transaction that lost a race with a concurrent writer is tried.
ATTEMPTS = 8

#: SQLSTATEs of PostgreSQL errors that mean "another transaction got there first; try again":
#: unique_violation, serialization_failure, deadlock_detected, lock_not_available.
_RETRY_SQLSTATES = frozenset({"23505", "40001", "40P01", "55P03"})


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the settings provcat relies on.

    SQLite gets foreign keys switched on (it ignores them otherwise) and a busy timeout, so two
    processes sharing one catalogue file wait for each other instead of failing at once.
    """
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "reset", _end_what_a_failed_commit_left)
    return engine


def _end_what_a_failed_commit_left(dbapi_connection: Any, _record: Any, _state: Any) -> None:
    """Roll back a transaction still open on a connection going back to the pool.

    SQLite's COMMIT fails with "database is locked" when a reader holds its lock past the
    busy timeout, and the transaction stays open. SQLAlchemy takes a commit it attempted
    for an ended transaction, and so skips its rollback when the connection goes back to
    the pool: the next session on that connection went on in the failed transaction. An
    ingest that ran its batch again (:func:`retrying`) found the batch's images, not yet
    committed, "already known" (20 new files reported as 4 added and 16 known), and did not
    keep what it keeps for images it adds."""
    if getattr(dbapi_connection, "in_transaction", False):
        dbapi_connection.rollback()


#: SQLite's page cache per connection, in KiB (its default is 2 MiB). A reuse look-up reads
#: thousands of rows of the postings table by key; with 64 MiB the B-tree's inner pages stay
#: cached between look-ups (7.0 ms a look-up against 4.3 ms at 2,000 stored images,
#: docs/scale.md). Pages are only held once read, so a small catalogue uses no more memory.
SQLITE_CACHE_KIB = 65536


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB:d}")
    cursor.close()


def driver_rows(
    connection: Connection,
    statement: ClauseElement | DriverStatement,
    values: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of ``statement``, read from the driver's own cursor in ``connection``'s
    transaction.

    For statements that return many rows of plain values (the reuse look-ups' postings, every
    image's PDQ hash): SQLAlchemy's row objects cost more than the driver's tuples. The
    statement is SQLAlchemy's, compiled for the connection's dialect with its parameters
    bound, or a :class:`DriverStatement` compiled once, with ``values`` for its parameters;
    neither parameters nor results go through SQLAlchemy's type processing, so it is for
    integers, strings and bytes (and, on PostgreSQL, lists of them) only.
    """
    with _driver_cursor(connection, statement, values) as cursor:
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def driver_pages(
    connection: Connection, statement: ClauseElement, size: int, *, on_server: bool = False
) -> Generator[list[tuple[Any, ...]], None, None]:
    """The rows of ``statement`` as :func:`driver_rows` reads them, ``size`` at a time (one
    statement; for every image's row, without holding all of them as Python objects).

    ``on_server``: on PostgreSQL, through a server-side cursor, so that the driver does not
    hold the whole result either: for long rows (10^6 printings with their captions, 270 MB
    in the driver). Its plan is made for the first rows and each page is a round trip: for
    short rows a client cursor is quicker (every image's id at 10^6: 1.9-2.0 s against
    2.4-2.7; every PDQ hash: 3.9-4.0 s and 345 MB peak against 4.2-4.3 s and 356-366).
    """
    with _driver_cursor(connection, statement, None, on_server=on_server) as cursor:
        while rows := cursor.fetchmany(size):
            yield rows


#: Numbers PostgreSQL's server-side cursors, whose names must differ within a session.
_server_cursors = itertools.count()


@contextlib.contextmanager
def _driver_cursor(
    connection: Connection,
    statement: ClauseElement | DriverStatement,
    values: Mapping[str, Any] | None,
    *,
    on_server: bool = False,
) -> Iterator[Any]:
    """The driver's own cursor in ``connection``'s transaction, ``statement`` executed on it
    (compiled for the connection's dialect unless given compiled), closed afterwards.

    ``on_server``: on PostgreSQL, a server-side cursor, whose rows come as they are fetched
    (a client cursor receives the whole result at once: 10^6 printings, 270 MB). SQLite's
    cursor steps through the rows as they are fetched anyway.
    """
    if not isinstance(statement, DriverStatement):
        statement = DriverStatement.compile(statement, connection)
    driver = connection.connection.driver_connection
    if on_server and connection.dialect.name == "postgresql":
        cursor = driver.cursor(name=f"provcat_rows_{next(_server_cursors)}")  # type: ignore[union-attr]
    else:
        cursor = driver.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement.sql, statement.parameters(values or {}))
        yield cursor
    finally:
        cursor.close()


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled for one dialect, to be run by :func:`driver_rows` with values for
    its parameters: a look-up run for every query compiles it once (building and compiling
    the postings read took about a seventh of the candidate stage at 10^5 images)."""

    #: The dialect's SQL text.
    sql: str
    #: Its parameters: given values by name override the ones bound at compile time.
    bound: Mapping[str, Any]
    #: The parameters' order for a positional driver (SQLite's), None for named ones.
    order: tuple[str, ...] | None

    @classmethod
    def compile(cls, statement: ClauseElement, connection: Connection) -> DriverStatement:
        compiled = statement.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        assert isinstance(compiled, SQLCompiler)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(str(compiled), compiled.construct_params(), order)

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters, ``values`` overriding those bound."""
        given = {**self.bound, **values} if values else self.bound
        if self.order is None:
            return given
        return tuple(given[name] for name in self.order)


#: The newest schema revision of provcat's migrations (alembic/versions; a test checks that it
#: is Alembic's head). Opening a catalogue already at it needs neither Alembic nor a lock:
#: without Alembic, `import provcat.cli` took 1.00 s against 1.31 s (medians, docs/scale.md).
SCHEMA_HEAD: Final = "0014"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at provcat's migrations, optionally bound to a connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest schema revision (no-op when current).

    The check and the upgrade run in one transaction that first takes a lock every other
    provcat process takes too (an advisory lock on PostgreSQL, SQLite's write lock), so two
    processes opening a fresh catalogue at once create it once: the second waits, then finds
    it current. A catalogue found at :data:`SCHEMA_HEAD` first is left as it is, unlocked (a
    revision only moves forward, by a migration).
    """
    with engine.connect() as connection:
        stamped = _stamped(connection)
        if stamped == SCHEMA_HEAD:
            return
        _refuse_newer(stamped, engine)
    from alembic import command

    with engine.begin() as connection:
        lock_for_writing(connection)
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        if _stamped(connection) == SCHEMA_HEAD:
            return
        command.upgrade(alembic_config(connection), "head")


def lock_for_writing(connection: Connection) -> None:
    """On SQLite, start the connection's transaction with the database's write lock held.

    Python's sqlite3 module begins a transaction only at the first INSERT, UPDATE or DELETE,
    and runs DDL outside any transaction: a schema upgrade would be neither atomic nor
    exclusive. ``BEGIN IMMEDIATE`` takes the write lock at once (waiting up to the busy
    timeout for another writer); every statement after it is in the transaction. No-op on
    other databases.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def refresh_statistics(engine: Engine, tables: Sequence[str]) -> list[str]:
    """On PostgreSQL, ``ANALYZE`` those of ``tables`` whose planner statistics are missing or
    stale; the tables analysed. No-op elsewhere.

    Stale is autovacuum's rule (50 rows changed plus a tenth of the table since the last
    analysis); missing is a table never analysed. The server's autovacuum does this when it
    runs, but it may be off or not have come round yet after a large ingest, and without
    statistics the planner reads a table of 10^6 rows whole to find the thousand rows a
    statement names by an indexed column (the reused-photo report at 10^6 images: 171 s
    without them, 51 s with; docs/scale.md, session 39). Analysing samples each table: under
    a second for the whole of that catalogue. A table the role may not analyse is left as it
    was, and not named.
    """
    if engine.dialect.name != "postgresql":
        return []
    stale = text(
        "SELECT c.relname FROM pg_class c"
        " JOIN pg_stat_user_tables s ON s.relid = c.oid"
        " WHERE c.relname = ANY(:tables) AND c.relnamespace = to_regnamespace(current_schema())"
        " AND (c.reltuples < 0 OR s.n_mod_since_analyze > 50 + 0.1 * c.reltuples)"
        " ORDER BY c.relname"
    )
    # When each was last analysed by hand: a table the role may not analyse is skipped with
    # a warning, not an error, and keeps its time.
    last = text(
        "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname = ANY(:tables)"
        " AND schemaname = current_schema()"
    )
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        tables = connection.execute(stale, {"tables": list(tables)}).scalars().all()
        before: dict[str, Any] = dict(connection.execute(last, {"tables": tables}).all())
        for table in tables:
            with contextlib.suppress(DBAPIError):
                connection.exec_driver_sql(f'ANALYZE "{table}"')  # a name of provcat's tables
        after: dict[str, Any] = dict(connection.execute(last, {"tables": tables}).all())
    return [t for t in tables if after.get(t) is not None and after.get(t) != before.get(t)]


def execute_many(
    connection: Connection,
    statement: ClauseElement,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Run ``statement`` (an INSERT, maybe an upsert) once for each of ``rows``, in one
    executemany, with the rows' values (for ``columns``, in that order) passed to the driver as
    they are.

    For many rows of plain values (the postings an image adds: about a thousand): SQLAlchemy's
    own executemany processes every row's parameters one by one, and that took three times as
    long as the database's work. The statement is compiled once for the connection's dialect;
    its other bound values (constants in the statement) are added to each row. It runs through
    the connection, so errors are SQLAlchemy's (``retrying`` sees a lost race as such). For
    integers, strings and bytes only: nothing goes through SQLAlchemy's type processing.
    """
    if not rows:
        return
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(columns))
    assert isinstance(compiled, SQLCompiler)
    constants = compiled.construct_params(dict(zip(columns, rows[0], strict=True)))
    parameters: Any
    if compiled.positional:
        names = list(compiled.positiontup or [])
        if names[: len(columns)] == list(columns):
            tail = tuple(constants[n] for n in names[len(columns) :])
            parameters = [(*row, *tail) for row in rows]
        else:
            places = {name: i for i, name in enumerate(columns)}
            parameters = [
                tuple(row[places[n]] if n in places else constants[n] for n in names)
                for row in rows
            ]
    else:
        parameters = [{**constants, **dict(zip(columns, row, strict=True))} for row in rows]
    connection.exec_driver_sql(str(compiled), parameters)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return _stamped(connection)


def _refuse_newer(stamped: str | None, engine: Engine) -> None:
    """Refuse a catalogue a newer provcat has upgraded past :data:`SCHEMA_HEAD` (Alembic
    would say only that it cannot find the revision): it is left as it is."""
    if stamped is not None and stamped.isdigit() and int(stamped) > int(SCHEMA_HEAD):
        where = engine.url.render_as_string(hide_password=True)
        raise CatalogueError(
            f"{where}: the catalogue is at schema revision {stamped}, made by a newer provcat; "
            f"this one knows revisions up to {SCHEMA_HEAD} (upgrade provcat to open it)"
        )


def _stamped(connection: Connection) -> str | None:
    """The revision stamped in Alembic's table, read without Alembic (None without one)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    stamps = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(stamps) > 1:
        # Branches provcat never makes: Alembic says what it makes of them.
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()
    return str(stamps[0]) if stamps else None


def retrying(work: Callable[[], T]) -> T:
    """Run ``work`` (one whole transaction), again if it lost a race with another writer.

    Two ingesters storing the same article or image both look it up, find nothing, and
    insert; the second insert fails on the unique key. Run again from the start, the
    transaction finds the row the other committed and takes the "already known" path. The
    same holds for a deadlock or serialization failure on PostgreSQL and for SQLite's "database
    is locked" after its busy timeout. Other errors, and the last attempt's, are raised.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return work()
        except (IntegrityError, OperationalError) as exc:
            if attempt == ATTEMPTS or not lost_race(exc):
                raise
            # Jittered exponential back-off (random here is for spreading, not for secrets).
            time.sleep(min(2.0, 0.02 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
    raise AssertionError("unreachable")


def lost_race(exc: DBAPIError) -> bool:
    """Whether a database error means a concurrent writer got in first (so a retry can work)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _RETRY_SQLSTATES
    message = str(exc.orig).lower()
    if isinstance(exc, IntegrityError):
        return "unique constraint failed" in message
    return "database is locked" in message or "database table is locked" in message


def database_reason(exc: Exception) -> str:
    """The database's own words for an error, on one line, without SQLAlchemy's boilerplate.

    SQLite rolls a whole transaction back on some errors (a full disk), and the savepoint
    being released then is gone: "no such savepoint" is reported in place of the error that
    caused it, which is given instead. A full disk may be the temporary folder's, where SQLite
    keeps its statement journals: the reason names it.
    """
    orig = getattr(exc, "orig", None) or exc
    if "no such savepoint" in str(orig):
        earlier = exc.__context__
        while earlier is not None and not isinstance(earlier, DBAPIError):
            earlier = earlier.__context__
        if earlier is not None:
            return database_reason(earlier)
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    reason = "; ".join(lines) or type(orig).__name__
    if "database or disk is full" in reason:
        reason += f" (the catalogue's disk, or the temporary folder {tempfile.gettempdir()})"
    return reason

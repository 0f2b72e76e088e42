"""Engines and migrations: open a catalogue database and bring its schema to the newest revision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

from provcat.errors import CatalogueError

#: The migration scripts live beside the package in the checkout (alembic/ at the top level).
ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


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
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at provcat's migrations, optionally bound to a connection."""
    if not (ALEMBIC_DIR / "env.py").is_file():
        raise CatalogueError(
            f"migration scripts not found at {ALEMBIC_DIR}; provcat runs from its source checkout"
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest schema revision (no-op when current)."""
    with engine.begin() as connection:
        cfg = alembic_config(connection)
        head = ScriptDirectory.from_config(cfg).get_current_head()
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

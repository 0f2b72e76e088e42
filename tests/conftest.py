"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL when asked), catalogues."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from provcat.catalogue import Catalogue
from provcat.config import database_url
from provcat.db import make_engine, migrate

from .paths import MONTENEGRO

#: Set to a PostgreSQL URL to run every test against PostgreSQL instead of SQLite.
PG_ENV = "PROVCAT_TEST_DATABASE_URL"


@contextmanager
def _pg_database(base: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database next to ``base`` (copied from ``template`` if given), dropped
    afterwards; yields its URL."""
    base = database_url(base)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """On PostgreSQL, a database migrated once that each test's database is copied from."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    with _pg_database(base, "provcat_tmpl") as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield make_url(url).database


@contextmanager
def _catalogue_database(tmp_path: Path, name: str, pg_template: str | None) -> Iterator[str]:
    """SQLite file ``name`` in the test's folder, or with PROVCAT_TEST_DATABASE_URL set, a new
    PostgreSQL database copied from the migrated template and dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base or pg_template is None:
        yield f"sqlite:///{tmp_path / name}"
        return
    with _pg_database(base, "provcat_test", template=pg_template) as url:
        yield url


@pytest.fixture
def db_url(tmp_path: Path, pg_template: str | None) -> Iterator[str]:
    """A fresh, empty-of-data catalogue database for one test (SQLite, or PostgreSQL)."""
    with _catalogue_database(tmp_path, "test.db", pg_template) as url:
        yield url


@pytest.fixture
def other_db_url(tmp_path: Path, pg_template: str | None) -> Iterator[str]:
    """A second catalogue database for tests that compare two catalogues (as ``db_url``)."""
    with _catalogue_database(tmp_path, "other.db", pg_template) as url:
        yield url


@pytest.fixture
def empty_db_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (for migration tests), SQLite or PostgreSQL."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _pg_database(base, "provcat_empty") as url:
        yield url


@pytest.fixture
def catalogue(db_url: str) -> Iterator[Catalogue]:
    """An open, migrated, empty catalogue."""
    cat = Catalogue(db_url)
    yield cat
    cat.close()


@pytest.fixture
def montenegro(catalogue: Catalogue) -> Catalogue:
    """A catalogue holding the Montenegro record (catalogue/montenegro-coup-2017) alone."""
    result = catalogue.ingest([MONTENEGRO])
    assert result.rejected == [], result.rejected
    return catalogue

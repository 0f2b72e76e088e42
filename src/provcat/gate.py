"""The ingest gate: reuse matching waits while any ingester is storing.

Which pairs of images the matcher examines depends on what the catalogue holds when an
image's turn comes: a new image verifies the stored images that share the most visual words
with it, and both the competition for those places and each word's rarity depend on every
image stored. If turns ran while other processes were still storing, the pairs found would
depend on timing. So an ingest stores all its inputs first, then matches, and the gate keeps
the two apart across processes:

- an ingester holds the gate *shared* for the whole of its storing phase (several ingesters
  may store at once);
- each matching turn holds it *exclusively*, so no turn runs while anyone is storing.

Ingesters that start together therefore match once everything is stored, in turns that each
see the whole catalogue, and record what one process ingesting everything would record. An
ingester that starts while matching is under way stores between two turns, as a later run
would.

The gate is a PostgreSQL session-level advisory lock, or for a SQLite file an ``flock`` on a
lock file beside it (``<database>.ingest-lock``). Both are released by the operating system
or the server when a process dies, so a killed ingester never leaves the gate closed. An
in-memory SQLite database has one process and needs no gate.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

#: PostgreSQL advisory lock key of the gate ("ingest" in ASCII; the migration lock is another).
_GATE_KEY = 0x696E67657374

#: Suffix of the lock file beside a SQLite catalogue.
LOCK_SUFFIX = ".ingest-lock"


class IngestGate:
    """Keeps storing and matching apart across the processes sharing one catalogue."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock_file: Path | None = None
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._lock_file = Path(database).with_name(Path(database).name + LOCK_SUFFIX)

    @contextmanager
    def storing(self) -> Iterator[None]:
        """Hold the gate shared: turns wait until this and every other storer is done."""
        with self._held(shared=True):
            yield

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the gate exclusively for one matching turn (take it before the turn's
        transaction starts, so a storer never waits for a turn that waits for it)."""
        with self._held(shared=False):
            yield

    @contextmanager
    def _held(self, *, shared: bool) -> Iterator[None]:
        if self._engine.dialect.name == "postgresql":
            with self._advisory(shared=shared):
                yield
        elif self._lock_file is not None:
            with self._flock(self._lock_file, shared=shared):
                yield
        else:
            yield

    @contextmanager
    def _advisory(self, *, shared: bool) -> Iterator[None]:
        suffix = "_shared" if shared else ""
        with self._engine.connect() as connection:
            connection.execute(text(f"SELECT pg_advisory_lock{suffix}(:key)"), {"key": _GATE_KEY})
            # A session-level lock outlives the transaction; commit so the connection does not
            # sit idle in a transaction for the whole storing phase.
            connection.commit()
            try:
                yield
            finally:
                try:
                    connection.execute(
                        text(f"SELECT pg_advisory_unlock{suffix}(:key)"), {"key": _GATE_KEY}
                    )
                    connection.commit()
                except Exception:
                    # The connection broke, and the server released the lock with it. A
                    # connection that may still hold the lock never goes back to the pool.
                    connection.invalidate()
                    raise

    @staticmethod
    @contextmanager
    def _flock(path: Path, *, shared: bool) -> Iterator[None]:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            # A folder the lock file cannot be made in: the catalogue beside it cannot be
            # written either, and the ingest fails on its own with a clear reason.
            log.debug("ingest gate: cannot open %s (%s); going on without it", path, exc)
            handle = None
        if handle is None:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # closing the file releases the lock

"""The per-file work of ingest: decode, metadata, fingerprints and features, on every core.

What an image contributes to the catalogue is computed from its file alone, before any row is
written, as a :class:`PreparedImage`. Ingest of a folder hands its image files to a
:class:`Preparer`, which prepares them in a pool of worker processes a few files ahead of the
one being stored, so decoding and feature extraction run on every core while the main process
writes and matches. Results come back in the order of the files, whatever order the workers
finish in, so a parallel ingest stores exactly what a serial one does.

Workers start with ``spawn`` (a fresh interpreter, never a fork of a process holding database
connections and OpenCV threads), and their log records and Python warnings (Pillow's) travel
back with each result and are logged by the main process, where the CLI counts and shows them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from provcat import models as m
from provcat import thumbnails
from provcat.allocator import keep_freed_memory
from provcat.db import make_engine
from provcat.decode import DecodedImage, open_image
from provcat.errors import InputError, unexpected_reason
from provcat.files import path_text
from provcat.fingerprints import Fingerprints, compute
from provcat.metadata import MetadataField, read_metadata
from provcat.reuse.features import Features, extract, mirrored
from provcat.working import REDUCE_FROM, WorkingCopy

log = logging.getLogger(__name__)

#: Files prepared ahead of the one being stored, per worker (bounds memory: a prepared image
#: is its metadata, about 40 kB of features and a thumbnail of about 7, 40 more with a large
#: picture's mirror features (:data:`MIRROR_FROM`), never its pixels).
AHEAD_PER_WORKER: Final = 4
#: How often a worker checks that the process it works for is still there.
PARENT_POLL_SECONDS: Final = 1.0
#: Fewer image files than this are prepared in the main process (starting workers costs
#: about a second).
POOL_MIN_FILES: Final = 8
#: Pictures at least this many pixels on their longer side (those the working copy reduces)
#: carry their mirror image's features to their matching turn when asked to: decoding such a
#: file again there costs several times the extraction (one core: a generated 4000 x 3000
#: JPEG 68 ms to decode, 14 to extract from its working copy; 5120 x 2880 PNGs of Debian's
#: plasma-workspace-wallpapers 189-360 ms against 8). A smaller picture's turn decodes it
#: again in a thread of its own beside the turn before (an 800 x 600 JPEG: 2.3 ms to decode,
#: 9.3 to extract), which costs an ingest less than extracting in the workers, which have no
#: core to spare: the scale bench's 120 files of 800 x 600 were ingested at 11.7-12.1 images
#: a second extracting them all in the workers, 12.5-12.8 without (session 28).
MIRROR_FROM: Final = REDUCE_FROM


#: The columns of an image row that come from its file (DecodedImage attributes of those names).
IMAGE_COLUMNS: Final = (
    "sha256",
    "format",
    "mime",
    "width",
    "height",
    "file_size",
    "pixel_digest",
    "orientation",
)


@dataclass(frozen=True)
class PreparedImage:
    """Everything catalogued of one image file, computed from the file alone."""

    path: Path
    sha256: str
    format: str
    mime: str | None
    width: int
    height: int
    file_size: int
    pixel_digest: str
    orientation: int | None
    #: None when the image was already catalogued (only its path is new, if it is).
    fields: list[MetadataField] | None
    prints: Fingerprints | None
    features: Features | None
    #: Its mirror image's features, for its matching turn (never stored: the turn would
    #: decode the file again to extract them); None when not asked for, or known.
    mirror: Features | None = None
    #: Its thumbnail (provcat.thumbnails.make); None when known.
    thumbnail: bytes | None = None

    def columns(self) -> dict[str, Any]:
        """The ``image`` table's columns that come from the file (provcat.models.Image)."""
        return {name: getattr(self, name) for name in IMAGE_COLUMNS}

    @property
    def known(self) -> bool:
        """Whether the worker found the image catalogued already (so computed nothing more)."""
        return self.features is None


@dataclass(frozen=True)
class Failed:
    """A file that could not be prepared, and why (an :class:`InputError`'s parts)."""

    path: str
    reason: str
    line: int | None = None

    def error(self) -> InputError:
        """The error again, to raise where the file is stored."""
        return InputError(self.path, self.reason, line=self.line)


def prepare_image(
    decoded: DecodedImage, *, known: bool = False, mirror: bool = False
) -> PreparedImage:
    """Metadata, fingerprints, features and thumbnail of a decoded image (not when
    ``known``), and with ``mirror`` its mirror image's features, which its matching turn
    needs (:meth:`provcat.matching.Matcher.expect_mirrors`), when it is
    :data:`MIRROR_FROM` pixels or more on its longer side.

    Raises:
        InputError: The metadata cannot be read (a malformed XMP packet, for example).
    """
    if known:
        fields, prints, features, flipped, thumbnail = None, None, None, None, None
    else:
        fields = read_metadata(decoded.path, decoded.source, decoded.data)
        working = WorkingCopy.of(decoded.pixels)  # reduced once for the hashes and features
        prints = compute(decoded.pixels, working=working)
        features = extract(decoded.pixels, working=working)
        large = max(decoded.width, decoded.height) >= MIRROR_FROM
        flipped = mirrored(decoded.pixels, working=working) if mirror and large else None
        thumbnail = thumbnails.make(working)
    return PreparedImage(
        path=decoded.path,
        **{name: getattr(decoded, name) for name in IMAGE_COLUMNS},
        fields=fields,
        prints=prints,
        features=features,
        mirror=flipped,
        thumbnail=thumbnail,
    )


# -- worker processes ---------------------------------------------------------------------------

_engine: Engine | None = None
_records: list[tuple[str, int, str]] = []


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _records.append((record.name, record.levelno, record.getMessage()))


def _start_worker(url: str | None, levels: dict[str, int], parent: int) -> None:
    """Worker initialiser: keep log records (and warnings) to send back with each result, and
    exit when the ingesting process is gone (killed with -9, it cannot stop its workers)."""
    global _engine
    keep_freed_memory()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    root = logging.getLogger()
    root.handlers[:] = [_Keep()]
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    logging.captureWarnings(True)
    _engine = make_engine(url) if url else None


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)


def _is_known(sha256: str) -> bool:
    if _engine is None:
        return False
    try:
        with _engine.connect() as connection:
            found = connection.scalar(select(m.Image.id).where(m.Image.sha256 == sha256))
    except SQLAlchemyError:  # only a shortcut: the main process decides anyway
        return False
    return found is not None


#: A worker's answer: the prepared file, and the log records (logger, level, message) it made.
_Done = tuple["PreparedImage | Failed", list[tuple[str, int, str]]]


def _prepare_in_worker(path: Path) -> _Done:
    _records.clear()
    try:
        decoded = open_image(path)
        known = _is_known(decoded.sha256)
        done: PreparedImage | Failed = prepare_image(decoded, known=known, mirror=True)
    except InputError as exc:
        done = Failed(exc.path, exc.reason, exc.line)
    except Exception as exc:  # one file's fault must not end the ingest
        done = _failed_unexpectedly(path, exc)
    return done, list(_records)


def prepare_file(path: Path) -> PreparedImage | Failed:
    """Prepare one image file in this process, its mirror image's features included."""
    try:
        return prepare_image(open_image(path), mirror=True)
    except InputError as exc:
        return Failed(exc.path, exc.reason, exc.line)
    except Exception as exc:  # one file's fault must not end the ingest
        return _failed_unexpectedly(path, exc)


def _failed_unexpectedly(path: Path, exc: Exception) -> Failed:
    """A file whose preparation raised what no rule foresaw (a decoder's or OpenCV's
    failure on an odd picture): rejected with the error's name, its traceback logged, and
    the rest of the ingest goes on."""
    log.error("%s: preparing it failed:\n%s", path, traceback.format_exc())
    return Failed(path_text(path), unexpected_reason(exc))


class Preparer:
    """Prepares image files in worker processes, ahead of the caller, in the caller's order.

    Args:
        paths: The image files, in the order they will be asked for.
        workers: Worker processes; 0 or 1 prepares each file when asked, in this process.
        url: The catalogue's URL: workers skip the expensive work for files already in it.
    """

    def __init__(self, paths: Sequence[Path], *, workers: int, url: str | None = None) -> None:
        self._paths = list(paths)
        self._next = 0
        self._pending: deque[Future[_Done]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        self._taken = 0
        if workers > 1 and len(self._paths) >= POOL_MIN_FILES:
            levels = {
                name: logging.getLogger(name or None).level for name in ("", "exifread", "PIL")
            }
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(url, levels, os.getpid()),
            )
            self._ahead = workers * AHEAD_PER_WORKER
            self._fill()

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (files not asked for yet are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _fill(self) -> None:
        assert self._pool is not None
        while len(self._pending) < self._ahead and self._next < len(self._paths):
            path = self._paths[self._next]
            self._next += 1
            with _main_module_hidden():
                future = self._pool.submit(_prepare_in_worker, path)
            self._pending.append(future)

    def take(self, path: Path) -> PreparedImage | Failed:
        """The prepared form of ``path``, which must be the next file in the order given."""
        position = self._taken
        if position >= len(self._paths) or self._paths[position] != path:
            raise ValueError(f"{path} is not the next file given to this Preparer")
        self._taken += 1
        if self._pool is None:
            return prepare_file(path)
        future = self._pending.popleft()
        self._fill()
        try:
            done, records = future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory, a crashing decoder): this file and the rest
            # are prepared here, one by one, as a serial ingest would.
            log.warning("an ingest worker process died; preparing the remaining files here")
            self.close()
            self._pending.clear()
            return prepare_file(path)
        for name, level, message in records:
            logging.getLogger(name).log(level, "%s", message)
        return done


#: Prepared files a :class:`Spool` holds in memory before it writes the rest to its file.
SPOOL_HELD = 64


class Spool:
    """What the preparer made of a manifest's or an article's image files, by path, taken
    before its transaction starts and read again as many times as the transaction runs.

    The first :data:`SPOOL_HELD` are held in memory; the rest are written to a temporary file
    (unlinked at once: a killed ingest leaves nothing) and read back when asked for, so that a
    manifest of ten thousand pictures holds no more memory than one of sixty-four while it is
    stored (a prepared file is about 47 kB, 87 with a large picture's mirror features).
    Where the temporary folder cannot be written (full, read-only), the rest are held in
    memory, with a warning.
    """

    def __init__(self, held: int | None = None) -> None:
        self._limit = SPOOL_HELD if held is None else held
        self._held: dict[Path, PreparedImage | Failed] = {}
        self._written: dict[Path, tuple[int, int]] = {}
        self._file: IO[bytes] | None = None
        self._unwritable = False
        self._end = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._held) + len(self._written)

    def put(self, path: Path, prepared: PreparedImage | Failed) -> None:
        """Keep what ``path`` was prepared into (a path given twice keeps the first)."""
        if path in self._held or path in self._written:
            return
        if len(self._held) < self._limit or self._unwritable:
            self._held[path] = prepared
            return
        data = pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL)
        start = self._end
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="provcat-prepared-", buffering=0)  # noqa: SIM115
            written = 0
            while written < len(data):  # unbuffered: a failed write leaves nothing pending
                written += os.pwrite(self._file.fileno(), data[written:], start + written)
        except OSError as error:
            # A full or read-only temporary folder costs memory, not the ingest; what was
            # written is read back and the file closed, leaving its space to SQLite, whose
            # statement journals are temporary files too.
            log.warning(
                "cannot write prepared images to a temporary file in %s (%s); holding this "
                "manifest's or article's in memory",
                tempfile.gettempdir(),
                error.strerror or error,
            )
            self._unwritable = True
            for kept in list(self._written):
                found = self.get(kept)
                assert found is not None
                self._held[kept] = found
            self._written.clear()
            self._close_file()
            self._held[path] = prepared
            return
        self._written[path] = (start, len(data))
        self._end = start + len(data)

    def get(self, path: Path) -> PreparedImage | Failed | None:
        """What ``path`` was prepared into, or None if it was not given."""
        found = self._held.get(path)
        if found is not None or path not in self._written:
            return found
        assert self._file is not None
        start, size = self._written[path]
        data = b""
        while len(data) < size:
            more = os.pread(self._file.fileno(), size - len(data), start + len(data))
            if not more:
                raise OSError(f"the temporary file of prepared images ended early at {path}")
            data += more
        # Written by this process into its own unlinked temporary file, never anyone else's.
        found = pickle.loads(data)  # noqa: S301
        assert isinstance(found, PreparedImage | Failed)
        return found

    def close(self) -> None:
        """Drop everything (the temporary file is removed as it closes)."""
        self._held.clear()
        self._written.clear()
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start workers without the caller's main module.

    A spawned worker normally runs the parent's ``__main__`` script again (as ``__mp_main__``)
    before it takes work. A user's script that calls ``Catalogue.ingest`` at top level, with
    no ``if __name__ == "__main__"`` guard, would then ingest again in every worker, and
    multiprocessing refuses that. The workers need nothing from the caller's script (they run
    provcat.prepare only), so while a submit may start workers, the main module shows
    multiprocessing neither a file nor a module name to run.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    names = ("__file__", "__spec__")
    saved = {name: main.__dict__[name] for name in names if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def default_workers() -> int:
    """Worker processes for ingest: one per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1

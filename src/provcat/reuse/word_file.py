"""A SQLite catalogue's postings in a read-only file beside it, memory-mapped by look-ups.

The postings table (:mod:`provcat.reuse.postings`) answers a look-up with one primary-key
probe per word asked, about 7,000 of them at 10^5 images: tens of milliseconds however well
cached (docs/scale.md). This file holds the same postings as flat arrays sorted by word, so a
look-up finds all its words in one pass over memory-mapped arrays and counts their images
where they lie, in the compiled passes of :mod:`provcat.reuse.compiled` (in NumPy where
they were not built), with nothing loaded at start but the pages it touches.

The file is a cache, never the record: it can be deleted at any time, and a look-up that
finds it missing, unreadable or made from another catalogue reads the table as before. It
covers the images up to the largest image id it was made at; images stored since then
(the *delta*) have their words computed again, by each process that looks them up, from
their stored features (:func:`provcat.reuse.postings.posted`, exactly what was posted), so
its answers are the table's. Past :data:`DELTA_MAX` such images a process reads the table
instead, and an ingest that leaves the delta past :data:`REFRESH_AFTER` images writes the
file again (merging the delta into it: :func:`refresh`).

On SQLite only: image ids grow with every commit there (one writer at a time, no deletions),
so "the images after the largest id covered" is exact. A shared PostgreSQL catalogue keeps
its postings in the database (the issue's design: it scales with the database).

Layout: a folder ``<catalogue file>.words``, holding ``CURRENT`` (JSON: the generation's
folder and what it covers) and one generation folder of four little-endian arrays:
``words`` (int32, sorted, distinct), ``counts`` (int32: images posting the word),
``starts`` (int64, one more than the words: word ``i``'s images are ``ids[starts[i] :
starts[i + 1]]``) and ``ids`` (int32: the images of each word posted by at
most :data:`provcat.reuse.postings.KEPT_POSTINGS` images, as the table keeps them). A new
generation is written beside the old one and ``CURRENT`` replaced atomically, so a reader
never sees half a file; writers take ``LOCK`` (an advisory lock) in turn, and a writer
making the file anew from the postings table holds ``MAKING`` too, while which nothing is
posted to the table (:func:`being_made`).

A generation also holds the PDQ hashes of the images it covers, so that a matcher starting
on a large catalogue maps them instead of reading every image's from the database (about 2 s
at 10^6 images): ``pdq_ids`` (int32, ascending: the images with a PDQ hash) and ``pdq`` (32
bytes a hash, row for row). Generations written before these two arrays existed lack them;
a reader then reads the hashes from the database, as it always did. They are copied from
the ``fingerprint`` table in the read transaction the words come from, so they cover the
same images; an image's PDQ hash is written with it and never changed, so they stay true.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from provcat import models as m
from provcat.db import DriverStatement, driver_pages, driver_rows
from provcat.fingerprints import stored_pdq
from provcat.reuse import compiled
from provcat.reuse.postings import (
    BITS,
    KEPT_POSTINGS,
    LONG_BITS,
    LONG_KEY_BITS,
    PACKED_ID,
    POSTED_DESCRIPTORS,
    STATE_KEYS,
    STOP_MAX,
    TABLES,
    Gather,
    Posted,
    Postings,
    WordArray,
    stored_words,
)

log = logging.getLogger(__name__)

#: The layout's version.
FORMAT: Final = 2
#: What fixes which words an image posts: a file made under other values is not used.
WORD_RULES: Final = {
    "tables": TABLES,
    "bits": BITS,
    "long_bits": LONG_BITS,
    "long_key_bits": LONG_KEY_BITS,
    "posted_descriptors": POSTED_DESCRIPTORS,
    "kept_postings": KEPT_POSTINGS,
}
SUFFIX: Final = ".words"
#: Images stored since the file was made that a process looks up with it, their words
#: computed from their stored features (0.7 ms an image here, once per process; about
#: 2,000 words, 8 bytes each, held per image). Past this the table is read instead.
DELTA_MAX: Final = 5_000
#: An ingest writes the file again when it leaves more images than this outside it.
REFRESH_AFTER: Final = 1_000
#: A merge adds the words of this many images at most in one generation (more are merged in
#: rounds, a generation each, every round rewriting the file): it holds their (word, image)
#: pairs, sorted, while it writes, about 30 MB a thousand images. Merging 20,000 images
#: into a file of 50,120 (docs/scale.md, session 46): 1,493 MB of the process's own memory
#: and 22.9 s in one round before the pairs were held as sorted keys; now 843 MB and 25.0 s
#: in one round, 546 MB and 34.8 s in rounds of 10,000, 363 MB and 40.8 s of 5,000.
MERGE_MOST: Final = 10_000
#: An ingest makes the file (when there is none) once the catalogue holds this many images,
#: before its matching turns, so that they read it too. Measured on generated 800 x 600
#: scenes (docs/scale.md, session 46): the file of 1,000 images made in 0.7 s; an ingest of
#: 1,000 files into an empty catalogue in 64-68 s against 77-84 with the table read, of 120
#: into 1,000 images in 8.7 s against 9.8 (its turns 34-35 ms an image against 48-50); a
#: `provcat similar` command on 1,999 images, 999 of them outside the file, 1.3-1.6 s against
#: 1.5-1.7 through the table. Until session 46 this was 10,000 (0.29x the table's
#: candidate stage there when that stage was NumPy's; the compiled one is 2.9 ms at 10^4).
#: Below it the images a file leaves outside until its next merge (:data:`REFRESH_AFTER`,
#: their words computed by every process from their features) could outnumber those in it.
MAKE_FROM: Final = 1_000

_ARRAYS: Final = {
    "words": "<i4",
    "counts": "<i4",
    "starts": "<i8",
    "ids": "<i4",
    "fence": "<i4",
}
#: The PDQ hashes of the images covered (see the module's docstring); absent from
#: generations written before them.
_PDQ_ARRAYS: Final = {"pdq_ids": "<i4", "pdq": "u1"}
#: Bytes of a PDQ hash.
PDQ_BYTES: Final = 32
#: Every array a generation is written with, and its type.
_ALL_ARRAYS: Final = {**_ARRAYS, **_PDQ_ARRAYS}
#: Every FENCE-th word is in ``fence`` (read into memory at open): a look-up finds a word's
#: 4 KiB page of ``words`` there, and searches that page alone. A binary search of the
#: whole array (90 million words at 10^5 images) missed the processor's caches at nearly
#: every one of its 27 steps.
FENCE_BITS: Final = 10
FENCE: Final = 1 << FENCE_BITS
_CURRENT: Final = "CURRENT"
_LOCK: Final = "LOCK"
#: Held (an advisory lock, exclusively) while the file is made anew from the postings table;
#: a process posting words leaves them for later while it is held (:func:`being_made`), so
#: that the table stands still while it is read a page at a time.
_MAKING: Final = "MAKING"
#: Rows of the table read at a time while making the file (each page in a read transaction
#: of its own where the table stands still: :func:`_made_anew`).
_PAGE: Final = 100_000
#: Images whose stored features a merge reads to a read transaction, and a make at a time
#: (:func:`_delta_pairs`).
_FEATURE_PAGE: Final = 500
#: Images whose stored features a catch-up reads at a time (:meth:`Delta.catch_up`).
_CATCH_UP_PAGE: Final = 250
#: Delta runs merged into one past this many.
_RUNS_MAX: Final = 8


def location(connection: Connection) -> Path | None:
    """Where the file of this connection's catalogue goes: None unless it is a SQLite file."""
    if connection.dialect.name != "sqlite":
        return None
    database = connection.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return folder_of(Path(database))


def folder_of(database: Path) -> Path:
    """The file's folder for the SQLite catalogue file ``database`` (beside the file itself,
    where ``database`` is a symbolic link)."""
    resolved = database.resolve()
    return resolved.with_name(resolved.name + SUFFIX)


@dataclass(frozen=True)
class Cover:
    """What a generation of the file covers: the images with ids up to ``last_id`` (``images``
    of them, the last with SHA-256 ``last_sha256``), and its size."""

    generation: str
    last_id: int
    images: int
    last_sha256: str | None
    words: int
    postings: int
    made_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "rules": WORD_RULES, **self.__dict__}


@dataclass(frozen=True)
class Found:
    """Which of some wanted words a file holds (``hit``), and for each its count of images,
    where its kept images start among the file's ``ids`` and how many they are (0 where it
    does not hold it)."""

    hit: npt.NDArray[np.bool_]
    counts: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]


class WordFile:
    """One generation of a catalogue's file, memory-mapped, and the words of the images stored
    after it (its delta, :class:`Delta`), as this process has read them."""

    def __init__(self, folder: Path, cover: Cover) -> None:
        self.cover = cover
        place = folder / cover.generation
        self.words = _mapped(place / "words", cover.words)
        self.counts = _mapped(place / "counts", cover.words)
        self.starts = _mapped(place / "starts", cover.words + 1)
        self.ids = _mapped(place / "ids", cover.postings)
        self.fence = np.array(_mapped(place / "fence", -(-cover.words // FENCE)))
        self.delta = Delta(cover.last_id)
        #: The covered images' PDQ hashes: their ids (ascending) and an ``(N, 32)`` array of
        #: the hashes, row for row; None for a generation written before they were kept.
        self.pdq: tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]] | None = None
        if (place / "pdq_ids").exists():
            count = (place / "pdq_ids").stat().st_size // np.dtype(_PDQ_ARRAYS["pdq_ids"]).itemsize
            ids = _mapped(place / "pdq_ids", count)
            hashes = _mapped(place / "pdq", count * PDQ_BYTES).reshape(count, PDQ_BYTES)
            self.pdq = ids, hashes

    @classmethod
    def open(cls, folder: Path, connection: Connection) -> WordFile | None:
        """The folder's current generation, if it is this catalogue's; else None (the reason
        logged unless there is no file)."""
        image = m.Image.__table__.c

        def sha_at(image_id: int) -> str | None:
            return connection.scalar(select(image.sha256).where(image.id == image_id))

        try:
            found = _current(folder, sha_at)
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("%s cannot be read (%s); the postings table is read instead", folder, error)
            return None
        if isinstance(found, str):
            log.warning("%s: %s; not used (`provcat index` makes it again)", folder, found)
            return None
        return found

    def _find(self, wanted: WordArray) -> Found:
        """Which of ``wanted`` (sorted) the file holds, and each one's count of images and
        where its images lie (0 where it is not held): by the compiled pass where it is
        active, else by :meth:`_locate` and three gathers.

        Raises:
            ValueError: A row found is damaged (a negative count, or images outside the
                file's ids): the file cannot answer as the table would.
        """
        if not self.words.size:
            none = np.zeros(wanted.size, dtype=np.int64)
            return Found(np.zeros(wanted.size, dtype=bool), none, none, none)
        if compiled.active:
            return Found(
                *compiled.locate(
                    self.words,
                    self.fence,
                    FENCE_BITS,
                    self.counts,
                    self.starts,
                    self.ids.size,
                    wanted,
                )
            )
        at, hit = self._locate(wanted)
        rows = at[hit]
        counts = np.zeros(wanted.size, dtype=np.int64)
        starts = np.zeros(wanted.size, dtype=np.int64)
        lengths = np.zeros(wanted.size, dtype=np.int64)
        counts[hit] = self.counts[rows]
        starts[hit] = self.starts[rows]
        lengths[hit] = self.starts[rows + 1] - starts[hit]
        if np.any(counts < 0) or np.any(lengths < 0) or np.any(starts + lengths > self.ids.size):
            raise ValueError("a word's count is negative or its images lie outside the ids")
        return Found(hit, counts, starts, lengths)

    def _locate(self, wanted: WordArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Where each of ``wanted`` (sorted) is in ``words`` (not empty), and whether it is
        there: its page from the fence, then a binary search of that page, all keys at once
        (where a key is not there, where it lies is not used)."""
        words = self.words
        count = words.size
        keys = wanted.astype(words.dtype)
        page = np.maximum(np.searchsorted(self.fence, keys, side="right") - 1, 0)
        # The last word less than the key, by halving steps over the page (its words are at
        # ``page * FENCE`` and up): ``before`` starts one place ahead of the page, as if a
        # word below every key were there. A step past the array's end reads its last word,
        # which moves ``before`` on only when every word is less than the key.
        before = page.astype(np.int64) * FENCE - 1
        last = count - 1
        for bit in range(FENCE_BITS - 1, -1, -1):
            probe = before + (1 << bit)
            before = np.where(words[np.minimum(probe, last)] < keys, probe, before)
        # The word after it is the first not less than the key (or, past the page, the next
        # page's first word, which is above the key: the key is not there).
        at = np.minimum(before + 1, last)
        return at, words[at] == keys

    def choose(
        self,
        shorts: list[WordArray],
        longs: list[WordArray],
        *,
        indexed: WordArray,
        met: WordArray,
        most: int,
        budget: int,
    ) -> tuple[compiled.Staged, list[tuple[Postings, npt.NDArray[np.intp]]]]:
        """The compiled candidate stage through this file and its delta, up to the images to
        count (:func:`provcat.reuse.compiled.stage`, given each query's short and long
        words and the record of stop words): the rows chosen, and where their images lie:
        a :class:`Postings` for each source that holds some, with the indices of the rows
        (among those chosen) it holds images of.

        Raises:
            ValueError: A row found is damaged (as :meth:`_find`).
        """
        runs = list(self.delta.runs)
        staged = compiled.stage(
            shorts,
            longs,
            words=self.words,
            fence=self.fence,
            fence_bits=FENCE_BITS,
            counts=self.counts,
            starts=self.starts,
            stored=self.ids.size,
            runs=[run.words for run in runs],
            indexed=indexed,
            met=met,
            most=most,
            stop_max=STOP_MAX,
            budget=budget,
        )
        every = np.arange(staged.counts.size, dtype=np.intp)
        parts = [(Postings(self.ids, staged.starts, staged.lengths, self.cover.last_id), every)]
        for run, firsts, counts in zip(runs, staged.run_firsts, staged.run_counts, strict=True):
            held = np.flatnonzero(counts)
            if held.size:
                parts.append(
                    (Postings(run.ids, firsts[held], counts[held], self.delta.last_id), held)
                )
        return staged, parts

    def rows(self, wanted: WordArray) -> tuple[WordArray, WordArray, Gather]:
        """The ``wanted`` words (sorted, distinct) that some image posted, their counts of
        images (the file's and the delta's), and a gatherer of the images of chosen rows
        (rows whose count is at most :data:`provcat.reuse.postings.KEPT_POSTINGS`)."""
        held = self._find(wanted)
        runs = list(self.delta.runs)
        located = [run.locate(wanted) for run in runs]
        in_delta = np.zeros(wanted.size, dtype=np.int64)
        for _, count in located:
            in_delta += count
        found = held.hit | (in_delta > 0)
        starts, lengths = held.starts[found], held.lengths[found]
        pieces = [
            (run, first[found], count[found])
            for run, (first, count) in zip(runs, located, strict=True)
        ]

        def gather(chosen: npt.NDArray[np.intp]) -> list[Postings]:
            parts = [Postings(self.ids, starts[chosen], lengths[chosen], self.cover.last_id)]
            for run, first, count in pieces:
                taken = count[chosen]
                if taken.any():
                    parts.append(Postings(run.ids, first[chosen], taken, self.delta.last_id))
            return parts

        return wanted[found], (held.counts + in_delta)[found], gather


@dataclass
class Run:
    """Some delta images' ``(word, image)`` pairs, sorted by word (then image), as int32 (as
    the file keeps them: 8 bytes a pair)."""

    words: npt.NDArray[np.int32]
    ids: npt.NDArray[np.int32]

    def locate(self, wanted: WordArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Where each of ``wanted`` starts here, and how many pairs it has."""
        keys = wanted.astype(np.int32)  # in the run's type, so it is not converted whole
        left = np.searchsorted(self.words, keys, side="left")
        right = np.searchsorted(self.words, keys, side="right")
        return left.astype(np.int64), (right - left).astype(np.int64)


def _sorted_run(words: list[npt.NDArray[Any]], owners: list[npt.NDArray[Any] | int]) -> Run:
    """The pairs of each ``words[i]`` with ``owners[i]`` (an image id for each word, or one
    for all of them), sorted by word (as int32), then image. Both lists are emptied as they
    are read: a merge's pairs are held once as they are gathered, as one sorted int64 key
    each (the word above the image), then as the run's two arrays: 16 bytes a pair at most,
    against about 30 with the lists, their concatenations and a sort order all held."""
    total = sum(part.size for part in words)
    keys = np.empty(total, dtype=np.int64)
    at = 0
    for number, part in enumerate(words):
        place = keys[at : at + part.size]
        place[...] = part.astype(np.int32, copy=False)  # sign-extended, as the file keeps it
        place <<= 32
        place |= owners[number]  # image ids are positive int32
        at += part.size
        words[number] = owners[number] = _NONE  # freed as it is taken
    words.clear()
    owners.clear()
    keys.sort()
    halves = keys.view(np.int32).reshape(-1, 2)
    high, low = (1, 0) if sys.byteorder == "little" else (0, 1)
    return Run(np.ascontiguousarray(halves[:, high]), np.ascontiguousarray(halves[:, low]))


_NONE: Final = np.zeros(0, dtype=np.int32)


class Delta:
    """The words of the images stored after a file's last id (or those the postings table
    does not hold: :class:`provcat.reuse.postings.Posted`), computed in this process from
    their stored features, in a few sorted runs (a new run per catch-up, merged past
    :data:`_RUNS_MAX`).

    Args:
        after: The images after this id.
        posted: How far the postings table holds their words, for the words the table does
            not hold (``after`` is its ``through``): of the images of a posting under way,
            only the words it has not posted yet.
        limited: Past :data:`DELTA_MAX` images :meth:`catch_up` adds nothing and says so
            (not for the images after the table's mark, whose words only this can give).
        skip_unreadable: An image whose stored features cannot be read posts nothing here
            (logged), rather than :meth:`catch_up` saying it cannot answer.
    """

    def __init__(
        self,
        after: int,
        *,
        posted: Posted | None = None,
        limited: bool = True,
        skip_unreadable: bool = False,
    ) -> None:
        self.posted = posted
        self.limited = limited
        self.skip_unreadable = skip_unreadable
        self.last_id = after
        self.images = 0
        self.runs: list[Run] = []
        # Look-ups in several threads catch up one at a time: two at once each added the
        # same images, and their words were then counted twice.
        self._lock = threading.Lock()

    def advance(self, posted: Posted) -> bool:
        """Drop the words the postings table holds now (``posted``: a posting has gone on,
        a range or more, since this was made), rather than computing the rest again; False
        (nothing changed) where ``posted`` does not hold every word this left out."""
        with self._lock:
            old = self.posted
            if old is None or posted.through < old.through:
                return False
            if posted.through < old.upto and (
                (posted.through, posted.upto) != (old.through, old.upto)
                or posted.below < old.below
            ):
                return False
            kept = []
            for run in self.runs:
                held = run.ids <= posted.through
                if posted.under_way:
                    held |= (run.ids <= posted.upto) & (run.words < posted.below)
                if not held.all():
                    kept.append(Run(run.words[~held], run.ids[~held]))
            self.runs = kept  # none left where the table holds every word
            self.posted = posted
            self.last_id = max(self.last_id, posted.through)
            return True

    def catch_up(self, connection: Connection) -> bool:
        """Add the images stored since the last call. False (nothing added) when there would
        be more than :data:`DELTA_MAX` (where ``limited``), or one's stored features cannot
        be read (unless skipped): the caller then reads the table. Safe to call from several
        threads at once."""
        with self._lock:
            return self._catch_up(connection)

    def _catch_up(self, connection: Connection) -> bool:
        feature = m.Feature.__table__.c
        after = feature.image_id > self.last_id
        waiting = _waiting(connection, self.last_id)
        if not waiting:
            return True
        if self.limited and self.images + int(waiting) > DELTA_MAX:
            return False
        statement = select(feature.image_id, feature.data).where(after).order_by(feature.image_id)
        # The features a page at a time (about 40 kB an image: 200 MB for DELTA_MAX images,
        # and the images after the table's mark have no limit), each page let go once its
        # words are computed.
        read = [self.last_id, 0]  # the last image id read, and how many were

        def rows() -> Generator[tuple[int, bytes], None, None]:
            pages = driver_pages(connection, statement, _CATCH_UP_PAGE)
            with contextlib.closing(pages):  # its cursor closed, whatever stops the reading
                for page in pages:
                    yield from page
                    read[:] = [int(page[-1][0]), read[1] + len(page)]

        try:
            with contextlib.closing(rows()) as given:
                run = _posted_run(
                    given, skip_unreadable=self.skip_unreadable, posted=self.posted
                )
        except ValueError as error:
            # The table holds the words it posted; only the table can answer as it does.
            log.warning("%s; look-ups read the postings table", error)
            return False
        if not read[1]:
            return True
        self.last_id = max(self.last_id, read[0])
        self.images += read[1]
        self.runs.append(run)
        if len(self.runs) > _RUNS_MAX:
            self.runs = [_sorted_run([r.words for r in self.runs], [r.ids for r in self.runs])]
        return True


def _waiting(connection: Connection, after: int) -> int:
    """How many images stored features after image ``after``: asked at every look-up, by a
    statement compiled once for each driver (building and compiling it each time took most
    of the asking)."""
    key = (connection.dialect.name, connection.dialect.driver)
    statement = _WAITING.get(key)
    if statement is None:
        feature = m.Feature.__table__.c
        count = select(func.count()).where(feature.image_id > bindparam("after", 0))
        statement = _WAITING[key] = DriverStatement.compile(count, connection)
    return int(driver_rows(connection, statement, {"after": after})[0][0])


#: The statement of :func:`_waiting`, for each dialect and driver met.
_WAITING: dict[tuple[str, str], DriverStatement] = {}


# -- reading CURRENT ---------------------------------------------------------------------


def stamp_of(folder: Path) -> tuple[int, int] | None:
    """Which ``CURRENT`` the folder holds (its inode and change time), None if none."""
    try:
        status = (folder / _CURRENT).stat()
    except OSError:  # none, or something else in the folder's place: the table is read
        return None
    return status.st_ino, status.st_mtime_ns


def _read_cover(folder: Path) -> Cover | None:
    data = json.loads((folder / _CURRENT).read_text(encoding="utf-8"))
    if data.pop("format", None) != FORMAT or data.pop("rules", None) != WORD_RULES:
        return None
    cover = Cover(**data)
    if Path(cover.generation).name != cover.generation or not cover.generation:
        raise ValueError(f"generation {cover.generation!r} is not a folder name")
    return cover


# -- writing -------------------------------------------------------------------------------

#: Each array is written in whole blocks of this many bytes, each at a multiple of it in
#: the file (the last one short): where the kernel's page cache keeps file pages in large
#: folios (ext4 under Linux 6.18 here), a block-sized aligned write leaves the block
#: in one 2 MiB folio, which processes then map with one translation entry instead of 512.
#: A look-up reads some 5,000 rows scattered over 2 GB of mapped arrays at 10^5 images, each
#: in a page of its own; with 4 KiB pages nearly every row cost a page walk (docs/scale.md,
#: session 32). The arrays' bytes are the same either way; written in pieces of a few
#: hundred kB, 34-38 of the file's 2,008 MiB at 10^5 were mapped 2 MiB at a time.
_BLOCK: Final = 2 << 20


class _Blocks:
    """An array's file, written in whole :data:`_BLOCK`-byte blocks at multiples of it; what
    is written between two blocks waits in memory (less than a block)."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("wb", buffering=0)
        self.pending = bytearray()

    def write(self, data: bytes) -> None:
        view = memoryview(data).cast("B")
        if self.pending:
            taken = min(len(view), _BLOCK - len(self.pending))
            self.pending += view[:taken]
            view = view[taken:]
            if len(self.pending) < _BLOCK:
                return
            self._out(self.pending)
            self.pending.clear()
        whole = len(view) - len(view) % _BLOCK
        if whole:
            self._out(view[:whole])
        self.pending += view[whole:]

    def _out(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = self.file.write(view)
            view = view[written:]

    def finish(self) -> None:
        """Write what waits, sync the file to the disk and close it."""
        self._out(self.pending)
        self.pending.clear()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    def close(self) -> None:
        self.file.close()


class _Writer:
    """A new generation's arrays: the words' four (and their fence), appended to in word
    order, and the PDQ hashes' two (:meth:`add_pdq`)."""

    def __init__(self, place: Path) -> None:
        place.mkdir(parents=True)
        self.place = place
        self.files = {name: _Blocks(place / name) for name in _ALL_ARRAYS}
        self.words = 0
        self.postings = 0
        self.last_word = -1
        self.files["starts"].write(np.zeros(1, dtype=_ARRAYS["starts"]).tobytes())
        self.fence: list[npt.NDArray[Any]] = []

    def add(
        self,
        words: WordArray,
        counts: WordArray,
        lengths: npt.NDArray[np.int64],
        ids: npt.NDArray[Any],
    ) -> None:
        """Append rows (their words above every word written so far, in order) and their ids."""
        if not words.size:
            return
        if int(words[0]) <= self.last_word or np.any(np.diff(words) <= 0):
            raise ValueError("words out of order")
        ends = self.postings + np.cumsum(lengths)
        for name, values in (("words", words), ("counts", counts), ("starts", ends), ("ids", ids)):
            self.files[name].write(np.asarray(values, dtype=_ARRAYS[name]).tobytes())
        # A copy: the slice itself is a view that would keep the whole page of words it
        # was taken from alive until the generation is finished (the words of every page,
        # 895 MB of a 10^5 catalogue's file made anew, session 45).
        self.fence.append(np.array(words[-self.words % FENCE :: FENCE], dtype=_ARRAYS["fence"]))
        self.words += int(words.size)
        self.postings += int(lengths.sum())
        self.last_word = int(words[-1])

    def abandon(self) -> None:
        """Close the arrays and remove the generation, whatever failed: a disk that filled
        up fails the buffered writes again as they are closed, and the half generation (up
        to the whole file's size) must not be left to keep the disk full."""
        for handle in self.files.values():
            with contextlib.suppress(OSError):
                handle.close()  # closes the file even when its last write fails
        shutil.rmtree(self.place, ignore_errors=True)

    def add_pdq(self, rows: Iterable[tuple[int, str]]) -> None:
        """Write the PDQ arrays from ``(image id, hex hash)`` rows, in id order.

        Raises:
            ValueError: The rows are out of order, or a hash is not 64 hexadecimal digits
                (:class:`provcat.errors.DamagedCatalogue`, naming its image).
        """
        rows = iter(rows)
        last = 0
        while page := list(itertools.islice(rows, _PAGE)):
            owners = np.fromiter((row[0] for row in page), np.int64, len(page))
            if owners[0] <= last or np.any(np.diff(owners) <= 0):
                raise ValueError("PDQ hashes out of order")
            hashes = stored_pdq(page)
            self.files["pdq_ids"].write(owners.astype(_PDQ_ARRAYS["pdq_ids"]).tobytes())
            self.files["pdq"].write(hashes.tobytes())
            last = int(owners[-1])

    def finish(self) -> None:
        for part in self.fence:
            self.files["fence"].write(np.asarray(part, dtype=_ARRAYS["fence"]).tobytes())
        self.fence.clear()
        for handle in self.files.values():
            handle.finish()


@dataclass(frozen=True)
class Made:
    """What :func:`refresh` did: ``how`` is "made" (from the postings table), "merged" (the
    images since the last file added to it) or "current" (nothing to do)."""

    how: str
    cover: Cover
    seconds: float
    added: int


def refresh(
    database: Path,
    *,
    full: bool = False,
    at_least: int = 1,
    waiting: Callable[[], None] | None = None,
    writing: Callable[[str, int], None] | None = None,
) -> Made:
    """Bring the file of the SQLite catalogue at ``database`` up to date.

    Where a current file exists, the images stored since it are merged into a new generation
    (their words computed from their stored features, the old arrays read a slice at a
    time), :data:`MERGE_MOST` images a generation (more in rounds, each made current in
    turn: one killed leaves the rounds before it); with ``full``, without a file, or when
    those images are more than the file holds, the file is made anew from the postings
    table. Nothing is written while fewer than ``at_least`` images are outside the file.
    In SQLite's rollback journal a read transaction holds every other writer's commit until
    it ends: a merge reads in one :data:`_FEATURE_PAGE` images' features, a make a page of
    the table (:func:`_made_anew`). Another process refreshing at once waits for this one.

    For a caller that shows what it does (making the file of 10^5 images takes about two
    minutes, a merge into it a few seconds to a minute, and a second writer waits for the
    first all that time): ``waiting`` is called when another process is writing the file,
    before this one waits for it; ``writing`` is called before anything is written, with
    "made" or "merged" and the images the new file is made from or the images merged.

    Raises:
        sqlite3.Error: The catalogue cannot be read.
        OSError: The file cannot be written (the old one is then left as it was).
    """
    started = time.perf_counter()
    folder = folder_of(database)
    folder.mkdir(exist_ok=True)
    with _locked(folder, waiting), _reading(database) as con:
        _tidy(folder)
        old = None if full else _readable(folder, con)
        last = con.execute("SELECT max(id) FROM image").fetchone()
        last_id = int(last[0] or 0)
        images = int(con.execute("SELECT count(*) FROM image").fetchone()[0])
        after = old.cover.last_id if old is not None else 0
        added = int(
            con.execute("SELECT count(*) FROM feature WHERE image_id > ?", (after,)).fetchone()[0]
        )
        if old is not None and added < at_least:
            return Made("current", old.cover, time.perf_counter() - started, 0)
        into = old if old is not None and added <= max(old.cover.images, DELTA_MAX) else None
        how, added = ("merged", added) if into is not None else ("made", images)
        if writing is not None:
            writing(how, added)
        if into is None:
            cover = _made_anew(folder, database, con)
        # A merge holds the pairs of the images it adds (about 30 MB a thousand images): it
        # takes them MERGE_MOST at a time, each round a generation of its own.
        while into is not None:
            found = con.execute(
                "SELECT image_id FROM feature WHERE image_id > ? ORDER BY image_id"
                " LIMIT 1 OFFSET ?",
                (after, MERGE_MOST),
            ).fetchone()
            upto = last_id if found is None else int(found[0]) - 1
            # What a round reads, the images up to last_id and their features and hashes,
            # never changes: it is read a page to a read transaction, so that other
            # processes' writes commit meanwhile (a reader holds up their commits in
            # SQLite's rollback journal), and none is held while the old file is read.
            delta = _delta_pairs(con, after, upto, released=True)
            cover = _generation(folder, con, upto, partial(_merge, into, delta))
            del delta
            into = None if upto >= last_id else WordFile(folder, cover)
            after = upto
    return Made(how, cover, time.perf_counter() - started, added)


def _generation(
    folder: Path, con: sqlite3.Connection, last_id: int, fill: Callable[[_Writer], None]
) -> Cover:
    """Write a generation covering the images up to ``last_id`` (its words by ``fill``, then
    the PDQ hashes of those images) and make it the current one. The read transaction
    ``con`` is in is ended once the catalogue has been read (the rows of images up to
    ``last_id`` never change), and a new one begun, before the generation is synced."""
    generation = f"g{time.time_ns():x}-{os.getpid()}"
    writer = _Writer(folder / generation)
    try:
        fill(writer)
        writer.add_pdq(
            con.execute(
                "SELECT image_id, value FROM fingerprint WHERE algorithm = 'pdq'"
                " AND image_id <= ? ORDER BY image_id",
                (last_id,),
            )
        )
        last = con.execute(
            "SELECT id, sha256 FROM image WHERE id <= ? ORDER BY id DESC LIMIT 1", (last_id,)
        ).fetchone()
        images = con.execute("SELECT count(*) FROM image WHERE id <= ?", (last_id,)).fetchone()
        con.execute("COMMIT")
        con.execute("BEGIN")
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    cover = Cover(
        generation=generation,
        last_id=last_id,
        images=int(images[0]),
        last_sha256=None if last is None else str(last[1]),
        words=writer.words,
        postings=writer.postings,
        made_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    _publish(folder, cover)
    return cover


class _TableMoved(Exception):
    """The postings table changed between two pages of a make (its mark moved)."""


def _made_anew(folder: Path, database: Path, con: sqlite3.Connection) -> Cover:
    """A generation made from the postings table, read on ``con`` (a read-only connection in
    a read transaction, which this ends).

    Making the file of a large catalogue takes minutes (about two at 10^5 images), and in
    SQLite's rollback journal a reader holds every other writer's commit until its read
    transaction ends: an ingest's commits, and the look-ups that start while such a writer
    waits. So the table is read a page (:data:`_PAGE` rows) to a read transaction, and
    writers commit between pages. That is exact only while the table does not change:
    posting waits meanwhile (:func:`being_made`, after the postings under way have
    committed: :func:`_posters_done`); every other table in the file's making is read up to
    the image id it covers, and on SQLite those rows never change. A make that finds the
    table changed all the same (its mark moved: a process that does not wait, an older
    provcat) is begun again in one read transaction, as every make was before.
    """
    con.execute("COMMIT")  # nothing held while the postings under way commit
    with _posting_held(folder, database) as still:
        con.execute("BEGIN")
        if still:
            try:
                return _generation(
                    folder, con, _last_id(con), partial(_copy_table, con, paged=True)
                )
            except _TableMoved:
                log.warning(
                    "the postings table changed while %s was made from it a page at a time; "
                    "made again in one read transaction",
                    folder,
                )
                con.execute("ROLLBACK")
                con.execute("BEGIN")
        return _generation(folder, con, _last_id(con), partial(_copy_table, con))


def _last_id(con: sqlite3.Connection) -> int:
    return int(con.execute("SELECT max(id) FROM image").fetchone()[0] or 0)


@contextlib.contextmanager
def _posting_held(folder: Path, database: Path) -> Iterator[bool]:
    """Hold :data:`_MAKING` (new postings wait while it is held), then wait for the postings
    under way to commit; True when the table then stands still, False where that cannot be
    had (no advisory locks, or the catalogue cannot be written to wait on its writers)."""
    try:
        import fcntl  # noqa: F401 - without advisory locks nothing holds posting back
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    with _locked(folder, lock=_MAKING):
        yield _posters_done(database)


def _posters_done(database: Path) -> bool:
    """Wait for the catalogue's write transaction under way, if any, to end: a posting that
    began before :data:`_MAKING` was held did not see it (:func:`being_made` is asked with
    the write lock held). False if the write lock cannot be had (a catalogue on a read-only
    disk, or a writer holding it past the busy timeout)."""
    try:
        con = sqlite3.connect(
            database.resolve().as_uri() + "?mode=rw", uri=True, timeout=30, isolation_level=None
        )
    except sqlite3.Error as error:
        log.info("the postings under way were not waited for (%s)", error)
        return False
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return True
    except sqlite3.Error as error:
        log.info("the postings under way were not waited for (%s)", error)
        return False
    finally:
        con.close()


def being_made(connection: Connection) -> bool:
    """Whether another process is making this catalogue's file anew from its postings table
    (:func:`_made_anew`): posting then leaves its images' words for later
    (:func:`provcat.reuse.postings.post_pending`), as look-ups compute them meanwhile. Asked
    with the catalogue's write lock held."""
    folder = location(connection)
    return folder is not None and _held(folder / _MAKING)


def _held(lock: Path) -> bool:
    """Whether another process holds the advisory lock of the file ``lock`` exclusively
    (False where there is no such file, or no advisory locks)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        handle = os.open(lock, os.O_RDONLY)
    except OSError:
        return False  # nobody ever took it
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)  # which lets go of the lock, if it was taken
    return False


@contextlib.contextmanager
def _reading(database: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the catalogue, in one read transaction."""
    uri = database.resolve().as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
    try:
        con.execute("BEGIN")
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def _locked(
    folder: Path, waiting: Callable[[], None] | None = None, *, lock: str = _LOCK
) -> Iterator[None]:
    """Hold the folder's writers' lock (or its ``lock``: an advisory lock where the system
    has them); ``waiting`` is called first when another holds it."""
    with (folder / lock).open("a+b") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _mapped(path: Path, size: int) -> npt.NDArray[Any]:
    dtype = np.dtype(_ALL_ARRAYS[path.name])
    if path.stat().st_size != size * dtype.itemsize:
        raise ValueError(f"{path} is {path.stat().st_size} bytes, expected {size * dtype.itemsize}")
    if not size:
        return np.zeros(0, dtype=dtype)
    # A plain array over the mapping: indexing a memmap goes through its Python subclass.
    return np.memmap(path, dtype=dtype, mode="r", shape=(size,)).view(np.ndarray)


def _current(folder: Path, sha_at: Callable[[int], str | None]) -> WordFile | str | None:
    """The folder's current generation (None if there is none), or why it is not this
    catalogue's; ``sha_at`` gives the SHA-256 of the image with an id, None if none has it."""
    if stamp_of(folder) is None:
        return None
    cover = _read_cover(folder)
    if cover is None:
        return "made by another version of provcat"
    if cover.last_id and sha_at(cover.last_id) != cover.last_sha256:
        return f"made from another catalogue (image {cover.last_id} differs)"
    return WordFile(folder, cover)


def _readable(folder: Path, con: sqlite3.Connection) -> WordFile | None:
    """The current generation if it can be merged into, else None (it is made anew)."""

    def sha_at(image_id: int) -> str | None:
        row = con.execute("SELECT sha256 FROM image WHERE id = ?", (image_id,)).fetchone()
        return None if row is None else str(row[0])

    try:
        found = _current(folder, sha_at)
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("%s cannot be read (%s); it is made anew", folder, error)
        return None
    return found if isinstance(found, WordFile) else None


def _copy_table(con: sqlite3.Connection, writer: _Writer, *, paged: bool = False) -> None:
    """Every row of the postings table, in word order (its primary key's), with the words it
    does not hold added (:class:`provcat.reuse.postings.Posted`: the images stored after its
    mark, less what a posting under way has posted), computed from their stored features;
    with ``paged``, a page of rows to a read transaction (:func:`_table_pages`)."""
    mark = _mark(con)
    pending = _pending_pairs(con, mark)
    taken = 0
    for rows in _table_pages(con, mark if paged else None):
        words = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        counts = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        blobs = [r[2] or b"" for r in rows]
        lengths = np.fromiter(map(len, blobs), np.int64, len(rows)) // PACKED_ID.itemsize
        ids = np.frombuffer(b"".join(blobs), dtype=PACKED_ID)
        # The pending pairs up to this page's last word go with its rows.
        upto = int(np.searchsorted(pending.words, words[-1], side="right"))
        _merge_rows(
            words, counts, lengths, ids, pending.words[taken:upto], pending.ids[taken:upto], writer
        )
        taken = upto
    if taken < pending.words.size:
        none = np.zeros(0, dtype=np.int64)
        _merge_rows(none, none, none, none, pending.words[taken:], pending.ids[taken:], writer)


def _table_pages(
    con: sqlite3.Connection, mark: Posted | None
) -> Iterator[list[tuple[int, int, bytes | None]]]:
    """The postings table's rows in word order, :data:`_PAGE` at a time. Given its ``mark``
    (read in the read transaction ``con`` is in), each page is read in a read transaction of
    its own, ended before the page is given (so that other writers' commits go in while it
    is written), and :class:`_TableMoved` is raised where a page finds the mark moved;
    without, all of them in ``con``'s transaction. ``con`` is left in a read transaction."""
    if mark is None:
        cursor = con.execute("SELECT word, images, ids FROM word_posting ORDER BY word")
        while rows := cursor.fetchmany(_PAGE):
            yield rows
        return
    after = -(1 << 63)
    while True:
        rows = con.execute(
            "SELECT word, images, ids FROM word_posting WHERE word > ? ORDER BY word LIMIT ?",
            (after, _PAGE),
        ).fetchall()
        con.execute("COMMIT")
        con.execute("BEGIN")
        if not rows:
            return
        yield rows
        after = int(rows[-1][0])
        if _mark(con) != mark:
            raise _TableMoved


def _mark(con: sqlite3.Connection) -> Posted | None:
    """How far the postings table holds the images' words
    (:func:`provcat.reuse.postings.posting_state`)."""
    rows = con.execute(
        "SELECT key, value FROM catalogue_state WHERE key IN (?, ?, ?)", STATE_KEYS
    ).fetchall()
    return Posted.of({str(key): int(value) for key, value in rows})


def _pending_pairs(con: sqlite3.Connection, mark: Posted | None) -> Run:
    """The ``(word, image)`` pairs the postings table does not hold (``mark``: of the
    images after its mark, and only the words not posted yet of a posting under way),
    sorted (an image whose stored features cannot be read posts none, as when its words
    are posted); none without a mark."""
    if mark is None:
        return _sorted_run([], [])
    return _delta_pairs(con, mark.through, skip_unreadable=True, posted=mark)


def _delta_pairs(
    con: sqlite3.Connection,
    after: int,
    upto: int | None = None,
    *,
    skip_unreadable: bool = False,
    released: bool = False,
    posted: Posted | None = None,
) -> Run:
    """The ``(word, image)`` pairs the images after ``after`` (up to ``upto``) posted, sorted
    (:func:`_posted_run`). With ``released``, their features are read
    :data:`_FEATURE_PAGE` images to a read transaction, each ended before their words are
    computed (for images up to ``upto``, whose rows never change); ``con`` is left in a
    read transaction."""
    high = (1 << 62) if upto is None else upto
    rows = _feature_pages(con, after, high, released=released)
    return _posted_run(rows, skip_unreadable=skip_unreadable, posted=posted)


def _feature_pages(
    con: sqlite3.Connection, after: int, upto: int, *, released: bool
) -> Iterator[tuple[int, bytes]]:
    """The stored features of the images after ``after`` up to ``upto``,
    :data:`_FEATURE_PAGE` images at a time; with ``released``, each page's read transaction
    ended before its rows are given."""
    while True:
        rows = con.execute(
            "SELECT image_id, data FROM feature WHERE image_id > ? AND image_id <= ?"
            " ORDER BY image_id LIMIT ?",
            (after, upto, _FEATURE_PAGE),
        ).fetchall()
        if released:
            con.execute("COMMIT")
            con.execute("BEGIN")
        yield from rows
        if len(rows) < _FEATURE_PAGE:
            return
        after = int(rows[-1][0])


def _posted_run(
    rows: Iterable[tuple[int, bytes]],
    *,
    skip_unreadable: bool = False,
    posted: Posted | None = None,
) -> Run:
    """The ``(word, image)`` pairs these ``(image id, stored features)`` rows posted, sorted
    (with ``posted``, those the postings table does not hold). With ``skip_unreadable``, an
    image whose stored features cannot be read posts nothing (logged).

    Raises:
        ValueError: An image's stored features cannot be read (the message names it).
    """
    words: list[npt.NDArray[Any]] = []
    owners: list[npt.NDArray[Any] | int] = []
    for image_id, data in rows:
        try:
            found = stored_words(image_id, data)
        except ValueError as error:
            if not skip_unreadable:
                raise
            log.warning("%s; its words are not looked up", error)
            continue
        if posted is not None:
            found = posted.unposted(int(image_id), found)
        words.append(found.astype(np.int32))
        owners.append(int(image_id))
    return _sorted_run(words, owners)


def _merge(old: WordFile, delta: Run, writer: _Writer) -> None:
    """The old generation's rows with the delta's pairs added, a slice of words at a time."""
    total = old.words.size
    for begin in range(0, max(total, 1), _PAGE * 10):
        end = min(begin + _PAGE * 10, total)
        low = -1 if begin == 0 else int(old.words[begin])
        high = None if end >= total else int(old.words[end])
        d_from = 0 if begin == 0 else int(np.searchsorted(delta.words, low, side="left"))
        d_to = delta.words.size if high is None else int(np.searchsorted(delta.words, high))
        starts = np.asarray(old.starts[begin : end + 1], dtype=np.int64)
        _merge_rows(
            np.asarray(old.words[begin:end], dtype=np.int64),
            np.asarray(old.counts[begin:end], dtype=np.int64),
            np.diff(starts),
            np.asarray(old.ids[starts[0] : starts[-1]]),
            delta.words[d_from:d_to],
            delta.ids[d_from:d_to],
            writer,
        )


def _merge_rows(
    words: WordArray,
    counts: WordArray,
    lengths: npt.NDArray[np.int64],
    old_ids: npt.NDArray[Any],
    delta_words: npt.NDArray[np.int32],
    delta_ids: npt.NDArray[np.int32],
    writer: _Writer,
) -> None:
    """Write these rows (``words`` ascending, each's ``counts`` and its ``lengths`` of
    ``old_ids``) with the delta's pairs of their word range added (words the rows lack
    become rows of their own).

    The delta is small beside the file (at most as many images as the file holds, usually a
    thousand against 10^5), so its words and ids are inserted into the old arrays in place,
    in a few passes over them, rather than everything sorted again."""
    if not delta_words.size:
        writer.add(words, counts, lengths, old_ids)
        return
    counts = counts.copy()
    added, per_word = np.unique(delta_words, return_counts=True)
    at = np.searchsorted(words, added)
    known = np.zeros(added.size, dtype=bool)
    inside = at < words.size
    known[inside] = words[at[inside]] == added[inside]
    counts[at[known]] += per_word[known]
    # A word that passes KEPT_POSTINGS now loses the images it kept, as in the table.
    dropped = (counts > KEPT_POSTINGS) & (lengths > 0)
    kept_lengths = np.where(dropped, 0, lengths)
    kept_ids = old_ids[np.repeat(~dropped, lengths)] if dropped.any() else old_ids
    new = ~known
    union = np.insert(words, at[new], added[new])
    total = np.insert(counts, at[new], per_word[new])
    union_lengths = np.insert(kept_lengths, at[new], 0)
    # Each added word's images go after the images its word kept before (by id, as the
    # table appends them), unless the word is past KEPT_POSTINGS.
    place = np.searchsorted(union, added)
    taken = total[place] <= KEPT_POSTINGS
    ends = np.cumsum(union_lengths)
    pair_place = np.repeat(place, per_word)
    pairs = np.repeat(taken, per_word)
    ids = np.insert(kept_ids, ends[pair_place[pairs]], delta_ids[pairs])
    union_lengths[place[taken]] += per_word[taken]
    writer.add(union, total, union_lengths, ids)


def _publish(folder: Path, cover: Cover) -> None:
    """Make ``cover``'s generation the current one, atomically, and remove the others."""
    temporary = folder / f"{_CURRENT}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(cover.to_dict(), indent=1), encoding="utf-8")
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    temporary.replace(folder / _CURRENT)
    _tidy(folder)


def _tidy(folder: Path) -> None:
    """Remove every generation but the current one (what a killed writer left, and those
    replaced); a writer does this holding the lock. Readers that mapped a generation keep its
    pages until they let go of it (POSIX)."""
    try:
        cover = _read_cover(folder)
    except (OSError, ValueError, KeyError, TypeError):
        cover = None
    for other in folder.iterdir():
        if other.is_dir() and (cover is None or other.name != cover.generation):
            shutil.rmtree(other, ignore_errors=True)


def keep_up(connection: Connection, *, announce: Callable[[], None] | None = None) -> Made | None:
    """What an ingest does once its images are stored, before it matches them (so that its
    matching turns read the file) and again after: make the catalogue's file when it has
    none and holds :data:`MAKE_FROM` images or more, or merge into it when more than
    :data:`REFRESH_AFTER` images are outside it. None when nothing was to be done, or when
    another process is writing the file (this one does not wait for it: making the file of
    a large catalogue anew takes minutes; its look-ups read what is there); a file that
    cannot be written is logged and left (look-ups then read the table). ``announce`` is
    called before anything is written (a first file of a large catalogue takes a minute or
    two)."""
    folder = location(connection)
    if folder is None:
        return None
    has_file = stamp_of(folder) is not None
    if has_file:
        # A file this process cannot read is made anew below; one it can is merged into only
        # once enough is outside it.
        try:
            cover = _read_cover(folder)
        except (OSError, ValueError, KeyError, TypeError):
            cover = None
        if cover is not None:
            feature = m.Feature.__table__.c
            outside = connection.scalar(
                select(func.count()).where(feature.image_id > cover.last_id)
            )
            if int(outside or 0) <= REFRESH_AFTER:
                return None
    else:
        images = connection.scalar(select(func.count()).select_from(m.Image))
        if int(images or 0) < MAKE_FROM:
            return None
    if _held(folder / _LOCK):
        log.info("another process is writing the postings file %s; not waiting for it", folder)
        return None
    database = folder.with_name(folder.name.removesuffix(SUFFIX))
    log.info("bringing the postings file %s up to date", folder)
    if announce is not None:
        announce()
    try:
        made = refresh(database, at_least=REFRESH_AFTER + 1 if has_file else 1)
    except (OSError, sqlite3.Error, ValueError) as error:
        log.warning(
            "%s not brought up to date (%s); look-ups read the postings table", folder, error
        )
        return None
    return None if made.how == "current" else made

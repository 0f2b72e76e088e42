"""Visual-word postings: the candidate stage that lives in the catalogue database.

A stored image posts *words*: short keys cut from its ORB descriptors. A query collects the
stored images that posted its words, and the images with the most shared words are the
candidates that :func:`provcat.reuse.verify.verify` then checks. The postings live in one
table, ``word_posting`` (:class:`provcat.models.WordPosting`): a row per word, keyed by the
word, with its count of images and the ids of those images packed in one binary value. A
look-up reads one row per word it asks about, by primary key, on SQLite and PostgreSQL
alike: a shared catalogue's candidate stage grows with the database, not with any process's
memory, and nothing is loaded at start.

How words are made (no training; docs/scale.md has the measurements behind the figures):

- Bit sampling, the locality-sensitive hash for Hamming space. Table ``t`` of :data:`TABLES`
  takes :data:`BITS` bits of the 256-bit descriptor, at positions ``t, t + TABLES,
  t + 2 * TABLES, ...`` (ORB orders its tests by how informative they are, so every table gets
  its share of the best ones). Two descriptors of one corner in a copy differ in a few tens of
  bits; they then share a table's word with fair probability, and at least one of
  :data:`TABLES` words with good probability. Unrelated descriptors share a 24-bit word by
  chance once in 16.7 million.
- A word is ``table << BITS | key``: one 32-bit integer, unique across tables.
- A stored image posts the distinct words of :data:`POSTED_DESCRIPTORS` of its descriptors
  (evenly spaced over the keypoint list, which is spread over the picture); a query looks up
  the words of all its descriptors, and of its mirror image's.
- A word posted by many images (plain edges and smooth gradients look alike everywhere) says
  nothing about which image: words posted by more than :func:`stop_limit` images are left out
  of the count. A look-up reads the rows of its words and takes the images of the rarest of
  them, up to a budget: its work is bounded however large the catalogue.
- *Long words.* Stop words are not rare in a large catalogue: real photographs share their
  commonest patterns (among 21 real photographs, 28% of each one's posted words were posted
  by another of them), so as the catalogue grows, most of a photo's words become stop words,
  and a crop or a turn, which keeps a third of its original's words, is left with too few
  to rank it. A stored image therefore also posts, for each sampled descriptor, a long word
  in each table: :data:`LONG_BITS` bits (the short word's and more), hashed to
  :data:`LONG_KEY_BITS` bits. A look-up asks for the long word of a descriptor only where its
  short word turned out to be a stop word: a pattern common at 24 bits is mostly rare at 40,
  and where no word is a stop word (any catalogue of a few thousand images) look-ups are
  what they were without long words.
- No look-up reads the images of a word posted by more than :data:`STOP_MAX` images, so a
  word's images are kept only up to :data:`KEPT_POSTINGS` of them; past that only its count
  grows. Each image a word gains appends 4 bytes to its row, in one upsert, so writers
  never read a row to update it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Integer,
    LargeBinary,
    any_,
    bindparam,
    case,
    cast,
    create_engine,
    delete,
    event,
    func,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.db import (
    SQLITE_CACHE_KIB,
    DriverStatement,
    driver_rows,
    execute_many,
    lock_for_writing,
    retrying,
)
from provcat.reuse import compiled

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from provcat.reuse.word_file import Delta, WordFile

#: Hash tables (words per descriptor).
TABLES: Final = 4
#: Bits per word.
BITS: Final = 24
#: Bits per long word (see the module's docstring): the word's own and the next of its table.
LONG_BITS: Final = 40
#: Long words are numbered from LONG_BASE (above every short word), each table's in a range
#: of 2 ** LONG_KEY_BITS: a long word is its LONG_BITS bits hashed to LONG_KEY_BITS. Every word
#: fits a signed 32-bit integer.
LONG_BASE: Final = 1 << 30
LONG_KEY_BITS: Final = 28
#: Descriptors per stored image whose words are posted.
POSTED_DESCRIPTORS: Final = 256
#: A word posted by more than STOP_SHARE of all images (and by more than STOP_MIN) is a stop
#: word; STOP_MAX bounds the postings one word may bring to a look-up in a large catalogue.
#: STOP_MIN is well above the number of copies one photo plausibly has: the words of a photo
#: published fifty times over must still find its next copy.
STOP_SHARE: Final = 0.01
STOP_MIN: Final = 50
STOP_MAX: Final = 200
#: Candidates share at least this many words with the query (counting a query's mirror apart).
MIN_SHARED: Final = 2
#: Postings a look-up reads at most, the rarest words' first. On 777 edited copies of real
#: photos among 10^5 stored images (synthetic distractors), the original was among the top 20
#: for 0.871 of copies with 50,000, 0.898 with 100,000, and 0.916 with 200,000 or with no
#: budget; at 10^4, 0.964 with 40,000 and 0.968 with none (docs/scale.md). Reading a word's
#: images costs one row however many they are, so the budget is set where recall stops rising.
POSTINGS_BUDGET: Final = 200_000

#: A word's images are kept while at most this many images post it (see stop_limit).
KEPT_POSTINGS: Final = STOP_MAX
#: How an image id is packed in a word's images: 4 bytes, little-endian.
PACKED_ID: Final = np.dtype("<i4")
#: Queries one look-up counts at most (each row holds a bit per query, :func:`_rank`).
QUERIES_MAX: Final = 62
#: Ids a look-up ranks with a table rather than a sort, whatever its postings (see _distinct).
_TABLE_MIN: Final = 1 << 20
#: A look-up counts its postings by image id, with no renumbering, while the largest id is at
#: most this many times the postings (see _slots).
_DIRECT_SPAN: Final = 4

ByteMatrix = npt.NDArray[np.uint8]
WordArray = npt.NDArray[np.int64]
#: Words as a transaction holds them before posting them (:class:`NewWords`: 32-bit).
AnyWords = npt.NDArray[np.int64] | npt.NDArray[np.int32]

#: Bit positions (into np.unpackbits order) of each table's long key, least significant
#: first; a short key is the first BITS of them.
_POSITIONS: Final = np.array(
    [[t + TABLES * j for j in range(LONG_BITS)] for t in range(TABLES)], dtype=np.intp
)
#: Each key bit's value, as floats: a key is their sum by one matrix product (BLAS's; NumPy
#: has no fast integer one), exact since every partial sum is an integer below 2 ** 53.
_WEIGHTS: Final = np.ldexp(1.0, np.arange(LONG_BITS))
#: Fibonacci hashing: a long key times this (modulo 2 ** 64), its top LONG_KEY_BITS bits.
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_TABLES: Final = np.arange(TABLES, dtype=np.int64)


def word_pairs(descriptors: ByteMatrix) -> tuple[WordArray, WordArray]:
    """Each descriptor's short and long word in each table: two ``(N, TABLES)`` arrays."""
    if descriptors.shape[0] == 0:
        empty = np.zeros((0, TABLES), dtype=np.int64)
        return empty, empty
    if compiled.active:
        return compiled.word_pairs(
            descriptors,
            tables=TABLES,
            bits=BITS,
            long_bits=LONG_BITS,
            long_key_bits=LONG_KEY_BITS,
            long_base=LONG_BASE,
            golden=int(_GOLDEN),
        )
    bits = np.unpackbits(np.ascontiguousarray(descriptors, dtype=np.uint8), axis=1)
    chosen = bits[:, _POSITIONS].astype(np.float64)  # (N, TABLES, LONG_BITS)
    keys = (chosen @ _WEIGHTS).astype(np.int64)  # a short key is a long key's low BITS bits
    short = (keys & ((1 << BITS) - 1)) + (_TABLES << BITS)
    hashed = keys.astype(np.uint64) * _GOLDEN >> np.uint64(64 - LONG_KEY_BITS)
    long = hashed.astype(np.int64) + LONG_BASE + (_TABLES << LONG_KEY_BITS)
    return short, long


def words(descriptors: ByteMatrix) -> WordArray:
    """The distinct (short) words of these descriptors (``(N, 32)`` uint8), sorted."""
    return _distinct_sorted(word_pairs(descriptors)[0])


def long_words(descriptors: ByteMatrix) -> WordArray:
    """The distinct long words of these descriptors, sorted."""
    return _distinct_sorted(word_pairs(descriptors)[1])


def posted(descriptors: ByteMatrix) -> WordArray:
    """The words a stored image posts: the short and long words of an even sample of its
    descriptors."""
    return _distinct_sorted(np.concatenate(word_pairs(sample(descriptors, POSTED_DESCRIPTORS))))


def sample(descriptors: ByteMatrix, limit: int) -> ByteMatrix:
    """At most ``limit`` rows, evenly spaced, so that the sample spans every grid cell."""
    count = descriptors.shape[0]
    if count <= limit:
        return descriptors
    rows = np.linspace(0, count - 1, limit).round().astype(np.int64)
    return descriptors[rows]


def posting_rows(image_id: int, descriptors: ByteMatrix) -> list[dict[str, int]]:
    """The ``(word, image_id)`` rows one stored image posted before long words (for
    migration 0004, whose table kept a row per posting)."""
    return [
        {"word": int(w), "image_id": image_id}
        for w in words(sample(descriptors, POSTED_DESCRIPTORS))
    ]


def post(session: Session, images: Iterable[tuple[int, ByteMatrix]]) -> None:
    """Store the words these images post: each word's count grows by the images posting it,
    and their ids are appended to its images (while it keeps them, :data:`KEPT_POSTINGS`).

    The words are upserted in word order (one statement on PostgreSQL, one executemany on
    SQLite), so that two writers posting overlapping words take the row locks in one order
    and never deadlock; the ids are appended by the database (``||``), so concurrent writers
    never lose each other's.

    Args:
        session: On the catalogue; nothing is committed.
        images: ``(image_id, descriptors)`` of each image; each posts its short and long
            words (:func:`posted`).
    """
    post_words(session.connection(), [(i, posted(d)) for i, d in images])


def post_words(connection: Connection, each: Sequence[tuple[int, AnyWords]]) -> None:
    """Store these ``(image_id, words)``: what :func:`post` does once it has the words (and
    migration 0007, which posted the long words of images stored before them).

    The words are posted a range at a time, in word order, about :data:`_POST_RANGE`
    postings each (the ranges cut at quantiles of a sample of the words): the row locks are
    still taken in one order, so writers never deadlock, and the sorting's arrays (about 30
    bytes a posting) are bounded however many images are posted at once.
    """
    each = [(image_id, _sorted(found)) for image_id, found in each if found.size]
    if not each:
        return
    total = sum(found.size for _, found in each)
    if total <= _POST_RANGE:
        _post_range(connection, each)
        return
    sample = np.sort(np.concatenate([found[::_RANGE_SAMPLE] for _, found in each]))
    cuts = np.unique(
        sample[np.linspace(0, sample.size, -(-total // _POST_RANGE) + 1)[1:-1].astype(int)]
    )
    low = None
    for high in [*cuts.tolist(), None]:
        part = []
        for image_id, found in each:
            begin = 0 if low is None else int(np.searchsorted(found, low))
            end = found.size if high is None else int(np.searchsorted(found, high))
            if end > begin:
                part.append((image_id, found[begin:end]))
        if part:
            _post_range(connection, part)
        low = high


def _sorted(found: AnyWords) -> AnyWords:
    """``found`` in order (itself when it is, as :func:`posted` gives it: no copy)."""
    if bool(np.all(found[1:] >= found[:-1])):
        return found
    ordered = found.copy()
    ordered.sort()
    return ordered


def _post_range(connection: Connection, each: list[tuple[int, AnyWords]]) -> None:
    """:func:`post_words` of one range of words (``each`` image's words in it, sorted)."""
    posted_words = np.concatenate([found for _, found in each])
    owners = np.repeat(
        np.array([image_id for image_id, _ in each], dtype=PACKED_ID),
        [found.size for _, found in each],
    )
    order = np.lexsort((owners, posted_words))
    posted_words, owners = posted_words[order], owners[order]
    del order
    unique, first, counts = np.unique(posted_words, return_index=True, return_counts=True)
    # Each word's images are a run of the owners, in order: slices of one packed buffer.
    packed = pack(owners)
    size = PACKED_ID.itemsize
    # A slice of the words at a time, in word order (the row locks are still taken in one
    # order, so writers never deadlock): a thousand images' 2.3 million rows as Python
    # tuples would take about 350 MB at once, and on PostgreSQL a manifest of 1,600 pictures
    # posted in one statement took the ingesting process to 765 MB (332 MB for 400).
    for begin in range(0, unique.size, _UPSERT_ROWS):
        end = min(begin + _UPSERT_ROWS, unique.size)
        low, high = int(first[begin]), int(first[end - 1] + counts[end - 1])
        part = (unique[begin:end], first[begin:end] - low, counts[begin:end])
        if connection.dialect.name == "postgresql":
            _post_slice_postgresql(connection, *part, packed[size * low : size * high])
        else:
            _post_slice_sqlite(connection, *part, packed[size * low : size * high])


def _post_slice_postgresql(
    connection: Connection, unique: AnyWords, first: WordArray, counts: WordArray, packed: bytes
) -> None:
    """Upsert these words (each ``counts`` images, whose ids start at ``first`` in
    ``packed``) in one statement, its rows unnested from arrays in word order, each word's
    ids cut from the one packed buffer: a pipelined executemany cost psycopg about 70
    microseconds of Python per row, and an array of bytea values escaping each of them in text
    about 15, most of the storing phase on PostgreSQL."""
    size = PACKED_ID.itemsize
    kept = counts <= KEPT_POSTINGS
    given = func.unnest(
        bindparam("words", unique.tolist(), type_=ARRAY(Integer)),
        bindparam("images", counts.tolist(), type_=ARRAY(Integer)),
        bindparam("starts", (size * first + 1).tolist(), type_=ARRAY(Integer)),
        bindparam(
            "lengths",
            [int(n) if keep else None for n, keep in zip(size * counts, kept, strict=True)],
            type_=ARRAY(Integer),
        ),
    ).table_valued("word", "images", "start", "length", with_ordinality="position")
    given = given.render_derived("given")
    buffer = bindparam("packed", packed, type_=LargeBinary)
    ids = func.substr(buffer, given.c.start, given.c.length)
    upsert: Any = pg_insert(m.WordPosting).from_select(
        ["word", "images", "ids"],
        select(given.c.word, given.c.images, ids).order_by(given.c.position),
    )
    connection.execute(_appending(upsert))


def _post_slice_sqlite(
    connection: Connection, unique: AnyWords, first: WordArray, counts: WordArray, packed: bytes
) -> None:
    """Upsert these words (as :func:`_post_slice_postgresql`) through the driver's
    executemany: SQLAlchemy's (Core or ORM) processed every row's parameters one by one, most
    of the time an image's postings took."""
    size = PACKED_ID.itemsize
    rows = [
        (word, count, packed[size * at : size * (at + count)] if keep else None)
        for word, at, count, keep in zip(
            unique.tolist(),
            first.tolist(),
            counts.tolist(),
            (counts <= KEPT_POSTINGS).tolist(),
            strict=True,
        )
    ]
    execute_many(
        connection, _appending(sqlite_insert(m.WordPosting)), ("word", "images", "ids"), rows
    )


#: Words :func:`post_words` upserts in one statement (SQLite: one executemany).
_UPSERT_ROWS: Final = 100_000
#: Postings :func:`post_words` sorts and sends at once (about 90 bytes each at the peak).
_POST_RANGE: Final = 500_000
#: One word in this many of each image's goes into the sample that cuts the ranges.
_RANGE_SAMPLE: Final = 16


# -- posting a SQLite catalogue's images after they are stored --------------------------------

#: A SQLite ingest posts the words of the images stored after the mark once this many wait
#: (:func:`post_pending`), and when it has stored them all unless look-ups read a postings
#: file (provcat.reuse.word_file), whose delta computes their words from their features. At
#: 10^5 images a word's row is on a page of its own: posting 1,000 images' words in one
#: transaction, sorted, took 16-17 ms an image, 80 images' 47 ms, against 57-59 ms an image in
#: batches of 16 (docs/scale.md).
POST_AFTER: Final = 1_000
#: Images posted in one transaction at most: what killed ingests left is posted in parts.
#: Their words are held (about 15 kB an image, 30 MB) and sorted and sent a range at a time
#: (:data:`_POST_RANGE`): posting 1,600 images' words at once took an ingest from 136 to
#: 444 MB when they were sorted together, 213 MB a range at a time (docs/ingest.md).
POST_MOST: Final = 2_000
#: Stored features read at a time while posting.
_POST_PAGE: Final = 250


class NewWords:
    """The words of the images one transaction stores, for it to post before it commits
    (:meth:`post_or_leave`): now (PostgreSQL, or a catalogue without a mark), as one upsert in
    word order, or later (a SQLite catalogue with a mark: :func:`post_pending` computes them
    from the stored features), in which case the images are only counted.

    Words are kept, 32-bit, not descriptors: about 7.5 kB an image at 1,000 keypoints against
    32 kB, and nothing at all where they wait for the mark, so a large manifest's transaction
    holds no descriptors.
    """

    def __init__(self, session: Session) -> None:
        self._now = posted_through(session.connection()) is None
        self._words: list[tuple[int, AnyWords]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, image_id: int, descriptors: ByteMatrix) -> None:
        """An image just stored, and its descriptors."""
        self._count += 1
        if self._now:
            # Every word is below 2**31 (the column is 32-bit on PostgreSQL): half the bytes.
            self._words.append((image_id, posted(descriptors).astype(np.int32)))

    def post_or_leave(self, session: Session) -> int:
        """Post what is to be posted now; returns how many images were left for later."""
        if self._now:
            post_words(session.connection(), self._words)
            self._words = []
            return 0
        return self._count


def post_or_leave(session: Session, images: list[tuple[int, ByteMatrix]]) -> int:
    """The words of these images, just stored in ``session``: posted now (PostgreSQL, or a
    catalogue without a mark), or left for :func:`post_pending` (a SQLite catalogue with a
    mark). Returns how many images were left."""
    words = NewWords(session)
    for image_id, descriptors in images:
        words.add(image_id, descriptors)
    return words.post_or_leave(session)


def stored_words(image_id: int, data: bytes) -> WordArray:
    """The words (:func:`posted`) of an image's stored features (``feature.data``).

    Raises:
        ValueError: They cannot be read (the message names the image).
    """
    from provcat.reuse.features import Features

    try:
        return posted(Features.from_bytes(bytes(data)).descriptors)
    except ValueError as error:
        raise ValueError(
            f"the stored features of image {image_id} cannot be read ({error})"
        ) from error


#: The ``catalogue_state`` row of a SQLite catalogue's mark (:func:`posted_through`).
POSTED_THROUGH: Final = "words_posted_through"
#: The ``catalogue_state`` rows of a posting under way a range of words at a time (since
#: revision 0014): the last image it posts, and the first word it has not posted yet
#: (:class:`Posted`). Absent while none is under way.
POSTING_UPTO: Final = "words_posting_upto"
POSTING_BELOW: Final = "words_posting_below"
#: The rows :class:`Posted` is read from.
STATE_KEYS: Final = (POSTED_THROUGH, POSTING_UPTO, POSTING_BELOW)


@dataclass(frozen=True)
class Posted:
    """How far a SQLite catalogue's postings table holds its images' words: every word of
    the images up to ``through``; of the images after it up to ``upto``, the words below
    ``below`` (a posting under way, committed a range of words at a time:
    :func:`post_all_pending`); none of the images after ``upto``. With no posting under
    way, ``upto`` is ``through``."""

    through: int
    upto: int
    below: int = 0

    @classmethod
    def of(cls, values: Mapping[str, int]) -> Posted | None:
        """From the catalogue's :data:`STATE_KEYS` rows (key to value); None without a mark
        (PostgreSQL, and SQLite catalogues before revision 0010)."""
        if POSTED_THROUGH not in values:
            return None
        through = int(values[POSTED_THROUGH])
        upto = int(values.get(POSTING_UPTO, through))
        if upto <= through:
            return cls(through, through)
        return cls(through, upto, int(values[POSTING_BELOW]))

    @property
    def under_way(self) -> bool:
        """Whether a posting has posted some of its words and not the rest."""
        return self.upto > self.through

    def unposted(self, image_id: int, found: WordArray) -> WordArray:
        """Those of an image's words (sorted, as :func:`posted` gives them) the table does
        not hold."""
        if image_id <= self.through:
            return found[:0]
        if image_id <= self.upto:
            return found[int(np.searchsorted(found, self.below)) :]
        return found


def posting_state(connection: Connection) -> Posted | None:
    """How far the postings table holds the images' words (:class:`Posted`): None on
    PostgreSQL, and where there is no mark (every stored image's words are in the table)."""
    if connection.dialect.name != "sqlite":
        return None
    state = m.CatalogueState.__table__.c
    rows = driver_rows(connection, select(state.key, state.value).where(state.key.in_(STATE_KEYS)))
    return Posted.of({str(key): int(value) for key, value in rows})


def posted_through(connection: Connection) -> int | None:
    """Every image up to this id has its words in the postings table (:class:`Posted`'s
    ``through``; the ``words_posted_through`` row of
    :class:`provcat.models.CatalogueState`, a SQLite catalogue's); None on PostgreSQL, and
    where there is no mark: every stored image's words are then in the table."""
    found = posting_state(connection)
    return None if found is None else found.through


def _set_state(connection: Connection, posted: Posted) -> None:
    """Record ``posted`` in the catalogue's rows (:data:`STATE_KEYS`)."""
    state = m.CatalogueState
    connection.execute(
        update(state).where(state.key == POSTED_THROUGH).values(value=posted.through)
    )
    under_way = [(POSTING_UPTO, posted.upto), (POSTING_BELOW, posted.below)]
    if posted.under_way:
        upsert = sqlite_insert(state)
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=[state.key], set_={"value": upsert.excluded.value}
            ),
            [{"key": key, "value": value} for key, value in under_way],
        )
    else:
        connection.execute(delete(state).where(state.key.in_([key for key, _ in under_way])))


def waiting_words(connection: Connection) -> int:
    """How many images with stored features are after the mark (:func:`posted_through`):
    their words are not in the postings table yet, or not all of them. 0 where there is no
    mark."""
    after = posted_through(connection)
    if after is None:
        return 0
    feature = m.Feature.__table__.c
    count = select(func.count()).where(feature.image_id > after)
    return int(driver_rows(connection, count)[0][0])


def post_pending(connection: Connection, *, most: int | None = POST_MOST) -> int:
    """Post the words of the images stored after the mark (up to ``most`` of them, the
    oldest; None: all), and move the mark past them, in the caller's transaction (the
    caller commits). Returns how many images were posted (0 on PostgreSQL and without a
    mark: nothing waits there). A posting that :func:`post_all_pending` left under way (a
    process killed between its ranges) is finished first, its images counted.

    Takes the catalogue's write lock first (:func:`provcat.db.lock_for_writing`), so that two
    processes posting at once post each image once: the second finds the mark moved.
    The words are those of :func:`posted`, computed from the images' stored features (an
    image whose features cannot be read posts none: :func:`post_after`), every word's images
    appended in one upsert sorted by word. Nothing is posted while another process makes the
    catalogue's postings file anew from the table, a page at a time
    (:func:`provcat.reuse.word_file.being_made`): the images wait for a later posting, and
    look-ups compute their words meanwhile.
    """
    state = _locked_state(connection)
    if state is None:
        return 0
    posted_ids = finish_under_way(connection, state)
    if most is not None:
        most = max(most - posted_ids, 0)
    if most is None or most > 0:
        more, last = post_after(connection, state.upto, most=most)
        if more:
            _set_state(connection, Posted(last, last))
        posted_ids += more
    return posted_ids


def finish_under_way(connection: Connection, state: Posted | None = None) -> int:
    """Post the words a posting under way has not posted yet (``state``, read if not given:
    :class:`Posted`) and move the mark past its images, in the caller's transaction (which
    holds the write lock); returns how many images it posts (0 if none is under way)."""
    if state is None:
        state = posting_state(connection)
    if state is None or not state.under_way:
        return 0
    each, _ = _words_after(connection, state.through, upto=state.upto)
    post_words(connection, [(image_id, state.unposted(image_id, w)) for image_id, w in each])
    _set_state(connection, Posted(state.upto, state.upto))
    return len(each)


def _locked_state(connection: Connection) -> Posted | None:
    """The catalogue's :class:`Posted`, read with its write lock held; None where nothing
    is to be posted (PostgreSQL, no mark, or a make of the postings file under way)."""
    from provcat.reuse.word_file import being_made

    if posted_through(connection) is None:
        return None
    driver = connection.connection.driver_connection
    if not getattr(driver, "in_transaction", False):
        # A transaction that has written already holds the write lock.
        lock_for_writing(connection)
    if being_made(connection):
        log.info("the postings file is being made from the postings table: posting waits")
        return None
    return posting_state(connection)


#: A posting of many images' words (:func:`post_all_pending`) commits at most this many
#: distinct words at a time, in word order. Each word's row lies on one leaf page of the
#: table, so a transaction changes at most about this many pages: half the connection's 64
#: MiB page cache of 4 kB pages (provcat.db.SQLITE_CACHE_KIB). Past the cache SQLite spills
#: the changed pages to the file, taking its exclusive lock until the commit: at 10^5 images
#: a thousand images' words in one transaction held every reader 16-21 s (docs/scale.md).
#: The ranges follow the table's order, so its pages are each written about once however
#: many transactions there are.
RANGE_WORDS: Final = 8_192
#: A posting into a catalogue file smaller than this commits its words at once: the pages
#: it can change fit in half the page cache, so it cannot spill.
_SPILL_BYTES: Final = SQLITE_CACHE_KIB * 1024 // 2


def _spills(connection: Connection) -> bool:
    """Whether a posting into this SQLite catalogue may change more pages than its page
    cache holds (the catalogue file is larger than :data:`_SPILL_BYTES`)."""
    pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    return int(pages) * int(size) > _SPILL_BYTES


class _Batch:
    """The words of the images one posting posts (:func:`post_all_pending`), computed once
    and posted a range at a time over several transactions."""

    def __init__(self) -> None:
        self.span = (0, 0)
        self.each: list[tuple[int, WordArray]] = []
        self.distinct: WordArray = np.zeros(0, dtype=np.int64)
        self.begun = False

    def hold(
        self, through: int, upto: int, each: list[tuple[int, WordArray]], *, begun: bool
    ) -> None:
        """Hold the words of the posting of the images after ``through`` up to ``upto``
        (``begun`` here, or taken up)."""
        self.span = (through, upto)
        self.begun = begun
        self.each = each
        found = [w for _, w in each if w.size]
        self.distinct = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)

    def end_of_range(self, below: int, *, whole: bool = False) -> int | None:
        """The first word after the range that begins at ``below`` (None: the last range;
        with ``whole``, one range to the last)."""
        if whole:
            return None
        end = self.words_below(below) + RANGE_WORDS
        return None if end >= self.distinct.size else int(self.distinct[end])

    def words_below(self, word: int) -> int:
        """How many of the posting's distinct words are below ``word``."""
        return int(np.searchsorted(self.distinct, word))

    def between(self, low: int, high: int | None) -> list[tuple[int, WordArray]]:
        """Each image's words from ``low`` up to ``high`` (None: to the last)."""
        part = []
        for image_id, found in self.each:
            begin = int(np.searchsorted(found, low))
            end = found.size if high is None else int(np.searchsorted(found, high))
            part.append((image_id, found[begin:end]))
        return part


def post_all_pending(
    sessions: Callable[[], Session], *, told: Callable[[int, int], None] | None = None
) -> int:
    """Post the words of every image stored after the mark, up to :data:`POST_MOST` images
    a posting, each posting's words committed :data:`RANGE_WORDS` distinct words at a time
    in word order (each transaction run again if it lost a race with another writer), until
    no image waits; returns how many images were posted.

    Between two ranges the table holds the lower words of the posting's images
    (:class:`Posted`), which every reader of the table allows for; a posting left so (a
    process killed between them) is taken up where it stopped, by this or any other
    process. Nothing is posted while the postings file is made anew
    (:func:`provcat.reuse.word_file.being_made`). ``told(range, ranges)`` after each
    range."""
    total = 0
    batch = _Batch()
    while True:
        step = retrying(functools.partial(_post_next_range, sessions, batch))
        if step is None:
            return total
        if told is not None:
            ranges = max(-(-batch.distinct.size // RANGE_WORDS), 1)
            done = batch.distinct.size if step.high is None else batch.words_below(step.high)
            told(-(-done // RANGE_WORDS), ranges)
        total += step.completed
        if step.high is None and batch.begun and step.completed < POST_MOST:
            return total  # what waits now was stored meanwhile: its ingest posts it


class _Step(NamedTuple):
    """What one transaction of :func:`post_all_pending` did: the images it completed (0 but
    for a posting's last range), and the word its range ended before (None: the posting's
    last)."""

    completed: int
    high: int | None


def _post_next_range(sessions: Callable[[], Session], batch: _Batch) -> _Step | None:
    """One transaction of :func:`post_all_pending`: the next range of the posting under
    way, or the first of a new one; None when nothing is to be posted."""
    with sessions() as session:
        connection = session.connection()
        state = _locked_state(connection)
        if state is None:
            return None
        whole = False
        if not state.under_way:
            each, last = _words_after(connection, state.through, most=POST_MOST)
            if not each:
                return None
            state = Posted(state.through, last)
            batch.hold(state.through, last, each, begun=True)
            whole = not _spills(connection)
        elif batch.span != (state.through, state.upto):
            # Begun by another process (perhaps killed since), or by this one before a
            # retry: its images are those it began with, their words the same.
            each, _ = _words_after(connection, state.through, upto=state.upto)
            batch.hold(state.through, state.upto, each, begun=False)
        high = batch.end_of_range(state.below, whole=whole)
        post_words(connection, batch.between(state.below, high))
        if high is None:
            _set_state(connection, Posted(state.upto, state.upto))
        else:
            _set_state(connection, Posted(state.through, state.upto, high))
        session.commit()
        return _Step(len(batch.each) if high is None else 0, high)


def post_after(connection: Connection, after: int, *, most: int | None = None) -> tuple[int, int]:
    """Post the words of the images after ``after`` (up to ``most``, the oldest), from their
    stored features; returns how many images had features and the last image id posted
    (``after`` when none). An image whose stored features cannot be read posts nothing
    (logged, naming it). The mark is the caller's (:func:`post_pending`, and migration 0010's
    downgrade).
    """
    each, last = _words_after(connection, after, most=most)
    if each:
        post_words(connection, each)
    return len(each), last


def _words_after(
    connection: Connection, after: int, *, most: int | None = None, upto: int | None = None
) -> tuple[list[tuple[int, WordArray]], int]:
    """The words of the images with stored features after ``after`` (up to ``most`` of them,
    the oldest, or up to image ``upto``), and the last image id among them (``after`` when
    none). An image whose stored features cannot be read has none (logged, naming it)."""
    feature = m.Feature.__table__.c
    each: list[tuple[int, WordArray]] = []
    last = after
    while most is None or len(each) < most:
        page = _POST_PAGE if most is None else min(_POST_PAGE, most - len(each))
        chosen = feature.image_id > last
        if upto is not None:
            chosen &= feature.image_id <= upto
        rows = driver_rows(
            connection,
            select(feature.image_id, feature.data)
            .where(chosen)
            .order_by(feature.image_id)
            .limit(page),
        )
        for image_id, data in rows:
            try:
                found = stored_words(image_id, data)
            except ValueError as error:
                # Its words cannot be known, here or by any look-up: it posts none, and the
                # images after it are not held up.
                log.warning("%s; its words are not posted", error)
                found = np.zeros(0, dtype=np.int64)
            each.append((int(image_id), found))
        if len(rows) < page:
            break
        last = int(rows[-1][0])
    return each, (each[-1][0] if each else after)


def _appending(upsert: Any) -> Any:
    """``upsert`` (an INSERT of word rows) adding to the rows already there: the counts are
    summed, and the ids appended while the word keeps them (:data:`KEPT_POSTINGS`)."""
    table = m.WordPosting
    total = table.images + upsert.excluded.images
    # SQLite's || makes text of two blobs, byte for byte; the cast makes a blob of it again.
    appended = cast(table.ids.op("||")(upsert.excluded.ids), LargeBinary)
    return upsert.on_conflict_do_update(
        index_elements=[table.word],
        set_={"images": total, "ids": case((total <= KEPT_POSTINGS, appended), else_=null())},
    )


def pack(ids: npt.ArrayLike) -> bytes:
    """Image ids as a word's row keeps them (:data:`PACKED_ID`)."""
    return np.asarray(ids, dtype=PACKED_ID).tobytes()


def unpack(data: bytes) -> npt.NDArray[np.int64]:
    """The image ids :func:`pack` packed."""
    return np.frombuffer(data, dtype=PACKED_ID).astype(np.int64)


def stop_limit(images: int) -> int:
    """Images that may post a word before it is a stop word, in a catalogue of ``images``."""
    return max(STOP_MIN, min(STOP_MAX, int(STOP_SHARE * images)))


class StopWords:
    """A catalogue's words posted by more than :data:`STOP_MAX` images: stop words at every
    catalogue size, for good, since images are never deleted and counts only grow. A look-up
    given this record does not read their rows (in the scale bench at 10^5, about 60% of a
    look-up's short words); it goes straight to their long words.

    Reading the postings table, the record reads them all once, at its first look-up, from
    the partial index ``ix_word_posting_stop`` (the words whose images are no longer kept:
    59,932 of 90 million rows at 10^5; 50-106 ms here). Reading a postings file, it starts
    empty and learns the stop words its look-ups meet. Either way it adds those met later,
    up to :data:`REMEMBERED_STOP_WORDS`. One record per catalogue; look-ups in several
    threads may share it (a word one of them learns at the same time as another may be
    learnt by one only, and read again later).
    """

    def __init__(self) -> None:
        self._indexed: WordArray | None = None
        self._met: WordArray = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return (0 if self._indexed is None else self._indexed.size) + self._met.size

    def read(self, connection: Connection) -> None:
        """Read the indexed stop words, unless already read."""
        if self._indexed is not None:
            return
        table = m.WordPosting.__table__.c
        found = driver_rows(connection, select(table.word).where(table.ids.is_(None)))
        self._indexed = np.sort(np.fromiter((row[0] for row in found), np.int64, len(found)))

    def known(self, wanted: WordArray) -> npt.NDArray[np.bool_]:
        """Which of ``wanted`` are recorded."""
        indexed = self._indexed
        hit = np.zeros(wanted.size, dtype=bool) if indexed is None else _among(wanted, indexed)
        if self._met.size:
            hit |= _among(wanted, self._met)
        return hit

    def listed(self) -> tuple[WordArray, WordArray]:
        """The words recorded: those read from the table (empty until read) and those met
        since, each ascending."""
        indexed = self._indexed
        return (np.zeros(0, dtype=np.int64) if indexed is None else indexed), self._met

    def learn(self, words: WordArray) -> None:
        """Record ``words`` (each posted by more than :data:`STOP_MAX` images) for good."""
        met = self._met
        room = REMEMBERED_STOP_WORDS - met.size
        if room > 0 and words.size:
            new = _distinct_sorted(words[~_among(words, met)])[:room]
            self._met = np.insert(met, np.searchsorted(met, new), new)


#: Stop words met after the record was read that it holds at most (8 MB).
REMEMBERED_STOP_WORDS: Final = 1 << 20


@dataclass(frozen=True)
class Vote:
    """A stored image the candidate stage returns: the words it shares with the query that
    scored it best (``shared``), with each query in turn (``by_query``), and whether it is
    among the best of each query's own ranking (``ranked``: the ``limit`` best by that
    query's score, ties included). Every image returned is ranked by one query at least."""

    image_id: int
    shared: int
    by_query: tuple[int, ...]
    ranked: tuple[bool, ...]


@dataclass(frozen=True)
class Postings:
    """Images of chosen rows of a read, where one source keeps them (a postings file's array
    of ids, the images stored since it was made, the rows' packed ids as read from the
    table): row ``i``'s are ``store[starts[i] : starts[i] + lengths[i]]``. They are counted
    where they lie (:func:`_tally`), not gathered into one array first."""

    store: npt.NDArray[np.int32]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    #: No image id in ``store`` is larger (a postings file's last image, say), or None if
    #: that is not known: the ids are then read once more to find the largest.
    top: int | None = None


#: Gives the images of chosen rows of a read (their indices among its rows): one
#: :class:`Postings` for each source they are kept in (a file and the images stored since).
Gather = Callable[[npt.NDArray[np.intp]], list[Postings]]


#: A read's rows as :func:`_rank` takes them: where its rows start among the rows listed,
#: which of its own rows are listed (by their index among its rows), and its gatherer.
Read = tuple[int, npt.NDArray[np.intp], Gather]


def _with_pending(
    wanted: WordArray,
    row_words: WordArray,
    row_counts: WordArray,
    gather: Gather,
    pending: Delta,
) -> tuple[WordArray, WordArray, Gather]:
    """The table's rows of ``wanted`` (sorted, distinct) with the words of the images after
    the mark added (as :meth:`provcat.reuse.word_file.WordFile.rows` adds a file's delta):
    the words either holds, their counts summed, and a gatherer of both's images."""
    order = np.argsort(row_words, kind="stable")
    in_table = np.zeros(wanted.size, dtype=bool)
    table_row = np.full(wanted.size, -1, dtype=np.intp)
    at = np.searchsorted(wanted, row_words[order])
    in_table[at] = True
    table_row[at] = order
    counts = np.zeros(wanted.size, dtype=np.int64)
    counts[at] = row_counts[order]
    runs = list(pending.runs)
    located = [run.locate(wanted) for run in runs]
    for _, count in located:
        counts += count
    found = in_table | (counts > 0)
    table_rows = table_row[found]
    pieces = [
        (run, first[found], count[found]) for run, (first, count) in zip(runs, located, strict=True)
    ]

    def gathered(chosen: npt.NDArray[np.intp]) -> list[Postings]:
        rows = table_rows[chosen]
        held = rows >= 0
        parts: list[Postings] = []
        if held.any():
            (table,) = gather(rows[held])
            starts = np.zeros(chosen.size, dtype=np.int64)
            lengths = np.zeros(chosen.size, dtype=np.int64)
            starts[held], lengths[held] = table.starts, table.lengths
            parts.append(Postings(table.store, starts, lengths, table.top))
        for run, first, count in pieces:
            taken = count[chosen]
            if taken.any():
                parts.append(Postings(run.ids, first[chosen], taken, pending.last_id))
        return parts

    return wanted[found], counts[found], gathered


def _blob_gatherer(blobs: list[bytes | None]) -> Gather:
    """A gatherer of the images packed in the rows' ``ids`` read from the table."""

    def gather(chosen: npt.NDArray[np.intp]) -> list[Postings]:
        taken = [blobs[i] or b"" for i in chosen.tolist()]
        lengths = np.fromiter(map(len, taken), np.int64, len(taken)) // PACKED_ID.itemsize
        store = np.frombuffer(b"".join(taken), dtype=PACKED_ID).astype(np.int32, copy=False)
        return [Postings(store, np.cumsum(lengths) - lengths, lengths)]

    return gather


def shared_words(
    session: Session,
    queries: Iterable[ByteMatrix],
    *,
    limit: int,
    images: int,
    stop_words: StopWords | None = None,
    word_file: WordFile | None = None,
) -> list[tuple[int, int]]:
    """``(image_id, shared words)`` of :func:`votes`, best first."""
    found = votes(
        session, queries, limit=limit, images=images, stop_words=stop_words, word_file=word_file
    )
    return [(vote.image_id, vote.shared) for vote in found]


def votes(
    session: Session,
    queries: Iterable[ByteMatrix],
    *,
    limit: int,
    images: int,
    stop_words: StopWords | None = None,
    word_file: WordFile | None = None,
    split: bool = True,
    pending: Delta | None = None,
) -> list[Vote]:
    """Stored images sharing words with any of ``queries`` (a query's descriptors, and those of
    its mirror image), best first.

    Images are ranked by the words they share with one of the queries (the better of the
    two), each weighted by its rarity (inverse document frequency). Each word's row is read
    once, by primary key: its count, and its images unless it is a stop word. Where a
    descriptor's short word is a stop word, its long word in that table is read too (the
    module's docstring), and counts as any other word. The images of
    the rarest words are then taken first, up to :data:`POSTINGS_BUDGET` postings; the
    commonest words, which weigh least, are the ones a large catalogue leaves out. Images
    sharing fewer than :data:`MIN_SHARED` words with every query are not returned. Images
    tied with the last of the ``limit`` best are returned too.

    Args:
        session: On the catalogue.
        queries: Descriptor matrices; each is counted on its own. Reading the table (or
            the file by the NumPy passes), they are taken one at a time, the rows of each
            one's words read before the next is asked for (a generator may compute the next
            meanwhile); through the file by the compiled stage, all are taken first and
            their words read together (:func:`_votes_compiled`). At most
            :data:`QUERIES_MAX`.
        limit: This many images, and those tied with the last of them.
        images: How many images the catalogue holds (for :func:`stop_limit` and the weights).
        stop_words: The catalogue's record of its stop words at any size (read from the
            table at its first look-up, or learnt from the postings file's rows): their
            rows are not read, and those met are added.
        word_file: The catalogue's postings file (:mod:`provcat.reuse.word_file`), caught
            up with the images stored since it was made: the rows are read from it, not from
            the table (the answer is the same).
        split: On PostgreSQL, read half of a large read's words on a second connection at
            once (:func:`_word_rows`). An ingest's matching turn does not: its worker
            processes keep every core busy, and there the second connection only added
            work (120 files into an empty catalogue: 18-20 s against 13-16).
        pending: Reading the table of a SQLite catalogue, the words of the images stored
            after its mark (:func:`posted_through`), which the table does not hold yet,
            computed from their stored features (:class:`provcat.reuse.word_file.Delta`
            from the mark, caught up): they are counted with the table's. Not used with
            ``word_file``, whose own delta holds every image after the file.

    Returns:
        The images, the best ranked first, ties by id.
    """
    if compiled.active and word_file is not None:
        return _votes_compiled(
            list(queries), word_file, limit=limit, images=images, stop_words=stop_words
        )
    per_query: list[WordArray] = []
    # The rows read that count (stop words left out): their words and counts, and for each
    # read, where its rows start among them and how to gather their images.
    listed_words: list[WordArray] = []
    listed_counts: list[WordArray] = []
    gatherers: list[Read] = []
    listed = 0
    asked = np.zeros(0, dtype=np.int64)  # the words asked for so far, sorted, distinct
    stopped = np.zeros(0, dtype=np.int64)  # those that turned out to be stop words, sorted
    most = stop_limit(images)

    if stop_words is not None and word_file is None:
        stop_words.read(session.connection())

    def mark(wanted: WordArray) -> WordArray:
        """Those of ``wanted`` not asked for yet, less the stop words the record knows (now
        among ``stopped``): the words a read must ask for."""
        nonlocal asked, stopped
        new = wanted[~_among(wanted, asked)]
        asked = _union(asked, new)
        if stop_words is not None and new.size:
            known = stop_words.known(new)
            stopped = _union(stopped, new[known])
            new = new[~known]
        return new

    def read(new: WordArray) -> None:
        nonlocal stopped, listed
        if not new.size:
            return
        if word_file is not None:
            row_words, row_counts, gather = word_file.rows(new)
            if stop_words is not None:
                stop_words.learn(row_words[row_counts > STOP_MAX])
        else:
            found = _word_rows(session.connection(), new, most=most, split=split)
            row_words = np.fromiter(map(itemgetter(0), found), np.int64, len(found))
            row_counts = np.fromiter(map(itemgetter(1), found), np.int64, len(found))
            gather = _blob_gatherer([row[2] for row in found])
            if pending is not None and pending.runs:
                row_words, row_counts, gather = _with_pending(
                    new, row_words, row_counts, gather, pending
                )
            if stop_words is not None:
                stop_words.learn(row_words[row_counts > STOP_MAX])
        common = row_counts > most
        stopped = _union(stopped, row_words[common])
        kept_rows = np.flatnonzero(~common)
        listed_words.append(row_words[kept_rows])
        listed_counts.append(row_counts[kept_rows])
        gatherers.append((listed, kept_rows, gather))
        listed += kept_rows.size

    def fallback_of(short: WordArray, long: WordArray) -> WordArray:
        """The long words of the descriptors whose short word in a table is a stop word."""
        return _distinct_sorted(long[_among(short.ravel(), stopped).reshape(short.shape)])

    for query in queries:
        # Each query's rows are read as it comes: the caller may still be computing the next
        # query meanwhile. Its short words are read with the long words of those the stop
        # words' record already knows (in a catalogue of 20,000 images or more, nearly all
        # of its stop words), in one statement; then, where the first read found more short
        # words to be stop words, their descriptors' long words in that table.
        short, long = word_pairs(query)
        own = _distinct_sorted(short.ravel())
        first = mark(own)
        read(_union(first, mark(fallback_of(short, long))))
        fallback = fallback_of(short, long)
        read(mark(fallback))
        per_query.append(_union(own, fallback))
    if not listed or limit <= 0:
        return []
    return _rank(
        per_query,
        np.concatenate(listed_words),
        np.concatenate(listed_counts),
        gatherers,
        limit=limit,
        images=images,
    )


def _votes_compiled(
    queries: list[ByteMatrix],
    word_file: WordFile,
    *,
    limit: int,
    images: int,
    stop_words: StopWords | None,
) -> list[Vote]:
    """:func:`votes` through a postings file by the compiled stage
    (:meth:`provcat.reuse.word_file.WordFile.choose`): the words marked, read and chosen in
    one pass, then counted and ranked as :func:`_rank` does. The same answer as the NumPy
    passes give (the tests compare them); the queries are all taken first."""
    if len(queries) > QUERIES_MAX:
        raise ValueError(f"{len(queries)} queries; a look-up counts at most {QUERIES_MAX}")
    if not queries:
        return []
    pairs = [word_pairs(query) for query in queries]
    none = np.zeros(0, dtype=np.int64)
    indexed, met = (none, none) if stop_words is None else stop_words.listed()
    staged, parts = word_file.choose(
        [short for short, _ in pairs],
        [long for _, long in pairs],
        indexed=indexed,
        met=met,
        most=stop_limit(images),
        budget=POSTINGS_BUDGET,
    )
    if stop_words is not None and staged.learned.size:
        stop_words.learn(staged.learned)
    if not staged.counts.size or limit <= 0:
        return []
    count = staged.counts.astype(np.float64)
    weight = np.log(np.maximum(images, count) / count)
    counted = [Counted(part, weight[rows], staged.patterns[rows]) for part, rows in parts]
    return _ranked(_tally(counted, len(queries)), weight, staged.patterns, len(queries), limit)


def _rank(
    per_query: list[WordArray],
    row_words: WordArray,
    counts: WordArray,
    reads: list[Read],
    *,
    limit: int,
    images: int,
) -> list[Vote]:
    """The votes of :func:`votes`, from the rows listed (stop words left out): their words
    and counts of images, the words of each query (sorted, distinct), and the reads the rows
    came from, whose gatherers give the images of chosen rows."""
    if len(per_query) > QUERIES_MAX:
        raise ValueError(f"{len(per_query)} queries; a look-up counts at most {QUERIES_MAX}")
    listed = row_words.size
    # The rarest first (ties by word), as many as the budget holds.
    order = np.lexsort((row_words, counts))
    kept = int(np.count_nonzero(np.cumsum(counts[order]) <= POSTINGS_BUDGET))
    if not kept:
        return []
    chosen = np.zeros(listed, dtype=bool)
    chosen[order[:kept]] = True
    # Rarer words say more: a shared word weighs log(images / images posting it), so words
    # that many images post (short of stop words) count for little.
    count = counts.astype(np.float64)
    weight = np.log(np.maximum(images, count) / count)
    # Each row's images count for the queries that hold its word (a bit for each).
    held_by = np.zeros(listed, dtype=np.int64)
    for number, query_words in enumerate(per_query):
        held_by |= _among(row_words, query_words).astype(np.int64) << number
    counted: list[Counted] = []
    for first, kept_rows, gather in reads:
        mine = np.flatnonzero(chosen[first : first + kept_rows.size])
        if mine.size:
            here = first + mine
            counted.extend(
                Counted(piece, weight[here], held_by[here]) for piece in gather(kept_rows[mine])
            )
    return _ranked(
        _tally(counted, len(per_query)), weight[chosen], held_by[chosen], len(per_query), limit
    )


def _ranked(
    tallied: Tallied | None,
    taken_weight: npt.NDArray[np.float64],
    holds: npt.NDArray[np.int64],
    queries: int,
    limit: int,
) -> list[Vote]:
    """The votes of :func:`votes` from the tally of the rows taken, whose weights and
    patterns (the queries that hold each one's word, a bit each) are given."""
    if tallied is None:
        return []
    ids, shared_all, scores_all = tallied
    # Each query's best: its scores are ranked only for the images that may be among them.
    # An image sharing n words scores between n times the lightest weight taken and n times
    # the heaviest; so where `limit` images share c words or more, none sharing fewer than
    # c * lightest / heaviest can reach the `limit`-th best score (in the scale bench's
    # look-ups at 10^5, 400 to 2,400 images are left of the 100,000 counted).
    lightest, heaviest = float(taken_weight.min()), float(taken_weight.max())
    # No image shares more of a query's words than the rows taken that hold them.
    most = [int(np.count_nonzero(holds >> number & 1)) for number in range(queries)]
    fast = compiled.active and compiled.is_tally(shared_all)
    histograms = (
        compiled.spread(shared_all, most)
        if fast
        else [np.bincount(shared_all[:, n], minlength=most[n] + 1) for n in range(queries)]
    )
    least = [
        _least_shared(h[: m + 1], limit, lightest, heaviest)
        for h, m in zip(histograms, most, strict=True)
    ]
    many = [int(h[at:].sum()) for h, at in zip(histograms, least, strict=True)]
    contenders_all = (
        compiled.holding(shared_all, least, many)
        if fast
        else [np.flatnonzero(shared_all[:, n] >= least[n]) for n in range(queries)]
    )
    ranked_by_query = []
    for number, contenders in enumerate(contenders_all):
        score = _score(scores_all[contenders, number], shared_all[contenders, number])
        ranked_by_query.append(contenders[_best(score, limit)])
    # Every image returned is among the best of the query that scores it best (below), so
    # the rest of the work is on the images some query ranks.
    slots_ranked = _union(*ranked_by_query)
    if not slots_ranked.size:
        return []
    ids = slots_ranked if ids is None else ids[slots_ranked]
    best_score = np.full(ids.size, -1.0)
    best_count = np.zeros(ids.size, dtype=np.int64)
    each_count = np.empty((queries, ids.size), dtype=np.int64)
    ranked = np.empty((queries, ids.size), dtype=bool)
    for number in range(queries):
        shared = each_count[number] = shared_all[slots_ranked, number]
        score = _score(scores_all[slots_ranked, number], shared)
        ranked[number] = _among(slots_ranked, ranked_by_query[number])
        better = score > best_score
        best_score = np.where(better, score, best_score)
        best_count = np.where(better, shared, best_count)
    # The best `limit` by the better query and the images tied with the last of them: which
    # of those made the cut would otherwise depend on their ids, that is on the order they
    # were stored in. Each is among the best of the query that scored it best, so `ranked`
    # holds for one query at least.
    found = np.flatnonzero(_best(best_score, limit))
    order = found[np.lexsort((ids[found], -best_score[found]))]
    return [
        Vote(image_id, shared, tuple(each), tuple(among))
        for image_id, shared, each, among in zip(
            ids[order].tolist(),
            best_count[order].tolist(),
            each_count[:, order].T.tolist(),
            ranked[:, order].T.tolist(),
            strict=True,
        )
    ]


@dataclass(frozen=True)
class Counted:
    """Chosen rows' images (:class:`Postings`), with each row's weight and the queries that
    hold its word (bit ``q`` for query ``q``)."""

    postings: Postings
    weights: npt.NDArray[np.float64]
    patterns: npt.NDArray[np.int64]


#: What :func:`_tally` gives: the id of each slot (None where a slot is the id itself), and
#: per slot and query the shared words and their summed weights, ``(space, queries)``.
Tallied = tuple[npt.NDArray[np.int64] | None, npt.NDArray[np.integer[Any]], npt.NDArray[np.float64]]


def _tally(counted: list[Counted], queries: int) -> Tallied | None:
    """For each image among ``counted`` and each query, the words it shares with the query
    and their summed weight; None if they hold no image. Counted where the images lie, by
    the compiled passes (:mod:`provcat.reuse.compiled`) where they are active, else by
    :func:`_tally_numpy`, the reference they are tested against.

    Images are counted by id when the largest is at most :data:`_DIRECT_SPAN` times the
    postings (a look-up's 200,000 postings at 10^5 images): no renumbering. Otherwise they
    are renumbered through a table of the ids present (at most 4 MB and 16 bytes a posting
    past it, as :func:`_distinct`), or, where ids are larger still (a catalogue whose ids
    were set elsewhere), by a sort of the postings taken out first."""
    if not compiled.active:
        return _tally_numpy(counted, queries)
    total = sum(int(each.postings.lengths.sum()) for each in counted)
    if not total:
        return None
    tops = [each.postings.top for each in counted]
    known = None not in tops
    top = max(t for t in tops if t is not None) if known else _largest(counted)
    try:
        return _tally_compiled(counted, queries, top, total)
    except ValueError:
        if not known:
            raise
        # An id larger than its source said (a damaged postings file): counted again, by
        # the ids themselves.
        return _tally_compiled(counted, queries, _largest(counted), total)


def _largest(counted: list[Counted]) -> int:
    """The largest image id among ``counted``, read from their stores."""
    return max(compiled.largest(each.postings)[0] for each in counted)


def _tally_compiled(counted: list[Counted], queries: int, top: int, total: int) -> Tallied:
    """:func:`_tally` by the compiled passes, where no image id is above ``top``."""
    space = top + 1
    ids: npt.NDArray[np.int64] | None = None
    slots: npt.NDArray[np.int32] | None = None
    if space > _DIRECT_SPAN * total:
        if space > _TABLE_MIN + 16 * total:
            taken = [_flatten(each.postings) for each in counted]
            ids, inverse = np.unique(np.concatenate(taken), return_inverse=True)
            ids = ids.astype(np.int64)
            renumbered = inverse.astype(np.int32).ravel()
            ends = np.cumsum([piece.size for piece in taken])
            counted = [
                Counted(
                    Postings(
                        part,
                        np.cumsum(each.postings.lengths) - each.postings.lengths,
                        each.postings.lengths,
                    ),
                    each.weights,
                    each.patterns,
                )
                for each, part in zip(counted, np.split(renumbered, ends[:-1]), strict=True)
            ]
        else:
            present = np.zeros(space, dtype=np.uint8)
            for each in counted:
                compiled.mark(each.postings, present)
            slots = np.cumsum(present, dtype=np.int32) - 1
            ids = np.flatnonzero(present).astype(np.int64)
        space = int(ids.size)
    counts = np.zeros((space, queries), dtype=np.int32)
    scores = np.zeros((space, queries), dtype=np.float64)
    for each in counted:
        compiled.tally(each.postings, each.weights, each.patterns, slots, counts, scores)
    return ids, counts, scores


def _tally_numpy(counted: list[Counted], queries: int) -> Tallied | None:
    """What :func:`_tally` gives, in NumPy: the postings taken out, renumbered by
    :func:`_slots`, and counted for each query by a ``bincount``."""
    taken = [_flatten(each.postings) for each in counted]
    total = sum(piece.size for piece in taken)
    if not total:
        return None
    ids, slots, space = _slots(np.concatenate(taken))
    weights = np.concatenate([np.repeat(e.weights, e.postings.lengths) for e in counted])
    patterns = np.concatenate([np.repeat(e.patterns, e.postings.lengths) for e in counted])
    counts = np.zeros((space, queries), dtype=np.int64)
    scores = np.zeros((space, queries), dtype=np.float64)
    for number in range(queries):
        mine = (patterns >> number & 1).astype(bool)
        counts[:, number] = np.bincount(slots[mine], minlength=space)
        scores[:, number] = np.bincount(slots[mine], weights=weights[mine], minlength=space)
    return ids, counts, scores


def _flatten(postings: Postings) -> npt.NDArray[np.int32]:
    """``store[starts[i] : starts[i] + lengths[i]]`` for every row ``i``, one after another."""
    lengths = postings.lengths
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int32)
    # The k-th value taken is at k plus how far its row's start is from where its row
    # begins among the values taken.
    offsets = np.arange(total, dtype=np.int64)
    offsets += np.repeat(postings.starts - (np.cumsum(lengths) - lengths), lengths)
    taken: npt.NDArray[np.int32] = postings.store[offsets]
    return taken


def _score(
    summed: npt.NDArray[np.float64], shared: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.float64]:
    """Scores of images sharing ``shared`` words with a query whose weights sum to ``summed``:
    rounded (the same weights summed in another order may differ in their last bits, and
    ties must stay ties), -1 where an image shares fewer than :data:`MIN_SHARED` words."""
    score = summed.round(9)
    score[shared < MIN_SHARED] = -1.0
    return score


def _least_shared(
    histogram: npt.NDArray[np.int64], limit: int, lightest: float, heaviest: float
) -> int:
    """The fewest shared words (at least :data:`MIN_SHARED`) with which an image may score
    among the ``limit`` best, where each shared word weighs between ``lightest`` and
    ``heaviest`` and ``histogram[c]`` images share ``c`` words: ``limit`` images share ``c``
    words or more, so the ``limit``-th best score is at least ``c * lightest``, and an
    image sharing ``n`` words scores at most ``n * heaviest``. The margin (1e-6) is far
    above the error of a sum and its rounding."""
    histogram = histogram.copy()
    histogram[: min(MIN_SHARED, histogram.size)] = 0
    at_least = np.cumsum(histogram[::-1])[::-1]  # images sharing c words or more, for each c
    enough = np.flatnonzero(at_least >= limit)
    if not enough.size or heaviest <= 0.0:
        return MIN_SHARED
    bound = int(enough[-1]) * lightest - 1e-6
    return max(MIN_SHARED, int(np.ceil(bound / heaviest)))


def _distinct_sorted(values: WordArray, *, kind: Any = None) -> WordArray:
    """``np.unique(values)`` for an integer array (flattened), by a sort: NumPy 2's
    ``unique`` hashes integers first, and took about five times as long on a look-up's few
    thousand words (0.35 against 0.07 ms for 4,000)."""
    ordered = np.sort(values, axis=None, kind=kind)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _union(*arrays: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The distinct values of ``arrays``, sorted; for arrays that are sorted already, which
    NumPy's stable sort merges as the runs they are (two runs of 6,500 words: 0.012 against
    0.19 ms for its default sort, here). Any arrays give the right answer."""
    return _distinct_sorted(np.concatenate(arrays), kind="stable")


def _among(values: WordArray, listed: WordArray) -> npt.NDArray[np.bool_]:
    """Which of ``values`` are in ``listed`` (sorted, distinct): ``np.isin`` by a binary
    search, without sorting ``values`` again."""
    if not listed.size:
        return np.zeros(values.size, dtype=bool)
    if compiled.active and values.dtype == np.int64 and listed.dtype == np.int64:
        return compiled.among(values, listed).reshape(values.shape)
    at = np.minimum(np.searchsorted(listed, values), listed.size - 1)
    found: npt.NDArray[np.bool_] = listed[at] == values
    return found


def _best(scores: npt.NDArray[Any], limit: int) -> npt.NDArray[np.bool_]:
    """Which of ``scores`` are the ``limit`` best and those tied with the last of them, of
    the scores that are not -1 (no score); found by a partition, nothing sorted."""
    scored = scores > -1.0
    count = int(np.count_nonzero(scored))
    if count <= limit:
        return scored
    cut = np.partition(scores[scored], count - limit)[count - limit]
    best: npt.NDArray[np.bool_] = scored & (scores >= cut)
    return best


def _slots(
    values: npt.NDArray[np.integer[Any]],
) -> tuple[npt.NDArray[np.int64] | None, npt.NDArray[Any], int]:
    """Where each of ``values`` (image ids, not negative) is counted: ``(ids, slots, space)``,
    each value's slot below ``space``, and the id of each slot (None where a slot is the id
    itself).

    Ids are their own slots when the largest is at most :data:`_DIRECT_SPAN` times the
    values (a look-up's 200,000 postings in a catalogue of 10^5 images): no renumbering at
    all. Otherwise they are renumbered by :func:`_distinct`, so that what is counted per
    slot grows with the postings, not with the catalogue."""
    top = int(values.max()) + 1
    if top <= _DIRECT_SPAN * values.size:
        return None, values, top
    ids, inverse = _distinct(values)
    return ids, inverse, int(ids.size)


def _distinct(
    values: npt.NDArray[np.integer[Any]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """What ``np.unique(values, return_inverse=True)`` gives for image ids (not negative), by a
    table as long as the largest id instead of a sort: sorting a look-up's 200,000 postings
    took most of its time outside the database. Ids far larger than the postings are many
    (a catalogue whose ids were set elsewhere) are sorted, so the table never costs more
    memory than about 4 MB and 64 bytes a posting."""
    top = int(values.max()) + 1
    if top > _TABLE_MIN + 16 * values.size:
        ids, inverse = np.unique(values, return_inverse=True)
        return ids, inverse.astype(np.intp)
    present = np.zeros(top, dtype=np.int32)
    present[values] = 1
    rank = np.cumsum(present, dtype=np.int32) - 1
    return np.flatnonzero(present).astype(np.int64), rank[values].astype(np.intp)


def _word_rows(
    connection: Connection, wanted: WordArray, *, most: int, split: bool = True
) -> list[tuple[Any, ...]]:
    """``(word, images, ids)`` of the ``wanted`` words that are stored, in no order (sorting
    them in the database copied every row's ids into its sorter), read through the driver
    (:func:`provcat.db.driver_rows`). ``ids`` is None for a word more than ``most`` images
    post (a stop word: the look-up needs to know it is one, not its images).

    The words travel as one bound parameter (a PostgreSQL array, or JSON that SQLite's
    json_each unpacks): thousands of bound parameters cost more to render than the look-up.
    The statement is compiled once per dialect and driver. With ``split``, a PostgreSQL read
    of at least twice :data:`SPLIT_MIN` words asks for half of them on a second connection.
    """
    dialect = connection.dialect.name
    # Keyed by the driver too: drivers of one database differ in how they mark parameters.
    key = (dialect, connection.dialect.driver)
    statement = _WORD_ROWS.get(key)
    if statement is None:
        statement = DriverStatement.compile(_word_rows_statement(dialect), connection)
        _WORD_ROWS[key] = statement
    listed = wanted.tolist()
    if dialect != "postgresql":
        return driver_rows(connection, statement, {"listed": json.dumps(listed), "most": most})
    if not split or len(listed) < 2 * SPLIT_MIN:
        return driver_rows(connection, statement, {"listed": listed, "most": most})
    # Half of the words on a connection of its own, at once: the server probes the index for
    # one statement on one core. Under PostgreSQL's read committed, each statement sees what
    # was committed when it started, as two statements in one transaction would.
    half = len(listed) // 2
    second = _Half({"listed": listed[half:], "most": most})
    other = _other_half().submit(second.read_apart, connection.engine, statement)
    rows = driver_rows(connection, statement, {"listed": listed[:half], "most": most})
    if second.claim(_Half.CALLER):
        # The other thread has no connection yet (the look-ups of other threads may hold
        # every one the pool has, each waiting as this one would): this one reads it.
        return rows + driver_rows(connection, statement, second.values)
    more: list[tuple[Any, ...]] = other.result()
    return rows + more


class _Half:
    """The second half of a read, taken by whichever comes first: a thread of
    :func:`_other_half` once it has a connection of its own, or the look-up's thread once
    it has read the first half. A look-up never waits for a connection while holding one,
    so look-ups in many threads cannot hold every connection of the pool waiting for each
    other (they would, until the pool's timeout, and then fail)."""

    CALLER: Final = "caller"
    APART: Final = "apart"

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self._lock = threading.Lock()
        self._taker: str | None = None

    def claim(self, taker: str) -> bool:
        """Whether ``taker`` reads this half: the first to ask does."""
        with self._lock:
            if self._taker is None:
                self._taker = taker
            return self._taker == taker

    def taken(self) -> bool:
        with self._lock:
            return self._taker is not None

    def read_apart(self, engine: Engine, statement: DriverStatement) -> list[tuple[Any, ...]]:
        """Read the half on a connection of its own (from :func:`_apart_engine`), unless
        the look-up's thread took it first (then nothing: the connection goes back at once,
        or is not asked for when the half was taken before this thread came to it)."""
        if self.taken():
            return []
        with _apart_engine(engine).connect() as connection:
            if not self.claim(self.APART):
                return []
            return driver_rows(connection, statement, self.values)


#: A PostgreSQL read of at least twice this many words is read in two halves at once
#: (:func:`_word_rows`).
SPLIT_MIN: Final = 500


def _half_threads() -> int:
    return os.cpu_count() or 1


@functools.cache
def _other_half() -> ThreadPoolExecutor:
    """The threads that read the second half of PostgreSQL reads (one per core)."""
    return ThreadPoolExecutor(_half_threads(), thread_name_prefix="provcat-words")


#: For each engine whose look-ups split their reads, the engine of the second halves.
_APART: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_APART_LOCK = threading.Lock()


def _apart_engine(engine: Engine) -> Engine:
    """The engine the second halves of ``engine``'s reads are read on: made from its URL,
    with a pool of exactly one connection for each thread of :func:`_other_half`, so that
    those threads never wait for a connection. In the look-ups' own pool they did: a
    thread asked for one while look-ups held them all, and held up every later look-up's
    second half (in every engine of the process) until one came back, or for the pool's
    timeout (30 s by default) when the engine was disposed meanwhile. It is disposed with
    ``engine``."""
    with _APART_LOCK:
        apart = _APART.get(engine)
        if apart is None:
            apart = create_engine(
                engine.url, pool_size=_half_threads(), max_overflow=0, pool_timeout=60
            )
            _APART[engine] = apart
            event.listen(engine, "engine_disposed", _dispose_apart)
        return apart


def _dispose_apart(engine: Engine) -> None:
    with _APART_LOCK:
        apart = _APART.pop(engine, None)
    if apart is not None:
        apart.dispose()


#: The postings read, compiled for each dialect and driver met (:func:`_word_rows`).
_WORD_ROWS: dict[tuple[str, str], DriverStatement] = {}


def _word_rows_statement(dialect: str) -> Any:
    table = m.WordPosting.__table__.c
    if dialect == "postgresql":
        asked = table.word == any_(bindparam("listed", [], type_=ARRAY(Integer)))
    else:
        each = func.json_each(bindparam("listed", "[]")).table_valued("value")
        asked = table.word.in_(select(each.c.value))
    most = bindparam("most", 0, type_=Integer)
    ids = case((table.images <= most, table.ids), else_=null())
    return select(table.word, table.images, ids).where(asked)

"""Visual-word postings: the candidate stage that lives in the catalogue database.

A stored image posts *words*: short keys cut from its ORB descriptors. A query collects the
stored images that posted its words, and the images with the most shared words are the
candidates that :func:`provcat.reuse.verify.verify` then checks. The postings are a plain
``(word, image_id)`` table with that primary key (:class:`provcat.models.FeatureWord`), so a
look-up is a range scan of one B-tree per word on SQLite and PostgreSQL alike: a shared
catalogue's candidate stage grows with the database, not with any process's memory, and
nothing is loaded at start.

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
  of the count. Every word's count of images is kept in ``word_frequency`` as images post
  their words, so a look-up reads the counts of its words first and then the postings of the
  rarest of them, up to a budget: its work is bounded however large the catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import Integer, Select, any_, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from provcat import models as m

#: Hash tables (words per descriptor).
TABLES: Final = 4
#: Bits per word.
BITS: Final = 24
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
#: photos among 10^4 stored images, the original was among the top 20 for 0.952 of copies
#: with 20,000, 0.964 with 40,000 and 0.968 with no budget (docs/scale.md).
POSTINGS_BUDGET: Final = 50_000

ByteMatrix = npt.NDArray[np.uint8]
WordArray = npt.NDArray[np.int64]

#: Bit positions (into np.unpackbits order) of each table's key, least significant first.
_POSITIONS: Final = np.array(
    [[t + TABLES * j for j in range(BITS)] for t in range(TABLES)], dtype=np.intp
)
_WEIGHTS: Final = np.left_shift(np.int64(1), np.arange(BITS, dtype=np.int64))


def words(descriptors: ByteMatrix) -> WordArray:
    """The distinct words of these descriptors (``(N, 32)`` uint8), sorted."""
    if descriptors.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    bits = np.unpackbits(np.ascontiguousarray(descriptors, dtype=np.uint8), axis=1)
    keys = bits[:, _POSITIONS].astype(np.int64) @ _WEIGHTS  # (N, TABLES)
    tables = np.arange(TABLES, dtype=np.int64) << BITS
    return np.unique(keys + tables)


def posted(descriptors: ByteMatrix) -> WordArray:
    """The words a stored image posts: those of an even sample of its descriptors."""
    return words(sample(descriptors, POSTED_DESCRIPTORS))


def sample(descriptors: ByteMatrix, limit: int) -> ByteMatrix:
    """At most ``limit`` rows, evenly spaced, so that the sample spans every grid cell."""
    count = descriptors.shape[0]
    if count <= limit:
        return descriptors
    rows = np.linspace(0, count - 1, limit).round().astype(np.int64)
    return descriptors[rows]


def posting_rows(image_id: int, descriptors: ByteMatrix) -> list[dict[str, int]]:
    """Rows of the postings table for one stored image (for an executemany insert)."""
    return [{"word": int(w), "image_id": image_id} for w in posted(descriptors)]


def post(session: Session, images: Iterable[tuple[int, ByteMatrix]]) -> None:
    """Store the words these images post, and count them in ``word_frequency``.

    Args:
        session: On the catalogue; nothing is committed.
        images: ``(image_id, descriptors)`` of each image.
    """
    each = [(image_id, posted(descriptors)) for image_id, descriptors in images]
    rows = [{"word": int(w), "image_id": image_id} for image_id, found in each for w in found]
    if not rows:
        return
    session.execute(insert(m.FeatureWord), rows)
    count_words(session, np.concatenate([found for _, found in each]))


def count_words(session: Session, posted_words: WordArray) -> None:
    """Add each posting of ``posted_words`` (a word once per image posting it) to its count.

    The counts are updated in word order, so two writers updating overlapping words take the
    row locks in one order and never deadlock.
    """
    unique, counts = np.unique(posted_words, return_counts=True)
    rows = [{"word": int(w), "images": int(c)} for w, c in zip(unique, counts, strict=True)]
    frequency = m.WordFrequency
    if session.get_bind().dialect.name == "postgresql":
        upsert: Any = pg_insert(frequency)
    else:
        upsert = sqlite_insert(frequency)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[frequency.word],
            set_={"images": frequency.images + upsert.excluded.images},
        ),
        rows,
    )


def stop_limit(images: int) -> int:
    """Images that may post a word before it is a stop word, in a catalogue of ``images``."""
    return max(STOP_MIN, min(STOP_MAX, int(STOP_SHARE * images)))


def shared_words(
    session: Session,
    queries: list[ByteMatrix],
    *,
    limit: int,
    images: int,
) -> list[tuple[int, int]]:
    """Stored images sharing words with any of ``queries`` (a query's descriptors, and those of
    its mirror image), best first.

    Images are ranked by the words they share with one of the queries (the better of the
    two), each weighted by its rarity (inverse document frequency). The words' frequencies are
    read first: stop words are left out, and the postings of the others are read rarest first
    until :data:`POSTINGS_BUDGET` postings; the commonest words, which weigh least, are the
    ones a large catalogue leaves out. Images sharing fewer than :data:`MIN_SHARED` words with
    every query are not returned. Images tied with the last of the ``limit`` best are
    returned too.

    Args:
        session: On the catalogue.
        queries: Descriptor matrices; each is counted on its own.
        limit: This many images, and those tied with the last of them.
        images: How many images the catalogue holds (for :func:`stop_limit` and the weights).

    Returns:
        ``(image_id, shared words)``, the best ranked first, ties by id.
    """
    per_query = [words(q) for q in queries]
    wanted = np.unique(np.concatenate(per_query)) if per_query else np.zeros(0, np.int64)
    if wanted.size == 0:
        return []
    # Core statements on the session's connection: ORM row handling costs ten times more
    # for the tens of thousands of postings a look-up may read.
    connection = session.connection()
    frequency, postings = m.WordFrequency.__table__.c, m.FeatureWord.__table__.c
    counted = _select_in(
        connection, select(frequency.word, frequency.images), frequency.word, wanted, columns=2
    )
    counted = counted[counted[:, 1] <= stop_limit(images)]
    # Rarest first (ties by word), as many as the budget holds.
    counted = counted[np.lexsort((counted[:, 0], counted[:, 1]))]
    counted = counted[np.cumsum(counted[:, 1]) <= POSTINGS_BUDGET]
    if counted.size == 0:
        return []
    rows = _select_in(
        connection, select(postings.word, postings.image_id), postings.word, counted[:, 0],
        columns=2,
    )  # fmt: skip
    # Rarer words say more: a shared word weighs log(images / images posting it), so words
    # that many images post (short of stop words) count for little.
    by_word = counted[np.argsort(counted[:, 0])]
    posting_count = by_word[np.searchsorted(by_word[:, 0], rows[:, 0]), 1].astype(np.float64)
    weight = np.log(np.maximum(images, posting_count) / posting_count)
    best: dict[int, tuple[float, int]] = {}
    for query_words in per_query:
        hit = np.isin(rows[:, 0], query_words)
        ids, row_image, counts = np.unique(
            rows[hit, 1], return_inverse=True, return_counts=True
        )
        # Rounded: the sum's last bits depend on the order the database returned the rows in.
        scores = np.bincount(row_image, weights=weight[hit], minlength=ids.size).round(9)
        for image_id, score, count in zip(
            ids.tolist(), scores.tolist(), counts.tolist(), strict=True
        ):
            if count >= MIN_SHARED and score > best.get(image_id, (-1.0, 0))[0]:
                best[image_id] = (score, count)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
    if len(ranked) > limit > 0:
        # Images tied with the last one kept are kept too: which of them made the cut would
        # otherwise depend on their ids, that is on the order they were stored in.
        last = ranked[limit - 1][1][0]
        limit = next(
            (n for n in range(limit, len(ranked)) if ranked[n][1][0] != last), len(ranked)
        )
    return [(image_id, count) for image_id, (_score, count) in ranked[: max(0, limit)]]


def _select_in(
    connection: Connection,
    query: Select[Any, Any] | Select[Any],
    column: Any,
    values: WordArray,
    *,
    columns: int = 1,
) -> npt.NDArray[np.int64]:
    """``query`` restricted to ``column IN values``; integer results as an array.

    The values travel as one parameter (a PostgreSQL array, or JSON that SQLite's json_each
    unpacks): thousands of bound parameters cost more to render than the look-up itself.
    """
    listed = [int(v) for v in values]
    if connection.dialect.name == "postgresql":
        condition = column == any_(bindparam("listed", listed, type_=ARRAY(Integer)))
    else:
        each = func.json_each(bindparam("listed", json.dumps(listed))).table_valued("value")
        condition = column.in_(select(each.c.value))
    found: list[int] = []
    for row in connection.execute(query.where(condition)):
        found.extend(row)  # plain ints: numpy probes Row objects slowly
    array = np.array(found, dtype=np.int64).reshape(-1, columns)
    return array[:, 0] if columns == 1 else array

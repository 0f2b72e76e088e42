"""Reused photos in the catalogue: find and record which stored images are copies of one photo.

Each image's ORB features are stored when it is ingested, with the visual words it posts
(provcat.reuse.postings) and its matching pending. A pending image's candidates are the stored
images sharing the most words with it (a query of the postings table), plus PDQ near matches
over all eight rotations and flips (a :class:`Matcher` keeps every stored PDQ hash in one
numpy array, 32 bytes an image), plus equal pixel digests. Each candidate is verified
geometrically (provcat.reuse.verify), and every verified pair is recorded as a
``photo_match`` with the relation of the copy to the reference. Adding images never recomputes
the pairs already found. Nothing else is held in memory: features are read from the database
for the few candidates a query verifies.

Matching runs in turns, one pending image per turn and transaction, one turn at a time across
every process writing to the catalogue (:func:`take_match_turn`). A turn first brings the index
up to date, so each image is compared with every image committed before its turn; of two images
stored at the same time by two ingesters, the one matched second sees the first. An image whose
turn never committed (the process was killed) is still pending and is matched by the next run.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import faiss
import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.allocator import keep_freed_memory
from provcat.db import driver_rows, lock_for_writing
from provcat.decode import DecodedImage, open_stored
from provcat.files import stored_path
from provcat.fingerprints import (
    BitHash,
    Dihedral,
    dihedral_bytes,
    dihedral_from_bytes,
    pdq_dihedral,
    stored_pdq,
)
from provcat.photos import PDQ_SAME_PHOTO, link_matched
from provcat.reuse import word_file
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.pixels import colourfulness, framed, pixels_remembered, working_copy
from provcat.reuse.postings import (
    StopWords,
    Vote,
    post_or_leave,
    post_pending,
    posting_state,
    votes,
)
from provcat.reuse.verify import (
    COLOUR_MIN,
    GREY_MAX,
    RICH_INLIERS,
    Relation,
    believable_scale,
    verify,
)
from provcat.reuse.weak import WEAK_PDQ, GlobalPrints, low_information, weak_relation
from provcat.reuse.word_file import WordFile, location
from provcat.working import WorkingCopy

log = logging.getLogger(__name__)

T = TypeVar("T")

#: PDQ distance within which a stored image is verified even without feature votes.
PDQ_CANDIDATE = 31
#: Candidates verified per new image at most (besides PDQ and pixel-digest candidates).
CANDIDATES = 20
#: Images whose PDQ hashes a matcher loads in one read when it starts.
_LOAD_PAGE = 50_000
#: Full feature sets kept in memory for re-use (the most recently stored or read).
RECENT_FEATURES = 512
#: The catalogue_state row that numbers matching turns.
MATCH_COUNTER = "match_seq"
#: Pending images whose pixels, mirror features and PDQ variants are prepared ahead of their
#: matching turn (in a thread of its own, while the turn before runs).
PREPARED_AHEAD = 2
#: A likely candidate is decoded and judged with pixels by the verification thread that
#: looked at it, while the other threads look at the rest (False: each likely pair is judged on
#: the calling thread, in turn, its pixels read when needed).
PREPARE_STORED = True


@dataclass(frozen=True)
class Found:
    """A stored image that a query image is the same photo as."""

    image_id: int
    sha256: str
    relation: Relation
    pdq_distance: int | None
    #: True when the stored image is the copy and the query the reference.
    query_is_reference: bool


@dataclass(frozen=True)
class SimilarMatch:
    """A stored image that a queried file is the same photo as (``provcat similar``)."""

    sha256: str
    #: The edits between the two, told from the side of ``reference``: how the queried file
    #: relates to the stored image, or, with the query as reference, how the stored image
    #: relates to it ("contains" then leads when the stored image is a part of the file).
    relation: tuple[str, ...]
    #: Smallest PDQ distance over the eight rotations and flips; None when not computed.
    distance: int | None
    crop_box: tuple[int, int, int, int] | None
    score: float
    inliers: int
    #: "features" (a verified geometric fit) or "weak" (global hashes of a low-information
    #: picture only; see provcat.reuse.weak).
    evidence: str = "features"
    #: Which of the two the relation treats as the reference: "stored" or "query".
    reference: str = "stored"

    @classmethod
    def from_found(cls, found: Found) -> SimilarMatch:
        """From a matcher result."""
        rel = found.relation
        # With the query as the pair's reference, a crop names the stored image as the part:
        # "contains" says so. Other edits (resized, mirrored, overlaid...) name what differs
        # between the two either way; ``reference`` says which side is the reference.
        cut = {"cropped", "contained", "perspective"} & set(rel.kinds)
        kinds = ("contains", *rel.kinds) if found.query_is_reference and cut else rel.kinds
        return cls(
            sha256=found.sha256,
            relation=kinds,
            distance=found.pdq_distance,
            crop_box=rel.crop_box,
            score=rel.score,
            inliers=rel.inliers,
            evidence=rel.evidence,
            reference="query" if found.query_is_reference else "stored",
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "sha256": self.sha256,
            "relation": list(self.relation),
            "distance": self.distance,
            "crop_box": list(self.crop_box) if self.crop_box else None,
            "score": round(self.score, 4),
            "inliers": self.inliers,
            "evidence": self.evidence,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class Lookup:
    """A file :meth:`provcat.Catalogue.similar_files` met, and what came of it."""

    #: The file as given or as the folder walk named it (non-UTF-8 bytes as ``\\xNN``).
    path: str
    #: "answered" (looked up: ``matches``, empty when nothing stored is the same photo),
    #: "rejected" (it could not be read or decoded safely: ``reason``) or "skipped" (a folder
    #: walk passed over it: ``reason``).
    status: str
    matches: tuple[SimilarMatch, ...] = ()
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON: ``path``, ``status`` and ``matches`` or ``reason``."""
        if self.status == "answered":
            return {
                "path": self.path,
                "status": self.status,
                "matches": [match.to_dict() for match in self.matches],
            }
        return {"path": self.path, "status": self.status, "reason": self.reason}


class _PdqTable:
    """Every stored image's PDQ hash in faiss's brute-force binary index, with the image ids
    (row for row)."""

    def __init__(self) -> None:
        self._index = faiss.IndexBinaryFlat(256)
        self.ids: npt.NDArray[np.int64] = np.zeros(0, np.int64)
        # faiss's index is not safe to search while it grows (look-ups in several threads,
        # one of them bringing the table up to date).
        self._lock = threading.Lock()

    def extend(self, rows: list[tuple[int, str]]) -> None:
        """Add ``(image id, hexadecimal hash)`` rows as stored.

        Raises:
            DamagedCatalogue: A stored hash is not 64 hexadecimal digits.
        """
        if not rows:
            return
        self.add(np.array([i for i, _ in rows], dtype=np.int64), stored_pdq(rows))

    def add(self, ids: npt.NDArray[np.integer[Any]], codes: npt.NDArray[np.uint8]) -> None:
        """Add hashes given as an ``(N, 32)`` array of bytes, row i the hash of ``ids[i]``."""
        if not ids.size:
            return
        with self._lock:
            self._index.add(np.ascontiguousarray(codes))
            self.ids = np.concatenate([self.ids, ids.astype(np.int64)])

    def within(self, queries: list[BitHash], limit: int) -> dict[int, int]:
        """Images whose hash is within ``limit`` bits of any of ``queries``, with the least
        distance to one of them (an exact scan of every stored hash)."""
        if not self.ids.size or not queries:
            return {}
        codes = np.frombuffer(b"".join(bytes.fromhex(str(q)) for q in queries), dtype=np.uint8)
        # faiss returns the hashes at a distance below the radius.
        with self._lock:
            _limits, distances, rows = self._index.range_search(codes.reshape(-1, 32), limit + 1)
            ids = self.ids
        near: dict[int, int] = {}
        # faiss gives the distances as float32; they are counts of bits.
        for row, distance in zip(rows.tolist(), distances.astype(np.int64).tolist(), strict=True):
            image_id = int(ids[row])
            near[image_id] = min(distance, near.get(image_id, distance))
        return near


def store_features(
    image_id: int,
    features: Features,
    *,
    session: Session,
    postings: list[tuple[int, npt.NDArray[np.uint8]]] | None = None,
) -> None:
    """Store an image's features and the visual words it posts (in ``session``); with
    ``postings``, the words are left to the caller to post (with other images' in one
    :func:`provcat.reuse.postings.post_or_leave`) and the image is added to that list.
    Without, they are posted in ``session``: on SQLite with those of every image stored
    before it and not posted yet (:func:`provcat.reuse.postings.post_pending`)."""
    session.add(
        m.Feature(
            image_id=image_id, algorithm="orb", count=len(features), data=features.to_bytes()
        )
    )
    if postings is None:
        if post_or_leave(session, [(image_id, features.descriptors)]):
            session.flush()
            post_pending(session.connection(), most=None)
    else:
        postings.append((image_id, features.descriptors))


#: Images whose PDQ variants :func:`fill_variants` stores in one transaction.
FILL_BATCH = 64


@dataclass(frozen=True)
class Filled:
    """What :func:`fill_variants` did: images given their PDQ variants, and images left
    without them because none of their paths still holds their file (or it no longer
    decodes to the PDQ hash stored)."""

    filled: int
    unreadable: int


def fill_variants(
    sessions: Callable[[], Session], *, progress: Callable[[int, int], None] | None = None
) -> Filled:
    """Store the PDQ variants (``Fingerprint.variants``) of images stored before revision
    0009, decoded again from their paths, so that their look-ups need not decode them.

    Images whose file is gone or changed keep NULL (look-ups compute the variants from the
    pixels when they can, as before); an image whose decoded pixels no longer give the PDQ
    hash stored is left too. Writes are batched (:data:`FILL_BATCH` images a transaction),
    each row written only while it is still NULL: a concurrent fill or ingest loses nothing.

    Args:
        sessions: Makes sessions on the catalogue.
        progress: Called with (images done, images to do) after each batch.
    """
    pdq = m.Fingerprint
    with sessions() as session:
        todo = list(
            session.execute(
                select(pdq.id, pdq.image_id, pdq.value, m.Image.sha256)
                .join(m.Image, m.Image.id == pdq.image_id)
                .where(pdq.algorithm == "pdq", pdq.variants.is_(None))
                .order_by(pdq.image_id)
            ).all()
        )
    filled = unreadable = 0
    for start in range(0, len(todo), FILL_BATCH):
        batch = todo[start : start + FILL_BATCH]
        with sessions() as session:
            paths = Matcher._stored_paths([int(row[1]) for row in batch], session=session)
            for row_id, image_id, value, sha in batch:
                pixels = _decode_stored(sha, paths[int(image_id)])
                variants = None if pixels is None else pdq_dihedral(pixels)
                if variants is None or str(variants["original"][0]) != value:
                    # One line each only when asked for (an archive moved elsewhere would
                    # print one for every image); the caller reports the count.
                    log.info(
                        "image %d: no path holds its file as stored; its PDQ variants are "
                        "left to be computed when needed",
                        image_id,
                    )
                    unreadable += 1
                    continue
                session.execute(
                    update(pdq)
                    .where(pdq.id == row_id, pdq.variants.is_(None))
                    .values(variants=dihedral_bytes(variants)),
                    execution_options={"synchronize_session": False},
                )
                filled += 1
            session.commit()
        if progress is not None:
            progress(start + len(batch), len(todo))
    return Filled(filled, unreadable)


def pending_count(*, session: Session) -> int:
    """How many stored images wait to be matched."""
    count = session.scalar(
        select(func.count()).select_from(m.Image).where(m.Image.match_seq.is_(None))
    )
    return int(count or 0)


def take_match_turn(session: Session) -> int:
    """Start a matching turn in ``session``'s transaction; returns the turn's number.

    The turn's first statement updates the ``match_seq`` counter row, so the turn holds its
    lock (a row lock on PostgreSQL; on SQLite the database's write lock, taken with
    ``BEGIN IMMEDIATE``) until it commits: turns of concurrent ingesters run one at a time.
    """
    lock_for_writing(session.connection())
    state = m.CatalogueState
    done = session.execute(
        update(state).where(state.key == MATCH_COUNTER).values(value=state.value + 1),
        execution_options={"synchronize_session": False},
    )
    if getattr(done, "rowcount", 1) == 0:
        session.add(state(key=MATCH_COUNTER, value=1))
        session.flush()
    return _last_turn(session)


def _last_turn(session: Session) -> int:
    """The number of the last matching turn taken (0 before the first)."""
    value = session.scalar(
        select(m.CatalogueState.value).where(m.CatalogueState.key == MATCH_COUNTER)
    )
    return int(value or 0)


class Matcher:
    """Finds stored images that show the same photo as a given one.

    Args:
        session_factory: New sessions on the catalogue.
    """

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        # A look-up's arrays are mapped and faulted in afresh unless freed memory is kept.
        keep_freed_memory()
        self._sessions = session_factory
        # Full feature sets are read from the database for the few candidates a query
        # verifies; the most recent are kept.
        self._recent: dict[int, Features] = {}
        self._recent_lock = threading.Lock()  # look-ups in several threads share the cache
        #: Runs the candidates' first looks on every core.
        self._threads = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="provcat-verify"
        )
        #: Prepares the next pending images' query sides while a turn runs (match_next).
        self._preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provcat-ahead")
        self._ahead: dict[int, Future[_Query | None]] = {}
        #: Pending images' mirror features, computed when they were prepared
        #: (:meth:`expect_mirrors`), taken by their turns.
        self._mirrors: dict[int, Features] = {}
        self._pdq = _PdqTable()
        #: Held while the index is brought up to date (images loaded, the postings file
        #: opened or caught up): look-ups in several threads do it one at a time. Always
        #: taken with a session's connection already held, never the other way round.
        self._lock = threading.RLock()
        #: Images whose PDQ hash is loaded (or that have none): every image up to
        #: ``_covered_id`` (``_covered`` of them, their hashes taken from the postings file),
        #: and those in ``_known``.
        self._known: set[int] = set()
        self._covered_id = 0
        self._covered = 0
        #: The catalogue's stop words seen so far: look-ups do not read them again.
        self._stop_words = StopWords()
        #: Every image matched in a turn numbered up to this is loaded.
        self._seen_turn = 0
        #: The catalogue's postings file, where it has one (provcat.reuse.word_file): the
        #: folder, the generation open (None when none can be used) and which CURRENT that was.
        self._word_folder: Path | None = None
        self._word_file: WordFile | None = None
        self._word_stamp: tuple[int, int] | None = None
        self._word_delta_full = False
        #: The words of the images after the postings table's mark (a SQLite catalogue's:
        #: stored, their words not posted yet), for look-ups that read the table.
        self._pending: word_file.Delta | None = None
        with self._sessions() as session:
            self._word_folder = location(session.connection())
            # The counter first: every image matched in a turn up to it was committed before
            # the hashes are read below, so it is loaded now; later ones come in _refresh.
            self._seen_turn = _last_turn(session)
            self._load_from_file(session)
            self._load(None, session=session)

    def _load_from_file(self, session: Session) -> None:
        """Take the PDQ hashes the postings file holds (a SQLite catalogue's, where it has
        one written with them): every image it covers is then loaded without reading the
        database. The generation opened is kept for the look-ups (:meth:`_postings_file`)."""
        folder = self._word_folder
        if folder is None:
            return
        with self._lock:
            current = self._current_file(session, folder)
            if current is None or current.pdq is None:
                return
            self._pdq.add(*current.pdq)
            self._covered_id = current.cover.last_id
            self._covered = current.cover.images

    def _is_known(self, image_id: int) -> bool:
        return image_id <= self._covered_id or image_id in self._known

    def _load(self, ids: list[int] | None, *, session: Session) -> None:
        """Load the PDQ hashes of these images (of all images when None)."""
        query = select(m.Image.id, m.Fingerprint.value).outerjoin(
            m.Fingerprint,
            (m.Fingerprint.image_id == m.Image.id) & (m.Fingerprint.algorithm == "pdq"),
        )
        if ids is not None:
            self._add_hashes(driver_rows(session.connection(), query.where(m.Image.id.in_(ids))))
            return
        # Every image not covered by the postings file, a page at a time (in id order), each
        # read through the driver: at a million images SQLAlchemy's rows took most of the
        # load, and one page's rows at a time keep it from holding every row at once.
        last = self._covered_id
        while True:
            page = driver_rows(
                session.connection(),
                query.where(m.Image.id > last).order_by(m.Image.id).limit(_LOAD_PAGE),
            )
            self._add_hashes(page)
            if len(page) < _LOAD_PAGE:
                return
            last = page[-1][0]

    def _add_hashes(self, rows: list[tuple[Any, ...]]) -> None:
        """Add the PDQ hashes of these ``(image id, hash or None)`` rows, once each."""
        fresh: list[tuple[int, str]] = []
        for image_id, value in rows:
            if self._is_known(image_id):
                continue
            self._known.add(image_id)
            if value:
                fresh.append((image_id, value))
        self._pdq.extend(fresh)

    def _postings_file(self, session: Session) -> WordFile | None:
        """The catalogue's postings file caught up with the images stored since it was made,
        or None when the postings table is to be read (no file, one that cannot be used, or
        more images since it than :data:`provcat.reuse.word_file.DELTA_MAX`)."""
        folder = self._word_folder
        if folder is None:  # PostgreSQL, or a catalogue in memory
            return None
        with self._lock:
            return self._caught_up_file(session, folder)

    def _current_file(self, session: Session, folder: Path) -> WordFile | None:
        """The folder's current generation, opened once for each ``CURRENT`` it has had
        (None when there is none or it cannot be used); called holding the lock."""
        stamp = word_file.stamp_of(folder)
        if stamp != self._word_stamp:
            # A new generation (or the first look): open it, once.
            self._word_stamp = stamp
            self._word_delta_full = False
            self._word_file = None if stamp is None else WordFile.open(folder, session.connection())
        return self._word_file

    def _caught_up_file(self, session: Session, folder: Path) -> WordFile | None:
        current = self._current_file(session, folder)
        if current is None or self._word_delta_full:
            return None
        if not current.delta.catch_up(session.connection()):
            self._word_delta_full = True
            log.info(
                "the images stored since %s was made are not looked up through it (more than "
                "%d, or stored features that cannot be read): the postings table is read "
                "(`provcat index` brings the file up to date)",
                folder,
                word_file.DELTA_MAX,
            )
            return None
        return current

    def _pending_words(self, session: Session) -> word_file.Delta | None:
        """The words of the images stored after the postings table's mark, less those a
        posting under way has posted (None where every image's are in the table:
        PostgreSQL), caught up; whenever that has moved (those images' words, or more of
        them, are then in the table), the words now posted are dropped from it."""
        connection = session.connection()
        mark = posting_state(connection)
        if mark is None:
            return None
        with self._lock:
            pending = self._pending
            if pending is None or not (pending.posted == mark or pending.advance(mark)):
                # A posting's ranges only add to the table: the words it posted are dropped
                # (Delta.advance); otherwise they are computed again.
                pending = self._pending = word_file.Delta(
                    mark.through, posted=mark, limited=False, skip_unreadable=True
                )
            pending.catch_up(connection)
            return pending

    def _votes(
        self, session: Session, queries: Iterator[npt.NDArray[np.uint8]], *, split: bool
    ) -> list[Vote]:
        """The candidate stage (:func:`provcat.reuse.postings.votes`), through the postings
        file where there is one. A file whose contents turn out to be damaged (a row's images
        outside its ids, say: its sizes were checked when it was opened) is put aside, said
        so once, and the look-up made again from the table, with the same queries; the file
        is read again once a new generation replaces it (an ingest, `provcat index`)."""
        file = self._postings_file(session)
        taken: list[npt.NDArray[np.uint8]] = []

        def recorded() -> Iterator[npt.NDArray[np.uint8]]:
            for query in queries:
                taken.append(query)
                yield query

        arguments: dict[str, Any] = {
            "limit": CANDIDATES,
            "images": len(self),
            "stop_words": self._stop_words,
            "split": split,
        }
        try:
            if file is None:
                return self._votes_from_table(session, recorded(), taken, arguments)
            return votes(session, recorded(), word_file=file, **arguments)
        except (ValueError, IndexError) as error:
            if file is None:
                raise
            with self._lock:
                if self._word_file is file:
                    self._word_file = None  # until CURRENT names another generation
                    log.warning(
                        "the postings file %s is damaged (%s); look-ups read the postings "
                        "table (`provcat index --full` makes the file anew)",
                        self._word_folder,
                        error,
                    )
            asked = [*taken, *queries]
            return self._votes_from_table(session, iter(asked), asked, arguments)

    def _votes_from_table(
        self,
        session: Session,
        queries: Iterator[npt.NDArray[np.uint8]],
        taken: list[npt.NDArray[np.uint8]],
        arguments: dict[str, Any],
    ) -> list[Vote]:
        """:func:`provcat.reuse.postings.votes` reading the postings table, with the words of
        the images after its mark. Where the mark moves during the look-up (another process
        posted those images' words: they would be counted twice), it is made once more
        (``taken`` records the queries asked, for that)."""
        pending = self._pending_words(session)
        found = votes(session, queries, word_file=None, pending=pending, **arguments)
        if pending is None or posting_state(session.connection()) == pending.posted:
            return found
        pending = self._pending_words(session)
        return votes(session, iter(taken), word_file=None, pending=pending, **arguments)

    def refresh(self) -> None:
        """Load every image stored since the last look, outside a matching turn (look-ups)."""
        with self._sessions() as session:
            # The session's connection first, then the lock (in _refresh): a look-up holds
            # its connection when it asks for the lock, so taking them the other way round
            # could leave this thread waiting for a connection that look-ups waiting for
            # the lock hold.
            self._refresh(_last_turn(session) + 1, session=session)

    def _refresh(self, turn: int, *, session: Session) -> None:
        """Load every image committed since the last look: those matched in later turns and
        those still pending (another process's new images, or ones an interrupted run left)."""
        with self._lock:
            new = [
                image_id
                for image_id in session.scalars(
                    select(m.Image.id).where(
                        m.Image.match_seq.is_(None) | (m.Image.match_seq > self._seen_turn)
                    )
                )
                if not self._is_known(image_id)
            ]
            for start in range(0, len(new), 500):
                self._load(new[start : start + 500], session=session)
            self._seen_turn = turn - 1

    def match_next(self) -> int | None:
        """Match the stored image that has waited longest, in one turn of its own.

        The turn holds the matching lock (:func:`take_match_turn`), brings the PDQ table up to
        date, matches the image against every other stored image, records the matches and
        marks the image matched, all in one transaction: killed half-way, the turn leaves no
        trace and the image is matched on the next run.

        Returns:
            Matches recorded, or None when no image was waiting.
        """
        with self._sessions() as session:
            turn = take_match_turn(session)
            waiting = session.execute(
                _with_variants(select(m.Image.id, m.Image.sha256, m.Image.pixel_digest))
                .where(m.Image.match_seq.is_(None))
                .order_by(m.Image.id)
                .limit(1 + PREPARED_AHEAD)
            ).all()
            if not waiting:
                session.rollback()
                return None
            image_id, sha, digest, data, quality = waiting[0]
            # Their paths are read here, in the turn: the thread that decodes them reads no
            # database (an in-memory catalogue has one connection per thread).
            paths = self._stored_paths([int(row[0]) for row in waiting], session=session)
            self._prepare_ahead(
                image_id,
                [
                    (int(row[0]), str(row[1]), paths[int(row[0])], _stored(row[3], row[4]))
                    for row in waiting[1:]
                ],
            )
            self._refresh(turn, session=session)
            recorded = 0
            matched = self._match_stored(
                image_id, sha, digest, paths[image_id], _stored(data, quality), session=session
            )
            for match in matched:
                recorded += _record(image_id, match, session=session)
            link_matched(
                session.connection(),
                image_id,
                lambda hashed: self._pdq.within([hashed], PDQ_SAME_PHOTO),
            )
            session.execute(update(m.Image).where(m.Image.id == image_id).values(match_seq=turn))
            session.commit()
            return recorded

    def _match_stored(
        self,
        image_id: int,
        sha: str,
        digest: str,
        paths: list[Path],
        variants: tuple[bytes, int] | None,
        *,
        session: Session,
    ) -> list[Found]:
        features = self._features_of(image_id, session=session)
        ahead = self._ahead.pop(image_id, None)
        mirror = self._mirrors.pop(image_id, None)
        query = ahead.result() if ahead is not None else None
        if query is None and mirror is not None and variants is not None:
            # What decoding its file would give at once, but its pixels (decoded if needed).
            decode = partial(_decode_query, image_id, sha, paths)
            query = _Query(decode, mirror, dihedral_from_bytes(*variants), None)
        if query is None and features is not None:
            query = _query_side(sha, paths, variants)
        if features is None or query is None:
            # Its file is gone or changed since it was stored: nothing to verify against.
            log.warning("image %d cannot be read again from its paths; not matched", image_id)
            return []
        return self.find(
            query.pixels,
            features,
            sha256=sha,
            pixel_digest=digest,
            exclude=image_id,
            recorded=_recorded_with(image_id, session=session),
            turn=session,
            flipped=query.mirror,
            variants=query.variants,
            working=query.working,
        )

    def _prepare_ahead(
        self, current: int, upcoming: list[tuple[int, str, list[Path], tuple[bytes, int] | None]]
    ) -> None:
        """Start preparing the query sides of the images matched next (``upcoming``, in the
        order their turns come), and forget those no longer coming (another process matched
        them): at most :data:`PREPARED_AHEAD` are held besides ``current``.

        What is prepared is what the turn would compute itself, from the same file checked
        against the same SHA-256: only when it is computed changes, not what.
        """
        coming = {image_id for image_id, _sha, _paths, _variants in upcoming}
        for image_id in [i for i in self._ahead if i != current and i not in coming]:
            self._ahead.pop(image_id).cancel()
        for image_id, sha, paths, variants in upcoming:
            if image_id in self._ahead or (image_id in self._mirrors and variants is not None):
                continue  # being prepared, or nothing to prepare (its pixels wait till needed)
            self._ahead[image_id] = self._preparing.submit(_query_side, sha, paths, variants)

    def expect_mirrors(self, mirrors: dict[int, Features]) -> None:
        """The mirror images' features of pending images, by image id, as
        :func:`provcat.reuse.features.mirrored` computed them from the files they were stored
        from (an ingest's workers do, while they have the pixels: provcat.prepare). Their
        turns then read each file again only when a pair needs its pixels (a likely copy,
        or weak evidence), instead of decoding every one to extract them: the same values,
        computed earlier. Replaces those given before; ids another process matches are never
        asked for."""
        self._mirrors = dict(mirrors)

    def _features_of(self, image_id: int, *, session: Session) -> Features | None:
        with self._recent_lock:
            found = self._recent.get(image_id)
        if found is not None:
            return found
        data = session.scalar(select(m.Feature.data).where(m.Feature.image_id == image_id))
        if data is None:
            return None
        features = Features.from_bytes(data)
        self._keep(image_id, features)
        return features

    def _keep(self, image_id: int, features: Features) -> None:
        with self._recent_lock:
            if len(self._recent) >= RECENT_FEATURES:
                self._recent.pop(next(iter(self._recent)))
            self._recent[image_id] = features

    def __len__(self) -> int:
        """How many stored images the matcher has loaded."""
        return self._covered + len(self._known)

    @staticmethod
    def _stored_paths(ids: list[int], *, session: Session) -> dict[int, list[Path]]:
        """Each of these stored images' paths, in the order they were recorded."""
        found: dict[int, list[Path]] = {image_id: [] for image_id in ids}
        for start in range(0, len(ids), 500):
            rows = session.execute(
                select(m.ImagePath.image_id, m.ImagePath.path, m.ImagePath.path_bytes)
                .where(m.ImagePath.image_id.in_(ids[start : start + 500]))
                .order_by(m.ImagePath.id)
            )
            for image_id, text, raw in rows:
                found[int(image_id)].append(stored_path(text, raw))
        return found

    def _pixels_of(self, side: _Side, *, session: Session) -> Image.Image | None:
        """A stored side's pixels, its paths read in ``session``."""
        assert side.image_id is not None
        paths = self._stored_paths([side.image_id], session=session)
        return _decode_stored(side.sha, paths[side.image_id])

    def look_up(self, decoded: DecodedImage) -> list[Found]:
        """Stored images that show the same photo as a decoded file (not stored), best first.

        Its features, its mirror image's and its PDQ variants are computed at once, on every
        core, and then :meth:`find` looks it up.
        """
        working = WorkingCopy.of(decoded.pixels)  # a large picture reduced once for all three
        flipped = self._threads.submit(mirrored, decoded.pixels, working=working)
        variants = self._threads.submit(pdq_dihedral, decoded.pixels, working=working)
        return self.find(
            decoded.pixels,
            extract(decoded.pixels, working=working),
            sha256=decoded.sha256,
            pixel_digest=decoded.pixel_digest,
            flipped=flipped,
            variants=variants,
            working=working,
        )

    def find(
        self,
        pixels: Image.Image | Callable[[], Image.Image | None],
        features: Features,
        *,
        sha256: str | None = None,
        pixel_digest: str | None = None,
        exclude: int | None = None,
        recorded: Collection[int] = (),
        turn: Session | None = None,
        flipped: Features | Future[Features] | None = None,
        variants: Dihedral | Future[Dihedral] | None = None,
        working: WorkingCopy | None = None,
    ) -> list[Found]:
        """Stored images that show the same photo as ``pixels``, best first.

        ``turn`` is the session of a matching turn: the candidate look-up then runs in it, and
        sees what the turn sees. Without it the look-up uses a session of its own. Stored
        images in ``recorded`` (those whose pair with the query a turn recorded already) are
        not judged again: the pair would be judged as it was, whichever image is the query,
        and is recorded once. ``flipped``
        (the features of ``pixels`` mirrored) and ``variants`` (its
        :func:`provcat.fingerprints.pdq_dihedral`) are computed when not given; either may be
        given as a future still computing it (:meth:`look_up`). ``working`` is the working
        copy of ``pixels`` (``provcat.working``) if the caller made it: the look-up's pixel
        checks then use it too. ``pixels`` may be a function that decodes them (returning
        None when it cannot), called when a pair first needs them, if ever; ``flipped`` and
        ``variants`` must then be given.

        Each candidate pair is judged in one orientation chosen from the two images alone
        (:func:`_canonical`), never from which of them was stored first: the verdict and every
        recorded figure are the same whichever image arrives second, so ingesters running at
        once record what one ingester would.
        """
        # The PDQ variants and the mirror's features in threads while the postings of the
        # query's own words are read (all three release the GIL for most of their work).
        picture: Image.Image | None = None
        load: Callable[[], Image.Image | None] | None = None
        if isinstance(pixels, Image.Image):
            picture, working = pixels, working or WorkingCopy.of(pixels)
            computing = _future(variants) or self._threads.submit(
                pdq_dihedral, pixels, working=working
            )
            mirroring = _future(flipped) or self._threads.submit(mirrored, pixels, working=working)
        else:
            load, given_variants, given_mirror = pixels, _future(variants), _future(flipped)
            if given_variants is None or given_mirror is None:
                raise ValueError("a query decoded later needs its mirror features and PDQ")
            computing, mirroring = given_variants, given_mirror

        with (
            self._sessions() if turn is None else nullcontext(turn) as session,
            pixels_remembered([] if working is None else [working]),
        ):
            same_digest: set[int] = set()
            if pixel_digest:
                same_digest = set(
                    session.scalars(select(m.Image.id).where(m.Image.pixel_digest == pixel_digest))
                )
            # PDQ's candidates need no votes: they are looked at (and a likely one judged) in
            # the threads while the words are read, as soon as the query's PDQ variants and
            # mirror features are at hand: before the reads when they are already computed,
            # else between the reads of the query's words and of its mirror image's.
            early = _Early()

            def start_pdq() -> None:
                dihedral = computing.result()
                early.near, early.low = self._pdq_near(dihedral, len(features))
                early.query = _Side(
                    None, features, sha256 or "", picture, mirroring.result(), dihedral, load=load
                )
                ids = [
                    i
                    for i in early.near
                    if i != exclude and i not in same_digest and i not in recorded
                ]
                sides = [s for s in self._candidates(ids, session=session) if s.sha != sha256]
                early.sides = {side.image_id: side for side in sides if side.image_id is not None}
                early.looks = self._look_at(early.query, sides, {}, early.near, session=session)

            def queries() -> Iterator[npt.NDArray[np.uint8]]:
                yield features.descriptors
                if early.query is None:
                    start_pdq()
                yield mirroring.result().descriptors

            if computing.done() and mirroring.done():
                start_pdq()
            # The images loaded are every image committed before this look (a turn refreshes
            # first): a count that, unlike the largest id, does not depend on how many ids
            # failed inserts of concurrent ingesters used up.
            voted = self._votes(session, queries(), split=turn is None)
            if early.query is None:
                start_pdq()
            query, pdq_near, query_low = early.query, early.near, early.low
            assert query is not None
            wanted = list(dict.fromkeys([v.image_id for v in voted] + [*same_digest, *pdq_near]))
            wanted = [i for i in wanted if i != exclude and i not in recorded]
            fresh = self._candidates([i for i in wanted if i not in early.sides], session=session)
            by_id = {side.image_id: side for side in fresh} | early.sides
            stored = [by_id[i] for i in wanted if i in by_id]
            # A candidate is looked at in the orientations (the query as it is, its mirror
            # image) whose words alone would have made it a candidate: among the best of that
            # orientation's own ranking. A copy is, in its own orientation (that is how it
            # became a candidate); in the other, its words are as many as chance gives any
            # image, and in a large catalogue nearly every candidate shares some words both
            # ways. PDQ's candidates are looked at both ways.
            ranked = {v.image_id: v.ranked for v in voted if v.image_id not in pdq_near}
            looked = [
                side
                for side in fresh
                if not (side.sha == sha256 or side.image_id in same_digest)
            ]
            looks = early.looks | self._look_at(query, looked, ranked, pdq_near, session=session)
            found: list[Found] = []
            for side in stored:
                assert side.image_id is not None
                look = looks.get(side.image_id)
                likely = True
                if look is not None:
                    outcome = look.result()
                    if outcome.judged:
                        if outcome.match is not None:
                            found.append(outcome.match)
                        continue
                    likely = outcome.likely
                match = self._judge_pair(
                    query,
                    side,
                    identical=sha256 is not None and side.sha == sha256,
                    same=side.image_id in same_digest,
                    likely=likely,
                    pdq=pdq_near.get(side.image_id),
                    low=query_low,
                    session=session,
                )
                if match is not None:
                    found.append(match)
        found.sort(key=lambda f: (-f.relation.score, f.image_id))
        return found

    def _look_at(
        self,
        query: _Side,
        sides: list[_Side],
        ranked: dict[int, tuple[bool, ...]],
        near: dict[int, int],
        *,
        session: Session,
    ) -> dict[int, Future[_Outcome]]:
        """Start each candidate's first look in the threads (:func:`_look_and_judge`), in the
        orientations ``ranked`` gives it (both when it gives none); ``near`` holds the PDQ
        distances of PDQ's candidates.

        Features alone settle most candidates: those looks run on every core (OpenCV and faiss
        release the GIL; each look depends on its own pair only, so the verdicts are the same
        in any order). A likely one is decoded and judged with pixels by the thread that looked
        at it, from paths read here (the threads read no database), while the other threads
        look at the rest.
        """
        ids = [side.image_id for side in sides if side.image_id is not None]
        paths = self._stored_paths(ids, session=session) if PREPARE_STORED else {}
        looks: dict[int, Future[_Outcome]] = {}
        for image_id, side in zip(ids, sides, strict=True):
            # Each look runs in a copy of this context: what is remembered of each picture
            # for this look-up is shared (pixels_remembered); a context cannot be entered by
            # two threads at once.
            plain, mirror = ranked.get(image_id, (True, True))
            look = partial(
                _look_and_judge, query, side, paths.get(image_id), near.get(image_id), plain, mirror
            )
            looks[image_id] = self._threads.submit(contextvars.copy_context().run, look)
        return looks

    def _candidates(self, ids: list[int], *, session: Session) -> list[_Side]:
        """The stored sides of these candidates (in this order), their features read in one
        query where not already at hand; images without features are left out."""
        # Held here, not only in the bounded cache: a look-up with more candidates than the
        # cache holds (a plain picture has many PDQ neighbours) must not lose any of them.
        with self._recent_lock:
            features = {i: self._recent[i] for i in ids if i in self._recent}
        missing = [i for i in ids if i not in features]
        for start in range(0, len(missing), 500):
            for image_id, data in session.execute(
                select(m.Feature.image_id, m.Feature.data).where(
                    m.Feature.image_id.in_(missing[start : start + 500])
                )
            ):
                features[int(image_id)] = Features.from_bytes(data)
                self._keep(int(image_id), features[int(image_id)])
        shas: dict[int, str] = {}
        variants: dict[int, tuple[bytes, int]] = {}
        for start in range(0, len(ids), 500):
            for image_id, sha, data, quality in session.execute(
                _with_variants(select(m.Image.id, m.Image.sha256)).where(
                    m.Image.id.in_(ids[start : start + 500])
                )
            ):
                shas[int(image_id)] = str(sha)
                stored = _stored(data, quality)
                if stored is not None:
                    variants[int(image_id)] = stored
        return [
            _Side(i, features[i], shas[i], stored_variants=variants.get(i))
            for i in ids
            if i in features and i in shas
        ]

    def _judge_pair(
        self,
        query: _Side,
        stored: _Side,
        *,
        identical: bool,
        same: bool,
        likely: bool,
        pdq: int | None,
        low: bool,
        session: Session,
    ) -> Found | None:
        """Whether the query and one stored candidate are the same photo, and how
        (``likely``: what :func:`_first_look` said of the pair): pairs the threads did not
        judge (:func:`_look_and_judge`), a likely one's stored pixels read here."""
        assert stored.image_id is not None
        a, b = _canonical(query, stored)
        if identical or same:
            relation = verify(a.features, b.features, identical_file=identical, same_pixels=same)
            return _found(stored, relation, reference=a, pdq=pdq)
        if not likely:
            if pdq is None:
                return None
            weak = self._weak(a, b, low, session=session)
            return _found(stored, weak, reference=a, pdq=pdq) if weak else None
        stored.pixels = self._pixels_of(stored, session=session)
        return _judge_likely(query, stored, pdq)

    def _pdq_near(
        self, variants: Dihedral, keypoints: int
    ) -> tuple[dict[int, int], bool]:
        """Stored images whose PDQ is near any rotation or flip of the query (``variants``, its
        :func:`provcat.fingerprints.pdq_dihedral`), and whether the query is low-information.

        Near is within PDQ_CANDIDATE, or within the weak-evidence guard's looser PDQ limit
        when the query is low-information (its PDQ hash is noisy; the guard also asks pHash
        and dHash, see provcat.reuse.weak).
        """
        quality = next(iter(variants.values()))[1]
        low = low_information(quality, keypoints)
        limit = max(PDQ_CANDIDATE, WEAK_PDQ) if low else PDQ_CANDIDATE
        return self._pdq.within([hash_ for hash_, _quality in variants.values()], limit), low

    def _weak(
        self, a: _Side, b: _Side, query_low: bool, *, session: Session
    ) -> Relation | None:
        """Weak evidence (global hashes) that ``b`` shows the picture of ``a``, asked only when
        one of the two is low-information; one side is the query, the other stored."""
        stored = b if a.image_id is None else a
        assert stored.image_id is not None
        image = session.get(m.Image, stored.image_id)
        if image is None:
            return None
        prints = {
            row.algorithm: row
            for row in session.scalars(
                select(m.Fingerprint).where(m.Fingerprint.image_id == stored.image_id)
            )
        }
        count = session.scalar(select(m.Feature.count).where(m.Feature.image_id == stored.image_id))
        size = (image.width, image.height)
        if not {"phash", "dhash", "pdq"} <= prints.keys():
            return None
        if not (query_low or low_information(prints["pdq"].quality, count)):
            return None
        if a is stored:
            reference = GlobalPrints(
                phash=BitHash.from_hex(prints["phash"].value, 64),
                dhash=BitHash.from_hex(prints["dhash"].value, 64),
                pdq=BitHash.from_hex(prints["pdq"].value, 256),
                width=size[0],
                height=size[1],
            )
            # The query's pixels: None only when its file changed since it was stored.
            return None if b.pixels is None else weak_relation(reference, b.pixels)
        # The query is the reference: its hashes against the stored picture's pixels.
        query_pixels = a.pixels
        if query_pixels is None:
            return None
        stored.pixels = self._pixels_of(stored, session=session)
        if stored.pixels is None:
            return None
        return weak_relation(GlobalPrints.of(query_pixels), stored.pixels)


@dataclass(frozen=True)
class _Query:
    """What a look-up computes from the query's pixels besides its features. Given the mirror
    image's features (:meth:`Matcher.expect_mirrors`), the pixels are decoded only when a
    pair needs them: ``pixels`` is then the function that decodes them, and ``working`` None.
    """

    pixels: Image.Image | Callable[[], Image.Image | None]
    mirror: Features
    variants: Dihedral
    working: WorkingCopy | None


@dataclass
class _Side:
    """One image of a pair being judged: the query (``image_id`` None) or a stored image.

    A stored side is only changed by the one thread judging its pair (its pixels, its mirror
    image's features, its PDQ variants, each computed when first needed); the query's are
    all at hand before any thread looks at it.
    """

    image_id: int | None
    features: Features
    sha: str
    #: Its pixels once at hand (:attr:`pixels` decodes them with ``load`` when first asked).
    picture: Image.Image | None = None
    mirror: Features | None = None
    #: Its PDQ hashes over the eight rotations and flips, once computed or read.
    variants: Dihedral | None = None
    #: A stored image's PDQ variants as the catalogue keeps them, with its PDQ quality (read
    #: when first needed), or None (stored before revision 0009).
    stored_variants: tuple[bytes, int] | None = None
    #: Decodes the query's pixels when a pair first needs them: a matching turn's query whose
    #: mirror features and PDQ variants were at hand without them. The threads judging its
    #: pairs share the side, so the first to ask decodes them, once.
    load: Callable[[], Image.Image | None] | None = None
    _loading: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def pixels(self) -> Image.Image | None:
        """Its upright RGB pixels; None when its file cannot be read (gone, or changed)."""
        if self.load is not None:
            with self._loading:
                if self.load is not None:
                    self.picture, self.load = self.load(), None
        return self.picture

    @pixels.setter
    def pixels(self, picture: Image.Image | None) -> None:
        self.picture, self.load = picture, None

    def mirror_features(self) -> Features:
        assert self.mirror is not None, "only the query's mirror features are at hand"
        return self.mirror

    def copy_mirror(self) -> Features | None:
        """Its mirror image's features, computed from its pixels when not yet at hand (None
        without pixels)."""
        if self.mirror is None and self.pixels is not None:
            self.mirror = mirrored(self.pixels, working=working_copy(self.pixels))
        return self.mirror

    def dihedral(self) -> Dihedral | None:
        """Its PDQ variants: as stored, else computed from its pixels when not yet at hand
        (None without either)."""
        if self.variants is None and self.stored_variants is not None:
            self.variants = dihedral_from_bytes(*self.stored_variants)
        if self.variants is None and self.pixels is not None:
            self.variants = pdq_dihedral(self.pixels, working=working_copy(self.pixels))
        return self.variants


@dataclass
class _Early:
    """What a look-up starts before its candidates are voted: the query's side, its PDQ
    candidates (their sides and first looks) and whether it is low-information."""

    query: _Side | None = None
    near: dict[int, int] = field(default_factory=dict)
    low: bool = False
    sides: dict[int, _Side] = field(default_factory=dict)
    looks: dict[int, Future[_Outcome]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    """A verification thread's work on one pair: whether the first look found it likely,
    and, when the thread went on to judge it with pixels (``judged``), its match or None."""

    likely: bool
    judged: bool = False
    match: Found | None = None


def _future(value: T | Future[T] | None) -> Future[T] | None:
    """``value`` as a future: itself if it is one, a completed one if given, None if not."""
    if value is None or isinstance(value, Future):
        return value
    done: Future[T] = Future()
    done.set_result(value)
    return done


def _decode_stored(sha: str, paths: list[Path]) -> Image.Image | None:
    """The upright pixels of the first of a stored image's ``paths`` that still holds its
    file (SHA-256 ``sha``); None when none does. Reads no database: safe in threads."""
    decoded = open_stored(sha, paths)
    return None if decoded is None else decoded.pixels


def _query_side(
    sha: str, paths: list[Path], variants: tuple[bytes, int] | None
) -> _Query | None:
    """A stored image's pixels, decoded again, with its mirror image's features and its PDQ
    hashes over the eight rotations and flips (``variants`` as stored, else computed); None
    when its file cannot be read."""
    pixels = _decode_stored(sha, paths)
    if pixels is None:
        return None
    working = WorkingCopy.of(pixels)
    dihedral = (
        dihedral_from_bytes(*variants) if variants else pdq_dihedral(pixels, working=working)
    )
    return _Query(pixels, mirrored(pixels, working=working), dihedral, working)


def _recorded_with(image_id: int, *, session: Session) -> set[int]:
    """The images whose pair with ``image_id`` is recorded (as reference or copy). In an
    ingest each pair of its new images comes up in both images' turns; the second needs not
    judge it again (decoding both files, most often)."""
    match = m.PhotoMatch
    return set(
        session.scalars(
            select(match.copy_id)
            .where(match.reference_id == image_id)
            .union(select(match.reference_id).where(match.copy_id == image_id))
        )
    )


def _decode_query(image_id: int, sha: str, paths: list[Path]) -> Image.Image | None:
    """A pending image's pixels, decoded again from its ``paths`` when a pair of its turn
    first needs them; None (and a warning) when its file is gone or changed: the pair is then
    judged as one whose stored file is gone."""
    pixels = _decode_stored(sha, paths)
    if pixels is None:
        log.warning("image %d cannot be read again from its paths; judged without pixels", image_id)
    return pixels


def _with_variants(statement: Any) -> Any:
    """``statement`` (on ``image``) with each image's stored PDQ variants and PDQ quality
    (:func:`_stored` makes them one value; None before revision 0009)."""
    pdq = (m.Fingerprint.image_id == m.Image.id) & (m.Fingerprint.algorithm == "pdq")
    return statement.add_columns(m.Fingerprint.variants, m.Fingerprint.quality).outerjoin(
        m.Fingerprint, pdq
    )


def _stored(data: bytes | None, quality: int | None) -> tuple[bytes, int] | None:
    return None if data is None or quality is None else (bytes(data), int(quality))


def _prepare_stored(stored: _Side, query: _Side, paths: list[Path]) -> None:
    """Decode a likely candidate's pixels from its ``paths`` and, when it is the pair's copy,
    extract its mirror image's features (verification needs them first): the values judging
    it would compute itself; only when they are computed changes."""
    stored.pixels = _decode_stored(stored.sha, paths)
    if stored.pixels is not None and _canonical(query, stored)[1] is stored:
        stored.mirror = mirrored(stored.pixels, working=working_copy(stored.pixels))


def _look_and_judge(
    query: _Side,
    stored: _Side,
    paths: list[Path] | None,
    pdq: int | None,
    plain: bool,
    mirror: bool,
) -> _Outcome:
    """:func:`_first_look` at a pair; a likely one is then prepared from its ``paths``
    (:func:`_prepare_stored`) and judged with pixels (:func:`_judge_likely`, ``pdq`` its
    PDQ distance by the table, if any), unless the paths are None (the caller judges it).
    Reads no database: safe to run in threads."""
    likely = _first_look(query, stored, plain=plain, mirror=mirror)
    if not likely or paths is None:
        return _Outcome(likely)
    _prepare_stored(stored, query, paths)
    return _Outcome(True, judged=True, match=_judge_likely(query, stored, pdq))


def _judge_likely(query: _Side, stored: _Side, pdq: int | None) -> Found | None:
    """Whether a likely pair (the stored side's pixels at hand, or None when its file is
    gone) shows the same photo, and how; ``pdq`` is the pair's PDQ distance when a side has
    no pixels to compute it from. Reads no database: safe to run in threads."""
    a, b = _canonical(query, stored)
    relation = _verify(a, b)
    reference = a
    if not relation.same_photo and b is stored and stored.copy_mirror() is None:
        # The stored file is gone (moved, deleted, or another picture since): the mirror
        # image's features of the pair's copy cannot be extracted, so the pair is told
        # from the query's side, whose mirror features are at hand.
        relation, reference = _verify(b, a), b
    if reference is a and relation.same_photo and _swap_may_win(relation, a, b):
        # Told from the other side, the pair may be better described: b shows more of the
        # picture than a, or a's extra frame is a border or other material around the
        # photo (a letterbox, a collage, a social-media card), or a is a grey or overlaid
        # copy of b. It is told in the orientation found: the same pair cannot be a
        # mirror image from one side and not from the other (and a copy found unmirrored
        # spares extracting the larger picture's mirror features). A smaller copy that
        # shows all of a's picture (resized, not cropped) is told from its side only when
        # a is a grey or overlaid copy of it; else it is not verified again.
        swapped = _verify(b, a, mirror="mirrored" in relation.kinds)
        if swapped.same_photo and _prefer_swapped(relation, swapped, a, b):
            relation, reference = swapped, b
    if not relation.same_photo:
        return None
    return _found(stored, relation, reference=reference, pdq=_pdq_between(a, b, pdq))


def _found(stored: _Side, relation: Relation, *, reference: _Side, pdq: int | None) -> Found:
    assert stored.image_id is not None
    return Found(
        image_id=stored.image_id,
        sha256=stored.sha,
        relation=relation,
        pdq_distance=pdq,
        query_is_reference=reference is not stored,
    )


def _first_look(query: _Side, stored: _Side, *, plain: bool = True, mirror: bool = True) -> bool:
    """Whether a pair is worth decoding the stored file for, from features alone, looking at
    the query as it is (``plain``) and its mirror image (``mirror``).

    Only a likely match is worth the pixel checks (overlays, borders). The unmirrored look is
    taken in the pair's own orientation; the mirrored look needs a mirror image's features,
    which only the query has at hand (the stored side is not decoded yet). A stretched or
    keystoned copy is confirmed by its pixels: a fit with enough inliers is worth decoding
    for, even if features alone refused. The mirrored look is only taken when the unmirrored
    one did not settle it. Reads nothing but the two sides: safe to run in threads.
    """
    a, b = _canonical(query, stored)
    return (plain and _worth_pixels(verify(a.features, b.features))) or (
        mirror and _worth_pixels(verify(stored.features, query.mirror_features()))
    )


def _worth_pixels(look: Relation) -> bool:
    """Whether a verification from features alone makes the pair worth decoding for: it
    found the same photo, or a fit with as many inliers as a stretched or keystoned copy
    needs, which the pixels may confirm, or a tentative warp that a look at the copy's pixels
    rectified may confirm (:mod:`provcat.reuse.verify`). Not a fit whose scale verification
    refuses before looking at any pixel: judged with them, the pair would be refused the same
    way (the same matches give the same fit; OpenCV's RANSAC draws from a fixed seed)."""
    return (
        look.same_photo
        or look.rectifiable
        or (look.inliers >= RICH_INLIERS and believable_scale(look.scale))
    )


def _verify(reference: _Side, copy: _Side, *, mirror: bool | None = None) -> Relation:
    """:func:`verify` of two sides, with the pixels and mirror features each has at hand (the
    copy's mirror features are extracted from its pixels when not yet computed, unless
    ``mirror`` is False: see :func:`verify`)."""
    return verify(
        reference.features,
        copy.features,
        a_pixels=reference.pixels,
        b_pixels=copy.pixels,
        b_mirrored=None if mirror is False else copy.copy_mirror(),
        mirror=mirror,
    )


def _canonical(x: _Side, y: _Side) -> tuple[_Side, _Side]:
    """The pair in the order it is judged in: the picture with more pixels first (a copy is
    more often the smaller), then by SHA-256; never by which was stored first."""

    def key(side: _Side) -> tuple[int, str]:
        return (-side.features.width * side.features.height, side.sha)

    return (x, y) if key(x) <= key(y) else (y, x)


def _swap_may_win(relation: Relation, a: _Side, b: _Side) -> bool:
    """Whether :func:`_prefer_swapped` may prefer telling a verified pair judged as (a, b)
    from b's side: the pair is verified from there only then. It may when b is the fuller
    (:func:`_second_is_fuller`), or when b was cropped out of a (a's extra frame may be a
    border or a rotation's corners); it never does when a holds more of the picture, nor
    when a is the larger copy of all of it unless a is grey or overlaid and b is not."""
    return _second_is_fuller(relation, a, b) or _cropped_from_a(relation)


def _cropped_from_a(relation: Relation) -> bool:
    return relation.direction == "a_contains_b" and "cropped" in relation.kinds


def _prefer_swapped(relation: Relation, swapped: Relation, a: _Side, b: _Side) -> bool:
    """Whether a verified pair judged as (a, b) is better told as (b, a), ``swapped``."""
    if _second_is_fuller(relation, a, b):
        return True
    if not _cropped_from_a(relation):
        return False  # a holds more of the picture, or is the larger copy of it
    # a holds b and more. Told from b's side, a may show all of b and nothing else of the
    # picture: what a has more is the corners a rotation opened.
    if not {"cropped", "contained", "padded"} & set(swapped.kinds):
        return True
    # Or a's extra frame is a border around b, or other material (a collage, a card). A
    # crop line may run along an edge of the picture by chance, and a flat picture's margin
    # looks plain, so the frame must meet b at a seam along every side of b that has room
    # around it.
    box = relation.crop_box
    return (
        bool({"padded", "contained"} & set(swapped.kinds))
        and a.pixels is not None
        and box is not None
        and framed(a.pixels, box, every=True)
    )


def _second_is_fuller(relation: Relation, a: _Side, b: _Side) -> bool:
    """Whether ``b`` should be the reference of a verified pair judged as (a, b).

    It should when it holds more of the picture (not borders, nor material around it); or,
    holding the same part of the picture (at the same size, or b a smaller copy of all of a,
    which is "a_contains_b" by its scale alone), when ``a`` carries the overlay, or ``b`` is
    the colour original of a grey ``a``.
    """
    if relation.direction == "b_contains_a":
        return not {"padded", "contained"} & set(relation.kinds)
    if relation.direction != "same_extent" and (
        relation.direction != "a_contains_b"
        or {"cropped", "padded", "contained"} & set(relation.kinds)
    ):
        return False
    if relation.overlay_on == "a":
        return True
    if a.pixels is None or b.pixels is None:
        return False
    return colourfulness(a.pixels) <= GREY_MAX and colourfulness(b.pixels) >= COLOUR_MIN


def _pdq_between(a: _Side, b: _Side, fallback: int | None) -> int | None:
    """The smallest PDQ distance between ``b`` and any rotation or flip of ``a``, from both
    sides' variants (stored, or computed from their pixels: the same hashes), so the same
    whichever was the query; ``fallback`` for a side with neither (a stored file gone
    before revision 0009)."""
    a_variants, b_variants = a.dihedral(), b.dihedral()
    if a_variants is None or b_variants is None:
        return fallback
    target = b_variants["original"][0]
    return min(hash_ - target for hash_, _quality in a_variants.values())


def _record(new_id: int, match: Found, *, session: Session) -> int:
    reference, copy = (
        (new_id, match.image_id)
        if match.query_is_reference
        else (
            match.image_id,
            new_id,
        )
    )
    exists = session.scalar(
        select(m.PhotoMatch.id).where(
            ((m.PhotoMatch.reference_id == reference) & (m.PhotoMatch.copy_id == copy))
            | ((m.PhotoMatch.reference_id == copy) & (m.PhotoMatch.copy_id == reference))
        )
    )
    if exists is not None:
        return 0
    rel = match.relation
    box = rel.crop_box or (None, None, None, None)
    session.add(
        m.PhotoMatch(
            reference_id=reference,
            copy_id=copy,
            kinds=" ".join(rel.kinds),
            crop_left=box[0],
            crop_top=box[1],
            crop_right=box[2],
            crop_bottom=box[3],
            inliers=rel.inliers,
            score=rel.score,
            rotation_degrees=rel.rotation_degrees,
            scale=rel.scale,
            pdq_distance=match.pdq_distance,
        )
    )
    return 1


def extract_features(decoded: DecodedImage) -> Features:
    """The local features of a decoded image."""
    return extract(decoded.pixels)

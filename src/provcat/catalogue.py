"""The Catalogue: open a database, ingest into it, and ask it questions from Python."""

from __future__ import annotations

import logging
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
from sqlalchemy import Engine, make_url, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from provcat import models as m
from provcat import queries
from provcat import thumbnails as thumbs
from provcat.config import database_url
from provcat.db import (
    current_revision,
    database_reason,
    make_engine,
    migrate,
    refresh_statistics,
)
from provcat.decode import decode_bytes, open_image
from provcat.errors import (
    CatalogueError,
    DatabaseUnavailable,
    ImageRejected,
    NotFound,
    PostingsFileError,
    unexpected_reason,
)
from provcat.files import Walked, path_text, walk
from provcat.fingerprints import BitHash, hamming_many, pack
from provcat.matching import Filled, Lookup, Matcher, SimilarMatch, fill_variants
from provcat.queries import ImageQuery
from provcat.results import AgentInfo, ArticleInfo, ImageRecord, ImageSummary
from provcat.reuse.postings import post_all_pending
from provcat.reuse.word_file import SUFFIX, Made, location, refresh

if TYPE_CHECKING:
    from provcat.ingest import IngestResult, ProgressCallback
    from provcat.reports.captions import CaptionGroup, CaptionMatch, CaptionReport
    from provcat.reports.reuse import Cluster, ReuseReport
    from provcat.reports.writers import Pages

# Ingest (with the scraped articles' parsers) and the reports (with the caption matching and
# the templates) are imported by the methods that use them: a command that only looks up,
# such as `provcat similar`, starts without them (docs/scale.md, "A command's start").

log = logging.getLogger(__name__)

#: Bits in each stored fingerprint, by algorithm.
HASH_BITS = {"phash": 64, "dhash": 64, "pdq": 256}


class Catalogue:
    """A provcat catalogue database.

    Args:
        url: An SQLAlchemy URL or the path of an SQLite file; ``None`` means
            ``$PROVCAT_DATABASE_URL`` or ``./provcat.db``.
        migrate_schema: Bring the schema to the newest revision on open (the default).
        create: Create the catalogue if the database holds none (the default). With False,
            a missing SQLite file or an empty database raises NotFound instead: what a
            read-only command wants.

    Raises:
        DatabaseUnavailable: The database cannot be reached or opened (a refused connection,
            a file that is not an SQLite database, a folder that cannot be written).
        NotFound: ``create`` is False and there is no catalogue at ``url``.

    Example:
        >>> cat = Catalogue("sqlite:///example.db")  # doctest: +SKIP
        >>> cat.ingest(["catalogue/"]).images_added  # doctest: +SKIP
    """

    def __init__(
        self, url: str | None = None, *, migrate_schema: bool = True, create: bool = True
    ) -> None:
        self.url = database_url(url)
        if not create:
            _require_sqlite_file(self.url)
        try:
            self.engine: Engine = make_engine(self.url)
            if not create and current_revision(self.engine) is None:
                raise NotFound(f"{self._shown()} holds no provcat catalogue (run provcat ingest)")
            if migrate_schema:
                migrate(self.engine)
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(
                f"cannot open catalogue {self._shown()}: {database_reason(exc)}"
            ) from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: The look-up index of similar(), kept between calls and brought up to date by each.
        self._matcher: Matcher | None = None
        self._matcher_lock = threading.Lock()

    def _shown(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def session(self) -> Session:
        """A new session for custom queries over :mod:`provcat.models` (a context manager)."""
        return self._sessions()

    def close(self) -> None:
        """Release the database connections (and the look-up index of :meth:`similar`)."""
        self._matcher = None
        self.engine.dispose()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalogue({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- ingest ------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: ProgressCallback | None = None,
        images_dir: str | Path | None = None,
        workers: int | None = None,
    ) -> IngestResult:
        """Ingest manifests, folders, image files and scraped articles.

        Each item is committed on its own; an item that cannot be read is recorded as a
        rejection (see :meth:`rejections`) and the others still go in. Ingesting the same input
        again changes nothing. Reused photos are matched once every item is stored, and not
        while another process is storing into the catalogue (provcat.gate).

        Args:
            paths: Files and folders (folders are walked recursively).
            progress: Called after each manifest and article is read (they are read first,
                so that their image files are prepared with the rest) with (done, total,
                "reading manifests and articles"), as each image file of a manifest or an
                article is prepared with (items done so far, total, the file), after each item
                is stored with (done, total, path), then after
                each image's reuse matching with (done, total, "matching reused photos"), and
                before and after the postings file of a large SQLite catalogue is written
                (:meth:`index_postings`) with (0 or 1, 1, "writing the postings file for
                look-ups").
            images_dir: Where the images of scraped articles (.txt, .html) are; by default the
                page's folder and the ``<name>_files`` folder beside it.
            workers: Processes that decode, fingerprint and extract features of image files
                (provcat.prepare); default one per core, 1 for none besides this one.

        Returns:
            Counts of what was added and known, and the rejections.
        """
        from provcat.ingest import Ingester

        folder = Path(images_dir) if images_dir is not None else None
        ingester = Ingester(self._sessions, images_dir=folder, workers=workers, url=self.url)
        result = ingester.run([Path(p) for p in paths], progress=progress)
        self.refresh_statistics()
        return result

    # -- queries -----------------------------------------------------------------------------

    def images(self, options: ImageQuery | None = None, **filters: Any) -> list[ImageSummary]:
        """Images matching the filters of an :class:`ImageQuery` (or its fields as keywords)."""
        query = options or ImageQuery()
        if filters:
            query = replace(query, **filters)
        return list(self.iter_images(query))

    def iter_images(
        self, options: ImageQuery | None = None, **filters: Any
    ) -> Iterator[ImageSummary]:
        """:meth:`images` one at a time, a page of them read at once: for listing a large
        catalogue in flat memory (10^6 images as a list of summaries take about a gigabyte)."""
        query = options or ImageQuery()
        if filters:
            query = replace(query, **filters)
        with self.session() as session:
            yield from queries.iter_images(query, session=session)

    def image(self, sha256_prefix: str) -> ImageRecord:
        """Everything about one image, found by a prefix of its SHA-256 (at least 4 digits)."""
        with self.session() as session:
            return queries.image_record(sha256_prefix, session=session)

    def articles(self) -> list[ArticleInfo]:
        """Every article in the catalogue."""
        with self.session() as session:
            return queries.list_articles(session=session)

    def agents(self) -> list[AgentInfo]:
        """Every agent credited or publishing, with its roles."""
        with self.session() as session:
            return queries.list_agents(session=session)

    def rejections(self, *, resolved: bool = False) -> list[m.Rejection]:
        """Files that could not be ingested, newest first: those still rejected, or with
        ``resolved=True`` also those ingested successfully since (``resolved_at`` set)."""
        with self.session() as session:
            return list(queries.list_rejections(resolved=resolved, session=session))

    def caption_report(self, *, threshold: float | None = None) -> CaptionReport:
        """The duplicate-caption report: groups of printings of one caption, and photos printed
        under several captions.

        Args:
            threshold: Near-duplicate similarity (0-1); default
                :data:`provcat.duplicates.NEAR_THRESHOLD`.
        """
        from provcat.reports.captions import report_from_catalogue

        with self.session() as session:
            if threshold is None:
                return report_from_catalogue(session=session)
            return report_from_catalogue(session=session, threshold=threshold)

    def match_caption(self, text: str, *, threshold: float | None = None) -> list[CaptionMatch]:
        """Printed captions in the catalogue that ``text`` is the same caption as, best first.

        Exact matches differ only in quotes, dashes, spacing or case; near matches as in the
        caption report. An empty list when nothing matches.
        """
        from provcat.reports.captions import find_caption

        with self.session() as session:
            if threshold is None:
                return find_caption(text, session=session)
            return find_caption(text, session=session, threshold=threshold)

    def duplicate_captions(self, *, threshold: float | None = None) -> list[CaptionGroup]:
        """The duplicated caption groups (the same groups the caption report shows)."""
        return list(self.caption_report(threshold=threshold).groups)

    def write_caption_report(
        self,
        out: TextIO,
        *,
        fmt: str = "html",
        threshold: float | None = None,
        pages: Pages | None = None,
    ) -> CaptionReport:
        """Build the duplicate-caption report and write it to ``out`` in ``fmt``.

        Args:
            out: A text stream.
            fmt: "html", "md", "json" or "csv".
            threshold: Near-duplicate similarity; default NEAR_THRESHOLD.
            pages: For "html", split the page (:class:`provcat.reports.writers.Pages`): the
                first page goes to ``out``, the others to the files it names.

        Returns:
            The report that was written.
        """
        from provcat.reports.writers import CAPTION_WRITERS, Shown, Thumbnails

        writer = CAPTION_WRITERS.get(fmt)
        if writer is None:
            raise CatalogueError(f"unknown report format {fmt!r}")
        report = self.caption_report(threshold=threshold)
        extra: dict[str, Any] = {}
        if fmt == "html":
            # In the order the page shows them, for the stored thumbnails' rounds.
            shown = Shown(
                sha
                for g in report.groups
                for sha in dict.fromkeys(o.image for o in g.occurrences if o.image)
            )
            for photo in report.photos:
                for sha in photo.images:
                    shown.append(sha)
            extra["thumbnails"] = Thumbnails(
                find_paths=self.image_paths, stored=self._stored_thumbnails, order=shown
            )
            extra["pages"] = pages
        writer(report, out, **extra)
        return report

    def reuse_report(self) -> ReuseReport:
        """The reused-photo report: clusters of stored images that are one photo."""
        from provcat.reports.reuse import build_reuse_report

        with self.session() as session:
            return build_reuse_report(session=session)

    def reused_photos(self) -> list[Cluster]:
        """The photos the catalogue holds more than one image of (the report's clusters)."""
        return list(self.reuse_report().clusters)

    def write_reuse_report(
        self, out: TextIO, *, fmt: str = "html", pages: Pages | None = None
    ) -> ReuseReport:
        """Build the reused-photo report and write it to ``out`` in ``fmt`` (with ``pages``,
        an HTML report split into pages, as :meth:`write_caption_report` says)."""
        from provcat.reports.writers import REUSE_WRITERS, Shown, Thumbnails

        writer = REUSE_WRITERS.get(fmt)
        if writer is None:
            raise CatalogueError(f"unknown report format {fmt!r}")
        report = self.reuse_report()
        extra: dict[str, Any] = {}
        if fmt == "html":
            boxes: dict[str, list[tuple[int, int, int, int]]] = {}
            shown = Shown()
            for cluster in report.clusters:
                crops = [x.crop_box for x in cluster.members if x.crop_box and x.via is None]
                if crops:
                    boxes[cluster.root] = crops
                for member in cluster.members:
                    shown.append(member.sha256)
            extra["thumbnails"] = Thumbnails(
                find_paths=self.image_paths,
                stored=self._stored_thumbnails,
                order=shown,
                boxes=boxes,
                side=thumbs.SIDE,
            )
            extra["pages"] = pages
        writer(report, out, **extra)
        return report

    def similar(self, path: str | Path) -> list[SimilarMatch]:
        """Stored images that show the same photo as the image file at ``path``, best first.

        The file is not ingested. An empty list when nothing is the same photo. The first call
        loads the catalogue's look-up index; later calls on this catalogue object only add what
        was stored since (by any process), so a loop of look-ups pays the load once. Threads
        may call it at once: they share the index, and bring it up to date one at a time.

        Raises:
            ImageRejected: The file cannot be decoded safely.
        """
        decoded = open_image(Path(path))
        return [SimilarMatch.from_found(f) for f in self._look_ups().look_up(decoded)]

    def similar_data(self, data: bytes, *, name: str) -> list[SimilarMatch]:
        """:meth:`similar` of an image file's bytes held in memory (an upload, say), called
        ``name`` in errors.

        Raises:
            ImageRejected: The bytes cannot be decoded safely; the error names ``name``.
        """
        decoded = decode_bytes(data, name=name)
        return [SimilarMatch.from_found(f) for f in self._look_ups().look_up(decoded)]

    def load_look_ups(self) -> None:
        """Load the look-up index now (or bring it up to date), rather than at the first
        :meth:`similar`: a server does, so that its first answer is as quick as the rest."""
        self._look_ups()

    def _look_ups(self) -> Matcher:
        """The look-up index, loaded at the first call and brought up to date with what any
        process stored since at each later one."""
        with self._matcher_lock:  # threads looking up at once share one index
            loaded = self._matcher is not None
            matcher = self._matcher = self._matcher or Matcher(self._sessions)
        if loaded:  # a new matcher has just loaded everything
            matcher.refresh()
        return matcher

    def index_postings(
        self,
        *,
        full: bool = False,
        waiting: Callable[[], None] | None = None,
        writing: Callable[[str, int], None] | None = None,
    ) -> Made | None:
        """Make, or bring up to date, the file that look-ups of a SQLite catalogue read its
        visual-word postings from (:mod:`provcat.reuse.word_file`): the images stored since
        it was made are merged into it, or with ``full`` it is made anew from the postings
        table. Ingest does this by itself once enough is new (and once a catalogue reaches
        :data:`provcat.reuse.word_file.MAKE_FROM` images); look-ups answer the same with or
        without it. None for a PostgreSQL (or in-memory) catalogue, whose look-ups read the
        postings in the database. ``waiting`` and ``writing`` are told when another process
        is writing the file and what is about to be written
        (:func:`provcat.reuse.word_file.refresh`).

        Raises:
            PostingsFileError: The file cannot be written beside the catalogue (the reason
                names the folder); the old one, if any, is left as it was.
        """
        with self.session() as session:
            folder = location(session.connection())
        if folder is None:
            return None
        try:
            return refresh(
                folder.with_name(folder.name.removesuffix(SUFFIX)),
                full=full,
                waiting=waiting,
                writing=writing,
            )
        except (OSError, sqlite3.Error, ValueError) as exc:
            raise PostingsFileError(f"cannot write the postings file {folder}: {exc}") from exc

    def refresh_statistics(self) -> list[str]:
        """On PostgreSQL, have the server analyse the catalogue's tables whose planner
        statistics are missing or stale (:func:`provcat.db.refresh_statistics`); the tables
        analysed. Ingest does it when it ends; nothing to do on SQLite."""
        return refresh_statistics(self.engine, list(m.Base.metadata.tables))

    def post_waiting_words(self) -> int:
        """Post the visual words of the images a SQLite catalogue stored after its postings
        table's mark (:func:`provcat.reuse.postings.post_pending`: an ingest leaves up to a
        thousand images' waiting where look-ups read a postings file, and a killed one may
        leave more); returns how many images were posted (0 on PostgreSQL, which posts them
        as it stores them). Look-ups answer the same before and after."""
        return post_all_pending(self._sessions)

    def fill_pdq_variants(
        self, *, progress: Callable[[int, int], None] | None = None
    ) -> Filled:
        """Store the PDQ hashes over the eight rotations and flips of the images stored
        before the catalogue kept them (revision 0009), decoded again from their files
        (:func:`provcat.matching.fill_variants`): a look-up that finds such an image then
        reads them instead of decoding it. Images whose file is gone keep computing them
        when needed. ``progress`` gets (images done, images to do)."""
        return fill_variants(self._sessions, progress=progress)

    def similar_files(self, paths: Iterable[str | Path]) -> Iterator[Lookup]:
        """Look up image files, and folders of them, one after another: :meth:`similar` for
        each, the look-up index loaded once for all of them.

        A folder is walked recursively (:func:`provcat.files.walk`: sorted, hidden files and
        folders and links to folders passed over, files taken by their name's ending). Each
        file gives one :class:`~provcat.matching.Lookup`, as soon as it is answered: its
        matches, or why it was rejected (it cannot be read or decoded safely, or its look-up
        failed in a way no rule foresaw, logged with its traceback: the other files are still
        looked up) or skipped. None of them is ingested. Database errors end the loop.
        """
        for given in paths:
            path = Path(given)
            found = walk(path) if path.is_dir() else [Walked("image", path)]
            for kind, each, reason in found:
                shown = path_text(each)
                if kind == "skipped":
                    yield Lookup(shown, "skipped", reason=reason)
                    continue
                try:
                    matches = self.similar(each)
                except ImageRejected as exc:
                    yield Lookup(shown, "rejected", reason=exc.reason)
                except (SQLAlchemyError, CatalogueError):
                    raise  # the catalogue's fault, not this file's: every look-up would fail
                except Exception as exc:  # one file's fault ends no batch
                    log.error("%s: looking it up failed:\n%s", shown, traceback.format_exc())
                    yield Lookup(shown, "rejected", reason=unexpected_reason(exc))
                else:
                    yield Lookup(shown, "answered", matches=tuple(matches))

    def thumbnails(self, sha256s: Iterable[str]) -> dict[str, bytes]:
        """The stored thumbnails of the given images by SHA-256: JPEG bytes,
        :data:`provcat.thumbnails.SIDE` pixels on the longer side (an image stored before
        revision 0013 has none until ``provcat index`` makes it from its file)."""
        with self.session() as session:
            return {sha: t.data for sha, t in thumbs.read(session, sha256s).items()}

    def fill_thumbnails(
        self, *, progress: Callable[[int, int], None] | None = None
    ) -> thumbs.Filled:
        """Make the thumbnails of the images stored without one (before revision 0013)
        from their files (:func:`provcat.thumbnails.fill`); an image whose file is gone is
        left without (its report pages show none). ``progress`` gets (images done, images
        to do)."""
        from provcat.prepare import default_workers

        return thumbs.fill(self._sessions, workers=default_workers(), progress=progress)

    def _stored_thumbnails(self, sha256s: Sequence[str]) -> dict[str, thumbs.Stored]:
        with self.session() as session:
            return thumbs.read(session, sha256s)

    def image_paths(self, sha256s: Iterable[str]) -> dict[str, list[str]]:
        """Where each image's file was seen, for the given SHA-256s."""
        wanted = sorted(set(sha256s))
        out: dict[str, list[str]] = {sha: [] for sha in wanted}
        found: list[Any] = []
        with self.session() as session:
            for start in range(0, len(wanted), 500):
                # In the order stored, sorted here: ordered by the database, a planner without
                # statistics may walk every path in key order (docs/scale.md, session 39).
                found += session.execute(
                    select(m.ImagePath.id, m.Image.sha256, m.ImagePath.path)
                    .join(m.ImagePath, m.ImagePath.image_id == m.Image.id)
                    .where(m.Image.sha256.in_(wanted[start : start + 500]))
                ).all()
        for _id, sha, path in sorted(found, key=itemgetter(0)):
            out[sha].append(path)
        return out

    def nearest(
        self, fingerprint: BitHash | str, *, algorithm: str = "phash", max_distance: int = 10
    ) -> list[tuple[str, int]]:
        """Images whose stored fingerprint is within ``max_distance`` bits, nearest first.

        The stored hashes are loaded once and compared in numpy: a Hamming scan in SQL row by
        row is orders of magnitude slower.

        Returns:
            (sha256, distance) pairs.
        """
        if algorithm not in HASH_BITS:
            raise ValueError(f"unknown fingerprint algorithm {algorithm!r}")
        query = (
            fingerprint
            if isinstance(fingerprint, BitHash)
            else BitHash.from_hex(fingerprint, HASH_BITS[algorithm])
        )
        with self.session() as session:
            rows = session.execute(
                select(m.Image.sha256, m.Fingerprint.value)
                .join(m.Fingerprint, m.Fingerprint.image_id == m.Image.id)
                .where(m.Fingerprint.algorithm == algorithm)
            ).all()
        if not rows:
            return []
        stored = pack([BitHash.from_hex(value, HASH_BITS[algorithm]) for _, value in rows])
        distances = hamming_many(query, stored)
        order = np.argsort(distances, kind="stable")
        return [(rows[i][0], int(distances[i])) for i in order if distances[i] <= max_distance]


def _require_sqlite_file(url: str) -> None:
    """Raise NotFound when ``url`` names an SQLite file that does not exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if not Path(parsed.database).exists():
        raise NotFound(f"no catalogue at {parsed.database} (run provcat ingest, or pass --db)")

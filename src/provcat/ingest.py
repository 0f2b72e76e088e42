"""Ingest: manifests, folders and image files into the catalogue; knows nothing of the terminal."""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.articles import ScrapedArticle, read_article
from provcat.articles.model import KINDS_BY_SUFFIX
from provcat.credits import parse_credit
from provcat.db import retrying
from provcat.decode import open_image
from provcat.errors import ImageRejected, InputError, unexpected_reason
from provcat.files import is_inside, path_bytes, path_text, resolved, walk
from provcat.fingerprints import dihedral_bytes
from provcat.gate import IngestGate
from provcat.manifest import MANIFEST_NAME, ImageEntry, Manifest, load_manifest
from provcat.matching import Matcher, pending_count, store_features
from provcat.prepare import (
    Failed,
    PreparedImage,
    Preparer,
    Spool,
    default_workers,
    prepare_image,
)
from provcat.provenance import (
    embedded_provenance,
    person_key,
    person_row,
    record_chain,
    record_depiction,
)
from provcat.reuse.features import Features
from provcat.reuse.postings import (
    POST_AFTER,
    NewWords,
    post_all_pending,
    post_or_leave,
    waiting_words,
)
from provcat.reuse.word_file import keep_up, location, stamp_of
from provcat.scraped import image_files, ingest_scraped

log = logging.getLogger(__name__)

#: Explicit files with these endings are read as manifests.
MANIFEST_SUFFIXES = frozenset({".toml"})
#: Explicit files with these endings are read as scraped articles (plain text or HTML).
ARTICLE_SUFFIXES = frozenset(KINDS_BY_SUFFIX)

#: Called after each work item: (items done, items in all, path just handled). Other callers
#: of a progress bar (a look-up over a folder walked as it goes) give None when the count of
#: all items is not known yet.
ProgressCallback = Callable[[int, int | None, str], None]


@dataclass(frozen=True)
class Rejected:
    """A file or record that was not ingested."""

    path: str
    reason: str
    line: int | None = None

    @classmethod
    def of(cls, error: InputError) -> Rejected:
        """The rejection an input error stands for."""
        return cls(error.path, error.reason, error.line)


@dataclass(frozen=True)
class Skipped:
    """A file or folder a folder walk passed over, and why (nothing wrong with it)."""

    path: str
    reason: str


@dataclass
class IngestResult:
    """What an ingest run did; ``rejected`` is empty when everything went in."""

    articles_added: int = 0
    articles_known: int = 0
    images_added: int = 0
    images_known: int = 0
    appearances_added: int = 0
    appearances_known: int = 0
    #: Pairs of stored images newly found to be the same photo.
    matches_added: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    #: Files that went in but may have lost something (a flattened article: no captions read).
    warnings: list[Rejected] = field(default_factory=list)

    def merge(self, other: IngestResult) -> None:
        """Add another result's counts and lists to this one."""
        for name in (
            "articles_added",
            "articles_known",
            "images_added",
            "images_known",
            "appearances_added",
            "appearances_known",
            "matches_added",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped.extend(other.skipped)
        self.rejected.extend(other.rejected)
        self.warnings.extend(other.warnings)

    def to_dict(self) -> dict[str, object]:
        """The summary as plain data (what ``provcat ingest --json`` prints)."""
        data = asdict(self)
        data["skipped"] = [asdict(s) for s in self.skipped]
        data["rejected"] = [
            {k: v for k, v in asdict(r).items() if v is not None} for r in self.rejected
        ]
        return data


@dataclass(frozen=True)
class WorkItem:
    """One thing to ingest: a manifest, an image file or a scraped article."""

    kind: str  # "manifest" | "image" | "article" | "missing" | "skipped"
    #: Absolute, with symbolic links resolved: rejections are keyed by it.
    path: Path
    #: Why a "skipped" item was passed over, or a "missing" one cannot be found (when not
    #: simply absent).
    reason: str | None = None


def plan(paths: Iterable[Path]) -> list[WorkItem]:
    """Expand the paths a user gave into work items, in a stable order.

    A folder is walked recursively; every file and folder it passes over is listed as skipped
    with the reason (hidden, not an image, an article to name explicitly, a FIFO or device, a
    folder that cannot be read, a link to a folder). A folder holding a ``manifest.toml`` is that
    manifest's record: its images are ingested through the manifest, not again as loose files.
    Other folders contribute their image files.
    """
    items: list[WorkItem] = []
    for given in paths:
        try:
            path = resolved(given)
        except OSError as exc:
            reason = f"its symbolic links cannot be resolved ({exc.strerror})"
            items.append(WorkItem("missing", given.absolute(), reason))
            continue
        if path.is_dir():
            items.extend(_walk(path))
        elif not path.exists():
            items.append(WorkItem("missing", path))
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            items.append(WorkItem("manifest", path))
        elif path.suffix.lower() in ARTICLE_SUFFIXES:
            items.append(WorkItem("article", path))
        else:
            items.append(WorkItem("image", path))
    return items


def _walk(root: Path) -> list[WorkItem]:
    return [WorkItem(*walked) for walked in walk(root, manifest_name=MANIFEST_NAME, named=_NAMED)]


#: Files a folder walk passes over that ingest takes when they are named.
_NAMED = {
    **dict.fromkeys(ARTICLE_SUFFIXES, "scraped article: name it on the command line to ingest it"),
    **dict.fromkeys(MANIFEST_SUFFIXES, f"TOML file not named {MANIFEST_NAME}"),
}


#: An image file to store: its work item and what the preparer made of it.
ImageItem = tuple[WorkItem, PreparedImage | Failed]


@dataclass(frozen=True)
class _ReadAhead:
    """A manifest or scraped article read before anything is stored, so that the worker
    processes prepare its image files with the loose ones: what was read (or why it cannot
    be, raised where it would have been stored) and the image files it names (none when it
    could not be read)."""

    source: Manifest | ScrapedArticle | InputError
    files: list[Path]


def _read_ahead(item: WorkItem, images_dir: Path | None) -> _ReadAhead:
    try:
        if item.kind == "manifest":
            manifest = load_manifest(item.path)
            return _ReadAhead(manifest, _manifest_files(manifest))
        article = read_article(item.path)
        files = image_files(item.path, article, images_dir)
        return _ReadAhead(article, [resolved(file) for file in files])
    except InputError as exc:
        # Kept until the item is stored: without its frames, which hold what was read.
        error = InputError(exc.path, exc.reason, line=exc.line)
    except Exception as exc:  # a fault no rule foresaw rejects this item only
        log.error("%s: reading it failed:\n%s", path_text(item.path), traceback.format_exc())
        error = InputError(path_text(item.path), unexpected_reason(exc))
    return _ReadAhead(error, [])


def _manifest_files(manifest: Manifest) -> list[Path]:
    """The image files of a manifest's entries, resolved, but for those it may not reach
    (:func:`_entry_file`: rejected when it is stored, never read)."""
    folder = manifest.path.parent
    files = []
    for entry in manifest.images:
        try:
            files.append(_entry_file(folder, entry))
        except InputError:
            continue
    return files


def _entry_file(folder: Path, entry: ImageEntry) -> Path:
    """A manifest entry's image file, every symbolic link resolved.

    The file must lie inside the manifest's folder: a record is a folder, and a link out of it
    would catalogue whatever it points at.

    Raises:
        ImageRejected: It lies outside the folder, or its links cannot be resolved (a loop).
    """
    path = folder / entry.file
    listed = f"manifest {folder / MANIFEST_NAME} lists {entry.file.as_posix()}"
    try:
        inside, target = is_inside(path, folder), resolved(path)
    except OSError as exc:
        reason = f"{listed}, whose symbolic links cannot be resolved ({exc.strerror})"
        raise ImageRejected(path.absolute(), reason) from exc
    if not inside:
        raise ImageRejected(target, f"{listed}, which resolves outside the manifest's folder")
    return target


#: Image files stored in one transaction. A commit writes every page the transaction changed,
#: and on PostgreSQL a stored image's visual words, posted with it, change pages all over the
#: postings table: in a 10^5 catalogue (SQLite, warm, when it posted them so too), posting an
#: image's words cost 120 ms with a commit per image and 60 ms with one per 20
#: (docs/scale.md). On SQLite the words are posted later, up to a thousand images at a time
#: (provcat.reuse.postings.post_pending). A kill loses at most this many files' storing,
#: which the next run does again.
STORE_BATCH = 16
#: From this many images waiting for their words to be posted, an ingest's progress says so
#: (fewer take a second or two even at 10^5 images).
_POSTING_TOLD = 100
#: New images whose mirror features (computed by the workers that prepared them) are kept
#: for their matching turns, which then need not decode their files again unless a pair needs
#: the pixels (provcat.matching.Matcher.expect_mirrors): about 40 kB each at the features'
#: 1,000 keypoints, so at most about 160 MB. Images stored past it are decoded in their turns.
MIRRORS_KEPT = 4096


def _engine_of(session_factory: Callable[[], Session]) -> Engine:
    with session_factory() as session:
        bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


class Ingester:
    """Ingests work items through sessions that the caller provides and commits.

    Each manifest and article is stored in its own transaction, and image files in
    transactions of up to :data:`STORE_BATCH` files (one failing on its input is rejected and
    the rest stored again without it); a transaction is retried when a concurrent writer got
    in first (the same article or image inserted by another process), so one bad item never
    costs the others and concurrent ingesters end with what one would have. Reuse matching
    follows once every input is stored, in turns of one image each
    (provcat.matching.Matcher.match_next) that wait while any other ingester is still storing
    (provcat.gate); images whose matching did not finish (an ingest killed half-way) are
    matched with the new ones.

    Args:
        session_factory: Returns a new session.
        images_dir: Where the images of scraped articles are; by default the page's folder and
            the ``<name>_files`` folder beside it.
        workers: Processes preparing image files (provcat.prepare); default one per core.
        url: The catalogue's URL, for the workers' own look-ups of known files.
        gate: Keeps storing and matching apart across processes; by default one on the
            sessions' engine.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        images_dir: Path | None = None,
        workers: int | None = None,
        url: str | None = None,
        gate: IngestGate | None = None,
    ) -> None:
        self._sessions = session_factory
        self._images_dir = images_dir
        self._matcher: Matcher | None = None
        self._gate = gate or IngestGate(_engine_of(session_factory))
        self._workers = default_workers() if workers is None else workers
        self._url = url
        #: Mirror features of the images this ingester stored, until their turns (by id).
        self._mirrors: dict[int, Features] = {}
        #: Images this ingester stored whose words it has not posted yet (SQLite:
        #: provcat.reuse.postings.post_pending).
        self._unposted = 0

    def run(
        self, paths: Sequence[Path], *, progress: ProgressCallback | None = None
    ) -> IngestResult:
        """Ingest every path; rejections are recorded in the database and in the result."""
        items = plan(paths)
        result = IngestResult()
        # Manifests and articles are read first: their image files are prepared by the
        # workers in the order they come, with the loose files.
        sources = [n for n, item in enumerate(items) if item.kind in ("manifest", "article")]
        ahead: dict[int, _ReadAhead] = {}
        for number in sources:
            ahead[number] = _read_ahead(items[number], self._images_dir)
            if progress is not None:
                progress(len(ahead), len(sources), "reading manifests and articles")
        files: list[Path] = []
        for number, item in enumerate(items):
            if item.kind == "image":
                files.append(item.path)
            elif number in ahead:
                files.extend(ahead[number].files)
        # Everything is stored before anything is matched, and the gate holds every other
        # process's turns until then (provcat.gate): each image is matched against the whole
        # catalogue, whatever order the inputs came in and whoever else is ingesting.
        with (
            self._gate.storing(),
            Preparer(files, workers=self._workers, url=self._url) as preparer,
        ):
            done = 0
            waiting: list[ImageItem] = []

            def report(item: WorkItem, part: IngestResult) -> None:
                nonlocal done
                if part.rejected:
                    self._record_rejections(part.rejected)
                result.merge(part)
                done += 1
                if progress is not None:
                    progress(done, len(items), path_text(item.path))

            def store_waiting() -> None:
                parts = self._store_images(waiting)
                for (item, _prepared), part in zip(waiting, parts, strict=True):
                    report(item, part)
                waiting.clear()
                if self._unposted >= POST_AFTER:
                    self._post_pending(progress)

            for number, item in enumerate(items):
                if item.kind != "image":
                    store_waiting()
                    read = ahead.pop(number, None)
                    if read is None:
                        report(item, self._one(item))
                        continue
                    with Spool() as ready:
                        for file in read.files:  # a large manifest's files take a while
                            ready.put(file, preparer.take(file))
                            if progress is not None:
                                progress(done, len(items), path_text(file))
                        report(item, retrying(partial(self._store, item, read.source, ready)))
                    if self._unposted >= POST_AFTER:
                        self._post_pending(progress)
                    continue
                waiting.append((item, preparer.take(item.path)))
                if len(waiting) >= STORE_BATCH:
                    store_waiting()
            store_waiting()
            # Before any is matched, the words of every image stored so far (this run's, and
            # any a killed run left) are posted; where look-ups read a postings file, whose
            # delta computes the words of the images stored since it, they wait until
            # POST_AFTER do, to be posted together (a few dozen images' words touch nearly
            # as many pages of a large table each as one image's).
            self._post_pending(progress, at_least=POST_AFTER if self._has_words_file() else 1)
        # Look-ups of a SQLite catalogue of MAKE_FROM images or more read their postings from
        # a file beside it (provcat.reuse.word_file), made or brought up to date here, before
        # the matching turns, so that they read it too: through the table a turn's candidate
        # stage took 21 ms an image of an ingest of 1,000 files into an empty catalogue, and
        # an ingest leaving more than DELTA_MAX images outside a file read the table for
        # every turn. Once more after them, for what other ingesters stored meanwhile.
        self._keep_file_up(progress)
        result.matches_added += self.match_pending(progress=progress)
        self._keep_file_up(progress)
        return result

    def _keep_file_up(self, progress: ProgressCallback | None) -> None:
        """Make the catalogue's postings file, or merge the images outside it into it, when
        :func:`provcat.reuse.word_file.keep_up` finds it worth it; ``progress`` is told
        before and after anything is written."""
        with self._sessions() as session:
            step = "writing the postings file for look-ups"
            made = keep_up(
                session.connection(),
                announce=None if progress is None else lambda: progress(0, 1, step),
            )
            if made is not None and progress is not None:
                progress(1, 1, step)

    def _has_words_file(self) -> bool:
        """Whether look-ups of this catalogue read a postings file (SQLite, once it is large:
        provcat.reuse.word_file)."""
        with self._sessions() as session:
            folder = location(session.connection())
        return folder is not None and stamp_of(folder) is not None

    def _post_pending(self, progress: ProgressCallback | None, *, at_least: int = 1) -> None:
        """Post the words of every image stored and not posted yet (SQLite: this ingester's,
        another's, what a killed run left; :func:`provcat.reuse.postings.post_pending`), up
        to :data:`provcat.reuse.postings.POST_MOST` images a transaction, if ``at_least``
        wait. On a catalogue of 10^5
        images a thousand images' words take some 17 s: ``progress`` is told before and
        after each range of words committed, from :data:`_POSTING_TOLD` images."""
        step = "posting the new images' words for look-ups"
        self._unposted = 0
        with self._sessions() as session:
            waiting = waiting_words(session.connection())
        if not waiting or waiting < at_least:
            return

        tell = progress if waiting >= _POSTING_TOLD else None
        if tell is None:
            post_all_pending(self._sessions)
            return
        tell(0, 1, step)
        post_all_pending(self._sessions, told=lambda done, ranges: tell(done, ranges, step))

    def match_pending(self, *, progress: ProgressCallback | None = None) -> int:
        """Match every stored image whose matching has not finished (this run's, another
        ingester's, or what a killed run left); returns the matches recorded.

        ``progress`` is called after each image with (done, total, "matching reused photos").
        """
        with self._sessions() as session:
            waiting = pending_count(session=session)
        if not waiting:
            return 0
        if self._matcher is None:
            self._matcher = Matcher(self._sessions)
        matcher = self._matcher
        matcher.expect_mirrors(self._mirrors)
        self._mirrors = {}
        recorded = done = 0
        while True:
            with self._gate.turn():
                found = retrying(matcher.match_next)
            if found is None:
                return recorded
            recorded += found
            done += 1
            if progress is not None:
                progress(done, max(waiting, done), "matching reused photos")

    def _one(self, item: WorkItem) -> IngestResult:
        """A work item skipped or missing."""
        if item.kind == "skipped":
            return IngestResult(skipped=[Skipped(path_text(item.path), item.reason or "")])
        reason = item.reason or "no such file or folder"
        return IngestResult(rejected=[Rejected(path_text(item.path), reason)])

    def _store(
        self, item: WorkItem, source: Manifest | ScrapedArticle | InputError, ready: Spool
    ) -> IngestResult:
        """A manifest or an article (``source``, read ahead) in one transaction, its image
        files as the workers prepared them (``ready``); a rejection result if its input is
        bad."""
        part = IngestResult()
        mirrors: dict[int, Features] = {}
        with self._sessions() as session:
            # The words of every new image, posted in one upsert before the commit, as a batch
            # of loose files' are (word order: fewer pages of a large table read, no deadlock);
            # held as words, or only counted where SQLite's mark leaves them for later.
            words = NewWords(session)

            def catalogue(
                file: Path, *, stand_in: bool = False, note: str | None = None
            ) -> tuple[m.Image, bool]:
                prepared = ready.get(resolved(file))
                own: list[tuple[int, npt.NDArray[np.uint8]]] = []  # kept once it is stored
                image, added = _catalogue_file(
                    file, prepared, session=session, stand_in=stand_in, note=note, postings=own
                )
                for image_id, descriptors in own:
                    words.add(image_id, descriptors)
                if (
                    added
                    and isinstance(prepared, PreparedImage)
                    and prepared.mirror is not None
                    and len(self._mirrors) + len(mirrors) < MIRRORS_KEPT
                ):
                    mirrors[image.id] = prepared.mirror
                return image, added

            try:
                if isinstance(source, InputError):
                    raise source
                if isinstance(source, Manifest):
                    _ingest_manifest(source, session=session, result=part, catalogue=catalogue)
                else:
                    _ingest_article(
                        item.path,
                        source,
                        session=session,
                        result=part,
                        images_dir=self._images_dir,
                        catalogue=catalogue,
                    )
                left = words.post_or_leave(session)
                resolve_rejections([path_text(item.path)], session=session)
                session.commit()
            except InputError as exc:
                session.rollback()
                return IngestResult(rejected=[Rejected.of(exc)])
        self._keep_mirrors(mirrors)
        self._unposted += left
        return part

    def _keep_mirrors(self, mirrors: dict[int, Features]) -> None:
        """Keep the mirror features of images just committed for their turns (up to
        :data:`MIRRORS_KEPT`)."""
        for image_id, mirror in mirrors.items():
            if len(self._mirrors) < MIRRORS_KEPT:
                self._mirrors[image_id] = mirror

    def _store_images(self, batch: list[ImageItem]) -> list[IngestResult]:
        """Image files in one transaction (again from the start if it lost a race), the words
        of all of them posted at the end in one upsert. A file whose storing fails on its
        input is rejected and the transaction is run again without it, so a bad file costs
        the others nothing. Returns a result per file."""
        if not batch:
            return []
        return retrying(lambda: self._store_batch(batch))

    def _store_batch(self, batch: list[ImageItem]) -> list[IngestResult]:
        parts: dict[int, IngestResult] = {}
        for number, (_item, prepared) in enumerate(batch):
            if isinstance(prepared, Failed):
                parts[number] = IngestResult(rejected=[Rejected.of(prepared.error())])
        # No savepoint per file: Python's sqlite3 begins its transaction at the first write,
        # and a savepoint taken before that is a transaction of its own, committed when
        # released.
        while True:
            stored: dict[int, IngestResult] = {}
            postings: list[tuple[int, npt.NDArray[np.uint8]]] = []
            mirrors: dict[int, Features] = {}
            with self._sessions() as session:
                try:
                    for number, (_item, prepared) in enumerate(batch):
                        if number in parts:
                            continue
                        assert not isinstance(prepared, Failed)
                        part = stored[number] = IngestResult()
                        image, added = _store_image(prepared, session=session, postings=postings)
                        part.images_added += added
                        part.images_known += not added
                        if added and prepared.mirror is not None:
                            mirrors[image.id] = prepared.mirror
                except InputError as exc:
                    session.rollback()
                    parts[number] = IngestResult(rejected=[Rejected.of(exc)])
                    continue
                left = post_or_leave(session, postings)
                session.commit()
            parts.update(stored)
            self._keep_mirrors(mirrors)
            self._unposted += left
            return [parts[number] for number in range(len(batch))]

    def _record_rejections(self, rejected: Sequence[Rejected]) -> None:
        retrying(lambda: self._store_rejections(rejected))

    def _store_rejections(self, rejected: Sequence[Rejected]) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._sessions() as session:
            for r in rejected:
                row = session.scalar(select(m.Rejection).where(m.Rejection.path == r.path))
                if row is None:
                    session.add(m.Rejection(path=r.path, reason=r.reason, line=r.line))
                    session.flush()
                else:
                    row.reason = r.reason
                    row.line = r.line
                    row.last_at = now
                    row.attempts += 1
                    row.resolved_at = None
            session.commit()


def resolve_rejections(paths: Sequence[str], *, session: Session) -> None:
    """Mark the standing rejections of these paths resolved (they were just ingested)."""
    session.execute(
        update(m.Rejection)
        .where(m.Rejection.path.in_(paths), m.Rejection.resolved_at.is_(None))
        .values(resolved_at=dt.datetime.now(dt.UTC))
    )


# -- images -----------------------------------------------------------------------------------


#: Catalogues one image file of a manifest or an article (``stand_in`` and ``note`` as the
#: manifest gives them): its row, and whether it was new.
Cataloguer = Callable[..., tuple[m.Image, bool]]


def _catalogue_file(
    file: Path,
    prepared: PreparedImage | Failed | None,
    *,
    session: Session,
    stand_in: bool = False,
    note: str | None = None,
    postings: list[tuple[int, npt.NDArray[np.uint8]]] | None = None,
) -> tuple[m.Image, bool]:
    """Catalogue an image file of a manifest or an article as a worker ``prepared`` it, or
    prepared here when no worker did (None); a new image's words are added to ``postings``
    for the caller to post, if given (:func:`_store_image`).

    Raises:
        InputError: The file cannot be used (as the worker found, or found here).
    """
    if prepared is None:
        decoded = open_image(resolved(file))
        known = session.scalar(select(m.Image.id).where(m.Image.sha256 == decoded.sha256))
        prepared = prepare_image(decoded, known=known is not None)
    if isinstance(prepared, Failed):
        raise prepared.error()
    return _store_image(prepared, session=session, stand_in=stand_in, note=note, postings=postings)


def _store_image(
    prepared: PreparedImage,
    *,
    session: Session,
    stand_in: bool = False,
    note: str | None = None,
    postings: list[tuple[int, npt.NDArray[np.uint8]]] | None = None,
) -> tuple[m.Image, bool]:
    """Catalogue one prepared image; returns its row and whether it was new.

    A new image is stored with its matching pending (``match_seq`` None); the ingester matches
    it once this transaction has committed. With ``postings``, its visual words are added
    there for the caller to post before committing (:func:`provcat.matching.store_features`).
    """
    path = path_text(prepared.path)
    resolve_rejections([path], session=session)
    image = session.scalar(select(m.Image).where(m.Image.sha256 == prepared.sha256))
    if image is not None:
        if path not in {p.path for p in image.paths}:
            image.paths.append(m.ImagePath(path=path, path_bytes=path_bytes(prepared.path)))
        if stand_in and not image.stand_in:
            image.stand_in = True
            image.note = note
        return image, False
    if prepared.known:
        # Known when prepared, yet gone now: nothing deletes images, but prepare it fully.
        prepared = prepare_image(open_image(prepared.path))
    fields, prints, features = prepared.fields, prepared.prints, prepared.features
    assert fields is not None, "a new image is prepared in full"
    assert prints is not None
    assert features is not None
    image = m.Image(**prepared.columns(), stand_in=stand_in, note=note)
    image.paths.append(m.ImagePath(path=path, path_bytes=path_bytes(prepared.path)))
    image.metadata_fields.extend(
        m.MetadataField(
            standard=f.standard,
            key=f.key,
            property=f.property,
            value=f.value,
            ordinal=f.ordinal,
            lang=f.lang,
            truncated=f.truncated,
        )
        for f in fields
    )
    if prepared.thumbnail is not None:
        image.thumbnail = m.Thumbnail(data=prepared.thumbnail)
    image.fingerprints.extend(
        [
            m.Fingerprint(algorithm="phash", value=str(prints.phash)),
            m.Fingerprint(algorithm="dhash", value=str(prints.dhash)),
            m.Fingerprint(
                algorithm="pdq",
                value=str(prints.pdq),
                quality=prints.pdq_quality,
                variants=dihedral_bytes(prints.pdq_dihedral),
            ),
        ]
    )
    try:
        with session.begin_nested():
            session.add(image)
    except IntegrityError:
        # Another writer catalogued the same bytes between our look-up and insert.
        existing = session.scalar(select(m.Image).where(m.Image.sha256 == prepared.sha256))
        if existing is None:
            raise
        return _store_image(
            prepared, session=session, stand_in=stand_in, note=note, postings=postings
        )
    store_features(image.id, features, session=session, postings=postings)
    embedded_provenance(image, fields, session=session)
    return image, True


# -- manifests --------------------------------------------------------------------------------


def _ingest_manifest(
    manifest: Manifest, *, session: Session, result: IngestResult, catalogue: Cataloguer
) -> None:
    entry = manifest.article
    article = session.scalar(select(m.Article).where(m.Article.key == entry.id))
    if article is None:
        article = m.Article(key=entry.id, source_kind="manifest")
        session.add(article)
        result.articles_added += 1
    else:
        result.articles_known += 1
    article.title = entry.title
    article.publisher = entry.publisher
    article.url = entry.url
    article.published = entry.published
    article.published_until = entry.published_until
    article.published_precision = entry.published_precision
    article.published_note = entry.published_note
    article.note = entry.note
    article.source = str(manifest.path.resolve())
    session.flush()

    for listed in manifest.people:
        person = person_row(listed.name, session=session, description=listed.description)
        for alias in listed.aliases:
            key = person_key(alias)
            if (
                key != person.key
                and session.scalar(select(m.PersonAlias).where(m.PersonAlias.key == key)) is None
            ):
                person.aliases.append(m.PersonAlias(alias=alias, key=key))
    session.flush()

    folder = manifest.path.parent
    for image_entry in manifest.images:
        image = _manifest_image(
            folder, image_entry, session=session, result=result, catalogue=catalogue
        )
        _manifest_printings(article, image, image_entry, session=session, result=result)


def _manifest_image(
    folder: Path,
    entry: ImageEntry,
    *,
    session: Session,
    result: IngestResult,
    catalogue: Cataloguer,
) -> m.Image | None:
    """The image of one manifest entry, or None (and a rejection) if its file is unusable
    (:func:`_entry_file`: it must lie inside the manifest's folder)."""
    try:
        path = _entry_file(folder, entry)
        with session.begin_nested():
            image, added = catalogue(path, stand_in=entry.stand_in, note=entry.note)
    except InputError as exc:
        # The printings are still recorded (without the image): the captions are not lost.
        result.rejected.append(Rejected.of(exc))
        return None
    result.images_added += added
    result.images_known += not added
    return image


def _manifest_printings(
    article: m.Article,
    image: m.Image | None,
    entry: ImageEntry,
    *,
    session: Session,
    result: IngestResult,
) -> None:
    for printing in entry.printings:
        row = session.scalar(
            select(m.Appearance).where(
                m.Appearance.article_id == article.id,
                m.Appearance.position == printing.position,
            )
        )
        if row is None:
            row = m.Appearance(article=article, position=printing.position)
            session.add(row)
            result.appearances_added += 1
        else:
            result.appearances_known += 1
        row.image = image
        row.occurrence = printing.position
        row.caption = printing.caption
        row.caption_origin = "manifest"
        row.credit = printing.credit
        row.image_ref = entry.file.as_posix()
        row.note = printing.note
        if image is not None:
            row.chain = record_chain(
                image, article, parse_credit(printing.credit), origin="printed", session=session
            )
    if image is None:
        return
    for shown in entry.people:
        person = person_row(shown.name, session=session)
        record_depiction(image, person, shown.cue, f"manifest {article.key}", session=session)


def _ingest_article(
    path: Path,
    read: ScrapedArticle,
    *,
    session: Session,
    result: IngestResult,
    images_dir: Path | None,
    catalogue: Cataloguer,
) -> None:
    counts = ingest_scraped(
        path, session=session, catalogue_image=catalogue, images_dir=images_dir, article=read
    )
    result.articles_added += counts.article_added
    result.articles_known += not counts.article_added
    result.appearances_added += counts.appearances_added
    result.appearances_known += counts.appearances_known
    result.images_added += counts.images_added
    result.images_known += counts.images_known
    result.rejected.extend(Rejected(p, reason) for p, reason in counts.rejected)
    result.warnings.extend(Rejected(p, warning) for p, warning in counts.warnings)
    article = session.scalar(select(m.Article).where(m.Article.key == counts.article_key))
    assert article is not None
    for appearance in article.appearances:
        if appearance.image is not None:
            appearance.chain = record_chain(
                appearance.image,
                article,
                parse_credit(appearance.credit),
                origin="printed",
                session=session,
            )

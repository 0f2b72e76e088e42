"""Ingest: manifests, folders and image files into the catalogue; knows nothing of the terminal."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.articles.model import KINDS_BY_SUFFIX
from provcat.credits import parse_credit
from provcat.decode import DecodedImage, open_image
from provcat.errors import InputError
from provcat.fingerprints import compute
from provcat.manifest import MANIFEST_NAME, ImageEntry, Manifest, load_manifest
from provcat.matching import Fresh, Matcher, extract_features, features_row, fresh_from
from provcat.metadata import read_metadata
from provcat.provenance import (
    embedded_provenance,
    person_key,
    person_row,
    record_chain,
    record_depiction,
)
from provcat.scraped import ingest_scraped

#: File name endings a folder walk takes as images; other files in a folder are skipped.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".mpo"}
)
#: Explicit files with these endings are read as manifests.
MANIFEST_SUFFIXES = frozenset({".toml"})
#: Explicit files with these endings are read as scraped articles (plain text or HTML).
ARTICLE_SUFFIXES = frozenset(KINDS_BY_SUFFIX)

#: Called after each work item: (items done, items in all, path just handled).
ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Rejected:
    """A file or record that was not ingested."""

    path: str
    reason: str
    line: int | None = None


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
    skipped: list[str] = field(default_factory=list)
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
        data["rejected"] = [
            {k: v for k, v in asdict(r).items() if v is not None} for r in self.rejected
        ]
        return data


@dataclass(frozen=True)
class WorkItem:
    """One thing to ingest: a manifest, an image file or a scraped article."""

    kind: str  # "manifest" | "image" | "article" | "missing" | "skipped"
    path: Path


def plan(paths: Iterable[Path]) -> list[WorkItem]:
    """Expand the paths a user gave into work items, in a stable order.

    A folder is walked recursively (hidden entries ignored; other files that are not images are
    listed as skipped, so the summary shows what was passed over). A folder holding a
    ``manifest.toml`` is that manifest's record: its images are ingested through the manifest,
    not again as loose files. Other folders contribute their image files.
    """
    items: list[WorkItem] = []
    for path in paths:
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
    items: list[WorkItem] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(directory)
        if MANIFEST_NAME in filenames:
            items.append(WorkItem("manifest", here / MANIFEST_NAME))
            dirnames[:] = []
            continue
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            kind = "image" if Path(name).suffix.lower() in IMAGE_SUFFIXES else "skipped"
            items.append(WorkItem(kind, here / name))
    return items


class Ingester:
    """Ingests work items through sessions that the caller provides and commits.

    Args:
        session_factory: Returns a new session; the ingester commits each work item in its own
            transaction so that one bad item never costs the others.
        images_dir: Where the images of scraped articles are; by default the page's folder and
            the ``<name>_files`` folder beside it.
    """

    def __init__(
        self, session_factory: Callable[[], Session], *, images_dir: Path | None = None
    ) -> None:
        self._sessions = session_factory
        self._images_dir = images_dir
        self._matcher: Matcher | None = None

    def run(
        self, paths: Sequence[Path], *, progress: ProgressCallback | None = None
    ) -> IngestResult:
        """Ingest every path; rejections are recorded in the database and in the result."""
        items = plan(paths)
        result = IngestResult()
        for done, item in enumerate(items, start=1):
            part = self._one(item)
            if part.rejected:
                self._record_rejections(part.rejected)
            result.merge(part)
            if progress is not None:
                progress(done, len(items), str(item.path))
        return result

    def _one(self, item: WorkItem) -> IngestResult:
        part = IngestResult()
        if item.kind == "skipped":
            part.skipped.append(str(item.path))
            return part
        if item.kind == "missing":
            part.rejected.append(Rejected(str(item.path), "no such file or folder"))
            return part
        fresh: list[Fresh] = []
        with self._sessions() as session:
            try:
                if item.kind == "manifest":
                    _ingest_manifest(
                        load_manifest(item.path), session=session, result=part, fresh=fresh
                    )
                elif item.kind == "article":
                    _ingest_article(
                        item.path,
                        session=session,
                        result=part,
                        images_dir=self._images_dir,
                        fresh=fresh,
                    )
                else:
                    _image, added = _ingest_image(
                        open_image(item.path), session=session, fresh=fresh
                    )
                    part.images_added += added
                    part.images_known += not added
                session.commit()
            except InputError as exc:
                session.rollback()
                return IngestResult(rejected=[Rejected(exc.path, exc.reason, exc.line)])
        if fresh:
            # The images are committed; matching them is a second step that cannot cost them.
            if self._matcher is None:
                self._matcher = Matcher(self._sessions)
            with self._sessions() as session:
                part.matches_added += self._matcher.add_and_match(fresh, session=session)
                session.commit()
        return part

    def _record_rejections(self, rejected: Sequence[Rejected]) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._sessions() as session:
            for r in rejected:
                row = session.scalar(
                    select(m.Rejection).where(
                        m.Rejection.path == r.path, m.Rejection.reason == r.reason
                    )
                )
                if row is None:
                    session.add(m.Rejection(path=r.path, reason=r.reason, line=r.line))
                else:
                    row.last_at = now
                    row.attempts += 1
            session.commit()


# -- images -----------------------------------------------------------------------------------


def _ingest_image(
    decoded: DecodedImage,
    *,
    session: Session,
    fresh: list[Fresh],
    stand_in: bool = False,
    note: str | None = None,
) -> tuple[m.Image, bool]:
    """Catalogue one decoded image; returns its row and whether it was new.

    A new image is appended to ``fresh``, for reuse matching once its transaction commits.
    """
    path = str(decoded.path.resolve())
    image = session.scalar(select(m.Image).where(m.Image.sha256 == decoded.sha256))
    if image is not None:
        if path not in {p.path for p in image.paths}:
            image.paths.append(m.ImagePath(path=path))
        if stand_in and not image.stand_in:
            image.stand_in = True
            image.note = note
        return image, False
    # Everything that can fail on bad input happens before any row is written.
    fields = read_metadata(decoded.path, decoded.source)
    prints = compute(decoded.pixels)
    features = extract_features(decoded)
    image = m.Image(
        sha256=decoded.sha256,
        format=decoded.format,
        mime=decoded.mime,
        width=decoded.width,
        height=decoded.height,
        file_size=decoded.file_size,
        pixel_digest=decoded.pixel_digest,
        orientation=decoded.orientation,
        stand_in=stand_in,
        note=note,
    )
    image.paths.append(m.ImagePath(path=path))
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
    image.fingerprints.extend(
        [
            m.Fingerprint(algorithm="phash", value=str(prints.phash)),
            m.Fingerprint(algorithm="dhash", value=str(prints.dhash)),
            m.Fingerprint(algorithm="pdq", value=str(prints.pdq), quality=prints.pdq_quality),
        ]
    )
    try:
        with session.begin_nested():
            session.add(image)
    except IntegrityError:
        # Another writer catalogued the same bytes between our look-up and insert.
        existing = session.scalar(select(m.Image).where(m.Image.sha256 == decoded.sha256))
        if existing is None:
            raise
        return _ingest_image(decoded, session=session, fresh=fresh, stand_in=stand_in, note=note)
    session.add(features_row(image.id, features))
    embedded_provenance(image, fields, session=session)
    fresh.append(fresh_from(image, decoded, features, prints.pdq))
    return image, True


# -- manifests --------------------------------------------------------------------------------


def _ingest_manifest(
    manifest: Manifest, *, session: Session, result: IngestResult, fresh: list[Fresh]
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
        image = _manifest_image(folder, image_entry, session=session, result=result, fresh=fresh)
        _manifest_printings(article, image, image_entry, session=session, result=result)


def _manifest_image(
    folder: Path, entry: ImageEntry, *, session: Session, result: IngestResult, fresh: list[Fresh]
) -> m.Image | None:
    """The image of one manifest entry, or None (and a rejection) if its file is unusable."""
    try:
        with session.begin_nested():
            image, added = _ingest_image(
                open_image(folder / entry.file),
                session=session,
                fresh=fresh,
                stand_in=entry.stand_in,
                note=entry.note,
            )
    except InputError as exc:
        # The printings are still recorded (without the image): the captions are not lost.
        result.rejected.append(Rejected(exc.path, exc.reason, exc.line))
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
    *,
    session: Session,
    result: IngestResult,
    images_dir: Path | None,
    fresh: list[Fresh],
) -> None:
    counts = ingest_scraped(
        path,
        session=session,
        catalogue_image=lambda file: _ingest_image(open_image(file), session=session, fresh=fresh),
        images_dir=images_dir,
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

"""Scraped articles into the catalogue: the article, each caption occurrence, local images."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.articles import ScrapedArticle, read_article
from provcat.errors import InputError

#: Catalogues one image file and returns its row and whether it was new (ingest supplies it).
ImageCataloguer = Callable[[Path], tuple[m.Image, bool]]


@dataclass(frozen=True)
class ScrapedCounts:
    """What one scraped article added."""

    article_key: str
    article_added: bool
    appearances_added: int
    appearances_known: int
    images_added: int
    images_known: int
    #: Image files that were found but could not be used: (path, reason).
    rejected: tuple[tuple[str, str], ...]
    #: Why captions may be missing although the article went in (a flattened plain-text
    #: scrape): (path of the article, warning).
    warnings: tuple[tuple[str, str], ...] = ()


def image_folders(page: Path, images_dir: Path | None) -> list[Path]:
    """Where a page's images are looked for: the folder given, else the page's own folder and
    the ``<name>_files`` folder a browser's "save page" writes beside it."""
    if images_dir is not None:
        return [images_dir]
    return [page.parent / f"{page.stem}_files", page.parent]


def local_file(ref: str, folders: list[Path]) -> Path | None:
    """The local file an image reference (URL or path as written in the page) points to.

    Only the reference's file name is used, and only a plain file directly inside one of the
    folders is accepted, so a hostile reference ("../../etc/passwd") reaches nothing else.
    """
    if ref.startswith("data:"):
        return None
    name = PurePosixPath(unquote(urlsplit(ref).path)).name
    if not name or name in (".", ".."):
        return None
    for folder in folders:
        candidate = folder / name
        if candidate.is_file() and candidate.resolve().parent == folder.resolve():
            return candidate
    return None


def _period_end(article: ScrapedArticle) -> dt.date | None:
    day = article.published
    if day is None:
        return None
    if article.published_precision == "month":
        return day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if article.published_precision == "year":
        return day.replace(month=12, day=31)
    return day


def image_files(path: Path, article: ScrapedArticle, images_dir: Path | None) -> list[Path]:
    """The local files of the images a scraped article (read from ``path``) shows, each once,
    in the order :func:`ingest_scraped` catalogues them."""
    folders = image_folders(path, images_dir)
    refs = [ref for occurrence in article.captions for ref in occurrence.image_refs]
    refs += [image.ref for image in article.images]
    found = (local_file(ref, folders) for ref in dict.fromkeys(refs))
    return list(dict.fromkeys(file for file in found if file is not None))


def ingest_scraped(
    path: Path,
    *,
    session: Session,
    catalogue_image: ImageCataloguer,
    images_dir: Path | None = None,
    article: ScrapedArticle | None = None,
) -> ScrapedCounts:
    """Read a scraped article (plain text or HTML) and record it with every caption occurrence.

    Each caption occurrence becomes one appearance per image it belongs to (a gallery caption
    belongs to several), or one appearance without an image when the page names none or the
    file is not found locally. Images the page shows without any caption are recorded as
    printings without a caption. Ingesting the same file again changes nothing. The reader's
    warnings (a plain-text scrape flattened to one paragraph) come back on the counts.

    ``article`` is what :func:`provcat.articles.read_article` read from ``path``, if the caller
    read it already (an ingest reads ahead, to prepare the images on every core).

    Raises:
        ArticleError: The file cannot be read as an article.
    """
    if article is None:
        article = read_article(path)
    data = path.read_bytes()
    key = article.url or f"file:{hashlib.sha256(data).hexdigest()}"
    row = session.scalar(select(m.Article).where(m.Article.key == key))
    added = row is None
    if row is None:
        row = m.Article(key=key, source_kind=article.kind)
        session.add(row)
    row.url = article.url
    row.title = article.title
    row.publisher = article.publisher
    row.published = article.published
    row.published_until = _period_end(article)
    row.published_precision = article.published_precision
    row.source = str(path.resolve())
    session.flush()

    folders = image_folders(path, images_dir)
    images: dict[str, m.Image | None] = {}
    rejected: list[tuple[str, str]] = []
    new_images = known_images = 0

    def image_for(ref: str) -> m.Image | None:
        nonlocal new_images, known_images
        if ref in images:
            return images[ref]
        file = local_file(ref, folders)
        image = None
        if file is not None:
            try:
                with session.begin_nested():
                    image, is_new = catalogue_image(file)
            except InputError as exc:
                rejected.append((exc.path, exc.reason))
            else:
                new_images += is_new
                known_images += not is_new
        images[ref] = image
        return image

    printings: list[tuple[int, str | None, str, str | None, str | None]] = []
    captioned: set[str] = set()
    for occurrence in article.captions:
        refs = occurrence.image_refs or (None,)
        for ref in refs:
            printings.append(
                (occurrence.position, occurrence.text, occurrence.origin, occurrence.credit, ref)
            )
            if ref is not None:
                captioned.add(ref)
    last = max((o.position for o in article.captions), default=0)
    for offset, image in enumerate((i for i in article.images if i.ref not in captioned), start=1):
        printings.append((last + offset, None, "none", None, image.ref))

    appearances_added = appearances_known = 0
    for position, (number, caption, origin, credit, ref) in enumerate(printings, start=1):
        appearance = session.scalar(
            select(m.Appearance).where(
                m.Appearance.article_id == row.id, m.Appearance.position == position
            )
        )
        if appearance is None:
            appearance = m.Appearance(article=row, position=position)
            session.add(appearance)
            appearances_added += 1
        else:
            appearances_known += 1
        appearance.occurrence = number
        appearance.caption = caption
        appearance.caption_origin = origin
        appearance.credit = credit
        appearance.image_ref = ref
        appearance.image = image_for(ref) if ref is not None else None
    session.flush()
    return ScrapedCounts(
        article_key=key,
        article_added=added,
        appearances_added=appearances_added,
        appearances_known=appearances_known,
        images_added=new_images,
        images_known=known_images,
        rejected=tuple(rejected),
        warnings=tuple((str(path), warning) for warning in article.warnings),
    )

"""The records a scraped article is read into: the article, its images and caption occurrences."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Where a caption occurrence was found. "caption-paragraph" covers both an inline caption
#: paragraph in plain text and an HTML element whose class marks it as a caption.
ORIGINS: tuple[str, ...] = (
    "figcaption",
    "alt",
    "caption-paragraph",
    "og:image",
    "json-ld",
    "title-attr",
)

#: How much of ``ScrapedArticle.published`` is known.
PRECISIONS: tuple[str, ...] = ("day", "month", "year", "unknown")

#: What ``read_article`` accepts, by lower-cased suffix.
KINDS_BY_SUFFIX: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
}


@dataclass(frozen=True)
class CaptionOccurrence:
    """One place in an article where a caption was printed.

    Attributes:
        position: 1-based order of this occurrence among the article's caption occurrences.
        text: The caption as printed. Plain text: the paragraph, its wrapped lines joined by one
            space. HTML: the element's rendered text with runs of whitespace collapsed, without
            a separately marked-up credit and without visually hidden labels.
        origin: One of ``ORIGINS``.
        image_refs: The image references (as written in the page) the caption belongs to; more
            than one for a gallery with one caption; ``()`` when unknown (always for plain text).
        credit: A credit the markup prints apart from the caption, else None.
    """

    position: int
    text: str
    origin: str
    image_refs: tuple[str, ...]
    credit: str | None


@dataclass(frozen=True)
class ScrapedImage:
    """An image the article shows or declares.

    Attributes:
        ref: The URL or path as written in the page (never resolved against the page URL).
        position: 1-based order of its first appearance in the page.
        alt: The alt text of its first appearance that had one (raw, possibly ""), else None.
    """

    ref: str
    position: int
    alt: str | None


@dataclass(frozen=True)
class ScrapedArticle:
    """What was read from one scraped article.

    Attributes:
        source_path: The file it was read from.
        kind: "text" or "html".
        title: The headline, when the article states one.
        url: Canonical link, og:url or JSON-LD url, in that order of preference.
        publisher: og:site_name or JSON-LD publisher name.
        published: Publication date as stated; the first of the month or year when only those
            are stated (see ``published_precision``).
        published_precision: "day", "month", "year" or "unknown" (then ``published`` is None).
        images: The article's images, each reference once, in order of first appearance.
        captions: Every caption occurrence, repeats included, in order of appearance.
        warnings: Why the reader may have missed captions (a plain-text scrape flattened to
            one paragraph), one sentence each; empty when nothing looked wrong.
    """

    source_path: Path
    kind: str
    title: str | None
    url: str | None
    publisher: str | None
    published: datetime.date | None
    published_precision: str
    images: tuple[ScrapedImage, ...]
    captions: tuple[CaptionOccurrence, ...]
    warnings: tuple[str, ...] = ()


def caption_to_dict(caption: CaptionOccurrence) -> dict[str, Any]:
    """Return a JSON-ready dict of one caption occurrence (the fixtures' expected format)."""
    return {
        "position": caption.position,
        "text": caption.text,
        "origin": caption.origin,
        "image_refs": list(caption.image_refs),
        "credit": caption.credit,
    }


def article_to_dict(article: ScrapedArticle) -> dict[str, Any]:
    """Return a JSON-ready dict of an article, without its source path.

    Args:
        article: The article to render.

    Returns:
        A dict with the article fields, ``images`` and ``captions`` as lists of dicts and the
        date as an ISO string (or None); the shape of the fixtures' ``.expected.json`` files.
    """
    return {
        "kind": article.kind,
        "title": article.title,
        "url": article.url,
        "publisher": article.publisher,
        "published": article.published.isoformat() if article.published else None,
        "published_precision": article.published_precision,
        "images": [
            {"ref": image.ref, "position": image.position, "alt": image.alt}
            for image in article.images
        ],
        "captions": [caption_to_dict(caption) for caption in article.captions],
    }

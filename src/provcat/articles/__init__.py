"""Scraped news articles (plain text and HTML) read into caption occurrences and image records."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from provcat.articles.html import parse_html
from provcat.articles.model import (
    KINDS_BY_SUFFIX,
    ORIGINS,
    PRECISIONS,
    CaptionOccurrence,
    ScrapedArticle,
    ScrapedImage,
    article_to_dict,
    caption_to_dict,
)
from provcat.articles.text import parse_text
from provcat.errors import ArticleError
from provcat.files import read_regular

__all__ = [
    "KINDS_BY_SUFFIX",
    "MAX_ARTICLE_BYTES",
    "ORIGINS",
    "PRECISIONS",
    "CaptionOccurrence",
    "ScrapedArticle",
    "ScrapedImage",
    "article_to_dict",
    "caption_to_dict",
    "decode_article",
    "parse_html",
    "parse_text",
    "read_article",
]

#: Larger files are refused rather than parsed: no news article is this big.
MAX_ARTICLE_BYTES = 20 * 1024 * 1024
#: How much of an HTML file is searched for a declared charset.
_CHARSET_WINDOW = 4096
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_article(data: bytes, *, kind: str, path: Path) -> str:
    """Decode an article's bytes to text.

    A byte-order mark decides; otherwise UTF-8 is tried first (valid UTF-8 is almost never
    anything else), then, for HTML, the charset a ``<meta>`` in the first 4 KiB declares.

    Args:
        data: The file's bytes.
        kind: "text" or "html".
        path: The file, named in errors.

    Returns:
        The decoded text.

    Raises:
        ArticleError: Empty or whitespace-only, binary (NUL bytes), or not decodable.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ArticleError(
                    path,
                    f"starts with a {encoding} byte-order mark but does not decode: {exc.reason}",
                ) from exc
            return _non_empty(text, path)
    if b"\x00" in data[:8192]:
        raise ArticleError(path, "binary file (NUL bytes), not a text or HTML article")
    try:
        return _non_empty(data.decode("utf-8"), path)
    except UnicodeDecodeError as utf8_error:
        declared = _DECLARED_CHARSET.search(data[:_CHARSET_WINDOW]) if kind == "html" else None
        if declared is None:
            raise ArticleError(
                path,
                f"not UTF-8 (byte {utf8_error.start}: {utf8_error.reason}) and no charset declared",
            ) from utf8_error
        charset = declared.group(1).decode("ascii")
        try:
            return _non_empty(data.decode(charset), path)
        except LookupError as exc:
            raise ArticleError(
                path, f"not UTF-8 and declared charset {charset!r} is unknown"
            ) from exc
        except UnicodeDecodeError as exc:
            raise ArticleError(
                path,
                f"not UTF-8 and does not decode as its declared charset {charset!r}: {exc.reason}",
            ) from exc


def _non_empty(text: str, path: Path) -> str:
    if not text.strip():
        raise ArticleError(path, "empty article (no text)")
    return text


def read_article(path: Path) -> ScrapedArticle:
    """Read a scraped article file, choosing the reader by suffix.

    Args:
        path: A ``.txt``/``.text`` (plain text) or ``.html``/``.htm`` file.

    Returns:
        The article's fields, images and caption occurrences.

    Raises:
        ArticleError: Unsupported suffix, unreadable, larger than ``MAX_ARTICLE_BYTES``, empty,
            binary, or not decodable; the error names the file and the reason.
    """
    kind = KINDS_BY_SUFFIX.get(path.suffix.lower())
    if kind is None:
        expected = ", ".join(KINDS_BY_SUFFIX)
        raise ArticleError(path, f"unsupported suffix {path.suffix!r}; expected one of {expected}")
    data = read_regular(path, limit=MAX_ARTICLE_BYTES, error=ArticleError, what="article")
    if not data:
        raise ArticleError(path, "empty file")
    text = decode_article(data, kind=kind, path=path)
    if kind == "text":
        return parse_text(text, source_path=path)
    return parse_html(text, source_path=path)

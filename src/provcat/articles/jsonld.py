"""JSON-LD blocks of news pages: the article's headline, url, date, publisher and images."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# fmt: off
#: JSON-LD types read as the article.
ARTICLE_TYPES = frozenset((
    "Article", "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle",
    "BackgroundNewsArticle", "OpinionNewsArticle", "ReviewNewsArticle", "LiveBlogPosting",
    "BlogPosting", "Report",
))
# fmt: on
_WRAPPERS = re.compile(r"^\s*(?:<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(?:-->|//\s*\]\]>|\]\]>)\s*$")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class LinkedImage:
    """An image an article's JSON-LD declares.

    Attributes:
        ref: Its ``url`` (or ``contentUrl``).
        caption: The ImageObject's ``caption`` text, if it is a string.
        credit: ``creditText``, else the ``creator`` name(s) joined with ", ", else None.
    """

    ref: str
    caption: str | None
    credit: str | None


@dataclass
class LinkedFacts:
    """What the article objects of one JSON-LD block state, in the order stated."""

    headlines: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    publishers: list[str] = field(default_factory=list)
    images: list[LinkedImage] = field(default_factory=list)


def _nodes(data: Any) -> Iterator[dict[str, Any]]:
    """Every object of a block: top-level objects, lists and ``@graph`` members, in order."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            yield item
            graph = item.get("@graph")
            if isinstance(graph, list):
                stack.extend(reversed(graph))


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type")
    values = value if isinstance(value, list) else [value]
    return {v.rsplit("/", 1)[-1] for v in values if isinstance(v, str)}


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), None)
    if isinstance(value, str):
        collapsed = _WHITESPACE.sub(" ", value).strip()
        return collapsed or None
    return None


def _names(value: Any) -> list[str]:
    names: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            name = _text(item)
        elif isinstance(item, dict):
            name = _text(item.get("name"))
        else:
            name = None
        if name:
            names.append(name)
    return names


def read_json_ld(raw: str) -> LinkedFacts:
    """Read one ``<script type="application/ld+json">`` block.

    Parsed with ``json.loads`` only; a block that is not valid JSON (trailing commas are
    common) or absurdly nested yields nothing rather than an error. ``{"@id": ...}``
    references are resolved within the block (Yoast-style ``@graph``).

    Args:
        raw: The script element's text.

    Returns:
        The facts stated by the block's article-typed objects (see ``ARTICLE_TYPES``).
    """
    facts = LinkedFacts()
    try:
        data = json.loads(_WRAPPERS.sub("", raw))
    except (ValueError, RecursionError):
        return facts
    nodes = list(_nodes(data))
    by_id = {n["@id"]: n for n in nodes if isinstance(n.get("@id"), str)}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"@id"} and isinstance(value["@id"], str):
            return by_id.get(value["@id"], value)
        return value

    for node in nodes:
        if not _types(node) & ARTICLE_TYPES:
            continue
        main = resolve(node.get("mainEntityOfPage"))
        for target, value in (
            (facts.headlines, _text(node.get("headline"))),
            (facts.urls, _text(node.get("url"))),
            (facts.urls, _text(main.get("@id") if isinstance(main, dict) else main)),
            (facts.published, _text(node.get("datePublished"))),
            (facts.publishers, next(iter(_names(resolve(node.get("publisher")))), None)),
        ):
            if value:
                target.append(value)
        images = node.get("image")
        for image in images if isinstance(images, list) else [images]:
            image = resolve(image)
            if isinstance(image, str) and image.strip():
                facts.images.append(LinkedImage(image.strip(), None, None))
            elif isinstance(image, dict):
                ref = _text(image.get("url")) or _text(image.get("contentUrl"))
                if ref is None:
                    continue
                caption = image.get("caption")
                credit = _text(image.get("creditText"))
                if credit is None:
                    credit = ", ".join(_names(resolve(image.get("creator")))) or None
                facts.images.append(
                    LinkedImage(ref, caption if isinstance(caption, str) else None, credit)
                )
    return facts

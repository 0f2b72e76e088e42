"""HTML scraped articles: figures, alt and title text, caption elements, Open Graph and JSON-LD."""

from __future__ import annotations

import datetime
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup
from bs4.element import Tag

from provcat.articles.dates import UNKNOWN, parse_machine_date
from provcat.articles.jsonld import read_json_ld
from provcat.articles.markup import (
    CREDIT_CLASS,
    UNREAD_TAGS,
    attr,
    collapse,
    has_class,
    image_ref_in,
    is_decorative,
    is_pixel,
    render_text,
)
from provcat.articles.model import CaptionOccurrence, ScrapedArticle, ScrapedImage

#: Page chrome: site navigation and footers; a <header> only outside <article>/<main>.
CHROME_TAGS: tuple[str, ...] = ("nav", "footer")
_CAPTION_CLASS = re.compile(r"caption", re.I)
_PUBLISH_CLASS = re.compile(r"publish", re.I)
# fmt: off
_DATE_META_NAMES = frozenset((
    "pubdate", "publishdate", "publish-date", "publish_date", "date", "dc.date.issued",
    "dcterms.created", "parsely-pub-date", "sailthru.date",
))
# fmt: on


def _is_json_ld(tag: Tag) -> bool:
    return (attr(tag, "type") or "").split(";")[0].strip().lower() == "application/ld+json"


class _Document:
    """The page walked once: document order, each element's subtree range, what is unread.

    Every question the reader asks about containment ("is this inside that", "which images
    are under this element") is a range lookup here, so hostile pages with thousands of
    nested or unclosed elements cost linear time, not a tree search per caption.
    """

    def __init__(self, soup: BeautifulSoup) -> None:
        self.start: dict[int, int] = {}
        self.end: dict[int, int] = {}
        self.picture: dict[int, Tag] = {}
        self.figure: dict[int, Tag] = {}
        order: list[Tag] = []
        in_article: dict[int, bool] = {}
        containers: list[int] = []
        pictures: list[Tag] = []
        figures: list[Tag] = []
        article_depth = 0
        stack: list[tuple[Tag, bool]] = [(soup, False)]
        while stack:
            tag, leaving = stack.pop()
            if leaving:
                self.end[id(tag)] = len(order)
                if tag.name == "picture":
                    pictures.pop()
                elif tag.name == "figure":
                    figures.pop()
                elif tag.name in ("article", "main"):
                    article_depth -= 1
                continue
            self.start[id(tag)] = len(order)
            order.append(tag)
            if tag.name == "img" and pictures:
                self.picture[id(tag)] = pictures[-1]
            elif tag.name == "figcaption" and figures:
                self.figure[id(tag)] = figures[-1]
            elif tag.name == "header":
                in_article[id(tag)] = article_depth > 0
            if tag.name == "picture":
                pictures.append(tag)
            elif tag.name == "figure":
                figures.append(tag)
            elif tag.name in ("article", "main"):
                article_depth += 1
                containers.append(len(order) - 1)
            stack.append((tag, True))
            stack.extend((c, False) for c in reversed(tag.contents) if isinstance(c, Tag))

        self.read: list[Tag] = []
        skip_until = -1
        for position, tag in enumerate(order):
            if position < skip_until:
                continue
            unread = tag.name in UNREAD_TAGS and not (tag.name == "script" and _is_json_ld(tag))
            chrome = tag.name in CHROME_TAGS or (
                tag.name == "header"
                and not in_article[id(tag)]
                and not self._count(containers, tag)
            )
            if unread or chrome:
                skip_until = self.end[id(tag)]
            else:
                self.read.append(tag)

        self.refs: dict[int, str] = {}
        self.images: list[int] = []
        self.media: list[int] = []
        self.captions: list[int] = []
        self.credits: list[int] = []
        for tag in self.read:
            position = self.start[id(tag)]
            if tag.name in ("img", "picture"):
                self.media.append(position)
            if tag.name == "img":
                ref = image_ref_in(tag, self.picture.get(id(tag)))
                if ref is not None and not is_pixel(tag):
                    self.refs[position] = ref
                    self.images.append(position)
            if has_class(tag, CREDIT_CLASS):
                self.credits.append(position)
        self.caption_ids = {
            id(tag)
            for tag in self.read
            if (tag.name == "figcaption" or has_class(tag, _CAPTION_CLASS))
            and not has_class(tag, CREDIT_CLASS)
            and tag.name not in ("img", "picture", "figure")
            and not self._count(self.media, tag)
        }
        self.captions = [self.start[i] for i in map(id, self.read) if i in self.caption_ids]
        self.order = order

    def _span(self, positions: list[int], tag: Tag) -> tuple[int, int]:
        """Indexes into ``positions`` of the entries inside ``tag`` (tag included)."""
        return (
            bisect_left(positions, self.start[id(tag)]),
            bisect_left(positions, self.end[id(tag)]),
        )

    def _count(self, positions: list[int], tag: Tag) -> int:
        low, high = self._span(positions, tag)
        return high - low

    def within(self, tag: Tag, ancestor: Tag) -> bool:
        """Whether ``tag`` lies strictly inside ``ancestor``."""
        start = self.start[id(tag)]
        return self.start[id(ancestor)] < start < self.end[id(ancestor)]

    def images_in(self, tag: Tag) -> tuple[str, ...]:
        """The distinct image references under ``tag``, in document order."""
        low, high = self._span(self.images, tag)
        return tuple(dict.fromkeys(self.refs[p] for p in self.images[low:high]))

    def is_caption(self, tag: Tag) -> bool:
        """Whether ``tag`` is a figcaption or class-marked caption holding no image."""
        return id(tag) in self.caption_ids

    def other_captions(self, container: Tag, caption: Tag) -> int:
        """How many caption elements under ``container`` are neither ``caption`` nor in it."""
        return self._count(self.captions, container) - self._count(self.captions, caption)

    def credit_for(self, caption: Tag, container: Tag | None) -> str | None:
        """A credit element inside the caption, else one beside it in its container."""
        low, high = self._span(self.credits, caption)
        if high > low:
            return render_text(self.order[self.credits[low]]) or None
        if container is not None:
            low, high = self._span(self.credits, container)
            for position in self.credits[low:high]:
                credit = self.order[position]
                if not self.within(credit, caption) and not self.within(caption, credit):
                    return render_text(credit) or None
        return None


@dataclass
class _Page:
    """What one pass over the page collects, in document order."""

    images: dict[str, ScrapedImage] = field(default_factory=dict)
    found: list[tuple[str, str, tuple[str, ...], str | None]] = field(default_factory=list)
    emitted_until: int = -1
    og_image: str | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)

    def add_image(self, ref: str, alt: str | None) -> None:
        known = self.images.get(ref)
        if known is None:
            self.images[ref] = ScrapedImage(ref, len(self.images) + 1, alt)
        elif known.alt is None and alt is not None:
            self.images[ref] = ScrapedImage(ref, known.position, alt)

    def add_caption(
        self, origin: str, text: str, refs: tuple[str, ...], credit: str | None
    ) -> None:
        text = collapse(text)
        if text:
            self.found.append((origin, text, refs, credit or None))

    def note(self, name: str, value: str | None) -> None:
        if value and collapse(value):
            self.fields.setdefault(name, []).append(collapse(value))

    def first(self, *names: str) -> str | None:
        for name in names:
            if self.fields.get(name):
                return self.fields[name][0]
        return None


def _caption_container(doc: _Document, caption: Tag) -> tuple[Tag | None, tuple[str, ...]]:
    """The element holding the images a class-marked caption belongs to, and those images.

    The nearest of three ancestors that holds images; if that ancestor holds other captions
    too, only the images between the previous caption and this one.
    """
    node: Tag | None = caption
    for _ in range(3):
        node = node.parent if node is not None else None
        if node is None or node.name in ("body", "html", "article", "main", "[document]"):
            break
        refs = doc.images_in(node)
        if not refs:
            continue
        if not doc.other_captions(node, caption):
            return node, refs
        preceding: list[str] = []
        for sibling in caption.previous_siblings:
            if isinstance(sibling, Tag) and id(sibling) in doc.start:
                if doc.is_caption(sibling):
                    break
                preceding[:0] = [r for r in doc.images_in(sibling) if r not in preceding]
        return node, tuple(preceding)
    return None, ()


def _read_meta(tag: Tag, page: _Page) -> None:
    key = (attr(tag, "property") or attr(tag, "name") or attr(tag, "itemprop") or "").lower()
    content = (attr(tag, "content") or "").strip()
    if not content:
        return
    if key in ("og:image", "og:image:url"):
        if not content.lower().startswith("data:"):
            page.og_image = content
            page.add_image(content, None)
    elif key == "og:image:alt":
        refs = (page.og_image,) if page.og_image else ()
        if page.og_image:
            page.add_image(page.og_image, content)
        if not is_decorative(content):
            page.add_caption("og:image", content, refs, None)
    elif key in ("og:title", "og:url", "og:site_name", "article:published_time"):
        page.note(key, content)
    elif key in _DATE_META_NAMES or key == "datepublished":
        page.note("meta:date", content)


def _read_json_ld(tag: Tag, page: _Page) -> None:
    facts = read_json_ld("".join(str(part) for part in tag.contents))
    for name, values in (
        ("ld:headline", facts.headlines),
        ("ld:url", facts.urls),
        ("ld:published", facts.published),
        ("ld:publisher", facts.publishers),
    ):
        for value in values:
            page.note(name, value)
    for image in facts.images:
        page.add_image(image.ref, None)
        if image.caption is not None:
            page.add_caption("json-ld", image.caption, (image.ref,), image.credit)


def _read_img(doc: _Document, img: Tag, page: _Page) -> None:
    ref = doc.refs.get(doc.start[id(img)])
    if ref is None:
        return
    alt = attr(img, "alt")
    page.add_image(ref, alt)
    if alt is not None and not is_decorative(alt):
        page.add_caption("alt", alt, (ref,), None)
    title = attr(img, "title")
    if title is not None and not is_decorative(title):
        page.add_caption("title-attr", title, (ref,), None)


def _read_caption(doc: _Document, tag: Tag, page: _Page) -> None:
    if doc.start[id(tag)] < page.emitted_until:
        return  # Nested inside a caption already read (e.g. <figcaption><p class="caption">).
    page.emitted_until = doc.end[id(tag)]
    if tag.name == "figcaption":
        container = doc.figure.get(id(tag), tag.parent)
        refs = doc.images_in(container) if container is not None else ()
        origin = "figcaption"
    else:
        container, refs = _caption_container(doc, tag)
        origin = "caption-paragraph"
    text = render_text(tag, skip_credit=True)
    page.add_caption(origin, text, refs, doc.credit_for(tag, container))


def _published(page: _Page) -> tuple[datetime.date | None, str]:
    for name in ("article:published_time", "ld:published", "meta:date", "time:published"):
        for value in page.fields.get(name, []):
            found = parse_machine_date(value)
            if found[0] is not None:
                return found
    return UNKNOWN


def parse_html(html: str, *, source_path: Path) -> ScrapedArticle:
    """Read an HTML scraped article without running scripts or fetching anything.

    Args:
        html: The page source (already decoded).
        source_path: The file it came from, recorded on the result.

    Returns:
        The article, with every caption occurrence (Open Graph image alt, JSON-LD ImageObject
        captions, alt and title attributes, figcaptions, class-marked caption elements) in
        document order; the rules are in docs/extraction.md.
    """
    doc = _Document(BeautifulSoup(html, "lxml"))
    page = _Page()
    for tag in doc.read:
        name = tag.name
        if name == "meta":
            _read_meta(tag, page)
        elif name == "script":
            _read_json_ld(tag, page)
        elif name == "link" and "canonical" in (attr(tag, "rel") or "").lower().split():
            page.note("canonical", attr(tag, "href"))
        elif name in ("title", "h1") and f"html:{name}" not in page.fields:
            page.note(f"html:{name}", render_text(tag))
        elif name == "time" and (
            tag.has_attr("pubdate")
            or (attr(tag, "itemprop") or "").lower() == "datepublished"
            or has_class(tag, _PUBLISH_CLASS)
        ):
            page.note("time:published", attr(tag, "datetime"))
        elif name == "img":
            _read_img(doc, tag, page)
        if doc.is_caption(tag):
            _read_caption(doc, tag, page)
    published, precision = _published(page)
    return ScrapedArticle(
        source_path=source_path,
        kind="html",
        title=page.first("og:title", "ld:headline", "html:h1", "html:title"),
        url=page.first("canonical", "og:url", "ld:url"),
        publisher=page.first("og:site_name", "ld:publisher"),
        published=published,
        published_precision=precision,
        images=tuple(sorted(page.images.values(), key=lambda image: image.position)),
        captions=tuple(
            CaptionOccurrence(position, text, origin, refs, credit)
            for position, (origin, text, refs, credit) in enumerate(page.found, start=1)
        ),
    )

"""How HTML markup reads as text and images: rendered text, alt values, srcsets, image refs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bs4.element import CData, NavigableString, Tag

#: Elements whose content is never article content (and so never a caption).
UNREAD_TAGS: tuple[str, ...] = ("script", "style", "noscript", "template", "iframe", "object")
#: Alt or title values (case-folded, trimmed of punctuation) that describe nothing.
# fmt: off
DECORATIVE_TEXTS = frozenset((
    "image", "photo", "photograph", "picture", "pic", "img", "placeholder", "thumbnail",
    "thumb", "icon", "logo", "spacer", "blank", "null", "undefined", "none", "untitled",
    "default", "banner",
))
# fmt: on

CREDIT_CLASS = re.compile(r"credit|copyright|photographer", re.I)
_HIDDEN_CLASS = re.compile(r"visually-?hidden|sr-only|screen-?reader|off-?screen", re.I)
_WHITESPACE = re.compile(r"[ \t\n\r\f]+")
_FILENAME = re.compile(r"^[\w.-]+\.(?:jpe?g|png|gif|webp|avif|svg|bmp|tiff?|heic)$", re.I)
_SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)+$")
_CAMERA_FILE = re.compile(r"^(?:img|dsc|dscn|dscf|pxl)[-_]?\d+$", re.I)
_DESCRIPTOR = re.compile(r"^(\d+(?:\.\d+)?)([wx])$")
# fmt: off
_BLOCK_TAGS = frozenset((
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
))
# fmt: on


def collapse(text: str) -> str:
    """Collapse runs of HTML whitespace to one space and trim; other characters are kept."""
    return _WHITESPACE.sub(" ", text).strip()


def is_decorative(text: str) -> bool:
    """Whether an alt or title value says nothing: empty, "image"/"photo"..., a file name or slug.

    Decorative values are skipped as caption occurrences (the image itself is still recorded
    with its raw alt). A slug is a lower-case hyphenated word ("quayle-marrow") or a camera
    file name ("IMG_1234"), as CMSs fill in automatically; "Marsh-Ellery" is a name.
    """
    trimmed = collapse(text).strip(" .,:;-_|")
    bare = trimmed.casefold()
    return (
        not bare
        or bare in DECORATIVE_TEXTS
        or bool(_FILENAME.match(bare) or _SLUG.match(trimmed) or _CAMERA_FILE.match(trimmed))
    )


def _srcset_candidates(srcset: str) -> Iterator[tuple[str, str]]:
    """Yield (url, descriptor) pairs; a URL runs to whitespace (data: URIs hold commas)."""
    position, length = 0, len(srcset)
    while position < length:
        while position < length and (srcset[position].isspace() or srcset[position] == ","):
            position += 1
        start = position
        while position < length and not srcset[position].isspace():
            position += 1
        url = srcset[start:position]
        if url.endswith(","):
            yield url.rstrip(","), ""
            continue
        start = position
        while position < length and srcset[position] != ",":
            position += 1
        if url:
            yield url, srcset[start:position].strip()


def largest_in_srcset(srcset: str) -> str | None:
    """Return the URL of the widest (or highest-density) candidate of a srcset, if any.

    Candidates without a descriptor count as ``1x``; width descriptors beat density ones;
    ``data:`` URIs are skipped.
    """
    best: tuple[int, float] | None = None
    best_url: str | None = None
    for url, descriptor in _srcset_candidates(srcset):
        if url.lower().startswith("data:"):
            continue
        match = _DESCRIPTOR.match(descriptor)
        if descriptor and not match:
            continue
        unit = match[2] if match else "x"
        size = float(match[1]) if match else 1.0
        key = (1 if unit == "w" else 0, size)
        if best is None or key > best:
            best, best_url = key, url
    return best_url


def classes(tag: Tag) -> list[str]:
    """The element's class names (bs4 gives a list, or a string for odd markup)."""
    value = tag.get("class")
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def attr(tag: Tag, name: str) -> str | None:
    """An attribute as one string (multi-valued ones joined by spaces), or None."""
    value = tag.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else " ".join(str(v) for v in value)


def has_class(tag: Tag, pattern: re.Pattern[str]) -> bool:
    """Whether any class name of the element matches ``pattern`` (a substring search)."""
    return any(pattern.search(name) for name in classes(tag))


def _is_hidden(tag: Tag) -> bool:
    return has_class(tag, _HIDDEN_CLASS) or tag.has_attr("hidden")


def render_text(element: Tag, *, skip_credit: bool = False) -> str:
    """Return an element's text as a browser would lay it out, whitespace runs collapsed.

    Block elements and ``<br>`` separate words; inline elements do not. Comments, visually
    hidden labels ("Image caption, ") and, with ``skip_credit``, credit elements are left out.
    Entities are already decoded by the parser; nothing is interpreted as markup.
    """
    parts: list[str] = []
    # An explicit stack, not recursion: hostile pages nest thousands of levels deep.
    stack: list[tuple[Any, bool]] = [(element, False)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, Tag):
            block = node.name in _BLOCK_TAGS
            if leaving:
                if block:
                    parts.append(" ")
                continue
            if node is not element and (
                node.name in UNREAD_TAGS
                or _is_hidden(node)
                or (skip_credit and has_class(node, CREDIT_CLASS))
            ):
                continue
            if block:
                parts.append(" ")
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) in (NavigableString, CData):
            parts.append(str(node))
    return collapse("".join(parts))


def image_ref_in(img: Tag, picture: Tag | None) -> str | None:
    """``image_ref`` with the enclosing ``<picture>`` (or None) already known."""
    for name in ("data-src", "data-lazy-src", "data-original", "src"):
        value = (attr(img, name) or "").strip()
        if value and not value.lower().startswith("data:"):
            return value
    for name in ("data-srcset", "srcset"):
        largest = largest_in_srcset(attr(img, name) or "")
        if largest:
            return largest
    if picture is not None:
        for source in picture.find_all("source"):
            for name in ("data-srcset", "srcset"):
                largest = largest_in_srcset(attr(source, name) or "")
                if largest:
                    return largest
    return None


def image_ref(img: Tag) -> str | None:
    """Return the reference an ``<img>`` shows: lazy-load source, src, or largest srcset entry.

    ``data-src`` (and its variants) wins over ``src`` because lazy loaders put a placeholder in
    ``src`` and swap the real image in from ``data-src``. ``data:`` URIs are never references.
    Without any, the largest candidate of ``data-srcset``/``srcset`` on the image, then on the
    ``<source>`` elements of an enclosing ``<picture>``.
    """
    return image_ref_in(img, img.find_parent("picture"))


def is_pixel(img: Tag) -> bool:
    """Whether an ``<img>`` declares itself at most 2x2 pixels (a tracking pixel)."""
    sizes = [(attr(img, name) or "").strip().removesuffix("px") for name in ("width", "height")]
    return all(size.isdigit() and int(size) <= 2 for size in sizes)

"""XMP fields from the packet, parsed with defusedxml and walked to ``prefix:Local`` keys."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from PIL import Image

from provcat.errors import MetadataError
from provcat.metadata.field import MetadataField
from provcat.metadata.tables import XMP, XMP_NAMESPACES, XMP_PROPERTIES

_RDF: Final = "{" + XMP_NAMESPACES["rdf"] + "}"
_XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
_RDF_ARRAYS: Final = frozenset({_RDF + "Alt", _RDF + "Seq", _RDF + "Bag"})
_XMP_MAX_DEPTH: Final = 32


def read_xmp(path: Path, image: Image.Image) -> list[MetadataField]:
    """Read the XMP fields of one image, in packet order.

    Args:
        path: The image file (named in errors).
        image: The same file opened with Pillow.

    Returns:
        The fields; ``[]`` when the file has no XMP packet or the packet has no ``rdf:RDF``.

    Raises:
        MetadataError: The packet is not well-formed, declares a DTD or entities, or nests
            too deep.
    """
    packet = _xmp_packet(image)
    if packet is None:
        return []
    root, declared = _parse_xmp(path, packet)
    rdf = root if root.tag == _RDF + "RDF" else root.find(f".//{_RDF}RDF")
    if rdf is None:
        return []
    names = _XmpNames(declared)
    fields = []
    try:
        for description in rdf.iterfind(_RDF + "Description"):
            for key, value, ordinal, lang in _walk_node(description, "", None, None, names, 0):
                fields.append(
                    MetadataField(XMP, key, value, XMP_PROPERTIES.get(key), ordinal or 0, lang)
                )
    except _TooDeep as exc:
        raise MetadataError(path, f"XMP packet nests deeper than {_XMP_MAX_DEPTH} levels") from exc
    return fields


def _xmp_packet(image: Image.Image) -> bytes | None:
    raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes):
        return None
    # Writers pad packets with NULs and whitespace; an XML declaration must come first.
    packet = raw.strip(b"\x00 \t\r\n")
    return packet or None


def _parse_xmp(path: Path, packet: bytes) -> tuple[Element, list[tuple[str, str]]]:
    declared: list[tuple[str, str]] = []
    root: Element | None = None
    try:
        for event, item in SafeET.iterparse(io.BytesIO(packet), events=("start-ns", "end")):
            if event == "start-ns":
                declared.append(item)
            else:
                root = item
    except EntitiesForbidden as exc:
        raise MetadataError(path, "XMP packet declares entities (refused)") from exc
    except DTDForbidden as exc:
        raise MetadataError(path, "XMP packet declares a DTD (refused)") from exc
    except ExternalReferenceForbidden as exc:
        raise MetadataError(path, "XMP packet references external entities (refused)") from exc
    except DefusedXmlException as exc:
        raise MetadataError(path, f"XMP packet refused: {exc}") from exc
    except ParseError as exc:
        raise MetadataError(path, f"XMP packet is not well-formed XML: {exc}") from exc
    if root is None:
        raise MetadataError(path, "XMP packet is not well-formed XML: no root element")
    return root, declared


class _XmpNames:
    """Turns ``{uri}local`` into ``prefix:local``: canonical prefixes for known namespaces,
    the declared prefix for others, renamed if it would pass for a known one."""

    def __init__(self, declared: Iterable[tuple[str, str]]) -> None:
        self._prefixes = {uri: prefix for prefix, uri in XMP_NAMESPACES.items()}
        taken = set(XMP_NAMESPACES)
        for prefix, uri in declared:
            if uri in self._prefixes:
                continue
            base = prefix or "ns"
            candidate, suffix = base, 2
            while candidate in taken:
                candidate, suffix = f"{base}_{suffix}", suffix + 1
            self._prefixes[uri] = candidate
            taken.add(candidate)

    def __call__(self, tag: str) -> str:
        if not tag.startswith("{"):
            return tag
        uri, _, local = tag[1:].partition("}")
        return f"{self._prefixes.get(uri, 'ns')}:{local}"


class _TooDeep(Exception):
    """Raised inside the XMP walk when structures nest beyond `_XMP_MAX_DEPTH`."""


_Item = tuple[str, str, int | None, str | None]


def _walk_node(
    node: Element, path: str, ordinal: int | None, lang: str | None, names: _XmpNames, depth: int
) -> Iterator[_Item]:
    """Yield the properties of an rdf:Description or a structure: attributes, then children."""
    if depth > _XMP_MAX_DEPTH:
        raise _TooDeep
    for attribute, value in node.attrib.items():
        if not attribute.startswith(_RDF) and attribute != _XML_LANG and value.strip():
            yield path + names(attribute), value, ordinal, lang
    for child in node:
        yield from _walk_property(child, path + names(child.tag), ordinal, lang, names, depth + 1)


def _walk_property(
    element: Element,
    key: str,
    ordinal: int | None,
    lang: str | None,
    names: _XmpNames,
    depth: int,
) -> Iterator[_Item]:
    """Yield one property element's values: a resource, an array, a structure or text."""
    if depth > _XMP_MAX_DEPTH:
        raise _TooDeep
    lang = element.get(_XML_LANG, lang)
    resource = element.get(_RDF + "resource")
    if resource is not None:
        if resource.strip():
            yield key, resource, ordinal, lang
        return
    if element.get(_RDF + "parseType") == "Resource":
        yield from _walk_node(element, key + "/", ordinal, lang, names, depth + 1)
        return
    children = list(element)
    for child in children:
        if child.tag in _RDF_ARRAYS:
            items = [li for li in child if li.tag == _RDF + "li"]
            for index, item in enumerate(items):
                # The outermost array numbers the values; nested arrays keep that number.
                position = index if ordinal is None else ordinal
                yield from _walk_property(item, key, position, lang, names, depth + 1)
        elif child.tag == _RDF + "Description":
            yield from _walk_node(child, key + "/", ordinal, lang, names, depth + 1)
        else:
            yield from _walk_property(
                child, f"{key}/{names(child.tag)}", ordinal, lang, names, depth + 1
            )
    if not children:
        # Shorthand structure: fields written as attributes of the property element.
        yield from _walk_node(element, key + "/", ordinal, lang, names, depth + 1)
        text = element.text or ""
        if text.strip():
            yield key, text, ordinal, lang

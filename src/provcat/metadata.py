"""Read every embedded EXIF, IPTC-IIM and XMP field of an image, each kept with its origin."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import exifread
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from exifread.tags.exif import EXIF_TAGS, GPS_TAGS
from PIL import Image, ImageFile, IptcImagePlugin

from provcat.errors import MetadataError

EXIF: Final = "EXIF"
IIM: Final = "IPTC-IIM"
XMP: Final = "XMP"


@dataclass(frozen=True)
class MetadataField:
    """One embedded metadata value and where it came from.

    Attributes:
        standard: ``"EXIF"``, ``"IPTC-IIM"`` or ``"XMP"``.
        key: EXIF: exifread's ``"IFD Name"`` (``"Image ImageDescription"``); IIM:
            ``"record:dataset"`` without zero padding (``"2:120"``); XMP: ``"prefix:Local"``
            with canonical prefixes, nested structure fields joined by ``/``.
        value: The text, decoded; never empty.
        property: The IPTC property carried (``"description"``, ``"credit_line"``...), else None.
        ordinal: Position among repeated values (IIM repeated datasets, XMP array items).
        lang: The ``xml:lang`` of an XMP value (``"x-default"``), else None.
        truncated: True for an IIM value cut to its dataset maximum; the XMP copy is whole.
    """

    standard: str
    key: str
    value: str
    property: str | None
    ordinal: int = 0
    lang: str | None = None
    truncated: bool = False


#: XMP namespaces by canonical prefix; keys are reported with these prefixes whatever the file
#: declared, so ``dc:source`` and ``photoshop:Source`` never collide.
XMP_NAMESPACES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "x": "adobe:ns:meta/",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "dc": "http://purl.org/dc/elements/1.1/",
        "photoshop": "http://ns.adobe.com/photoshop/1.0/",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
        "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
        "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
        "stRef": "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
        "xmpGImg": "http://ns.adobe.com/xap/1.0/g/img/",
        "xmpNote": "http://ns.adobe.com/xmp/note/",
        "xmpDM": "http://ns.adobe.com/xmp/1.0/DynamicMedia/",
        "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
        "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
        "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
        "exif": "http://ns.adobe.com/exif/1.0/",
        "exifEX": "http://cipa.jp/exif/1.0/",
        "aux": "http://ns.adobe.com/exif/1.0/aux/",
        "tiff": "http://ns.adobe.com/tiff/1.0/",
        "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
        "lr": "http://ns.adobe.com/lightroom/1.0/",
        "pdf": "http://ns.adobe.com/pdf/1.3/",
        "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
        "stArea": "http://ns.adobe.com/xmp/sType/Area#",
        "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
        "photomechanic": "http://ns.camerabits.com/photomechanic/1.0/",
        "GettyImagesGIFT": "http://xmp.gettyimages.com/gift/1.0/",
    }
)

#: The IPTC property each EXIF tag carries (MWG/IPTC mapping).
EXIF_PROPERTIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Image ImageDescription": "description",
        "Image Artist": "creator",
        "Image Copyright": "copyright",
        "EXIF DateTimeOriginal": "date_created",
        "Image XPTitle": "title",
        "Image XPAuthor": "creator",
        "Image XPKeywords": "keywords",
    }
)

#: The IPTC property each IIM dataset carries.
# fmt: off
IIM_PROPERTIES: Final[Mapping[str, str]] = MappingProxyType({
    "2:5": "title", "2:12": "subject_code", "2:25": "keywords", "2:40": "instructions",
    "2:55": "date_created", "2:60": "time_created", "2:80": "creator",
    "2:85": "creator_job_title", "2:90": "city", "2:92": "sublocation",
    "2:95": "province_state", "2:100": "country_code", "2:101": "country", "2:103": "job_id",
    "2:105": "headline", "2:110": "credit_line", "2:115": "source", "2:116": "copyright",
    "2:120": "description", "2:122": "description_writer",
})
# fmt: on

#: The IPTC property each XMP key carries; ``dc:source`` deliberately carries none.
XMP_PROPERTIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "dc:description": "description",
        "dc:title": "title",
        "dc:creator": "creator",
        "dc:rights": "copyright",
        "dc:subject": "keywords",
        "photoshop:Headline": "headline",
        "photoshop:Credit": "credit_line",
        "photoshop:Source": "source",
        "photoshop:DateCreated": "date_created",
        "photoshop:TransmissionReference": "job_id",
        "photoshop:Instructions": "instructions",
        "photoshop:City": "city",
        "photoshop:State": "province_state",
        "photoshop:Country": "country",
        "photoshop:AuthorsPosition": "creator_job_title",
        "photoshop:CaptionWriter": "description_writer",
        "Iptc4xmpCore:Location": "sublocation",
        "Iptc4xmpCore:CountryCode": "country_code",
        "Iptc4xmpCore:SubjectCode": "subject_code",
        "Iptc4xmpExt:PersonInImage": "person_in_image",
        "Iptc4xmpExt:DigitalSourceType": "digital_source_type",
        "plus:ImageSupplier/plus:ImageSupplierName": "image_supplier",
        "exif:DateTimeOriginal": "date_created",
        "tiff:ImageDescription": "description",
        "tiff:Artist": "creator",
        "tiff:Copyright": "copyright",
    }
)

#: Maximum value length in bytes of IIM datasets (IPTC-IIM 4.2); conforming writers cut here.
IIM_MAX_BYTES: Final[Mapping[str, int]] = MappingProxyType({
    "2:5": 64, "2:25": 64, "2:40": 256, "2:80": 32, "2:85": 32, "2:90": 32, "2:92": 32,
    "2:95": 32, "2:100": 3, "2:101": 64, "2:103": 32, "2:105": 256, "2:110": 32, "2:115": 32,
    "2:116": 128, "2:120": 2000, "2:122": 32,
})  # fmt: skip

#: Properties that hold a caption.
CAPTION_PROPERTIES: Final = frozenset({"description"})
#: Properties that say who made or supplied an image.
CREDIT_PROPERTIES: Final = frozenset({"credit_line", "source", "creator", "copyright",
                                      "image_supplier"})  # fmt: skip

# Structural pointers, embedded blobs and other non-content EXIF tags.
_EXIF_SKIP: Final = frozenset({
    "ExifOffset", "GPSInfo", "InteroperabilityOffset", "MakerNote", "ApplicationNotes",
    "IPTC/NAA", "ImageResources", "PrintIM", "JPEGInterchangeFormat",
    "JPEGInterchangeFormatLength", "StripOffsets", "StripByteCounts",
})  # fmt: skip
_EXIF_XP: Final = frozenset({"XPTitle", "XPComment", "XPAuthor", "XPKeywords", "XPSubject"})
_EXIF_MAX_VALUES: Final = 64  # longer UNDEFINED values and number arrays are blobs
_ASCII, _UNDEFINED = 2, 7
_EXIF_IFD, _GPS_IFD, _USER_COMMENT = 0x8769, 0x8825, 0x9286

# 1:90 escape sequences (ISO 2022) that name UTF-8, and those that name ISO 8859-1.
_IIM_UTF8: Final = frozenset({b"\x1b%G", b"\x1b%/G", b"\x1b%/H", b"\x1b%/I"})
_IIM_LATIN1: Final = frozenset({b"\x1b.A", b"\x1b-A"})
_IIM_BINARY: Final = frozenset({0, 200, 201, 202})  # record version, object preview

_RDF: Final = "{" + XMP_NAMESPACES["rdf"] + "}"
_XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
_RDF_ARRAYS: Final = frozenset({_RDF + "Alt", _RDF + "Seq", _RDF + "Bag"})
_XMP_MAX_DEPTH: Final = 32


def read_metadata(path: Path, image: Image.Image) -> list[MetadataField]:
    """Read every EXIF, IPTC-IIM and XMP field of one image file.

    Fields come EXIF first, then IIM, then XMP, each in file order, and nothing is merged:
    three different captions in one file are three fields. Empty and whitespace-only values
    are left out. IIM values cut at their dataset maximum are marked (see `mark_truncated`).

    IIM text is decoded by the 1:90 coded character set (``ESC % G`` = UTF-8). Without 1:90
    the standard says Latin-1, but many writers put UTF-8 anyway, so: if every non-ASCII
    dataset of the block is valid UTF-8 the block is read as UTF-8, otherwise as cp1252.

    Args:
        path: The image file (EXIF is read from it with exifread).
        image: The same file opened with Pillow and not transposed (IIM and XMP come from it).

    Returns:
        The fields; ``[]`` for a file without metadata.

    Raises:
        MetadataError: A block is malformed or hostile (XMP that is not well-formed or
            declares entities, an IPTC-NAA resource that is not an IIM stream, EXIF that
            neither exifread nor Pillow can read). An APP13 segment that holds no IPTC-NAA
            resource is not an error: Pillow skips it and there is simply no IIM.
    """
    fields = _read_exif(path, image)
    iim_fields, iim_encoding = _read_iim(path, image)
    fields += iim_fields
    fields += _read_xmp(path, image)
    return mark_truncated(fields, iim_encoding=iim_encoding)


def fields_for(fields: Iterable[MetadataField], property: str) -> list[MetadataField]:
    """Return the fields that carry one IPTC property, across all three standards, in order."""
    return [field for field in fields if field.property == property]


def mark_truncated(
    fields: Sequence[MetadataField], *, iim_encoding: str | None = None
) -> list[MetadataField]:
    """Mark IIM values that a writer cut to the dataset maximum.

    An IIM value is truncated when it is a proper prefix of an XMP value of the same property
    and was filled to its limit: it fits in ``IIM_MAX_BYTES`` and one more character of the
    XMP text would not. That covers a cut at exactly the limit (``Unnamed European security
    servic``, 32 bytes) and a cut at the UTF-8 character boundary just under it.

    Args:
        fields: Fields as returned by `read_metadata` (or built by hand).
        iim_encoding: The encoding the IIM block was written in; when None, UTF-8 and cp1252
            are both tried.

    Returns:
        The same fields in the same order, truncated IIM ones replaced with
        ``truncated=True``.
    """
    encodings = (iim_encoding,) if iim_encoding else ("utf-8", "cp1252")
    xmp_values: dict[str, list[str]] = {}
    for field in fields:
        if field.standard == XMP and field.property:
            xmp_values.setdefault(field.property, []).append(field.value)
    marked = []
    for field in fields:
        limit = IIM_MAX_BYTES.get(field.key)
        if (
            field.standard == IIM
            and field.property
            and limit is not None
            and any(
                _was_cut(field.value, full, limit, encodings)
                for full in xmp_values.get(field.property, ())
            )
        ):
            field = replace(field, truncated=True)
        marked.append(field)
    return marked


def _was_cut(value: str, full: str, limit: int, encodings: Sequence[str]) -> bool:
    if len(full) <= len(value) or not full.startswith(value):
        return False
    for encoding in encodings:
        try:
            used = len(value.encode(encoding))
            with_next = len(full[: len(value) + 1].encode(encoding))
        except UnicodeEncodeError:
            continue
        if used <= limit < with_next:
            return True
    return False


# --- EXIF ---------------------------------------------------------------------------------


def _read_exif(path: Path, image: Image.Image) -> list[MetadataField]:
    exifread_error: Exception | None = None
    try:
        with path.open("rb") as handle:
            tags = exifread.process_file(handle, details=False, extract_thumbnail=False)
        if tags:
            fields = list(_exifread_fields(tags))
            return fields + _pillow_user_comment(image)
    # exifread raises bare AssertionError, IndexError, struct errors... on odd files.
    except Exception as exc:
        exifread_error = exc
    try:
        return list(_pillow_exif_fields(image))
    except Exception as exc:
        reason = f"EXIF block is malformed: Pillow: {exc}"
        if exifread_error is not None:
            reason += f"; exifread: {exifread_error}"
        raise MetadataError(path, reason) from exc


def _exifread_fields(tags: Mapping[str, Any]) -> Iterator[MetadataField]:
    for key, tag in tags.items():
        ifd, _, name = key.partition(" ")
        if ifd == "Thumbnail" or name in _EXIF_SKIP or not hasattr(tag, "field_type"):
            continue
        values = tag.values
        value: str | None
        if tag.field_type == _ASCII:
            value = _decode_legacy(values) if isinstance(values, bytes) else str(values)
        elif name in _EXIF_XP:
            value = _decode_xp(bytes(values))
        elif tag.field_type == _UNDEFINED:
            value = tag.printable if len(values) <= _EXIF_MAX_VALUES else None
        else:
            value = _format_numbers(values)
        if value and value.strip():
            yield MetadataField(EXIF, key, value, EXIF_PROPERTIES.get(key))


def _pillow_exif_fields(image: Image.Image) -> Iterator[MetadataField]:
    exif = image.getexif()
    ifds = [
        ("Image", dict(exif)),
        ("EXIF", dict(exif.get_ifd(_EXIF_IFD))),
        ("GPS", dict(exif.get_ifd(_GPS_IFD))),
    ]
    for ifd, entries in ifds:
        names = GPS_TAGS if ifd == "GPS" else EXIF_TAGS
        for tag_id, raw in entries.items():
            entry = names.get(tag_id)
            name = entry[0] if entry else f"Tag 0x{tag_id:04X}"
            if name in _EXIF_SKIP:
                continue
            value = _pillow_value(name, raw)
            if value and value.strip():
                key = f"{ifd} {name}"
                yield MetadataField(EXIF, key, value, EXIF_PROPERTIES.get(key))


def _pillow_user_comment(image: Image.Image) -> list[MetadataField]:
    # exifread skips UserComment when details=False; it can hold a caption, so take Pillow's.
    try:
        raw = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:
        return []
    value = _pillow_value("UserComment", raw) if raw is not None else None
    return [MetadataField(EXIF, "EXIF UserComment", value, None)] if value else []


def _pillow_value(name: str, raw: Any) -> str | None:
    if isinstance(raw, str):
        # Pillow decodes EXIF ASCII as Latin-1; most writers meant UTF-8.
        return _decode_legacy(raw.encode("latin-1", errors="replace"))
    if isinstance(raw, bytes):
        if name in _EXIF_XP:
            return _decode_xp(raw)
        if name == "UserComment":
            return _decode_user_comment(raw)
        if len(raw) <= _EXIF_MAX_VALUES and raw.isascii():
            text = raw.rstrip(b"\x00").decode("ascii")
            return text if text.isprintable() else None
        return None
    return _format_numbers(raw)


def _format_numbers(values: Any) -> str | None:
    items = list(values) if isinstance(values, list | tuple) else [values]
    if len(items) > _EXIF_MAX_VALUES:
        return None
    return ", ".join(_format_number(item) for item in items)


def _format_number(item: Any) -> str:
    numerator, denominator = getattr(item, "numerator", None), getattr(item, "denominator", None)
    if isinstance(numerator, int) and isinstance(denominator, int) and denominator != 1:
        return str(Fraction(numerator, denominator)) if denominator else f"{numerator}/0"
    if isinstance(numerator, int):
        return str(numerator)
    return str(item)


def _decode_xp(raw: bytes) -> str:
    return raw.decode("utf-16-le", errors="replace").rstrip("\x00")


def _decode_user_comment(raw: bytes) -> str | None:
    code, body = raw[:8], raw[8:]
    if code == b"UNICODE\x00":
        # The byte order follows the TIFF header, which Pillow does not expose: guess by NULs.
        encoding = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        text = body.decode(encoding, errors="replace")
    elif code == b"JIS\x00\x00\x00\x00\x00":
        text = body.decode("iso2022_jp", errors="replace")
    else:
        text = _decode_legacy(body)
    text = text.strip("\x00 ")
    return text or None


def _decode_legacy(raw: bytes) -> str:
    """Decode text of unknown charset: UTF-8 when valid, else cp1252 (Latin-1 for its holes)."""
    raw = raw.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_cp1252(raw)


def _decode_cp1252(raw: bytes) -> str:
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# --- IPTC-IIM -----------------------------------------------------------------------------


def _read_iim(path: Path, image: Image.Image) -> tuple[list[MetadataField], str | None]:
    if not isinstance(image, ImageFile.ImageFile):
        return [], None
    try:
        info = IptcImagePlugin.getiptcinfo(image)
    # Pillow's IIM parser raises SyntaxError, OSError and whatever a hostile stream provokes.
    except Exception as exc:
        raise MetadataError(path, f"IPTC-IIM block is malformed: {exc}") from exc
    if not info:
        return [], None
    datasets: list[tuple[str, int, bytes]] = []
    for (record, dataset), value in info.items():
        if record != 2 or dataset in _IIM_BINARY:
            continue
        items = value if isinstance(value, list) else [value]
        present = [item for item in items if item]
        datasets += [(f"2:{dataset}", n, item) for n, item in enumerate(present)]
    charset = info.get((1, 90))
    if isinstance(charset, list):
        charset = charset[0]
    encoding = _iim_encoding(charset, [raw for _, _, raw in datasets])
    fields = []
    for key, ordinal, raw in datasets:
        text = raw.decode("utf-8", "replace") if encoding == "utf-8" else _decode_cp1252(raw)
        if text.strip():
            fields.append(MetadataField(IIM, key, text, IIM_PROPERTIES.get(key), ordinal))
    return fields, encoding


def _iim_encoding(charset: bytes | None, values: Sequence[bytes]) -> str:
    """Choose the IIM block's text encoding.

    1:90 wins when it names UTF-8 or ISO 8859-1 (read as cp1252, its superset in practice).
    Without a usable 1:90, the block is UTF-8 if it has non-ASCII bytes and every value is
    valid UTF-8 (a chance match of cp1252 text is rare), else cp1252.
    """
    if charset is not None:
        if charset.strip() in _IIM_UTF8:
            return "utf-8"
        if charset.strip() in _IIM_LATIN1:
            return "cp1252"
    non_ascii = [raw for raw in values if not raw.isascii()]
    if not non_ascii:
        return "utf-8"
    try:
        for raw in non_ascii:
            raw.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


# --- XMP ----------------------------------------------------------------------------------


def _read_xmp(path: Path, image: Image.Image) -> list[MetadataField]:
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

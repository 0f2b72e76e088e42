"""Write the EXIF, IPTC-IIM and XMP a wire photo carries, for stand-in images and fixtures."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from PIL import Image

from provcat.metadata import IIM_MAX_BYTES, XMP_NAMESPACES

#: XMP properties written as language alternatives (rdf:Alt with xml:lang).
LANG_ALT_PROPERTIES: Final = frozenset({"dc:description", "dc:title", "dc:rights",
                                        "xmpRights:UsageTerms"})  # fmt: skip
#: XMP properties written as ordered arrays (rdf:Seq).
SEQ_PROPERTIES: Final = frozenset({"dc:creator"})
#: XMP properties written as unordered arrays (rdf:Bag).
BAG_PROPERTIES: Final = frozenset({"dc:subject", "Iptc4xmpExt:PersonInImage",
                                   "photoshop:SupplementalCategories"})  # fmt: skip

#: The 1:90 coded character set value that declares UTF-8 (ISO 2022 ``ESC % G``).
IIM_UTF8_CHARSET: Final = b"\x1b%G"

_KEY = re.compile(r"([A-Za-z][\w.-]*):([A-Za-z_][\w.-]*)")
_LANG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
# Characters XML 1.0 cannot carry at all, escaped or not.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_IIM_VERSION: Final = b"\x00\x04"  # record versions 1:00 and 2:00: IIM 4
_APP13_MAX: Final = 0xFFFF - 2
_SOI, _FIRST_APP, _LAST_APP = 0xD8, 0xE0, 0xEF


def build_xmp(fields: Mapping[str, str | Sequence[str]], *, lang: str = "x-default") -> bytes:
    """Build an XMP packet holding the given properties.

    ``dc:description``, ``dc:title``, ``dc:rights`` and ``xmpRights:UsageTerms`` become
    lang-alt arrays in ``lang``; ``dc:creator`` a seq; ``dc:subject``,
    ``Iptc4xmpExt:PersonInImage`` and ``photoshop:SupplementalCategories`` bags (a single string
    makes a one-item array); every other property a simple text value.

    Args:
        fields: Property values by ``prefix:Local`` key, prefixes as in
            `provcat.metadata.XMP_NAMESPACES`; values in the order they should appear.
        lang: The ``xml:lang`` of lang-alt values.

    Returns:
        The UTF-8 packet, wrapped in ``<?xpacket?>`` processing instructions.

    Raises:
        ValueError: A malformed key, an unknown prefix, a list for a simple or lang-alt
            property, a malformed ``lang``, or text with characters XML cannot carry.
    """
    if not _LANG.fullmatch(lang):
        raise ValueError(f"not an xml:lang language tag: {lang!r}")
    used: dict[str, None] = {}
    body = []
    for key, value in fields.items():
        match = _KEY.fullmatch(key)
        if not match or match.group(1) not in XMP_NAMESPACES:
            raise ValueError(f"XMP key {key!r} is not prefix:Local with a known prefix")
        used[match.group(1)] = None
        body.append(_xmp_property(key, value, lang))
    declarations = "".join(
        f'\n    xmlns:{prefix}="{escape(XMP_NAMESPACES[prefix])}"' for prefix in used
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f'<rdf:RDF xmlns:rdf="{XMP_NAMESPACES["rdf"]}">\n'
        f'  <rdf:Description rdf:about=""{declarations}>\n'
        + "".join(body)
        + "  </rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def _xmp_property(key: str, value: str | Sequence[str], lang: str) -> str:
    array = "Seq" if key in SEQ_PROPERTIES else "Bag" if key in BAG_PROPERTIES else None
    if isinstance(value, str):
        if key in LANG_ALT_PROPERTIES:
            item = f'<rdf:li xml:lang="{lang}">{_xml_text(value)}</rdf:li>'
            return f"    <{key}><rdf:Alt>{item}</rdf:Alt></{key}>\n"
        if array is None:
            return f"    <{key}>{_xml_text(value)}</{key}>\n"
        value = [value]
    if array is None:
        raise ValueError(f"XMP property {key!r} takes one text value, not a list")
    items = "".join(f"<rdf:li>{_xml_text(item)}</rdf:li>" for item in value)
    return f"    <{key}><rdf:{array}>{items}</rdf:{array}></{key}>\n"


def _xml_text(text: str) -> str:
    bad = _XML_ILLEGAL.search(text)
    if bad:
        raise ValueError(f"XML cannot carry character U+{ord(bad.group()):04X} in {text!r}")
    # A parser turns a raw CR into LF; a character reference keeps it.
    return escape(text).replace("\r", "&#13;")


def iim_datasets(
    values: Sequence[tuple[int, int, str]], *, charset: str = "utf-8"
) -> list[tuple[int, int, bytes]]:
    """Encode IIM text datasets the way a conforming writer does.

    Adds the record versions (1:00, 2:00) and, for UTF-8, the 1:90 coded character set;
    encodes each value and cuts it to its dataset maximum (`IIM_MAX_BYTES`) at a character
    boundary, as wire software does (that is how a 46-byte credit becomes 32 bytes).

    Args:
        values: ``(record, dataset, text)`` triples, record 2 in practice; repeat a dataset
            for repeatable fields such as by-line 2:80 or keywords 2:25.
        charset: ``"utf-8"`` (writes 1:90 ``ESC % G``) or ``"latin-1"`` (no 1:90; text is
            encoded as cp1252, the Latin-1 superset readers assume).

    Returns:
        ``(record, dataset, bytes)`` triples ready for `build_iim`, in record order.

    Raises:
        ValueError: An unknown charset, or text the charset cannot encode.
    """
    if charset not in ("utf-8", "latin-1"):
        raise ValueError(f"IIM charset must be 'utf-8' or 'latin-1', not {charset!r}")
    encoding = "utf-8" if charset == "utf-8" else "cp1252"
    envelope = [(1, 0, _IIM_VERSION), (1, 90, IIM_UTF8_CHARSET)] if charset == "utf-8" else []
    datasets = [*envelope, (2, 0, _IIM_VERSION)]
    for record, dataset, text in sorted(values, key=lambda triple: triple[0]):
        try:
            raw = text.encode(encoding)
        except UnicodeEncodeError as exc:
            raise ValueError(f"IIM {record}:{dataset} cannot be encoded as {charset}") from exc
        limit = IIM_MAX_BYTES.get(f"{record}:{dataset}")
        if limit is not None and len(raw) > limit:
            raw = _cut(raw, limit, encoding)
        datasets.append((record, dataset, raw))
    return datasets


def _cut(raw: bytes, limit: int, encoding: str) -> bytes:
    cut = raw[:limit]
    if encoding == "utf-8":
        # Back off continuation bytes so no character is split.
        while cut and (raw[len(cut)] & 0xC0) == 0x80:
            cut = cut[:-1]
    return cut


def build_iim(datasets: Sequence[tuple[int, int, bytes]]) -> bytes:
    """Serialise IIM datasets into a raw IIM stream, exactly as given (no cutting, no charset).

    Args:
        datasets: ``(record, dataset, value)`` triples in the order to write them.

    Returns:
        The stream: per dataset the tag marker 0x1C, record, dataset number, then a 2-byte
        length, or for values of 32 KiB and over the extended 0x8004 form with a 4-byte length.

    Raises:
        ValueError: A record or dataset number outside 0..255.
    """
    stream = bytearray()
    for record, dataset, value in datasets:
        if not (0 <= record <= 255 and 0 <= dataset <= 255):
            raise ValueError(f"IIM record and dataset must be 0..255, got {record}:{dataset}")
        stream += bytes((0x1C, record, dataset))
        if len(value) < 0x8000:
            stream += struct.pack(">H", len(value))
        else:
            stream += struct.pack(">HI", 0x8004, len(value))
        stream += value
    return bytes(stream)


def photoshop_app13(iim: bytes) -> bytes:
    """Wrap an IIM stream as the payload of a JPEG APP13 segment.

    Args:
        iim: A raw IIM stream from `build_iim`.

    Returns:
        ``Photoshop 3.0\\0`` followed by one 8BIM image resource 0x0404 (IPTC-NAA) with an
        empty name, padded to even length as the resource format requires.

    Raises:
        ValueError: The payload would not fit in one JPEG segment.
    """
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim))
    payload = b"Photoshop 3.0\x00" + resource + iim + (b"\x00" if len(iim) % 2 else b"")
    if len(payload) > _APP13_MAX:
        raise ValueError(f"IIM stream of {len(iim)} bytes does not fit in one APP13 segment")
    return payload


def save_jpeg(
    image: Image.Image,
    path: Path,
    *,
    exif_description: str | None = None,
    exif_orientation: int | None = None,
    iim: Sequence[tuple[int, int, str]] | None = None,
    iim_charset: str = "utf-8",
    xmp: bytes | None = None,
    quality: int = 85,
) -> None:
    """Save an image as a JPEG carrying EXIF, IPTC-IIM and XMP like a wire photo.

    Pillow encodes the image with EXIF and XMP; the IIM block is then spliced in as an APP13
    segment after the APPn segments Pillow wrote, before the first other marker.

    Args:
        image: An L, RGB or CMYK image.
        path: Where to write the file.
        exif_description: EXIF 270 ImageDescription, written as UTF-8.
        exif_orientation: EXIF 274 Orientation (1..8).
        iim: ``(record, dataset, text)`` triples; encoded and cut by `iim_datasets`.
        iim_charset: ``"utf-8"`` (with 1:90) or ``"latin-1"`` (cp1252, no 1:90).
        xmp: An XMP packet, for example from `build_xmp`.
        quality: JPEG quality.

    Raises:
        ValueError: An image mode JPEG cannot hold, a bad orientation, or IIM that cannot be
            encoded.
    """
    if image.mode not in ("L", "RGB", "CMYK"):
        raise ValueError(f"JPEG cannot hold mode {image.mode}; convert the image first")
    if exif_orientation is not None and not 1 <= exif_orientation <= 8:
        raise ValueError(f"EXIF orientation must be 1..8, got {exif_orientation}")
    exif = Image.Exif()
    if exif_description is not None:
        # Pillow writes str EXIF ASCII as ASCII with '?' for the rest; bytes go through as-is.
        exif[0x010E] = exif_description.encode("utf-8")
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation
    if len(exif):
        # The tags EXIF 2.3 requires in a JPEG's IFD0: 72 dpi, centred chroma.
        exif.update({0x011A: 72.0, 0x011B: 72.0, 0x0128: 2, 0x0213: 1})
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "optimize": True}
    if len(exif):
        options["exif"] = exif
    if xmp is not None:
        options["xmp"] = xmp
    image.save(buffer, "JPEG", **options)
    data = buffer.getvalue()
    if iim is not None:
        payload = photoshop_app13(build_iim(iim_datasets(iim, charset=iim_charset)))
        data = insert_segment(data, 0xED, payload)
    path.write_bytes(data)


def insert_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Insert one marker segment after the leading APPn segments of a JPEG stream.

    Args:
        jpeg: A JPEG file's bytes.
        marker: The marker's second byte (0xED for APP13).
        payload: The segment data without marker and length.

    Returns:
        The new JPEG bytes.

    Raises:
        ValueError: The stream does not start with SOI, a segment header is cut short, or the
            payload is too long for one segment.
    """
    if len(payload) > _APP13_MAX:
        raise ValueError("segment payload longer than 65533 bytes")
    if jpeg[:2] != bytes((0xFF, _SOI)):
        raise ValueError("not a JPEG stream: no SOI marker")
    position = 2
    while True:
        if position + 4 > len(jpeg) or jpeg[position] != 0xFF:
            raise ValueError(f"malformed JPEG segment header at byte {position}")
        if not _FIRST_APP <= jpeg[position + 1] <= _LAST_APP:
            break
        (length,) = struct.unpack_from(">H", jpeg, position + 2)
        position += 2 + length
    segment = bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:position] + segment + jpeg[position:]

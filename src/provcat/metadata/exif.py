"""EXIF fields read with exifread, falling back to Pillow, and legacy text decoding."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import exifread
from exifread.core.exceptions import ExifNotFound
from exifread.tags.exif import EXIF_TAGS, GPS_TAGS
from PIL import Image

from provcat.errors import MetadataError
from provcat.metadata.field import MetadataField
from provcat.metadata.tables import EXIF, EXIF_PROPERTIES

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


#: Set while this thread is inside :func:`read_exif`'s call of exifread.
_READING = threading.local()


class _NoExifIsNoWarning(logging.Filter):
    """Drops exifread's warning that a file holds no EXIF (a PNG without an eXIf chunk, a
    GIF), logged while :func:`read_exif` reads it: for a catalogue that is an ordinary file,
    whose fields say so, and a library must not print a line per such file. Its other
    warnings (corrupt tags...) pass, and so does everything exifread logs for others."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_READING, "active", False) and isinstance(record.msg, ExifNotFound))


logging.getLogger("exifread").addFilter(_NoExifIsNoWarning())


def read_exif(path: Path, image: Image.Image, data: bytes | None = None) -> list[MetadataField]:
    """Read the EXIF fields of one image, in file order.

    Args:
        path: The image file, read with exifread.
        image: The same file opened with Pillow: the fallback when exifread fails, and the
            source of ``UserComment``.
        data: The file's bytes, when already read (then the path is not opened again).

    Returns:
        The fields; ``[]`` when the file has no EXIF.

    Raises:
        MetadataError: Neither exifread nor Pillow can read the EXIF block.
    """
    exifread_error: Exception | None = None
    try:
        with io.BytesIO(data) if data is not None else path.open("rb") as handle:
            _READING.active = True
            try:
                tags = exifread.process_file(handle, details=False, extract_thumbnail=False)
            finally:
                _READING.active = False
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
        return decode_cp1252(raw)


def decode_cp1252(raw: bytes) -> str:
    """Decode bytes as cp1252, falling back to Latin-1 for the bytes cp1252 leaves undefined."""
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")

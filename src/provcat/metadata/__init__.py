"""Read every embedded EXIF, IPTC-IIM and XMP field of an image, each kept with its origin."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from PIL import Image

from provcat.metadata.c2pa import read_c2pa
from provcat.metadata.exif import read_exif
from provcat.metadata.field import MetadataField
from provcat.metadata.iim import read_iim
from provcat.metadata.tables import (
    C2PA,
    CAPTION_PROPERTIES,
    CREDIT_PROPERTIES,
    EXIF,
    EXIF_PROPERTIES,
    IIM,
    IIM_MAX_BYTES,
    IIM_PROPERTIES,
    XMP,
    XMP_NAMESPACES,
    XMP_PROPERTIES,
)
from provcat.metadata.xmp import read_xmp

__all__ = [
    "C2PA",
    "CAPTION_PROPERTIES",
    "CREDIT_PROPERTIES",
    "EXIF",
    "EXIF_PROPERTIES",
    "IIM",
    "IIM_MAX_BYTES",
    "IIM_PROPERTIES",
    "XMP",
    "XMP_NAMESPACES",
    "XMP_PROPERTIES",
    "MetadataField",
    "fields_for",
    "mark_truncated",
    "read_metadata",
]


def read_metadata(
    path: Path, image: Image.Image, data: bytes | None = None
) -> list[MetadataField]:
    """Read every EXIF, IPTC-IIM and XMP field of one image file.

    Fields come EXIF first, then IIM, then XMP, each in file order, and nothing is merged:
    three different captions in one file are three fields. Empty and whitespace-only values
    are left out. IIM values cut at their dataset maximum are marked (see `mark_truncated`).
    C2PA manifest fields come last (see `provcat.metadata.c2pa.read_c2pa`); a damaged manifest
    store is reported as a ``validation_state`` field, not raised.

    IIM text is decoded by the 1:90 coded character set (``ESC % G`` = UTF-8). Without 1:90
    the standard says Latin-1, but many writers put UTF-8 anyway, so: if every non-ASCII
    dataset of the block is valid UTF-8 the block is read as UTF-8, otherwise as cp1252.

    Args:
        path: The image file (EXIF is read from it with exifread).
        image: The same file opened with Pillow and not transposed (IIM and XMP come from it).
        data: The file's bytes when already read: EXIF and C2PA are then read from them, and
            the path is only used to name the file in errors.

    Returns:
        The fields; ``[]`` for a file without metadata.

    Raises:
        MetadataError: A block is malformed or hostile (XMP that is not well-formed or
            declares entities, an IPTC-NAA resource that is not an IIM stream, EXIF that
            neither exifread nor Pillow can read). An APP13 segment that holds no IPTC-NAA
            resource is not an error: Pillow skips it and there is simply no IIM.
    """
    fields = read_exif(path, image, data)
    iim_fields, iim_encoding = read_iim(path, image)
    fields += iim_fields
    fields += read_xmp(path, image)
    fields += read_c2pa(path, data)
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

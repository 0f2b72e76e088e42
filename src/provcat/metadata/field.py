"""The metadata field record: one embedded value with its standard, key and IPTC property."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetadataField:
    """One embedded metadata value and where it came from.

    Attributes:
        standard: ``"EXIF"``, ``"IPTC-IIM"``, ``"XMP"`` or ``"C2PA"``.
        key: EXIF: exifread's ``"IFD Name"`` (``"Image ImageDescription"``); IIM:
            ``"record:dataset"`` without zero padding (``"2:120"``); XMP: ``"prefix:Local"``
            with canonical prefixes, nested structure fields joined by ``/``; C2PA:
            ``"title"``, ``"signature.issuer"``, ``"validation_state"``, ``"assertion:<label>"``
            ... (provcat.metadata.c2pa).
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

"""IPTC-IIM fields read with Pillow, decoded by the 1:90 character set or by guessing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from PIL import Image, ImageFile, IptcImagePlugin

from provcat.errors import MetadataError
from provcat.metadata.exif import decode_cp1252
from provcat.metadata.field import MetadataField
from provcat.metadata.tables import IIM, IIM_PROPERTIES

# 1:90 escape sequences (ISO 2022) that name UTF-8, and those that name ISO 8859-1.
_IIM_UTF8: Final = frozenset({b"\x1b%G", b"\x1b%/G", b"\x1b%/H", b"\x1b%/I"})
_IIM_LATIN1: Final = frozenset({b"\x1b.A", b"\x1b-A"})
_IIM_BINARY: Final = frozenset({0, 200, 201, 202})  # record version, object preview


def read_iim(path: Path, image: Image.Image) -> tuple[list[MetadataField], str | None]:
    """Read the IPTC-IIM record 2 text datasets of one image, in file order.

    Args:
        path: The image file (named in errors).
        image: The same file opened with Pillow.

    Returns:
        The fields and the encoding the block was decoded with (None when there is no IIM).

    Raises:
        MetadataError: The IPTC-NAA resource is not a readable IIM stream.
    """
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
        text = raw.decode("utf-8", "replace") if encoding == "utf-8" else decode_cp1252(raw)
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

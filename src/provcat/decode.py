"""Safe image decoding: read once, hash, check the declared size, then decode upright RGB pixels."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from provcat import config
from provcat.errors import ImageRejected
from provcat.files import read_regular

log = logging.getLogger(__name__)

#: The formats Image.open may try, in this order. Pillow knows about forty formats; each extra
#: parser is extra attack surface for files scraped from the web, so only the raster formats news
#: images come in are allowed. AVIF is built into Pillow and served by many image CDNs; "HEIF"
#: is only tried when a plugin (pillow-heif) has been registered by the application.
ACCEPTED_FORMATS: tuple[str, ...] = (
    "JPEG",
    "MPO",
    "PNG",
    "WEBP",
    "GIF",
    "TIFF",
    "BMP",
    "AVIF",
    "HEIF",
)

#: Version tag hashed into every pixel digest, so a change of canonical encoding changes digests.
_PIXEL_DIGEST_TAG = b"provcat-pixels-v1"

#: About how many raw bytes of the picture are hashed at a time for its pixel digest.
_DIGEST_STRIP_BYTES = 1 << 20

#: Modes holding 16-bit samples ("I" is how Pillow opens some 16-bit grey TIFF and PNG files);
#: Pillow's convert("RGB") clips them at 255 instead of scaling them down.
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})

#: Modes with an alpha channel, composited over white before hashing.
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

_PILLOW_BOMB_MESSAGE = re.compile(r"\((\d+) pixels\) exceeds limit of (\d+) pixels")


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """One image file, decoded and checked.

    Equality is identity: compare ``sha256`` (same file) or ``pixel_digest`` (same picture)
    rather than the pixel buffers.

    Attributes:
        path: The file, or ``Path(name)`` for an image decoded from memory.
        sha256: Hex SHA-256 of the file bytes.
        file_size: Size of the file in bytes.
        format: Pillow's format name ("JPEG", "PNG", "WEBP", "GIF", "TIFF", ...).
        mime: The MIME type Pillow gives for the format, if any.
        source: The image as stored (not transposed, first frame), loaded, with ``.info``
            intact for the metadata readers (EXIF, IPTC-IIM, XMP).
        pixels: The first frame, EXIF orientation applied, alpha composited over white,
            converted to RGB and fully loaded: the input of every fingerprint.
        width: Width of ``pixels`` (after orientation).
        height: Height of ``pixels``.
        orientation: The orientation tag value Pillow reports (EXIF 0x0112, or XMP
            tiff:Orientation when EXIF has none), or None.
        data: The file bytes that were decoded (metadata is read from them, never from the
            path again, so what is catalogued is what was hashed).
    """

    path: Path
    sha256: str
    file_size: int
    format: str
    mime: str | None
    source: Image.Image
    pixels: Image.Image
    width: int
    height: int
    orientation: int | None
    data: bytes = field(repr=False)

    @cached_property
    def pixel_digest(self) -> str:
        """Hex SHA-256 over mode, size and raw bytes of ``pixels``: equal for the same picture
        stored losslessly with different metadata or container. Computed when first asked
        for: a stored image decoded again to be compared (its digest is in the catalogue)
        never pays for it (30 ms at 4000 x 3000)."""
        return pixel_digest(self.pixels)


def open_image(
    path: Path,
    *,
    max_pixels: int = config.MAX_IMAGE_PIXELS,
    max_bytes: int = config.MAX_IMAGE_BYTES,
) -> DecodedImage:
    """Read an image file once, hash it and decode it safely.

    Args:
        path: The image file.
        max_pixels: Refuse images whose declared width x height exceeds this.
        max_bytes: Refuse files larger than this, before reading them.

    Returns:
        The decoded image.

    Raises:
        ImageRejected: The file cannot be read, is not a regular file (a FIFO, a device), is
            larger than ``max_bytes``, is empty, is not an image in an accepted format, is
            truncated or corrupt, or declares too many pixels.
    """
    data = read_regular(path, limit=max_bytes, error=ImageRejected, what="image file")
    return _decode(data, path, str(path), max_pixels)


def open_stored(sha256: str, paths: Iterable[Path]) -> DecodedImage | None:
    """The first of a stored image's ``paths`` that still holds its file (SHA-256
    ``sha256``), decoded safely; None when none does (each gone, unreadable, or holding
    other bytes now). Reads no database: safe in threads."""
    for path in paths:
        try:
            decoded = open_image(path)
        except ImageRejected:
            continue
        if decoded.sha256 == sha256:
            return decoded
    return None


def decode_bytes(
    data: bytes, *, name: str, max_pixels: int = config.MAX_IMAGE_PIXELS
) -> DecodedImage:
    """Decode an image held in memory (for example one fetched for an HTML page).

    Args:
        data: The file bytes.
        name: What to call the image in errors and in ``DecodedImage.path`` (a URL or file name).
        max_pixels: Refuse images whose declared width x height exceeds this.

    Returns:
        The decoded image, with ``path=Path(name)``.

    Raises:
        ImageRejected: As for :func:`open_image`; it names ``name`` exactly as given (a Path
            would fold the ``//`` of a URL).
    """
    return _decode(data, Path(name), name, max_pixels)


def pixel_digest(pixels: Image.Image) -> str:
    """Hex SHA-256 over a canonical encoding of an image's mode, size and raw pixel bytes.

    Args:
        pixels: A loaded image (normally ``DecodedImage.pixels``).

    Returns:
        64 lowercase hex characters.
    """
    width, height = pixels.size
    digest = hashlib.sha256(_PIXEL_DIGEST_TAG)
    digest.update(f"\0{pixels.mode}\0{width}x{height}\0".encode("ascii"))
    # The raw bytes of whole rows, a strip at a time: the same bytes in the same order as
    # tobytes() of the whole picture, without its copy of every strip joined into one buffer
    # (measured on a 4000 x 3000 picture: 62 -> 30 ms, two thirds of it SHA-256 itself).
    rows = max(1, _DIGEST_STRIP_BYTES // max(1, width * len(pixels.getbands())))
    for top in range(0, height, rows):
        digest.update(pixels.crop((0, top, width, min(height, top + rows))).tobytes())
    return digest.hexdigest()


def _decode(data: bytes, path: Path, name: str, max_pixels: int) -> DecodedImage:
    if not data:
        raise ImageRejected(name, "empty file")
    formats = _available_formats()
    # Pillow warns (rather than raises) between its limit and twice it. Recording locally turns
    # that warning into a rejection without touching Pillow's globals or the caller's filters;
    # other warnings (odd EXIF, palette transparency) go to the log with the file's name, not
    # to stderr, where a thousand of them would bury the progress bar. catch_warnings is
    # process-wide while it runs, so decode in parallel with processes, not threads.
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return _decode_checked(data, path, name, max_pixels, formats, caught)
    finally:
        for w in caught:
            if not issubclass(w.category, Image.DecompressionBombWarning):
                log.warning("%s: %s: %s", name, w.category.__name__, w.message)


def _decode_checked(
    data: bytes,
    path: Path,
    name: str,
    max_pixels: int,
    formats: tuple[str, ...],
    caught: list[warnings.WarningMessage],
) -> DecodedImage:
    try:
        source = Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError as exc:
        reason = f"not an image (Pillow cannot identify it; accepted formats: {', '.join(formats)})"
        raise ImageRejected(name, reason) from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected(name, _pillow_bomb_reason(exc)) from exc
    except Exception as exc:
        # Plugins raise many exception types on hostile headers; all of them mean "refuse".
        raise ImageRejected(name, _decode_failure_reason(exc)) from exc

    # The header has been parsed but no pixel data decoded yet: refuse bombs here.
    _check_dimensions(name, source.size, max_pixels)
    _check_pillow_warnings(name, source.size, caught)
    try:
        source.load()
        # A GIF's canvas can grow while its first frame loads, so check again.
        _check_dimensions(name, source.size, max_pixels)
        _check_pillow_warnings(name, source.size, caught)
        orientation = _orientation(source)
        upright = source if orientation is None else ImageOps.exif_transpose(source)
        pixels = _to_rgb(upright)
        pixels.load()
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(name, _pillow_bomb_reason(exc)) from exc
    except Exception as exc:
        raise ImageRejected(name, _decode_failure_reason(exc)) from exc

    if source.format is None:
        raise ImageRejected(name, "cannot decode: Pillow reported no format")
    width, height = pixels.size
    return DecodedImage(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        format=source.format,
        mime=source.get_format_mimetype(),
        source=source,
        pixels=pixels,
        width=width,
        height=height,
        orientation=orientation,
        data=data,
    )


def _available_formats() -> tuple[str, ...]:
    # Image.open raises KeyError for a listed format no plugin provides (HEIF without
    # pillow-heif), so list only what is registered. init() only imports Pillow's own plugins.
    Image.init()
    return tuple(name for name in ACCEPTED_FORMATS if name in Image.OPEN)


def _check_dimensions(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageRejected(name, f"image has no pixels ({width} x {height})")
    count = width * height
    if count > max_pixels:
        raise ImageRejected(
            name,
            f"decompression bomb: {width} x {height} = {_sci(count)} pixels exceeds "
            f"the {max_pixels:,}-pixel limit",
        )


def _check_pillow_warnings(
    name: str, size: tuple[int, int], caught: list[warnings.WarningMessage]
) -> None:
    if any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught):
        width, height = size
        limit = Image.MAX_IMAGE_PIXELS
        shown = f"{limit:,}" if limit is not None else "its"
        raise ImageRejected(
            name,
            f"decompression bomb: {width} x {height} = {_sci(width * height)} pixels exceeds "
            f"Pillow's {shown}-pixel limit",
        )


def _pillow_bomb_reason(exc: Image.DecompressionBombError) -> str:
    match = _PILLOW_BOMB_MESSAGE.search(str(exc))
    if match is None:
        return f"decompression bomb: {exc}"
    count, limit = (int(group) for group in match.groups())
    return f"decompression bomb: {_sci(count)} pixels exceeds Pillow's {limit:,}-pixel limit"


def _decode_failure_reason(exc: Exception) -> str:
    message = str(exc)
    if isinstance(exc, EOFError) or (isinstance(exc, OSError) and "truncated" in message.lower()):
        return "truncated image data"
    return f"cannot decode: {message or type(exc).__name__}"


def _sci(count: int) -> str:
    # 4.0e10 rather than Python's 4.0e+10: easier to read in a one-line error.
    return f"{count:.1e}".replace("e+", "e")


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(0x0112)
    except Exception:
        # Corrupt EXIF must not cost the pixels: the metadata reader reports it; the image is
        # then taken as stored.
        return None
    return value if isinstance(value, int) else None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:
        # Keep the top 8 bits of each sample; Pillow's own conversion would clip at 255.
        samples = np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8
        image = Image.fromarray(samples.astype(np.uint8))
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        # What shows through transparent pixels is arbitrary; flatten as a page on white would.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode == "RGB":
        # The decoded picture itself where nothing can change it (one frame): copying a
        # 4000 x 3000 picture took 21 ms. A file of several frames (MPO) keeps a copy, so that
        # seeking its source to another frame cannot change these pixels.
        return image if getattr(image, "n_frames", 1) == 1 else image.copy()
    return image.convert("RGB")

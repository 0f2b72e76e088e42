"""Tests for provcat.decode: orientation, pixel digests, formats and every kind of rejection."""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from provcat.decode import (
    DecodedImage,
    _check_dimensions,
    decode_bytes,
    open_image,
    pixel_digest,
)
from provcat.errors import ImageRejected
from provcat.fingerprints import compute

from .imagegen import synthetic_photo

Array = np.ndarray


@pytest.fixture
def photo() -> Image.Image:
    """A 480 x 360 landscape photo, so a 90 degree turn changes the size."""
    return synthetic_photo(5, (480, 360))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny 1-bit grey PNG whose header claims width x height; its data holds one row only."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    one_row = b"\0" * (1 + (width + 7) // 8)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(one_row, 9))
        + png_chunk(b"IEND", b"")
    )


def with_xmp(jpeg: bytes, xmp: bytes) -> bytes:
    """The same JPEG with an XMP APP1 segment added after SOI: new bytes, same scan data."""
    body = b"http://ns.adobe.com/xap/1.0/\0" + xmp
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def exif_with_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


# How each EXIF orientation value stores an upright picture, from the TIFF/EXIF definitions
# ("0th row is the visual ..., 0th column is the visual ..."), written with numpy so the oracle
# does not share code with Pillow's exif_transpose.
STORED_AS: dict[int, Callable[[Array], Array]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=-1),
}


# -- decoding --------------------------------------------------------------------------------


def test_decoded_fields(tmp_path: Path, photo: Image.Image) -> None:
    data = encode(photo, "PNG")
    path = write(tmp_path, "photo.png", data)
    decoded = open_image(path)
    assert decoded.path == path
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()
    assert decoded.file_size == len(data)
    assert (decoded.format, decoded.mime) == ("PNG", "image/png")
    assert (decoded.width, decoded.height) == (480, 360) == decoded.pixels.size
    assert decoded.orientation is None
    assert decoded.pixels.mode == "RGB"
    assert np.array_equal(np.asarray(decoded.pixels), np.asarray(photo))
    assert len(decoded.pixel_digest) == 64


def test_decode_bytes_matches_open_image(tmp_path: Path, photo: Image.Image) -> None:
    data = encode(photo, "JPEG", quality=85)
    from_file = open_image(write(tmp_path, "a.jpg", data))
    from_memory = decode_bytes(data, name="https://example.org/a.jpg")
    assert from_memory.path == Path("https://example.org/a.jpg")
    assert (from_memory.sha256, from_memory.pixel_digest) == (
        from_file.sha256,
        from_file.pixel_digest,
    )


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_exif_orientation_is_applied(tmp_path: Path, photo: Image.Image, orientation: int) -> None:
    upright = open_image(write(tmp_path, "upright.png", encode(photo, "PNG")))
    stored = Image.fromarray(np.ascontiguousarray(STORED_AS[orientation](np.asarray(photo))))
    data = encode(stored, "PNG", exif=exif_with_orientation(orientation))
    turned = open_image(write(tmp_path, "stored.png", data))

    assert turned.orientation == orientation
    assert (turned.width, turned.height) == (upright.width, upright.height)
    assert turned.pixel_digest == upright.pixel_digest
    assert compute(turned.pixels) == compute(upright.pixels)
    # The source stays as stored, its metadata untouched, for the metadata readers.
    assert turned.source.size == stored.size
    assert turned.source.getexif()[0x0112] == orientation


def test_exif_orientation_on_jpeg(tmp_path: Path, photo: Image.Image) -> None:
    """JPEG of the sideways pixels decodes a little differently, but hashes stay close."""
    upright = open_image(write(tmp_path, "upright.jpg", encode(photo, "JPEG", quality=90)))
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(photo), k=1)))
    data = encode(stored, "JPEG", quality=90, exif=exif_with_orientation(6))
    turned = open_image(write(tmp_path, "stored.jpg", data))

    assert turned.orientation == 6
    assert turned.source.size == (360, 480)
    assert (turned.width, turned.height) == (upright.width, upright.height) == (480, 360)
    one, other = compute(upright.pixels), compute(turned.pixels)
    assert one.phash - other.phash <= 4
    assert one.dhash - other.dhash <= 4
    assert one.pdq - other.pdq <= 16


def test_same_png_pixels_with_other_metadata(tmp_path: Path, photo: Image.Image) -> None:
    first, second = PngImagePlugin.PngInfo(), PngImagePlugin.PngInfo()
    first.add_text("Description", "Plotters: the men accused")
    second.add_itxt("Description", "Rally in the capital, 2016", lang="en")
    second.add_text("Author", "Agency")
    one = open_image(write(tmp_path, "one.png", encode(photo, "PNG", pnginfo=first)))
    two = open_image(write(tmp_path, "two.png", encode(photo, "PNG", pnginfo=second)))
    assert one.sha256 != two.sha256
    assert one.pixel_digest == two.pixel_digest
    assert one.source.info["Description"] == "Plotters: the men accused"
    assert two.source.info["Author"] == "Agency"


def test_same_jpeg_scan_with_xmp_added(tmp_path: Path, photo: Image.Image) -> None:
    plain = encode(photo, "JPEG", quality=80)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    one = open_image(write(tmp_path, "plain.jpg", plain))
    two = open_image(write(tmp_path, "xmp.jpg", with_xmp(plain, xmp)))
    assert one.sha256 != two.sha256
    assert one.pixel_digest == two.pixel_digest
    assert "xmp" not in one.source.info
    assert two.source.info["xmp"] == xmp


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("TIFF", {}), ("BMP", {}), ("WEBP", {"lossless": True}), ("GIF", {})],
)
def test_lossless_containers_share_the_pixel_digest(
    tmp_path: Path, fmt: str, params: dict[str, object]
) -> None:
    # 64 colours so that GIF's palette holds the picture exactly.
    picture = synthetic_photo(5, (480, 360)).quantize(64).convert("RGB")
    png = open_image(write(tmp_path, "a.png", encode(picture, "PNG")))
    other = open_image(write(tmp_path, f"a.{fmt.lower()}", encode(picture, fmt, **params)))
    assert other.format == fmt
    assert other.sha256 != png.sha256
    assert other.pixel_digest == png.pixel_digest


@pytest.mark.parametrize(
    ("width", "height", "mode"),
    [
        (1, 1, "RGB"),
        (700, 611, "RGB"),
        (1500, 1001, "RGB"),
        (2500, 430, "L"),
        (360_000, 3, "RGB"),
    ],
)
def test_pixel_digest_is_sha256_of_all_the_rows_in_order(
    width: int, height: int, mode: str
) -> None:
    """The digest hashes the picture a strip of rows at a time (strips that do not divide the
    height, a strip of one row when a row is longer than a strip): the value is SHA-256 over
    the tag, the mode and size, and every row's bytes in order, as it has always been."""
    rng = np.random.default_rng(width)
    bands = 3 if mode == "RGB" else 1
    samples = rng.integers(0, 256, size=(height, width, bands), dtype=np.uint8)
    pixels = Image.fromarray(samples.squeeze(axis=2) if bands == 1 else samples)
    assert pixels.mode == mode
    expected = hashlib.sha256(
        b"provcat-pixels-v1" + f"\0{mode}\0{width}x{height}\0".encode() + pixels.tobytes()
    ).hexdigest()
    assert pixel_digest(pixels) == expected


def test_the_pixel_digest_is_computed_once_when_first_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stored image decoded again to be compared never pays for its digest."""
    from provcat import decode

    calls: list[int] = []
    real = decode.pixel_digest

    def counting(pixels: Image.Image) -> str:
        calls.append(1)
        return real(pixels)

    monkeypatch.setattr(decode, "pixel_digest", counting)
    decoded = decode_bytes(encode(synthetic_photo(4, (320, 240)), "PNG"), name="p.png")
    assert calls == []
    assert decoded.pixel_digest == decoded.pixel_digest == real(decoded.pixels)
    assert calls == [1]


def test_pixel_digest_depends_on_size_and_pixels(tmp_path: Path) -> None:
    """Same bytes of pixels in another shape, or one pixel changed, is another picture."""
    flat = np.arange(2 * 3 * 4 * 3, dtype=np.uint8)
    wide = decode_bytes(encode(Image.fromarray(flat.reshape(2, 12, 3)), "PNG"), name="w")
    tall = decode_bytes(encode(Image.fromarray(flat.reshape(12, 2, 3)), "PNG"), name="t")
    assert wide.pixels.tobytes() == tall.pixels.tobytes()
    assert wide.pixel_digest != tall.pixel_digest
    changed = flat.copy()
    changed[0] += 1
    other = decode_bytes(encode(Image.fromarray(changed.reshape(2, 12, 3)), "PNG"), name="c")
    assert other.pixel_digest != wide.pixel_digest


def test_other_formats_decode(tmp_path: Path, photo: Image.Image) -> None:
    for fmt, mime in [("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("AVIF", "image/avif")]:
        decoded = decode_bytes(encode(photo, fmt), name=f"photo.{fmt.lower()}")
        assert (decoded.format, decoded.mime, decoded.pixels.size) == (fmt, mime, (480, 360))


def test_multi_frame_images_give_the_first_frame(photo: Image.Image) -> None:
    red, blue = Image.new("RGB", (40, 30), (255, 0, 0)), Image.new("RGB", (40, 30), (0, 0, 255))
    gif = decode_bytes(encode(red, "GIF", save_all=True, append_images=[blue]), name="a.gif")
    assert getattr(gif.source, "n_frames", 1) == 2
    assert gif.pixels.getcolors() == [(1200, (255, 0, 0))]

    other = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    mpo = decode_bytes(encode(photo, "MPO", save_all=True, append_images=[other]), name="a.mpo")
    first = decode_bytes(encode(photo, "JPEG"), name="a.jpg")
    assert mpo.format == "MPO"
    assert compute(mpo.pixels).phash - compute(first.pixels).phash <= 2
    # The source moved to its second frame (as a reader of it may) leaves the pixels as they
    # were: a file of several frames keeps pixels of its own.
    before = mpo.pixels.tobytes()
    mpo.source.seek(1)
    mpo.source.load()
    assert mpo.source.tobytes() != before
    assert mpo.pixels.tobytes() == before


def test_transparency_is_flattened_on_white() -> None:
    """Whatever colour hides under transparent pixels, the picture seen is the same."""
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[:, 10:] = (0, 128, 0, 255)
    hidden_black, hidden_red = rgba.copy(), rgba.copy()
    hidden_red[:, :10] = (255, 0, 0, 0)
    one = decode_bytes(encode(Image.fromarray(hidden_black), "PNG"), name="one.png")
    two = decode_bytes(encode(Image.fromarray(hidden_red), "PNG"), name="two.png")
    assert one.pixel_digest == two.pixel_digest
    assert one.pixels.getpixel((0, 0)) == (255, 255, 255)
    assert one.pixels.getpixel((19, 19)) == (0, 128, 0)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    samples = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16)
    decoded = decode_bytes(encode(Image.fromarray(samples), "PNG"), name="deep.png")
    assert decoded.source.mode == "I;16"
    assert np.asarray(decoded.pixels)[0, :, 0].tolist() == [0, 64, 128, 255]


def test_decoded_image_compares_by_identity(photo: Image.Image) -> None:
    decoded = decode_bytes(encode(photo, "PNG"), name="a.png")
    assert isinstance(decoded, DecodedImage)
    assert decoded == decoded
    assert decoded != decode_bytes(encode(photo, "PNG"), name="a.png")
    assert hash(decoded) == hash(decoded)


# -- rejections -----------------------------------------------------------------------------


def rejected(path: Path, **kwargs: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        open_image(path, **kwargs)
    error = info.value
    assert str(error) == f"{path}: {error.reason}"
    assert error.path == str(path)
    return error


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = write(tmp_path, "caption.jpg", b"Plotters: the men accused of the coup attempt\n")
    error = rejected(path)
    assert error.reason.startswith("not an image (Pillow cannot identify it")
    assert error.__cause__ is not None


def test_unaccepted_format_is_not_an_image(tmp_path: Path, photo: Image.Image) -> None:
    """Pillow reads PPM, but provcat does not try parsers news images never need."""
    error = rejected(write(tmp_path, "photo.ppm", encode(photo, "PPM")))
    assert error.reason.startswith("not an image")
    assert "JPEG" in error.reason
    assert "PPM" not in error.reason


def test_empty_file(tmp_path: Path) -> None:
    assert rejected(write(tmp_path, "empty.jpg", b"")).reason == "empty file"


def test_missing_file(tmp_path: Path) -> None:
    error = rejected(tmp_path / "nowhere.jpg")
    assert error.reason.startswith("cannot read image file: ")
    assert isinstance(error.__cause__, FileNotFoundError)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image(tmp_path: Path, photo: Image.Image, fmt: str) -> None:
    data = encode(photo, fmt)
    error = rejected(write(tmp_path, f"cut.{fmt.lower()}", data[: len(data) // 2]))
    assert error.reason == "truncated image data"
    assert error.__cause__ is not None


def test_corrupt_image_data(tmp_path: Path, photo: Image.Image) -> None:
    data = bytearray(encode(photo, "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 400] = b"\xa5" * 390
    error = rejected(write(tmp_path, "corrupt.png", bytes(data)))
    assert error.reason.startswith(("cannot decode: ", "truncated image data"))


def test_decompression_bomb_is_refused_from_its_header(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """50000 x 50000 declared in a file of a few hundred bytes; Pillow itself refuses it."""
    data = png_declaring(50_000, 50_000)
    assert len(data) < 4096
    error = rejected(write(tmp_path, "bomb.png", data))
    # Refused before decoding: its pixel data is one row, so decoding would report truncation.
    assert error.reason.startswith("decompression bomb: 2.5e09 pixels exceeds Pillow's ")
    assert isinstance(error.__cause__, Image.DecompressionBombError)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_over_the_catalogue_limit(tmp_path: Path) -> None:
    error = rejected(write(tmp_path, "big.png", png_declaring(10_001, 10_001)))
    assert error.reason == (
        "decompression bomb: 10001 x 10001 = 1.0e08 pixels exceeds the 89,478,485-pixel limit"
    )


def test_over_pillows_warning_limit(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    """Between Pillow's limit and twice it Pillow only warns; that warning is a rejection too."""
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    side = int(limit**0.5) + 10
    error = rejected(write(tmp_path, "big.png", png_declaring(side, side)), max_pixels=10**12)
    assert error.reason.startswith(f"decompression bomb: {side} x {side} = ")
    assert error.reason.endswith(f"exceeds Pillow's {limit:,}-pixel limit")
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_custom_pixel_limit(tmp_path: Path, photo: Image.Image) -> None:
    path = write(tmp_path, "photo.png", encode(photo, "PNG"))
    error = rejected(path, max_pixels=1000)
    assert error.reason == (
        "decompression bomb: 480 x 360 = 1.7e05 pixels exceeds the 1,000-pixel limit"
    )
    assert open_image(path, max_pixels=480 * 360).width == 480


def test_image_without_pixels() -> None:
    """Pillow's parsers already refuse 0 x N headers; the check stands behind them."""
    with pytest.raises(ImageRejected, match=r"image has no pixels \(0 x 10\)"):
        _check_dimensions("zero.png", (0, 10), 1000)


def test_errors_name_the_source_when_decoding_bytes() -> None:
    with pytest.raises(ImageRejected, match=r"^https://example\.org/x\.jpg: empty file$"):
        decode_bytes(b"", name="https://example.org/x.jpg")


def test_pillow_globals_are_left_alone(tmp_path: Path, photo: Image.Image) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    open_image(write(tmp_path, "ok.png", encode(photo, "PNG")))
    for data in (png_declaring(50_000, 50_000), encode(photo, "JPEG")[:5000]):
        with pytest.raises(ImageRejected):
            decode_bytes(data, name="bad")
    after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    assert after == before

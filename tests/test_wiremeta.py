"""Tests for provcat.wiremeta and the stand-in renderer: the bytes a wire photo's metadata takes."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import defusedxml.ElementTree as SafeET
import imagehash
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, IptcImagePlugin

from provcat.metadata import IIM_MAX_BYTES, XMP_NAMESPACES
from provcat.wiremeta import (
    IIM_UTF8_CHARSET,
    build_iim,
    build_xmp,
    iim_datasets,
    insert_segment,
    photoshop_app13,
    save_jpeg,
)

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "render_standins.py"
RDF = "{" + XMP_NAMESPACES["rdf"] + "}"
DC = "{" + XMP_NAMESPACES["dc"] + "}"
FULL_CREDIT = "unnamed European security service via Sky News"


@pytest.fixture
def picture() -> Image.Image:
    """A small RGB image with a gradient, to be saved with metadata."""
    ramp = np.linspace(0, 255, 64 * 48 * 3).reshape(48, 64, 3).astype(np.uint8)
    return Image.fromarray(ramp, "RGB")


def segments(jpeg: bytes) -> list[int]:
    """The marker bytes of a JPEG's segments up to the start of scan."""
    markers, position = [], 2
    while jpeg[position + 1] != 0xDA:
        markers.append(jpeg[position + 1])
        (length,) = struct.unpack_from(">H", jpeg, position + 2)
        position += 2 + length
    return markers


def test_build_xmp_structure_and_escaping() -> None:
    packet = build_xmp(
        {
            "dc:description": "A <b> & \"c\" 'd' \r\n",
            "dc:creator": ["One", "Two"],
            "Iptc4xmpExt:PersonInImage": "Solo",
            "photoshop:Credit": "X via Y",
        },
        lang="en-GB",
    )
    text = packet.decode("utf-8")
    assert text.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>')
    assert text.endswith('<?xpacket end="w"?>')
    assert "&lt;b&gt; &amp;" in text
    assert "&#13;" in text
    root = SafeET.fromstring(packet)
    description = root.find(f"{RDF}RDF/{RDF}Description")
    assert description is not None
    alt = description.findall(f"{DC}description/{RDF}Alt/{RDF}li")
    assert [(li.text, li.get("{http://www.w3.org/XML/1998/namespace}lang")) for li in alt] == [
        ("A <b> & \"c\" 'd' \r\n", "en-GB")
    ]
    assert [li.text for li in description.findall(f"{DC}creator/{RDF}Seq/{RDF}li")] == [
        "One",
        "Two",
    ]
    person = "{" + XMP_NAMESPACES["Iptc4xmpExt"] + "}PersonInImage"
    assert [li.text for li in description.findall(f"{person}/{RDF}Bag/{RDF}li")] == ["Solo"]


@pytest.mark.parametrize(
    ("fields", "lang", "message"),
    [
        ({"nope:Thing": "x"}, "x-default", "known prefix"),
        ({"dc description": "x"}, "x-default", "known prefix"),
        ({"dc:title\n": "x"}, "x-default", "known prefix"),
        ({"photoshop:Credit": ["a", "b"]}, "x-default", "one text value"),
        ({"dc:description": ["a"]}, "x-default", "one text value"),
        ({"photoshop:Credit": "bell\x07"}, "x-default", "U\\+0007"),
        ({"photoshop:Credit": "x"}, 'en" onload="', "language tag"),
        ({"photoshop:Credit": "x"}, "en\n", "language tag"),
    ],
)
def test_build_xmp_refuses(fields: dict[str, str | list[str]], lang: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_xmp(fields, lang=lang)


def test_build_iim_bytes() -> None:
    assert build_iim([(1, 90, b"\x1b%G"), (2, 120, b"Hi")]) == (
        b"\x1c\x01\x5a\x00\x03\x1b%G\x1c\x02\x78\x00\x02Hi"
    )
    long_value = b"x" * 0x8000  # 32 KiB needs the extended length form
    assert build_iim([(2, 120, long_value)])[:9] == b"\x1c\x02\x78\x80\x04\x00\x00\x80\x00"
    with pytest.raises(ValueError, match=r"0\.\.255"):
        build_iim([(2, 256, b"")])


def test_iim_datasets_charset_and_cut() -> None:
    utf8 = iim_datasets([(2, 110, FULL_CREDIT), (2, 120, "Zürich")])
    assert utf8 == [
        (1, 0, b"\x00\x04"),
        (1, 90, IIM_UTF8_CHARSET),
        (2, 0, b"\x00\x04"),
        (2, 110, b"unnamed European security servic"),
        (2, 120, "Zürich".encode()),
    ]
    latin = iim_datasets([(2, 120, "Café Zürich")], charset="latin-1")
    assert latin == [(2, 0, b"\x00\x04"), (2, 120, "Café Zürich".encode("cp1252"))]
    # A 2-byte character straddling byte 32 is dropped whole, never split.
    assert iim_datasets([(2, 110, "a" * 31 + "é")])[-1] == (2, 110, b"a" * 31)
    with pytest.raises(ValueError, match="cannot be encoded"):
        iim_datasets([(2, 120, "東京")], charset="latin-1")
    with pytest.raises(ValueError, match="charset"):
        iim_datasets([], charset="ascii")


@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=60))
def test_iim_cut_is_longest_whole_character_prefix(text: str) -> None:
    encoded = text.encode("utf-8")
    (_, _, cut) = iim_datasets([(2, 110, text)])[-1]
    limit = IIM_MAX_BYTES["2:110"]
    decoded = cut.decode("utf-8")  # never a split character
    assert len(cut) <= limit
    assert text.startswith(decoded)
    if len(encoded) > limit:
        assert len(text[: len(decoded) + 1].encode("utf-8")) > limit
    else:
        assert cut == encoded


def test_photoshop_app13_layout_and_pillow_reads_it(picture: Image.Image) -> None:
    iim = build_iim([(2, 120, b"odd")])  # 8 bytes
    payload = photoshop_app13(iim + b"!")  # 9 bytes: padded to even
    assert payload[:14] == b"Photoshop 3.0\x00"
    assert payload[14:26] == b"8BIM\x04\x04\x00\x00\x00\x00\x00\x09"
    assert payload[26:] == iim + b"!\x00"
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG")
    spliced = insert_segment(buffer.getvalue(), 0xED, photoshop_app13(iim))
    with Image.open(io.BytesIO(spliced)) as image:
        assert image.info["photoshop"][0x0404] == iim
    with pytest.raises(ValueError, match="APP13"):
        photoshop_app13(b"x" * 70000)


def test_save_jpeg_places_app13_after_app_segments(tmp_path: Path, picture: Image.Image) -> None:
    path = tmp_path / "wire.jpg"
    save_jpeg(
        picture,
        path,
        exif_description="Ümlaut caption",
        exif_orientation=6,
        iim=[(2, 120, "Caption"), (2, 80, "A"), (2, 80, "B")],
        xmp=build_xmp({"dc:description": "Caption"}),
    )
    data = path.read_bytes()
    markers = segments(data)
    assert markers[:4] == [0xE0, 0xE1, 0xE1, 0xED]  # JFIF, EXIF, XMP, then IIM
    assert all(marker < 0xE0 or marker > 0xEF for marker in markers[4:])
    with Image.open(path) as image:
        info = IptcImagePlugin.getiptcinfo(image)
        assert info is not None
        assert info[(2, 120)] == b"Caption"
        assert info[(2, 80)] == [b"A", b"B"]
        exif = image.getexif()
        assert exif[0x0112] == 6
        assert exif[0x010E].encode("latin-1").decode("utf-8") == "Ümlaut caption"
        assert b"dc:description" in image.info["xmp"]
        pixels = np.asarray(image)
    plain = io.BytesIO()
    picture.save(plain, "JPEG", quality=85, optimize=True)
    with Image.open(plain) as reference:
        assert np.array_equal(pixels, np.asarray(reference))  # the splice left the scan alone


def test_save_jpeg_refuses_bad_input(tmp_path: Path, picture: Image.Image) -> None:
    with pytest.raises(ValueError, match="mode RGBA"):
        save_jpeg(picture.convert("RGBA"), tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="orientation"):
        save_jpeg(picture, tmp_path / "x.jpg", exif_orientation=9)
    with pytest.raises(ValueError, match="SOI"):
        insert_segment(b"GIF89a", 0xED, b"")


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="ExifTool is not installed")
def test_exiftool_agrees(tmp_path: Path, picture: Image.Image) -> None:
    path = tmp_path / "oracle.jpg"
    save_jpeg(
        picture,
        path,
        exif_description="CCTV still",
        iim=[(2, 120, "Zürich caption"), (2, 110, FULL_CREDIT), (2, 80, "A"), (2, 80, "B")],
        xmp=build_xmp({"photoshop:Credit": FULL_CREDIT, "dc:source": "s", "photoshop:Source": "t"}),
    )
    run = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", "-struct", "-all", "-validate", str(path)],
        capture_output=True,
        check=True,
        text=True,
    )
    (tags,) = json.loads(run.stdout)
    assert tags["IFD0:ImageDescription"] == "CCTV still"
    assert tags["IPTC:CodedCharacterSet"] == "UTF8"
    assert tags["IPTC:Caption-Abstract"] == "Zürich caption"
    assert tags["IPTC:Credit"] == "unnamed European security servic"
    assert tags["IPTC:By-line"] == ["A", "B"]
    assert tags["XMP-photoshop:Credit"] == FULL_CREDIT
    assert (tags["XMP-dc:Source"], tags["XMP-photoshop:Source"]) == ("s", "t")
    assert tags["ExifTool:Validate"] == "OK"


def load_renderer() -> ModuleType:
    """Import scripts/render_standins.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("render_standins", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_standins_are_deterministic_small_and_distinct(tmp_path: Path) -> None:
    renderer = load_renderer()
    first = renderer.render(tmp_path / "a")
    second = renderer.render(tmp_path / "b")
    assert [p.name for p in first] == [
        "01-portraits-shishmakov-popov.jpg",
        "02-surveillance-belgrade-meeting.jpg",
        "03-portrait-djukanovic.jpg",
        "04-surveillance-bench.jpg",
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.stat().st_size < 60_000
    hashes = []
    for path in first:
        with Image.open(path) as image:
            assert image.size == (640, 427)
            hashes.append(imagehash.phash(image))
    distances = [a - b for n, a in enumerate(hashes) for b in hashes[n + 1 :]]
    assert min(distances) > 10

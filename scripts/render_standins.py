"""Render the stand-in images of the Montenegro coup record, with the metadata a wire photo carries.

The article's photographs are not available, so each is replaced by a drawing that shows only
what the caption says (who is where) and is plainly marked as a stand-in. Captions and the
credit are the ones DailyMail.co.uk printed; images it printed no credit for get none.

Usage: ``python scripts/render_standins.py [--out DIR]``. Output is byte-identical on every run
with the same Pillow and numpy.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from provcat.wiremeta import build_xmp, save_jpeg

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "catalogue/montenegro-coup-2017/images"
SIZE = (640, 427)
STANDIN_TEXT = "STAND-IN rendered by provcat - not the original photograph"
INSTRUCTIONS = (
    "STAND-IN rendered by provcat; not the original photograph. "
    "Caption and credit as printed by DailyMail.co.uk."
)
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"
CREATOR_TOOL = "provcat scripts/render_standins.py"
SURVEILLANCE_CREDIT = "unnamed European security service via Sky News"
QUALITY = 75

RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class StandIn:
    """One stand-in image: its file name, what it shows, and the metadata it carries."""

    filename: str
    title: str
    caption: str | None
    credit: str | None
    people: tuple[str, ...]
    exif_description: str
    draw: Callable[[], Image.Image]


def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _gradient(top: RGB, bottom: RGB, size: tuple[int, int] = SIZE) -> Image.Image:
    width, height = size
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    colours = np.array(top, float) * (1 - ramp) + np.array(bottom, float) * ramp
    return Image.fromarray(np.repeat(colours, width, axis=1).astype(np.uint8), "RGB")


def _grain(image: Image.Image, seed: int, sigma: float, tint: RGB) -> Image.Image:
    """Grey the image, add seeded 2x2-pixel grain and tint it: a surveillance-camera look."""
    rng = np.random.default_rng(seed)
    grey = np.asarray(image.convert("L"), float)
    height, width = grey.shape
    noise = rng.normal(0.0, sigma, ((height + 1) // 2, (width + 1) // 2))
    grey += np.kron(noise, np.ones((2, 2)))[:height, :width]
    grey[::3, :] *= 0.93  # faint scan lines
    level = np.clip(grey, 0, 255)[:, :, None] / 255.0
    tinted = level * np.array(tint, float)[None, None, :]
    return Image.fromarray(tinted.astype(np.uint8), "RGB")


def _label(draw: ImageDraw.ImageDraw, centre: tuple[int, int], text: str, size: int = 17) -> None:
    font = _font(size)
    width = draw.textlength(text, font=font)
    x, y = centre[0] - width / 2, centre[1] - size / 2
    draw.rounded_rectangle((x - 8, y - 5, x + width + 8, y + size + 5), 5, fill=(0, 0, 0))
    draw.text((x, y), text, font=font, fill=(255, 255, 255))


def _mark_standin(image: Image.Image) -> Image.Image:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    draw.rectangle((0, height - 30, width, height), fill=(12, 12, 12))
    font = _font(18)
    text_width = draw.textlength(STANDIN_TEXT, font=font)
    draw.text(((width - text_width) / 2, height - 25), STANDIN_TEXT, font=font, fill=(255, 214, 0))
    return image


def _portrait(
    draw: ImageDraw.ImageDraw,
    cx: int,
    top: int,
    scale: float,
    skin: RGB,
    suit: RGB,
    hair: RGB,
    variant: int,
) -> None:
    """Draw a head-and-shoulders figure; `variant` changes hair, face and tie so people differ."""

    def point(x: float, y: float) -> tuple[int, int]:
        return round(cx + x * scale), round(top + y * scale)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (*point(x0, y0), *point(x1, y1))

    draw.ellipse(box(-130, 190, 130, 420), fill=suit)  # shoulders
    draw.polygon([point(-34, 180), point(34, 180), point(0, 270)], fill=(235, 235, 230))  # shirt
    tie = [(150, 30, 40), (30, 50, 110), (70, 70, 75)][variant % 3]
    tie_outline = [(-9, 196), (9, 196), (12, 262), (0, 276), (-12, 262)]
    draw.polygon([point(x, y) for x, y in tie_outline], fill=tie)
    draw.rectangle(box(-26, 150, 26, 200), fill=skin)  # neck
    draw.ellipse(box(-74, 22, 74, 190), fill=skin)  # head
    draw.ellipse(box(-86, 90, -64, 130), fill=skin)  # ears
    draw.ellipse(box(64, 90, 86, 130), fill=skin)
    if variant == 0:  # short dark hair with a side parting
        draw.chord(box(-78, 8, 78, 120), 180, 360, fill=hair)
        draw.line(box(-20, 14, -34, 60), fill=skin, width=max(1, round(3 * scale)))
    elif variant == 1:  # receding hair, glasses
        draw.chord(box(-80, 18, -30, 110), 90, 270, fill=hair)
        draw.chord(box(30, 18, 80, 110), 270, 90, fill=hair)
        for x in (-32, 32):
            draw.ellipse(box(x - 22, 84, x + 22, 114), outline=(20, 20, 20), width=3)
        draw.line(box(-10, 96, 10, 96), fill=(20, 20, 20), width=3)
    else:  # grey swept-back hair, heavier brows
        draw.chord(box(-76, 4, 76, 96), 180, 360, fill=hair)
        draw.rectangle(box(-76, 50, -66, 100), fill=hair)
        draw.rectangle(box(66, 50, 76, 100), fill=hair)
    brow = max(2, round(5 * scale)) if variant == 2 else max(1, round(3 * scale))
    for x in (-32, 32):
        draw.ellipse(box(x - 8, 92, x + 8, 104), fill=(30, 30, 35))  # eyes
        draw.line(box(x - 16, 80, x + 16, 78), fill=(40, 35, 30), width=brow)
    draw.line(box(0, 100, -6, 134), fill=(150, 110, 90), width=2)  # nose
    draw.arc(box(-24, 132, 24, 162), 20, 160, fill=(120, 60, 60), width=3)  # mouth


def _bokeh(image: Image.Image, seed: int, tint: RGB) -> None:
    """Scatter soft seeded discs over a background so it has texture, then blur them."""
    rng = np.random.default_rng(seed)
    layer = Image.new("RGB", image.size, (0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for x, y, r in zip(
        rng.integers(0, image.width, 40),
        rng.integers(0, image.height, 40),
        rng.integers(6, 30, 40),
        strict=True,
    ):
        level = int(rng.integers(20, 70))
        draw.ellipse(
            (int(x - r), int(y - r), int(x + r), int(y + r)),
            fill=tuple(level * c // 255 for c in tint),
        )
    blurred = layer.filter(ImageFilter.GaussianBlur(3))
    merged = np.clip(np.asarray(image, int) + np.asarray(blurred, int), 0, 255).astype(np.uint8)
    image.paste(Image.fromarray(merged, "RGB"))


def draw_portraits_shishmakov_popov() -> Image.Image:
    """Two portrait panels side by side: Eduard Shishmakov left, Vladimir Popov right."""
    image = Image.new("RGB", SIZE)
    left = _gradient((70, 96, 140), (24, 34, 60), (320, SIZE[1]))
    right = _gradient((120, 128, 110), (46, 50, 40), (320, SIZE[1]))
    _bokeh(left, 101, (160, 190, 255))
    _bokeh(right, 102, (220, 230, 180))
    image.paste(left, (0, 0))
    image.paste(right, (320, 0))
    draw = ImageDraw.Draw(image)
    _portrait(draw, 160, 40, 1.0, (224, 182, 150), (38, 40, 52), (40, 30, 25), 0)
    _portrait(draw, 480, 40, 1.0, (214, 170, 140), (70, 66, 60), (95, 85, 75), 1)
    draw.line((320, 0, 320, SIZE[1]), fill=(250, 250, 250), width=4)
    _label(draw, (160, 350), "Eduard Shishmakov")
    _label(draw, (480, 350), "Vladimir Popov")
    return _mark_standin(image)


def _standing_figure(
    draw: ImageDraw.ImageDraw, x: int, feet: int, height: int, coat: int, facing: int
) -> None:
    """A standing person seen from a distance; `facing` is -1 (left) or 1 (right)."""
    unit = height / 10
    head = unit * 1.3
    shoulders = feet - unit * 8.4
    draw.ellipse(
        (x - head / 2, shoulders - head * 1.05, x + head / 2, shoulders - 0.05 * head),
        fill=(185, 185, 185),
    )
    draw.rounded_rectangle(
        (x - unit * 1.3, shoulders, x + unit * 1.3, feet - unit * 3.6),
        round(unit * 0.6),
        fill=(coat,) * 3,
    )
    for dx in (-0.6, 0.6):
        draw.line(
            (x + dx * unit, feet - unit * 3.8, x + dx * unit * 1.3, feet),
            fill=(coat - 20,) * 3,
            width=round(unit * 0.8),
        )
    draw.line(
        (
            x + facing * unit * 1.1,
            shoulders + unit,
            x + facing * unit * 2.6,
            shoulders + unit * 2.8,
        ),
        fill=(coat - 10,) * 3,
        width=round(unit * 0.6),
    )


def draw_surveillance_belgrade_meeting() -> Image.Image:
    """A grainy street still: two figures meeting, Shishmakov left, Aleksandar Sindjelic right."""
    image = _gradient((150, 150, 150), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    horizon = 170
    draw.polygon(
        [(0, SIZE[1]), (250, horizon), (390, horizon), (SIZE[0], SIZE[1])], fill=(110, 110, 110)
    )
    draw.polygon([(0, SIZE[1]), (0, 330), (250, horizon), (236, horizon)], fill=(120, 120, 120))
    for side, x0, x1 in ((-1, 0, 236), (1, 404, SIZE[0])):
        draw.rectangle((x0, 20, x1, horizon + (60 if side < 0 else 50)), fill=(105, 105, 105))
        for row in range(30, horizon + 20, 34):
            for col in range(x0 + 14, x1 - 20, 38):
                draw.rectangle((col, row, col + 22, row + 20), fill=(45, 45, 50))
    for y in range(horizon + 20, SIZE[1], 26):  # lane marks
        half = 6 + (y - horizon) // 10
        draw.rectangle((320 - half // 3, y, 320 + half // 3, y + 10), fill=(190, 190, 190))
    _standing_figure(draw, 265, 360, 150, 30, 1)
    _standing_figure(draw, 375, 358, 145, 45, -1)
    _label(draw, (240, 165), "Shishmakov")
    _label(draw, (430, 165), "Aleksandar Sindjelic")
    image = _grain(image, 202, 10.0, (215, 235, 215))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, SIZE[0] - 8, SIZE[1] - 38), outline=(230, 255, 230), width=2)
    return _mark_standin(image)


def draw_portrait_djukanovic() -> Image.Image:
    """A single portrait labelled Milo Djukanovic."""
    image = _gradient((150, 60, 50), (40, 22, 30))
    _bokeh(image, 303, (255, 200, 160))
    draw = ImageDraw.Draw(image)
    for x in range(0, SIZE[0], 80):  # a panelled wall behind the sitter
        draw.line((x, 0, x, SIZE[1]), fill=(90, 40, 40), width=3)
    _portrait(draw, 320, 4, 1.25, (230, 190, 160), (30, 30, 40), (170, 170, 175), 2)
    _label(draw, (320, 370), "Milo Djukanovic", size=19)
    return _mark_standin(image)


def draw_surveillance_bench() -> Image.Image:
    """A grainy still: two people on a bench, Popov holding a long-lens camera."""
    image = _gradient((175, 175, 170), (120, 125, 115))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(404)
    for x, r in zip(rng.integers(0, SIZE[0], 9), rng.integers(40, 80, 9), strict=True):
        draw.rectangle((int(x) - 6, 90, int(x) + 6, 250), fill=(70, 70, 65))  # trunks
        draw.ellipse((int(x) - r, 30, int(x) + r, 30 + 2 * r), fill=(95, 100, 90))  # crowns
    draw.rectangle((0, 250, SIZE[0], SIZE[1]), fill=(140, 140, 130))  # path
    for y in range(262, SIZE[1], 22):
        draw.line((0, y, SIZE[0], y + 12), fill=(128, 128, 120), width=2)
    for y in (228, 248, 268):  # bench back and seat slats
        draw.rectangle((150, y, 500, y + 12), fill=(60, 50, 40))
    draw.rectangle((150, 300, 500, 312), fill=(60, 50, 40))
    for x in (165, 480):
        draw.rectangle((x, 300, x + 10, 350), fill=(35, 35, 35))
    for cx, coat in ((250, 40), (400, 60)):  # seated bodies
        draw.rounded_rectangle((cx - 32, 215, cx + 32, 305), 12, fill=(coat,) * 3)
        draw.ellipse((cx - 20, 172, cx + 20, 214), fill=(200, 200, 195))
        draw.rectangle((cx - 30, 295, cx + 40, 318), fill=(coat - 15,) * 3)
        draw.line((cx + 30, 316, cx + 36, 360), fill=(coat - 25,) * 3, width=12)
    draw.rectangle((418, 236, 446, 262), fill=(25, 25, 25))  # camera body held by Popov
    draw.rectangle((446, 240, 540, 258), fill=(35, 35, 35))  # long lens
    draw.rectangle((536, 236, 552, 262), fill=(20, 20, 20))  # lens hood
    draw.line((400, 240, 430, 250), fill=(80, 80, 80), width=10)  # arm
    _label(draw, (400, 150), "Popov")
    image = _grain(image, 405, 10.0, (225, 225, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, SIZE[0] - 8, SIZE[1] - 38), outline=(235, 235, 255), width=2)
    return _mark_standin(image)


STANDINS: tuple[StandIn, ...] = (
    StandIn(
        "01-portraits-shishmakov-popov.jpg",
        "Stand-in: portraits of Eduard Shishmakov and Vladimir Popov",
        "Accusations: Eduard Shishmakov , left, and Vladimir Popov, right, are two Russian "
        "nationals who have been implicated in a foiled attempt to assassinate the former Prime "
        "Minister of Montenegro as part of a plot to overthrow the government",
        None,
        ("Eduard Shishmakov", "Vladimir Popov"),
        "Portrait (stand-in)",
        draw_portraits_shishmakov_popov,
    ),
    StandIn(
        "02-surveillance-belgrade-meeting.jpg",
        "Stand-in: surveillance still of Shishmakov meeting Aleksandar Sindjelic",
        "'Plotters':Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelic in "
        "Belgrade at the time of the foiled assassination attempt",
        SURVEILLANCE_CREDIT,
        ("Eduard Shishmakov", "Aleksandar Sindjelic"),
        "CCTV still (stand-in)",
        draw_surveillance_belgrade_meeting,
    ),
    StandIn(
        "03-portrait-djukanovic.jpg",
        "Stand-in: portrait of Milo Djukanovic",
        "Deadly plans: The plot to kill then-Prime Minister Milo Djukanovic, pictured, was meant "
        "to trigger a collapse of the government which would stop Montenegro from joining NATO",
        None,
        ("Milo Djukanovic",),
        "Portrait (stand-in)",
        draw_portrait_djukanovic,
    ),
    StandIn(
        "04-surveillance-bench.jpg",
        "Stand-in: surveillance still of Vladimir Popov on a bench with a camera",
        None,
        SURVEILLANCE_CREDIT,
        ("Vladimir Popov",),
        "CCTV still (stand-in)",
        draw_surveillance_bench,
    ),
)


def write_standin(standin: StandIn, out_dir: Path) -> Path:
    """Render one stand-in and save it with its XMP, IIM and EXIF; return the file written."""
    xmp: dict[str, str | Sequence[str]] = {"dc:title": standin.title}
    iim: list[tuple[int, int, str]] = []
    if standin.caption is not None:
        xmp["dc:description"] = standin.caption
        iim.append((2, 120, standin.caption))
    if standin.credit is not None:
        xmp["photoshop:Credit"] = standin.credit
        iim.append((2, 110, standin.credit))
    xmp["Iptc4xmpExt:PersonInImage"] = list(standin.people)
    xmp["photoshop:Instructions"] = INSTRUCTIONS
    xmp["Iptc4xmpExt:DigitalSourceType"] = DIGITAL_SOURCE_TYPE
    xmp["xmp:CreatorTool"] = CREATOR_TOOL
    iim.append((2, 40, INSTRUCTIONS))
    path = out_dir / standin.filename
    save_jpeg(
        standin.draw(),
        path,
        exif_description=standin.exif_description,
        iim=iim,
        iim_charset="utf-8",
        xmp=build_xmp(xmp),
        quality=QUALITY,
    )
    return path


def render(out_dir: Path) -> list[Path]:
    """Render every stand-in of the record into `out_dir` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_standin(standin, out_dir) for standin in STANDINS]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--out`` and render the stand-ins there."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    for path in render(args.out):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Generated fixtures for the reuse tests: textured scenes, their edits, and burst-like frames."""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

#: Size of the generated reference photos.
SIZE = (640, 480)


def scene(
    seed: int,
    size: tuple[int, int] = SIZE,
    *,
    moved: dict[int, tuple[int, int]] | None = None,
    grain_seed: int | None = None,
) -> Image.Image:
    """A photo-like scene: smooth colour field, blotches, 40 textured shapes, blur and grain.

    Args:
        seed: Chooses the scene.
        size: Width and height.
        moved: Shape number -> (dx, dy) pixel displacement, for burst-like frames in which
            some subjects moved.
        grain_seed: Seed of the sensor grain (defaults to ``seed``): two exposures of one
            scene differ in their grain.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.empty((height, width, 3))
    for channel in range(3):
        a, b, d = rng.uniform(-1, 1, 3)
        base[..., channel] = (
            120 + 60 * (a * x / width + b * y / height) + 30 * np.sin(d * 6 * x / width + channel)
        )
    coarse = rng.normal(0, 25, (height // 32 + 2, width // 32 + 2, 3))
    blotches = Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    image = Image.fromarray(
        np.clip(base + np.asarray(blotches, dtype=np.float64) - 128, 0, 255).astype(np.uint8)
    )
    draw = ImageDraw.Draw(image)
    for number in range(40):
        x0, y0 = int(rng.integers(0, width - 30)), int(rng.integers(0, height - 30))
        x1 = x0 + int(rng.integers(15, width // 5))
        y1 = y0 + int(rng.integers(15, height // 5))
        dx, dy = (moved or {}).get(number, (0, 0))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        outline = tuple(int(v) for v in rng.integers(0, 256, 3))
        box = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
        kind = rng.random()
        if kind < 0.4:
            draw.ellipse(box, fill=fill, outline=outline, width=3)
        elif kind < 0.8:
            draw.rectangle(box, fill=fill, outline=outline, width=3)
        else:
            draw.polygon(
                [(box[0], box[3]), ((box[0] + box[2]) // 2, box[1]), (box[2], box[3])],
                fill=fill,
                outline=outline,
            )
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    grain = np.random.default_rng(seed if grain_seed is None else grain_seed).normal(
        0, 5, (height, width, 3)
    )
    return Image.fromarray(
        np.clip(np.asarray(image, dtype=np.float64) + grain, 0, 255).astype(np.uint8)
    )


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at ``quality``."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def crop_area(
    image: Image.Image, share: float, fx: float, fy: float
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A crop keeping ``share`` of the area (same aspect) at offset (fx, fy) of the slack; + box."""
    width, height = image.size
    cw, ch = round(width * share**0.5), round(height * share**0.5)
    left, top = round((width - cw) * fx), round((height - ch) * fy)
    box = (left, top, left + cw, top + ch)
    return image.crop(box), box


def banner(image: Image.Image, share: float = 0.2) -> Image.Image:
    """A broadcaster-style banner with text over the bottom ``share`` of the image."""
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    top = round(height * (1 - share))
    draw.rectangle((0, top, width, height), fill=(180, 16, 24))
    draw.rectangle((0, top, width // 5, height), fill=(250, 250, 250))
    draw.text(
        (width // 5 + 12, top + (height - top) // 3),
        "BREAKING: MINISTER RESIGNS",
        fill=(255, 255, 255),
    )
    return copy


def letterbox(image: Image.Image, share: float = 0.2) -> Image.Image:
    """The image centred on a black canvas ``share`` taller (a letterbox)."""
    width, height = image.size
    pad = round(height * share / 2)
    canvas = Image.new("RGB", (width, height + 2 * pad), (0, 0, 0))
    canvas.paste(image, (0, pad))
    return canvas


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    """Rotated counter-clockwise, canvas enlarged, corners black."""
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)


def mirror(image: Image.Image) -> Image.Image:
    """The left-right mirror."""
    return ImageOps.mirror(image)


def parallax_frame(seed: int, background_shift: int, foreground_shift: int) -> Image.Image:
    """One frame of a camera moving sideways past a scene with depth (burst-like).

    The distant layer (a textured scene) moves by ``background_shift`` pixels between frames,
    the near layer (12 large shapes) by ``foreground_shift``: parallax, as in real bursts
    shot while walking and in stereo pairs.
    """
    width, height = SIZE
    far = scene(seed, (width + 120, height), grain_seed=seed + background_shift)
    frame = far.crop((background_shift, 0, background_shift + width, height))
    rng = np.random.default_rng(seed + 1000)
    draw = ImageDraw.Draw(frame)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height - 80))
        w, h = int(rng.integers(50, 130)), int(rng.integers(50, 130))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        outline = tuple(int(v) for v in rng.integers(0, 256, 3))
        left = x0 - foreground_shift
        draw.rectangle((left, y0, left + w, y0 + h), fill=fill, outline=outline, width=5)
        draw.ellipse((left + w // 4, y0 + h // 4, left + 3 * w // 4, y0 + 3 * h // 4), fill=outline)
    return frame


def stretch(image: Image.Image, fx: float, fy: float) -> Image.Image:
    """Resized to another aspect ratio: x by ``fx``, y by ``fy``."""
    return image.resize((round(image.width * fx), round(image.height * fy)))


def keystone(
    image: Image.Image, squeeze: float = 0.08, surround: int = 25
) -> tuple[Image.Image, np.ndarray]:
    """A photograph of the picture on a screen: the top edge narrower, on a dark surround,
    with moire and noise. Returns the shot and the 3 x 3 map from the picture into it."""
    width, height = image.size
    canvas = (round(width * 1.25), round(height * 1.25))
    ox, oy = (canvas[0] - width) / 2, (canvas[1] - height) / 2
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    target = np.float32(
        [
            [ox + squeeze * width, oy],
            [ox + (1 - squeeze) * width, oy],
            [ox + width, oy + height],
            [ox, oy + height],
        ]
    )
    matrix = cv2.getPerspectiveTransform(source, target)
    warped = cv2.warpPerspective(
        np.asarray(image, dtype=np.float32),
        matrix,
        canvas,
        flags=cv2.INTER_LINEAR,
        borderValue=(surround, surround, surround),
    )
    y, x = np.mgrid[0 : canvas[1], 0 : canvas[0]].astype(np.float32)
    moire = 6 * np.sin(2 * np.pi * (x * 0.21 + y * 0.05))[..., None]
    noise = np.random.default_rng(0).normal(0, 4, warped.shape)
    shot = warped * 0.85 + 10 + moire + noise
    return Image.fromarray(np.clip(shot, 0, 255).astype(np.uint8), "RGB"), matrix


def collage(
    image: Image.Image, others: list[Image.Image], slot: int
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The picture as tile ``slot`` (0-3) of a 2 x 2 collage of half-size tiles; + its box."""
    tile_w, tile_h, gap = image.width // 2, image.height // 2, 6
    canvas = Image.new("RGB", (2 * tile_w + 3 * gap, 2 * tile_h + 3 * gap), (245, 245, 245))
    fill = iter(others)
    box = (0, 0, 0, 0)
    for position in range(4):
        tile = image if position == slot else next(fill)
        left = gap + (position % 2) * (tile_w + gap)
        top = gap + (position // 2) * (tile_h + gap)
        canvas.paste(tile.resize((tile_w, tile_h)), (left, top))
        if position == slot:
            box = (left, top, left + tile_w, top + tile_h)
    return canvas, box


def social_card(image: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The picture inset in a social-media card with header and footer text; + its box."""
    picture = image.resize((520, round(image.height * 520 / image.width)))
    header, footer = 90, 120
    canvas = Image.new("RGB", (600, header + picture.height + footer), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((40, 20, 90, 70), fill=(90, 140, 200))
    draw.text((104, 22), "Daily Dispatch", fill=(20, 23, 26), font=ImageFont.load_default(20))
    draw.text((104, 48), "@dailydispatch - 2h", fill=(120, 126, 132))
    canvas.paste(picture, (40, header))
    base = header + picture.height + 14
    draw.text((40, base), "Share before it gets taken down! #breaking", fill=(20, 23, 26))
    for k, label in enumerate(("Reply 1.2K", "Repost 8.4K", "Like 31K")):
        x0 = 40 + k * 180
        draw.rounded_rectangle(
            (x0, base + 56, x0 + 150, base + 90), radius=12, outline=(120, 126, 132), width=2
        )
        draw.text((x0 + 20, base + 64), label, fill=(20, 23, 26))
    return canvas, (40, header, 40 + picture.width, header + picture.height)


def text_overlay(image: Image.Image) -> Image.Image:
    """Big text on a dark block over the top third of the picture."""
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    draw.rectangle((0, 0, width, height // 3), fill=(10, 10, 10))
    font = ImageFont.load_default(size=height // 9)
    draw.text((width // 20, height // 30), "THEY LIED", fill=(255, 230, 0), font=font)
    draw.text((width // 20, height // 6), "TO YOU", fill=(255, 255, 255), font=font)
    return copy


def in_frame(image: Image.Image, frame: Image.Image, share: float = 0.09) -> Image.Image:
    """The picture shrunk into ``frame`` (resized to the picture's size), leaving ``share`` of
    each side as a border: a template's textured border around it."""
    width, height = image.size
    canvas = frame.resize((width, height))
    left, top = round(share * width), round(share * height)
    canvas.paste(image.resize((width - 2 * left, height - 2 * top)), (left, top))
    return canvas


def middle_band(image: Image.Image) -> Image.Image:
    """A dark band with big text across the middle third (a meme's caption)."""
    copy = image.copy()
    width, height = copy.size
    draw = ImageDraw.Draw(copy)
    draw.rectangle((0, height // 3, width, 2 * height // 3), fill=(10, 10, 10))
    font = ImageFont.load_default(size=max(10, height // 9))
    draw.text(
        (width // 20, height // 3 + height // 12), "THEY LIED TO YOU", fill=(255, 230, 0), font=font
    )
    return copy


def translucent(
    image: Image.Image,
    draw: Callable[[ImageDraw.ImageDraw, int, int], None],
    turn: float = 0.0,
) -> Image.Image:
    """``image`` under a layer that ``draw`` paints (given the layer's drawing and its width
    and height, in colours with their own opacity), turned ``turn`` degrees about the
    middle: a watermark, a stamp."""
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw(ImageDraw.Draw(layer), *image.size)
    if turn:
        layer = layer.rotate(turn, center=(image.width // 2, image.height // 2))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


def tiled_watermark(image: Image.Image, alpha: int = 110) -> Image.Image:
    """A stock agency's preview mark: its name in white, ``alpha`` opaque (of 255), tiled in
    staggered rows over the whole picture and turned 30 degrees."""

    def draw(layer: ImageDraw.ImageDraw, width: int, height: int) -> None:
        font = ImageFont.load_default(size=max(10, height // 12))
        for row in range(-2, 12):
            for column in range(-2, 8):
                at = (column * width // 4 + (row % 2) * width // 8, row * height // 7)
                layer.text(at, "stockagency", fill=(255, 255, 255, alpha), font=font)

    return translucent(image, draw, 30)


def _curves(
    image: Image.Image, red: np.ndarray, green: np.ndarray, blue: np.ndarray
) -> Image.Image:
    """Each channel through its own tone curve (256 levels in, 0-255 out)."""
    tables = [np.clip(np.round(curve), 0, 255).astype(np.uint8) for curve in (red, green, blue)]
    bands = [band.point(table.tolist()) for band, table in zip(image.split(), tables, strict=True)]
    return Image.merge("RGB", bands)


def warm_filter(image: Image.Image) -> Image.Image:
    """A social-media "warm" filter: reds lifted and blues pressed by curves that bend with
    brightness (not one gain per channel), the greens' contrast softened a little."""
    level = np.arange(256) / 255
    return _curves(
        image.convert("RGB"),
        255 * level**0.8,
        255 * (level + 0.08 * np.sin(2 * np.pi * level)),
        255 * (0.92 * level**1.25),
    )


def faded_filter(image: Image.Image) -> Image.Image:
    """A "faded" filter: blacks lifted, whites lowered, shadows tinted teal."""
    level = np.arange(256) / 255
    shadow = (1 - level) ** 2
    return _curves(
        image.convert("RGB"),
        40 + 190 * level - 10 * shadow,
        40 + 195 * level + 5 * shadow,
        45 + 190 * level + 20 * shadow,
    )


def vignette(image: Image.Image, strength: float = 0.45) -> Image.Image:
    """Corners darkened by up to ``strength``, smoothly from the middle."""
    width, height = image.size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    reach = ((x / width - 0.5) ** 2 + (y / height - 0.5) ** 2) / 0.5
    shade = 1 - strength * reach[..., None]
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) * shade
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

"""Deterministic synthetic photographs for tests: structured enough that hashes tell them apart."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A picture made of a seeded gradient, shapes and mild noise; different seeds differ."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, np.pi)
    base = (np.cos(angle) * x + np.sin(angle) * y) / (width + height) * 255
    rgb = np.stack([base, base[::-1] * 0.7, np.full_like(base, rng.uniform(40, 200))], axis=-1)
    rgb += rng.normal(0, 6, rgb.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
        x1 = x0 + int(rng.integers(10, width // 2))
        y1 = y0 + int(rng.integers(10, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    return image


def synthetic_photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A deterministic photo-like RGB image: gradients, blotches, shapes, soft edges, grain."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.empty((height, width, 3))
    for channel in range(3):
        a, b, d = rng.uniform(-1, 1, 3)
        base[..., channel] = (
            120 + 60 * (a * x / width + b * y / height) + 30 * np.sin(d * 6 * x / width + channel)
        )
    coarse = rng.normal(0, 25, (height // 40 + 2, width // 40 + 2, 3))
    blotches = Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    arr = base + (np.asarray(blotches, dtype=np.float64) - 128)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        x1 = x0 + int(rng.integers(20, width // 3))
        y1 = y0 + int(rng.integers(20, height // 3))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    grain = rng.normal(0, 6, (height, width, 3))
    noisy = np.asarray(img, dtype=np.float64) + grain
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def sky(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A low-information picture: a plain sky, a colour gradient with faint soft clouds."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    top = rng.uniform([20, 60, 140], [70, 120, 200])
    bottom = rng.uniform([150, 180, 210], [200, 220, 245])
    t = (y / height + rng.uniform(-0.2, 0.2) * x / width)[..., None]
    rgb = top * (1 - t) + bottom * t
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height * 0.7)
        rx, ry = rng.uniform(80, 220), rng.uniform(30, 80)
        cloud = np.exp(-(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2))
        rgb += rng.uniform(15, 35) * cloud[..., None]
    rgb += rng.normal(0, 1.5, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def star_field(seed: int, size: tuple[int, int] = (1024, 768), stars: int = 900) -> Image.Image:
    """Scattered soft points of light on black: keypoints all alike and clustered, on which
    RANSAC can fit degenerate models (a picture mapped onto one point of another)."""
    rng = np.random.default_rng(seed)
    width, height = size
    sky = np.zeros((height, width), dtype=np.float32)
    rows, columns = rng.integers(0, height, stars), rng.integers(0, width, stars)
    sky[rows, columns] = rng.uniform(120, 255, stars)
    blurred = Image.fromarray(sky.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    bright = np.clip(np.asarray(blurred, dtype=np.float32) * 3, 0, 255).astype(np.uint8)
    return Image.fromarray(bright).convert("RGB")


def flat_shapes(seed: int, size: tuple[int, int] = (1280, 800), shapes: int = 7) -> Image.Image:
    """A low-texture picture (an abstract wallpaper's kind): a few large polygons of flat
    colour over a gradient, edges softened. It gives ORB a hundred or so keypoints, on the
    polygons' corners, whose descriptors a stretch changes enough that features alone do not
    find a stretched copy."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = (x / width * 0.6 + y / height * 0.4)[..., None]
    picture = Image.fromarray((start * (1 - t) + end * t).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(picture)
    for _ in range(shapes):
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        corners = int(rng.integers(3, 7))
        radius = rng.uniform(0.1, 0.35) * height
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        points = [
            (
                cx + radius * np.cos(angle) * rng.uniform(0.6, 1.2),
                cy + radius * np.sin(angle) * rng.uniform(0.6, 1.2),
            )
            for angle in angles
        ]
        draw.polygon(points, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return picture.filter(ImageFilter.GaussianBlur(3))


def gravel(seed: int, size: tuple[int, int] = (640, 400)) -> Image.Image:
    """A fine grey texture (gravel, a wall's render): noise blurred to a grain of a few pixels,
    its contrast stretched. Every part of it gives ORB keypoints."""
    rng = np.random.default_rng(seed)
    width, height = size
    grain = rng.normal(0, 1, (height, width)).astype(np.float32)
    image = Image.fromarray(np.clip(grain * 40 + 128, 0, 255).astype(np.uint8), "L")
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
    stretched = (blurred - blurred.mean()) / max(1e-6, float(blurred.std())) * 45 + 120
    return Image.fromarray(np.clip(stretched, 0, 255).astype(np.uint8), "L").convert("RGB")

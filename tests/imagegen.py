"""Deterministic synthetic photographs for tests: structured enough that hashes tell them apart."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


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

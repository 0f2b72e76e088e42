"""Build small article records (manifest and generated images) in a temporary folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image


def toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly (JSON escapes are valid TOML ones)."""
    return json.dumps(text, ensure_ascii=False)


def write_record(
    folder: Path,
    *,
    article_id: str,
    publisher: str,
    images: Sequence[tuple[str, Image.Image, Sequence[tuple[int, str | None, str | None]]]],
    published: str = "2020-01-02",
    title: str | None = None,
) -> Path:
    """Write a manifest and its images; each image is (file name, picture, printings) where a
    printing is (position, caption, credit)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "[article]",
        f"id = {toml_string(article_id)}",
        f"title = {toml_string(title or article_id)}",
        f"publisher = {toml_string(publisher)}",
        f'published = "{published}"',
    ]
    for name, picture, printings in images:
        picture.save(folder / name)
        lines += ["", "[[images]]", f"file = {toml_string(name)}"]
        for position, caption, credit in printings:
            lines += ["  [[images.printings]]", f"  position = {position}"]
            if caption is not None:
                lines.append(f"  caption = {toml_string(caption)}")
            if credit is not None:
                lines.append(f"  credit = {toml_string(credit)}")
    path = folder / "manifest.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

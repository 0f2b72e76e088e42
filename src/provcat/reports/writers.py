"""Report writers: a report in, text out, one writer per format, chosen by name or file ending."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from provcat.errors import CatalogueError
from provcat.reports.captions import FLAG_WORDS, CaptionReport

FORMATS = ("html", "md", "json", "csv")
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".json": "json", ".csv": "csv"}
#: Longest side of an inline thumbnail, in pixels.
THUMBNAIL_SIDE = 160


class Report(Protocol):
    """What every writer needs of a report."""

    def to_dict(self) -> dict[str, Any]: ...


def choose_format(fmt: str | None, output: Path | None) -> str:
    """The format to write: the one named, else the output file's ending, else HTML."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise CatalogueError(
                f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})"
            )
        return fmt
    if output is not None:
        found = _SUFFIXES.get(output.suffix.lower())
        if found is None:
            raise CatalogueError(
                f"cannot tell the format from {output.name!r}; give --format ({', '.join(FORMATS)})"
            )
        return found
    return "html"


def thumbnail_uri(paths: list[str]) -> str | None:
    """A small JPEG data URI of the first of ``paths`` that can be read, or None."""
    for path in paths:
        try:
            with Image.open(path) as image:
                image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))
                small = image.convert("RGB")
                small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                buffer = io.BytesIO()
                small.save(buffer, "JPEG", quality=80)
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return None


def write_json(report: Report, out: TextIO, **_: Any) -> None:
    """The report as one JSON document (docs/report-schemas.md)."""
    json.dump(report.to_dict(), out, indent=2, ensure_ascii=False)
    out.write("\n")


def write_caption_csv(report: CaptionReport, out: TextIO, **_: Any) -> None:
    """One row per printed occurrence of a duplicated caption."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "group",
            "match",
            "similarity",
            "flags",
            "group_text",
            "caption",
            "origin",
            "position",
            "article_title",
            "article_url",
            "publisher",
            "published",
            "image",
            "stand_in",
            "credit",
        ]
    )
    for number, group in enumerate(report.groups, start=1):
        for o in group.occurrences:
            writer.writerow(
                [
                    number,
                    group.match,
                    f"{group.similarity:.4f}",
                    " ".join(group.flags),
                    _cell(group.text),
                    _cell(o.caption),
                    o.origin,
                    o.position,
                    _cell(o.article.title or ""),
                    _cell(o.article.url or ""),
                    _cell(o.article.publisher or ""),
                    o.article.published or "",
                    o.image or "",
                    "yes" if o.stand_in else "no",
                    _cell(o.credit or ""),
                ]
            )


def _cell(text: str) -> str:
    # A cell starting with =, +, - or @ is run as a formula by spreadsheets: captions are
    # untrusted text, so such cells get a leading apostrophe.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _md(text: str) -> str:
    """Text safe inside a Markdown line: markup characters escaped, no line breaks."""
    out = " ".join(text.split())
    for ch in "\\`*_[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out


def write_caption_markdown(report: CaptionReport, out: TextIO, **_: Any) -> None:
    """Readable in a terminal and in a notes app."""
    out.write("# Duplicate captions\n\n")
    if report.stand_ins:
        out.write("Some images in this catalogue are stand-ins, not the original photographs.\n\n")
    out.write(
        f"{len(report.groups)} duplicated caption(s) among {report.captions_considered} printed "
        f"caption(s); near-duplicate threshold {report.threshold}.\n"
    )
    for number, group in enumerate(report.groups, start=1):
        out.write(f"\n## {number}. {_md(group.text)}\n\n")
        similarity = "" if group.match == "exact" else f", similarity {group.similarity:.2f}"
        out.write(f"- match: {group.match}{similarity}, {len(group.occurrences)} printings\n")
        for flag in group.flags:
            out.write(f"- flag: {FLAG_WORDS[flag]}\n")
        out.write("\nVariants:\n\n")
        for v in group.variants:
            out.write(f"- ({v.count}x) {_md(v.text)}\n")
        out.write("\nPrintings:\n\n")
        for o in group.occurrences:
            where = o.article.title or o.article.key
            image = (
                f", image {o.image[:12]}" + (" (stand-in)" if o.stand_in else "") if o.image else ""
            )
            credit = f", credit: {_md(o.credit)}" if o.credit else ""
            out.write(
                f"- {_md(where)} ({_md(o.article.publisher or 'publisher unknown')}), "
                f"#{o.position} [{o.origin}]{image}{credit}\n"
            )
    if report.photos:
        out.write("\n## Photos under different captions\n\n")
        for photo in report.photos:
            images = ", ".join(s[:12] for s in photo.images)
            out.write(f"- {images}:\n")
            for caption in photo.captions:
                out.write(f"  - {_md(caption)}\n")


_ENV = Environment(
    loader=PackageLoader("provcat", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def write_caption_html(
    report: CaptionReport, out: TextIO, *, thumbnails: Mapping[str, str | None] | None = None
) -> None:
    """One self-contained page: groups, inline thumbnails, variants with differences marked."""
    template = _ENV.get_template("captions.html.j2")
    out.write(template.render(report=report, flag_words=FLAG_WORDS, thumbnails=thumbnails or {}))


Writer = Callable[..., None]

CAPTION_WRITERS: dict[str, Writer] = {
    "json": write_json,
    "csv": write_caption_csv,
    "md": write_caption_markdown,
    "html": write_caption_html,
}

"""The report formats and how one is chosen: apart from the writers, so that the command
line can list them without importing the reports."""

from __future__ import annotations

from pathlib import Path

from provcat.errors import CatalogueError

FORMATS = ("html", "md", "json", "csv")
#: Thumbnails an HTML page of a report shows at most, when it is split into pages (a group or
#: photo showing more is alone on its page): about 10 MB of page, which a browser opens.
PAGE_IMAGES = 1_000
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".json": "json", ".csv": "csv"}


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

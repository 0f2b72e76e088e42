"""The one error hierarchy provcat raises; the CLI catches CatalogueError and prints one line."""

from __future__ import annotations

import os
from pathlib import Path


class CatalogueError(Exception):
    """Base class of every error provcat raises on purpose."""


class InputError(CatalogueError):
    """An input file could not be used; carries the file and the reason.

    Attributes:
        path: The file that was refused.
        reason: Why, in words a person can act on.
        line: The 1-based line in the file the problem is on, when known.
    """

    def __init__(self, path: str | Path, reason: str, *, line: int | None = None) -> None:
        # A file name that is not UTF-8 is shown with \xNN escapes, so the message can be
        # printed and stored (provcat.files.path_text; not imported, to keep this module bare).
        self.path = os.fsencode(path).decode("utf-8", "backslashreplace")
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class ImageRejected(InputError):
    """An image file that cannot be decoded safely (not an image, truncated, too many pixels)."""


class MetadataError(InputError):
    """Embedded metadata (EXIF, IPTC-IIM, XMP) that is malformed or hostile."""


class ManifestError(InputError):
    """A manifest that is not valid TOML or does not follow docs/manifest.md."""


class ArticleError(InputError):
    """A scraped article (plain text or HTML) that cannot be read."""


class DatabaseUnavailable(CatalogueError):
    """The catalogue database cannot be opened or used (refused connection, not a database)."""


class PostingsFileError(CatalogueError):
    """The postings file beside a SQLite catalogue cannot be written (provcat.reuse.word_file);
    look-ups read the postings table meanwhile."""


class DamagedCatalogue(CatalogueError, ValueError):
    """A value provcat stored that no longer reads as it wrote it (changed by hand, or by a
    damaged database file); the message names the row. A ValueError too: a bad value."""


class NotFound(CatalogueError):
    """A lookup (SHA-256 prefix, article, agent) that matched nothing."""


class AmbiguousPrefix(CatalogueError):
    """A SHA-256 prefix that matches more than one image."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        self.prefix = prefix
        self.candidates = candidates
        shown = ", ".join(c[:16] for c in candidates[:5])
        super().__init__(
            f"prefix {prefix!r} matches {len(candidates)} images ({shown}); give more characters"
        )


def unexpected_reason(exc: BaseException) -> str:
    """A rejection's reason for a file whose handling raised an error no rule foresaw: the
    error's name and message, and where to look."""
    return (
        f"could not be handled: {type(exc).__name__}: {exc} (an error in provcat or a library "
        "it uses, not a rule about the file; its traceback is logged: -v or --log-file)"
    )

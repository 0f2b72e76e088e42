"""provcat: an image caption and provenance catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provcat.errors import (
    AmbiguousPrefix,
    ArticleError,
    CatalogueError,
    DatabaseUnavailable,
    ImageRejected,
    InputError,
    ManifestError,
    MetadataError,
    NotFound,
)

if TYPE_CHECKING:
    from provcat.catalogue import Catalogue
    from provcat.queries import ImageQuery

__all__ = [
    "AmbiguousPrefix",
    "ArticleError",
    "Catalogue",
    "CatalogueError",
    "DatabaseUnavailable",
    "ImageQuery",
    "ImageRejected",
    "InputError",
    "ManifestError",
    "MetadataError",
    "NotFound",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``Catalogue`` and ``ImageQuery``, imported when first asked for: importing one of
    provcat's modules (as every command does) would otherwise import them all."""
    if name == "Catalogue":
        from provcat.catalogue import Catalogue

        return Catalogue
    if name == "ImageQuery":
        from provcat.queries import ImageQuery

        return ImageQuery
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

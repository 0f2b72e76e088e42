"""provcat: an image caption and provenance catalogue."""

from __future__ import annotations

from provcat.catalogue import Catalogue
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

"""provcat: an image caption and provenance catalogue."""

from __future__ import annotations

from provcat.errors import (
    AmbiguousPrefix,
    ArticleError,
    CatalogueError,
    ImageRejected,
    InputError,
    ManifestError,
    MetadataError,
    NotFound,
)

__all__ = [
    "AmbiguousPrefix",
    "ArticleError",
    "CatalogueError",
    "ImageRejected",
    "InputError",
    "ManifestError",
    "MetadataError",
    "NotFound",
]
__version__ = "0.1.0"

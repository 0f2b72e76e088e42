"""Where the catalogue lives: environment variable first, then the default SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that names the catalogue database (an SQLAlchemy URL).
DATABASE_URL_ENV = "PROVCAT_DATABASE_URL"

#: The default catalogue: an SQLite file in the current directory.
DEFAULT_DATABASE_FILE = "provcat.db"

#: Decoding refuses images with more pixels than this (a decompression-bomb guard).
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own default warning limit, so the two agree

#: Image files larger than this are refused before they are read. A 100-megapixel 16-bit TIFF
#: is about 600 MB; news images are a few megabytes. Anything bigger is a mistake or an attack
#: (a sparse file, a link to a device) and would otherwise be read whole into memory.
MAX_IMAGE_BYTES = 1 << 30

#: Manifests larger than this are refused (the Montenegro manifest is 4 kB).
MAX_MANIFEST_BYTES = 16 << 20


def database_url(explicit: str | None = None) -> str:
    """Return the database URL to use.

    Args:
        explicit: A URL given by the caller (``--db`` or ``Catalogue(url=...)``); wins if set.

    Returns:
        ``explicit``, else ``$PROVCAT_DATABASE_URL``, else ``sqlite:///provcat.db`` in the
        current directory. A plain file path (no ``://``) is an SQLite file; a bare
        ``postgresql://`` URL is pointed at the psycopg 3 driver.
    """
    url = explicit or os.environ.get(DATABASE_URL_ENV) or default_sqlite_url()
    if "://" not in url:
        # A plain path names an SQLite file, as sqlite-utils takes it.
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def default_sqlite_url() -> str:
    """The SQLite URL of the default catalogue file, as an absolute path."""
    return f"sqlite:///{Path(DEFAULT_DATABASE_FILE).resolve()}"

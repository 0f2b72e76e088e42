"""Files as ingest and look-ups meet them: folders walked, regular files only, read within a
size limit, any file name.

A folder scraped or copied from elsewhere holds more than images: FIFOs and devices (reading
one blocks forever or never ends), sparse files of many gigabytes, links to ``/dev/zero``, and
names that are not UTF-8. Everything provcat reads from a path goes through :func:`read_regular`,
and every path it stores or prints goes through :func:`path_text`. Folders are walked by
:func:`walk`, which says why it passes over each file it does not take.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from provcat.errors import InputError

#: File name endings a folder walk takes as images; other files in a folder are skipped.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".mpo"}
)
#: HEIC/HEIF photos (iPhones): taken only when a HEIF plugin (pillow-heif) is registered.
HEIF_SUFFIXES = frozenset({".heic", ".heif", ".hif"})

#: Bytes read per system call.
_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ("a FIFO (named pipe)", "a regular file")."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def read_regular(
    path: Path, *, limit: int, error: type[InputError] = InputError, what: str = "file"
) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes.

    The file is opened without blocking (a FIFO would otherwise wait for a writer forever) and
    checked through the open descriptor, so a file swapped for another between the check and
    the read is still the file that was checked. The size is checked before reading and again
    while reading (a file that grows is cut off, not read to the end).

    Args:
        path: The file; a symbolic link is followed.
        limit: Most bytes accepted.
        error: The InputError subclass raised.
        what: What the file is, for the messages ("image file", "manifest").

    Raises:
        InputError: (as ``error``) the file cannot be opened, is not a regular file, or is
            larger than ``limit``; the message names the file and the reason.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(path, f"cannot read {what}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(path, f"not a regular file: it is {file_kind(info.st_mode)}")
        if info.st_size > limit:
            raise error(path, _too_large(info.st_size, limit, what))
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(_CHUNK, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise error(path, _too_large(total, limit, what) + " (it grew while being read)")
        return b"".join(chunks)
    except OSError as exc:
        raise error(path, f"cannot read {what}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _too_large(size: int, limit: int, what: str) -> str:
    return f"{what} of {size:,} bytes is larger than the {limit:,}-byte limit"


def path_text(path: str | os.PathLike[str]) -> str:
    """A path as text that can be stored and printed: exactly the path when its name is UTF-8;
    otherwise each byte that is not UTF-8 is written ``\\xNN`` (Latin-1 ``é`` gives ``\\xe9``).

    The exact bytes of such a name are kept by :func:`path_bytes`.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def path_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """The path's bytes when its name is not valid UTF-8 (so :func:`path_text` is not exact),
    else None."""
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return None


def stored_path(text: str, raw: bytes | None) -> Path:
    """The file system path a stored image path names (the inverse of the two functions above)."""
    return Path(os.fsdecode(raw)) if raw is not None else Path(text)


def resolved(path: Path) -> Path:
    """``path`` made absolute with every symbolic link resolved.

    Raises:
        OSError: A loop of symbolic links (ELOOP), on every Python (3.11 and 3.12 raise
            RuntimeError for it).
    """
    try:
        return path.resolve()
    except RuntimeError as exc:  # "Symlink loop from ..." before Python 3.13
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from exc


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, with every symbolic link resolved, lies inside ``folder``.

    Raises:
        OSError: A loop of symbolic links (:func:`resolved`).
    """
    return resolved(path).is_relative_to(resolved(folder))


class Walked(NamedTuple):
    """A file or folder a walk met: an ``"image"`` to take, a ``"manifest"`` that holds its
    folder's record, or ``"skipped"`` with the reason."""

    kind: str
    path: Path
    reason: str | None = None


def walk(
    root: Path, *, manifest_name: str | None = None, named: Mapping[str, str] | None = None
) -> Iterator[Walked]:
    """The image files under ``root``, recursively, in a stable (sorted) order, and every file
    and folder passed over with the reason (hidden, not an image, a FIFO or device, a folder
    that cannot be read, a symbolic link to a folder).

    Lazily, a folder at a time: a look-up over a tree of a million files starts at once and
    holds one folder's names, not the tree's.

    Args:
        root: The folder.
        manifest_name: A folder holding a file of this name is that file's record: the walk
            gives the manifest and goes no deeper there (ingest). None: no such file.
        named: Reasons to skip files by ending (``".html"``), for files a walk does not take
            but the command would when named explicitly.
    """
    unreadable: list[Walked] = []

    def record(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        unreadable.append(Walked("skipped", where, f"cannot read folder: {exc.strerror or exc}"))

    for directory, dirnames, filenames in os.walk(root, onerror=record):
        yield from unreadable
        unreadable.clear()
        here = Path(directory)
        walked = []
        for name in sorted(dirnames):
            reason = folder_skip_reason(here / name)
            if reason is None:
                walked.append(name)
            else:
                yield Walked("skipped", here / name, reason)
        dirnames[:] = walked
        if manifest_name is not None and manifest_name in filenames:
            yield Walked("manifest", here / manifest_name)
            dirnames[:] = []
            continue
        for name in sorted(filenames):
            reason = image_skip_reason(here / name, named=named)
            yield Walked("image" if reason is None else "skipped", here / name, reason)
    yield from unreadable


def folder_skip_reason(path: Path) -> str | None:
    """Why a walk does not enter this folder, or None to enter it."""
    if path.name.startswith("."):
        return "hidden folder"
    if path.is_symlink():
        return "symbolic link to a folder (not followed; name it on the command line)"
    return None


def image_skip_reason(path: Path, *, named: Mapping[str, str] | None = None) -> str | None:
    """Why a folder walk passes over this file, or None to take it as an image.

    Args:
        path: The file.
        named: Reasons by file name ending for other kinds of file (see :func:`walk`).
    """
    if path.name.startswith("."):
        return "hidden file"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            # A link to itself, or links that lead to each other: nothing to read, as for
            # a broken link, but a different mistake to mend.
            return f"symbolic links that loop ({exc.strerror})"
        broken = path.is_symlink()
        return "broken symbolic link" if broken else f"cannot read: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return f"not a regular file: it is {file_kind(mode)}"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return None
    if named and suffix in named:
        return named[suffix]
    if suffix in HEIF_SUFFIXES:
        # Pillow is imported only here: walking a folder of JPEGs never needs it.
        from PIL import Image

        if "HEIF" in Image.registered_extensions().values():
            return None
        return "HEIC/HEIF photo: no HEIF decoder is installed (pillow-heif)"
    return f"not an image file name ({suffix or 'no suffix'})"

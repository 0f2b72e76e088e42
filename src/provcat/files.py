"""Files as ingest meets them: regular files only, read within a size limit, any file name.

A folder scraped or copied from elsewhere holds more than images: FIFOs and devices (reading
one blocks forever or never ends), sparse files of many gigabytes, links to ``/dev/zero``, and
names that are not UTF-8. Everything provcat reads from a path goes through :func:`read_regular`,
and every path it stores or prints goes through :func:`path_text`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from provcat.errors import InputError

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


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, with every symbolic link resolved, lies inside ``folder``."""
    return path.resolve().is_relative_to(folder.resolve())

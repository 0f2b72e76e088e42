"""Report files that appear whole or not at all.

A report of a large catalogue takes minutes to write (docs/scale.md), and a report written
straight into its file shows, while it is written and after a failure, a kill or a full disk,
a truncated page or JSON that reads as if it were the report. :class:`Part` writes the file
beside its place under a hidden name, ``.<name>.<host>-<pid>-<random>.part``, and gives it the
file's name only once it is whole (``rename``): until then any earlier report under that
name stays as it was. A failure removes the hidden file; a ``kill -9`` leaves it, and
:func:`remove_leftovers` removes those whose process has ended when a report is written
to that folder again (``<host>`` names the machine, so that a folder shared between
machines is safe). The file's bytes are synced to the disk before it is named, and the folder after
(:func:`sync_folder`), so that a power cut too leaves the earlier report or the new one: on
many file systems a file renamed before its bytes reach the disk comes back empty.

A report of many files (an HTML report in pages) names them all while it holds its folder
(:func:`folder_lock`), so that two reports written at once to the same name take their names
one after the other, and the folder ends with one report's pages, never some of each.

(An unnamed ``O_TMPFILE`` file linked into place would leave nothing after a kill, but
linking it through ``/proc/self/fd`` fails on some machines, this project's among them, with
``EXDEV``.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import io
import os
import re
import secrets
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from provcat.errors import CatalogueError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


def cannot_write(path: Path, exc: OSError) -> CatalogueError:
    """The error a report's file that cannot be written gives: the file and the reason."""
    reason = exc.strerror or str(exc)
    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
    return CatalogueError(f"cannot write the report to {shown}: {reason}")


class _File(io.FileIO):
    """A report file's descriptor, whose write failures name the file: a full disk shows
    when a buffer's worth is written, or when the last bytes are flushed. (At this layer a
    write is a buffer of 8 kB, not each piece a writer gives the text stream: a report of
    10^6 stored images writes millions of pieces.)"""

    def __init__(self, fd: int, path: Path) -> None:
        super().__init__(fd, "w")
        self.report_path = path

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            raise cannot_write(self.report_path, exc) from exc


class Part:
    """One report file being written: :attr:`stream` takes its text, :meth:`publish` gives
    it ``path`` (replacing what was there), :meth:`discard` drops it. As a context manager,
    it is discarded unless published.

    A file already at ``path`` gives the new one its permissions; a new one gets the
    process's default (``umask``). ``path`` should be a regular file's place: a symbolic link
    there is replaced, not followed (:func:`destination` resolves it first).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hidden = path.with_name(
            f".{path.name}.{_host()}-{os.getpid()}-{secrets.token_hex(4)}.part"
        )
        self._published = False
        try:
            replaced: int | None = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            replaced = None  # a new report: the process's default permissions (umask)
        except OSError as exc:
            raise cannot_write(path, exc) from exc
        try:
            fd = os.open(self._hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise cannot_write(path, exc) from exc
        if replaced is not None:
            try:
                os.fchmod(fd, replaced)
            except OSError as exc:
                os.close(fd)
                self._hidden.unlink(missing_ok=True)
                raise cannot_write(path, exc) from exc
        buffered = io.BufferedWriter(_File(fd, path))
        self.stream = io.TextIOWrapper(buffered, encoding="utf-8", newline="")

    def set_aside(self) -> None:
        """Close the written file under its hidden name, its bytes on the disk, to be
        published later: what a report of many files does with each, so as not to hold a
        descriptor for every one."""
        if self.stream.closed:
            return
        try:
            self.stream.flush()  # a full disk can show only here
            _sync_bytes(self.stream.fileno())
            self.stream.close()
        except OSError as exc:
            self.discard()
            raise cannot_write(self.path, exc) from exc
        except CatalogueError:
            self.discard()
            raise

    def publish(self, *, sync: bool = True) -> None:
        """Give the written file its name, and (with ``sync``) have the name on the disk
        too; a caller naming many files in one folder syncs it once after the last
        (:func:`sync_folder`). Once published, publishing again does nothing."""
        if self._published:
            return
        self.set_aside()
        try:
            self._hidden.replace(self.path)
        except OSError as exc:
            self.discard()
            raise cannot_write(self.path, exc) from exc
        self._published = True
        if sync:
            sync_folder(self.path)

    def discard(self) -> None:
        """Drop the file: nothing at ``path`` changes."""
        if self._published:
            return
        # The file is dropped: what it failed to write no longer matters.
        with contextlib.suppress(OSError, CatalogueError):
            self.stream.close()
        self._hidden.unlink(missing_ok=True)

    def __enter__(self) -> Part:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()


def _sync_bytes(fd: int) -> None:
    """Have a file's bytes (and its length) on the disk."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # macOS: fsync is what it has
        os.fsync(fd)


def sync_folder(path: Path) -> None:
    """Have the names given in the folder of ``path`` (a renamed report's file) on the disk;
    a file system that cannot sync a folder (EINVAL) keeps them as it does."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise cannot_write(path, exc) from exc
    finally:
        os.close(fd)


#: What ``flock`` on a folder raises where the file system cannot lock one (a Linux NFS
#: client takes a folder's exclusive lock as a byte-range lock, which asks for a file opened
#: to write: EBADF).
_CANNOT_LOCK = frozenset({errno.EBADF, errno.EINVAL, errno.ENOLCK, errno.EOPNOTSUPP})


@contextlib.contextmanager
def folder_lock(path: Path) -> Iterator[bool]:
    """Hold the folder of ``path`` (a report's file) while the files of one report take
    their names, waiting while another process holds it; yields whether it is held. The
    lock is the folder's own (``flock``), so nothing is left in it, and a killed holder's
    ends with its process. Where the file system cannot lock a folder the files are named
    without it (False), as before this lock."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in _CANNOT_LOCK:
                raise cannot_write(path, exc) from exc
            yield False
        else:
            yield True  # closing the descriptor below lets the lock go
    finally:
        os.close(fd)


def destination(path: Path) -> Path | None:
    """Where a report named ``path`` is written whole: ``path`` itself, or the file a
    symbolic link there names (so that the link keeps naming the report); None when ``path``
    is something other than a regular file (a device, a pipe), written to as it is."""
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        regular = True  # to be made (or a link to a file to be made)
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    if not regular:
        return None
    return Path(os.path.realpath(path)) if path.is_symlink() else path


#: A hidden file of :class:`Part`: the report's name, the writer's machine (missing in those
#: session 42's provcat made) and process, and a random part.
_LEFTOVER = re.compile(
    r"\.(?P<name>.+)\.(?:(?P<host>[0-9a-f]{8})-)?(?P<pid>[0-9]{1,9})-[0-9a-f]{8}\.part"
)


@functools.cache
def _host() -> str:
    """This machine, as the hidden files name it: a hash of its name, so that a writer on
    another machine sharing the folder (NFS, SMB) is never judged by this one's processes."""
    return hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def remove_leftovers(folder: Path, names: Callable[[str], bool]) -> list[Path]:
    """Remove the hidden files in ``folder`` that a killed writer on this machine left,
    whichever report they were of, where that writer's process has ended; the files
    removed. A hidden file that does not name its machine (made before provcat named it)
    is removed only when ``names`` accepts its report's file name (the report being
    written), as before."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _LEFTOVER.fullmatch(entry.name)
        if found is None:
            continue
        ours = found["host"] == _host() if found["host"] else names(found["name"])
        if not ours or _running(int(found["pid"])):
            continue  # another machine's (its pids say nothing here), or its writer runs
        try:
            if entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink()
                removed.append(Path(entry.path))
        except OSError:
            continue  # another writer removed it first, or it cannot be: left as it is
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process (or unknowable): leave its files be
    return True

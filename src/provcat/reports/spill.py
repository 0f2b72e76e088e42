"""A report's items kept on disk between being made and being written.

A report of a large catalogue is made a round of rows at a time but shown in an order known
only at the end (the reused-photo report: largest photo first; the duplicate-caption
report: most printed group first), so every item used to be held until it was written:
2,216 MB of clusters for 900,000 matched images of 10^6 (docs/scale.md, session 41).
:class:`Spill` takes each item as it is made, pickled, and :meth:`Spill.sorted` gives them
back as a sequence read one at a time in the order of their keys: what is held is a key and
two numbers an item.

The items are pickled into this process's own unnamed temporary file (``tempfile``'s folder,
``TMPDIR``), which nothing else can open and which is gone when the process ends, however
it ends; never a file from elsewhere. Up to :data:`IN_MEMORY` bytes of them stay in memory,
so a small report touches no file.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, Final, Generic, TypeVar, overload

from provcat.errors import CatalogueError

T = TypeVar("T")

#: Pickled bytes held in memory before the items move to a temporary file.
IN_MEMORY: Final = 32 * 1024 * 1024


def rounds(items: Iterable[T], size: Callable[[T], int], at_once: int) -> Iterator[list[T]]:
    """``items`` in rounds whose ``size`` adds up to about ``at_once`` (one larger item
    alone): what a report makes, and spills, a round of rows at a time."""
    taken: list[T] = []
    total = 0
    for item in items:
        taken.append(item)
        total += size(item)
        if total >= at_once:
            yield taken
            taken, total = [], 0
    if taken:
        yield taken


class Spill(Generic[T]):
    """Items added one at a time with a sort key; :meth:`sorted` gives them back."""

    def __init__(self, *, in_memory: int | None = None) -> None:
        self._in_memory = IN_MEMORY if in_memory is None else in_memory
        self._held: list[bytes] | None = []
        self._held_bytes = 0
        self._file: IO[bytes] | None = None
        self._end = 0
        self._index: list[tuple[Any, int, int]] = []

    def add(self, item: T, key: Any) -> None:
        """Keep ``item``, to be given back in the order of ``key`` (keys must compare)."""
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        if self._held is not None:
            self._index.append((key, len(self._held), len(data)))
            self._held.append(data)
            self._held_bytes += len(data)
            if self._held_bytes > self._in_memory:
                self._to_file()
            return
        self._write(data)
        self._index.append((key, self._end - len(data), len(data)))

    def _to_file(self) -> None:
        assert self._held is not None
        try:
            self._file = tempfile.TemporaryFile(prefix="provcat-report-")  # noqa: SIM115
        except OSError as exc:
            raise _failed(exc) from exc
        offsets = []
        for data in self._held:
            offsets.append(self._end)
            self._write(data)
        self._index = [(key, offsets[at], size) for key, at, size in self._index]
        self._held = None

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as exc:
            raise _failed(exc) from exc
        self._end += len(data)

    def __len__(self) -> int:
        return len(self._index)

    def sorted(self) -> Spilled[T]:
        """The items in the order of their keys (equal keys in the order added); the spill
        is emptied."""
        self._index.sort(key=_key)
        places = array("q", (at for _, at, _ in self._index))
        sizes = array("q", (size for _, _, size in self._index))
        self._index = []
        held, file = self._held, self._file
        self._held, self._file = [], None
        if file is not None:
            try:
                file.flush()  # a full disk may show only here: the last writes were buffered
            except OSError as exc:
                file.close()
                raise _failed(exc) from exc
        return Spilled(_Store(places, sizes, held, file))


def _failed(exc: OSError) -> CatalogueError:
    return CatalogueError(
        f"cannot keep the report's items in the temporary folder {tempfile.gettempdir()}: "
        f"{exc.strerror or exc} (TMPDIR names another folder; a reused-photo report's "
        "clusters take about 0.6 kB a member there)"
    )


def _key(entry: tuple[Any, int, int]) -> Any:
    return entry[0]


class _Store:
    """Where the spilled items are: their places and sizes in sorted order, and the pickles
    themselves (in memory, or the file)."""

    def __init__(
        self,
        places: array[int],
        sizes: array[int],
        held: list[bytes] | None,
        file: IO[bytes] | None,
    ) -> None:
        self.places = places
        self.sizes = sizes
        self.held = held
        self.file = file

    def load(self, at: int) -> Any:
        if self.held is not None:
            data = self.held[self.places[at]]
        else:
            if self.file is None:
                raise ValueError("the spilled items were let go (close() was called)")
            data = os.pread(self.file.fileno(), self.sizes[at], self.places[at])
        return pickle.loads(data)  # noqa: S301 -- written by this process, see the module


class Spilled(Sequence[T]):
    """Spilled items in order, each read back (unpickled) when it is asked for; a slice is
    another such sequence over the same items, read as it is iterated.

    Threads may read it at once (``os.pread``: no shared file position). :meth:`close`
    lets the temporary file go (for every slice of it too); so does the items' end.
    """

    def __init__(self, store: _Store, view: range | None = None) -> None:
        self._store = store
        self._view = range(len(store.places)) if view is None else view

    def __len__(self) -> int:
        return len(self._view)

    @overload
    def __getitem__(self, at: int) -> T: ...

    @overload
    def __getitem__(self, at: slice) -> Spilled[T]: ...

    def __getitem__(self, at: int | slice) -> T | Spilled[T]:
        if isinstance(at, slice):
            return Spilled(self._store, self._view[at])
        try:
            place = self._view[at]
        except IndexError:
            raise IndexError("spilled item index out of range") from None
        item: T = self._store.load(place)
        return item

    def __iter__(self) -> Iterator[T]:
        for place in self._view:
            yield self._store.load(place)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} spilled report items>"

    def close(self) -> None:
        """Let the temporary file go; reading an item after raises ValueError."""
        if self._store.file is not None:
            self._store.file.close()
            self._store.file = None

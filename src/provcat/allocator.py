"""How the process's C allocator keeps memory it frees: kept, for the next array.

glibc's allocator hands large freed blocks back to the kernel: blocks from 128 KiB up are
mapped and unmapped one by one (the threshold rises with what is freed, up to 32 MiB, but
then the top of the heap is given back whenever more than twice that is free there). The
next array of that size is mapped again, and each of its 4 KiB pages is faulted in and
zeroed by the kernel when first written. Look-ups and ingest allocate and free arrays of a
few hundred kilobytes to a few megabytes by the dozen (postings counted per image, distance
matrices between descriptors, pixels), so they paid for pages more than for arithmetic:
at 10^5 stored images one ranking of a look-up's postings took about 4,000 page faults, at
about 2.4 µs each on the machine it was measured on (docs/scale.md, session 19).

:func:`keep_freed_memory` asks glibc to serve blocks below :data:`MMAP_THRESHOLD` from its
heap and to give back the top of a heap only past :data:`TRIM_THRESHOLD` free: freed memory
stays in the process for the next allocation. A process's resident memory then stays near
its high-water mark between look-ups instead of falling back; what it holds at most does not
change.

It changes nothing where the C library is not glibc, nor where the user has set glibc's own
malloc settings (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``
or ``GLIBC_TUNABLES``), nor when ``PROVCAT_KEEP_FREED_MEMORY`` is ``0``.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from typing import Final

log = logging.getLogger(__name__)

#: Blocks up to this size come from the heap (glibc's own ceiling for the setting).
MMAP_THRESHOLD: Final = 32 << 20
#: Free memory at the top of a heap kept before it is given back.
TRIM_THRESHOLD: Final = 64 << 20
#: Set to ``0`` to leave the allocator as it is.
ENVIRONMENT: Final = "PROVCAT_KEEP_FREED_MEMORY"
#: glibc's own settings: where any is set, the user chose, and provcat leaves them alone.
GLIBC_SETTINGS: Final = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "GLIBC_TUNABLES",
)
# mallopt's parameter numbers (malloc.h).
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3


@functools.cache
def keep_freed_memory() -> bool:
    """Ask the C allocator to keep freed memory for reuse (the module's docstring), once per
    process (a second call returns the first one's answer). Returns whether provcat's
    settings were applied."""
    if os.environ.get(ENVIRONMENT, "").strip() == "0":
        return False
    if any(name in os.environ for name in GLIBC_SETTINGS):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # pragma: no cover - a process always has its own symbols on Linux
        return False
    mallopt = getattr(libc, "mallopt", None)
    # musl has mallopt too, and ignores it; only glibc names its version this way.
    if mallopt is None or getattr(libc, "gnu_get_libc_version", None) is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    kept = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not kept:
        log.debug("glibc refused the malloc settings; freed memory is given back as before")
    return kept

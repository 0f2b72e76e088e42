# The C extension's signatures (src/provcat/reuse/_postings.c); provcat.reuse.compiled wraps it.
from typing import Any

def locate(
    words: Any,
    fence: Any,
    fence_bits: int,
    counts: Any,
    starts: Any,
    stored: int,
    keys: Any,
    at: Any,
    hit: Any,
    found_counts: Any,
    found_starts: Any,
    found_lengths: Any,
    /,
) -> None: ...
def largest(ids: Any, starts: Any, lengths: Any, /) -> tuple[int, int]: ...
def tally(
    ids: Any,
    starts: Any,
    lengths: Any,
    weights: Any,
    patterns: Any,
    slots: Any | None,
    queries: int,
    counts: Any,
    scores: Any,
    /,
) -> None: ...
def mark(ids: Any, starts: Any, lengths: Any, present: Any, /) -> None: ...
def pairs(
    descriptors: Any,
    width: int,
    tables: int,
    bits: int,
    long_bits: int,
    long_key_bits: int,
    long_base: int,
    golden: int,
    short: Any,
    long: Any,
    /,
) -> None: ...
def among(values: Any, listed: Any, found: Any, /) -> None: ...
def spread(counts: Any, most: Any, histograms: Any, /) -> None: ...
def holding(counts: Any, least: Any, offsets: Any, found: Any, /) -> None: ...
def stage(
    shorts: list[Any],
    longs: list[Any],
    words: Any,
    fence: Any,
    fence_bits: int,
    counts: Any,
    starts: Any,
    stored: int,
    runs: list[Any],
    indexed: Any,
    met: Any,
    most: int,
    stop_max: int,
    budget: int,
    out_counts: Any,
    out_patterns: Any,
    out_starts: Any,
    out_lengths: Any,
    out_run_firsts: Any,
    out_run_counts: Any,
    out_learned: Any,
    /,
) -> tuple[int, int]: ...

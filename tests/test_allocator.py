"""provcat.allocator: freed memory kept for the next array, not faulted in afresh."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator

import pytest

from provcat import allocator

# Twenty arrays of 800 kB held at once, then freed, twenty times over (after one untimed
# round): the shape of a look-up's ranking, whose freed arrays outgrow glibc's trim threshold.
_CHURN = """
import resource, numpy as np
from provcat.allocator import keep_freed_memory
kept = keep_freed_memory()
def churn():
    for _ in range(20):
        held = [np.ones(100_000) for _ in range(20)]
        del held
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the settings are glibc's",
)


def _churn(**environment: str) -> tuple[bool, int]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in (allocator.ENVIRONMENT, *allocator.GLIBC_SETTINGS)
    }
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-c", _CHURN], env=env, capture_output=True, text=True, check=True
    )
    kept, faults = done.stdout.split()
    return kept == "True", int(faults)


@glibc
def test_freed_arrays_are_reused_without_page_faults() -> None:
    kept, faults = _churn()
    assert kept
    left_alone, faults_before = _churn(**{allocator.ENVIRONMENT: "0"})
    assert not left_alone
    # 400 arrays of 196 pages each were faulted in again without the settings.
    assert faults_before > 20_000
    assert faults < faults_before // 20


@glibc
def test_the_users_own_malloc_settings_are_left_alone() -> None:
    kept, _ = _churn(MALLOC_TRIM_THRESHOLD_="131072")
    assert not kept
    kept, _ = _churn(GLIBC_TUNABLES="glibc.malloc.trim_threshold=131072")
    assert not kept


@pytest.fixture
def undecided() -> Iterator[None]:
    """keep_freed_memory as if not yet called in this process, and so again afterwards."""
    allocator.keep_freed_memory.cache_clear()
    yield
    allocator.keep_freed_memory.cache_clear()


@pytest.mark.usefixtures("undecided")
def test_elsewhere_nothing_is_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux nothing is asked of the C library, and the answer is remembered."""
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    for name in (allocator.ENVIRONMENT, *allocator.GLIBC_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    assert allocator.keep_freed_memory() is False
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    assert allocator.keep_freed_memory() is False  # decided once per process

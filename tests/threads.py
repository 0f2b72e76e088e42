"""Running a test's work in several threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest


def at_once(work: Callable[[], None], count: int) -> list[BaseException]:
    """Run ``work`` in ``count`` threads, released together once all have started; the
    errors they raised (none when every run returned)."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            work()
        except BaseException as error:  # handed to the test, which reports it
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def slowed(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, seconds: float) -> None:
    """Make ``owner.name`` (a function, or a method of a class) wait ``seconds`` before it
    runs, so that threads doing it at once do meet."""
    real = getattr(owner, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        threading.Event().wait(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, slow)

"""One way to race: ``race(*calls, timeout=…)`` starts every call in a thread of its own, lets
them go at the same instant (a barrier), and returns their results in order. A call that fails
is reported as the test's failure (with its own traceback), its twins are released rather than
left waiting at the barrier, and nothing waits longer than ``timeout``: a race that hangs fails
with the threads' names instead of stalling the run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class RaceFailed(AssertionError):
    """A racer raised, or the race did not end within its timeout."""


def race(*calls: Callable[[], Any], timeout: float = 60.0) -> list[Any]:
    """Run ``calls`` at once; their results, in the order given."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    failures: list[tuple[int, BaseException]] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=timeout)
            results[index] = call()
        except BaseException as exc:  # reported below; the twins are not left waiting
            failures.append((index, exc))
            start.abort()

    threads = [
        threading.Thread(target=run, args=(n, call), name=f"racer-{n}", daemon=True)
        for n, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    if stuck:
        raise RaceFailed(f"still running after {timeout} s: {', '.join(stuck)}")
    real = [(n, exc) for n, exc in failures if not isinstance(exc, threading.BrokenBarrierError)]
    if real:
        index, exc = real[0]
        raise RaceFailed(f"racer {index} failed: {exc!r}") from exc
    return results

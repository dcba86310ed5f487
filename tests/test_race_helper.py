"""The race helper itself: results in order, a racer's failure reported (its twin released, not
left at the barrier), and a race that hangs failing within its timeout."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.race import RaceFailed, race


def test_results_come_back_in_the_order_given():
    assert race(lambda: 1, lambda: 2, lambda: 3) == [1, 2, 3]


def test_a_racer_that_fails_is_reported_and_releases_its_twins():
    def boom() -> None:
        raise ValueError("racer down")

    started = time.monotonic()
    with pytest.raises(RaceFailed, match=r"racer 1 failed: ValueError"):
        race(lambda: "fine", boom, timeout=10)
    assert time.monotonic() - started < 5


def test_a_race_that_hangs_fails_within_its_timeout():
    forever = threading.Event()
    started = time.monotonic()
    with pytest.raises(RaceFailed, match=r"still running after 0\.5 s: racer-0"):
        race(lambda: forever.wait(30), lambda: None, timeout=0.5)
    assert time.monotonic() - started < 5
    forever.set()

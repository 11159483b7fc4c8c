"""Pacing of looks where every look is a round trip: the learnt first look, and probes that a
polling waiter reads steadily or briskly."""

from __future__ import annotations

import random
import time
from pathlib import Path

from filebridge.wire.files import Doorbell
from filebridge.wire.pacing import FirstLook
from filebridge.wire.waiting import PollingWaiter


def test_the_first_look_settles_just_below_when_things_arrive() -> None:
    pace = FirstLook()
    rng = random.Random(7)
    arrivals = [0.0005 + rng.uniform(-0.0001, 0.0001) for _ in range(3000)]
    for arrival in arrivals:
        found = pace.delay >= arrival
        pace.learn(found, pace.delay if found else arrival)
    assert 0.0003 < pace.delay < 0.0006
    late = arrivals[-1000:]
    missed = sum(pace.delay < a for a in late) / len(late)
    assert 0.1 < missed < 0.6  # about one in three: below the typical arrival, not above most


def test_the_first_look_does_not_learn_from_what_came_late_for_its_own_reasons() -> None:
    pace = FirstLook(0.0002)
    for _ in range(100):
        pace.learn(False, 5.0)  # a slow handler: found seconds later
    assert pace.delay == 0.0002
    assert (pace.calls, pace.missed) == (100, 100)
    for _ in range(1000):
        pace.learn(False, 0.001)
    assert pace.delay == FirstLook.LONGEST


def _seen(waiter: PollingWaiter, watched: Path, timeout: float = 5.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(change.folder == watched for change in waiter.wait(0.01)):
            return time.monotonic()
    raise AssertionError(f"no change of {watched.name} seen in {timeout} s")


def test_a_steady_probe_keeps_its_interval_right_after_a_change(tmp_path: Path) -> None:
    steady, brisk = tmp_path / "wake.lock", tmp_path / "request.lock"
    bells = {path: Doorbell(path) for path in (steady, brisk)}
    for bell in bells.values():
        bell.ring(1)
    waiter = PollingWaiter()
    waiter.watch(steady, idle_interval=0.3, steady=True)
    waiter.watch(brisk, idle_interval=0.3)
    for n, path in enumerate((steady, brisk), start=2):
        bells[path].ring(n)
        _seen(waiter, path)
    # Both were just seen to change; both change again at once. The brisk probe is read again
    # within milliseconds; the steady one not before its interval is over.
    rung = time.monotonic()
    bells[steady].ring(10)
    bells[brisk].ring(11)
    brisk_seen = _seen(waiter, brisk)
    steady_seen = _seen(waiter, steady)
    assert brisk_seen < steady_seen
    assert steady_seen - rung > 0.15
    waiter.close()
    for bell in bells.values():
        bell.close()

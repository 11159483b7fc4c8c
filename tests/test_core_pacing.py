"""Pacing of looks where every look is a round trip: the learnt first look, and probes that a
polling waiter reads steadily or briskly."""

from __future__ import annotations

import random
import time
from pathlib import Path

from filebridge.wire.files import Doorbell
from filebridge.wire.pacing import FirstLook
from filebridge.wire.waiting import PollingWaiter
from filebridge.wire.waiting.base import Pace


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


def _seen_in_turn(waiter: PollingWaiter, watched: list[Path], timeout: float = 5.0
                  ) -> dict[Path, float]:
    """When each of ``watched`` was first reported changed."""
    seen: dict[Path, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(watched) and time.monotonic() < deadline:
        for change in waiter.wait(0.005):
            if change.folder in watched:
                seen.setdefault(change.folder, time.monotonic())
    missing = [path.name for path in watched if path not in seen]
    assert not missing, f"no change of {missing} seen in {timeout} s"
    return seen


def test_each_pace_looks_as_its_name_says(tmp_path: Path) -> None:
    eager, on_change, steady = (tmp_path / f"{name}.lock"
                                for name in ("eager", "on_change", "steady"))
    paces: dict[Path, Pace] = {eager: "eager", on_change: "on_change", steady: "steady"}
    bells = {path: Doorbell(path) for path in paces}
    for bell in bells.values():
        bell.ring(1)
    waiter = PollingWaiter()
    for path, pace in paces.items():
        waiter.watch(path, idle_interval=0.3, pace=pace)
    assert waiter.wait(0) == []  # the first look, at once for every pace
    for n in (2, 3):
        rung = time.monotonic()
        for bell in bells.values():
            bell.ring(n)
        seen = _seen_in_turn(waiter, list(paces))
        if n == 2:  # nothing changed yet: only the eager probe looks often
            assert seen[eager] < min(seen[on_change], seen[steady])
            assert seen[on_change] - rung > 0.15
        else:  # each just changed: all but the steady probe look often
            assert max(seen[eager], seen[on_change]) < seen[steady]
        assert seen[steady] - rung > 0.15
    waiter.close()
    for bell in bells.values():
        bell.close()

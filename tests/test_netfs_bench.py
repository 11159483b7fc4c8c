"""`filebridge bench netfs`'s parts run end to end over the mount (no timing is asserted)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from netfs_support import MountedFolder, sshfs  # noqa: F401 - a fixture

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.netfs, pytest.mark.timeout(240)]


def test_bench_parts_measure_the_mount_calls_and_a_burst(sshfs: MountedFolder) -> None:  # noqa: F811
    if str(REPO) not in sys.path:  # `benchmarks` is a folder of the checkout, not installed
        sys.path.insert(0, str(REPO))
    bench = importlib.import_module("benchmarks.bench_netfs")
    real, mounted = sshfs.fresh("bench")
    baseline = bench.mount_round_trips(mounted, real, 20)
    assert len(baseline) == 20 and min(baseline) > 0
    for part in ("calls", "burst"):
        (real / part).mkdir()
    calls = bench.calls(real / "calls", mounted / "calls", 20, 60.0)
    assert calls["calls"] >= 1
    assert 0 < calls["call_p50_ms"] <= calls["call_p99_ms"] <= calls["call_max_ms"]
    assert calls["first_call_ms"] > 0
    # the worker is on the mount: it paces its looks, and counts the first ones that missed
    assert 0 <= calls["first_looks_missed"] <= 1
    burst = bench.burst(real / "burst", mounted / "burst", total=200)
    assert (burst["burst_lost"], burst["burst_duplicated"]) == (0, 0)

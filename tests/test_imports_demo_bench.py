"""The remote-imports demo step and benchmark run end to end (no timing is asserted)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from filebridge.demo import DemoContext
from filebridge.host import Host
from filebridge.host.source_demo import demo_step

REPO = Path(__file__).resolve().parents[1]


def test_demo_step_shows_a_traceback_with_lines_of_the_local_package(tmp_path: Path) -> None:
    said: list[str] = []
    workdir = tmp_path / "work"
    workdir.mkdir()
    with Host(tmp_path / "root") as host:
        demo_step(DemoContext(host=host, root=tmp_path / "root", workdir=workdir,
                              say=said.append))
    shown = "\n".join(said)
    assert f'File "{workdir / "demo_shop" / "pricing.py"}", line 6, in total' in shown
    assert "raise ValueError(f'a negative quantity: {quantity}')" in shown


def test_benchmark_fetches_each_module_once_and_nothing_the_second_time(tmp_path: Path) -> None:
    if str(REPO) not in sys.path:  # `benchmarks` is a folder of the checkout, not installed
        sys.path.insert(0, str(REPO))
    bench = importlib.import_module("benchmarks.bench_imports")
    result = bench.one_round(tmp_path / "round", timeout=30.0)
    assert result["generated"] == 200 and result["modules"] == 200
    assert result["requests_first"] == 200
    assert result["requests_second"] == 0
    assert {"bridge_ms", "local_ms", "local_cached_ms", "bridge_second_ms"} <= set(result)

"""The remote-imports demo step and benchmark run end to end (no timing is asserted)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from filebridge.demo import DemoContext
from filebridge.host import Host
from filebridge.host.imports.demo import demo_step

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


def test_benchmark_imports_a_fresh_process_with_a_constant_number_of_requests(
        tmp_path: Path) -> None:
    if str(REPO) not in sys.path:  # `benchmarks` is a folder of the checkout, not installed
        sys.path.insert(0, str(REPO))
    bench = importlib.import_module("benchmarks.bench_imports")
    result = bench.measure(200, 1, tmp_path / "round", poll=False)
    assert result["modules"] == 200
    # Cold cache: one look at what changed and one request for the package; warm: the look.
    assert (result["requests_cold"], result["requests_warm"]) == (2, 1)
    assert {"local_cold_ms", "local_warm_ms", "bridge_cold_ms", "bridge_warm_ms",
            "save_to_worker_ms", "save_to_index_ms"} <= set(result)

"""The demo step and the benchmark run end to end (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

from filebridge.notebooks.demo import demo_step

REPO = Path(__file__).resolve().parents[1]


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_notebooks", REPO / "benchmarks" / "bench_notebooks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_demo_step_edits_a_notebook_through_its_shadow(tmp_path: Path) -> None:
    said: list[str] = []
    demo_step(tmp_path, said.append)
    assert any("saved by rename" in line for line in said)
    assert "display(orders)" in (tmp_path / "workspace" / "daily_sales.py").read_text()


def test_benchmark_reports_both_directions_and_the_jupytext_baseline() -> None:
    bench = load_benchmark()
    notebook = bench.generate_notebook(1_000_000)
    assert 950_000 < len(notebook) < 1_100_000
    assert notebook.count("# COMMAND ----------") > 2000
    results = bench.run(size_bytes=20_000)
    for key in ("to_ipynb_ms", "to_source_ms", "jupytext_to_ipynb_ms", "jupytext_to_source_ms",
                "to_ipynb_ratio", "to_source_ratio"):
        assert results[key] > 0


def test_benchmark_measures_save_latency_and_a_large_open_with_progress() -> None:
    bench = load_benchmark()
    results = bench.run_shadows((1, 3), large_bytes=1_200_000, saves=2)
    assert [row["shadows"] for row in results["save_latency"]] == [1, 3]
    for row in results["save_latency"]:
        assert row["save_p50_ms"] > 0 and row["sync_all_ms"] > 0
    assert results["large_bytes"] > 1_000_000  # over the progress threshold
    assert results["large_progress_events"] >= 5 and results["large_progress_last"] == 1.0
    assert "open shadows" in bench._shadow_table(results)


def test_benchmark_opens_and_saves_through_a_real_jupyter_server() -> None:
    bench = load_benchmark()
    results = bench.jupyter_round_trip(50_000, repeats=1)
    assert results["jupyter_py_round_trip_ms"] > 0
    assert results["jupyter_ipynb_round_trip_ms"] > 0


def test_benchmark_opens_edits_and_saves_in_a_real_jupyterlab() -> None:
    bench = load_benchmark()
    # Its own thread: the session's `browser` fixture (tests/conftest.py), if an earlier test
    # in this process started it, keeps an event loop running in the main thread, where
    # playwright's sync API refuses to start a second one.
    with ThreadPoolExecutor(1) as pool:
        results = pool.submit(bench.jupyterlab_round_trip, 5_000, repeats=1).result()
    assert results, "no Chromium found"
    for side in ("py", "ipynb"):
        assert 0 < results[f"jupyterlab_{side}_open_ms"] < results[
            f"jupyterlab_{side}_open_edit_save_ms"]
        assert 0 < results[f"jupyterlab_{side}_save_ms"] < results[
            f"jupyterlab_{side}_open_edit_save_ms"]

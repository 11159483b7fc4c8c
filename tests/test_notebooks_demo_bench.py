"""The demo step and the benchmark run end to end (no timing is asserted); the benchmark's
JupyterLab part runs in test_notebooks_jupyterlab_install.py, in that module's lab."""

from __future__ import annotations

from pathlib import Path

from notebooks_support import load_benchmark

from filebridge.notebooks.demo import demo_step


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

"""Benchmark: Databricks notebooks converted, opened as shadows and saved back.

1. Conversion: a 1 MB notebook to .ipynb and back, against jupytext in the same run. jupytext's
   ``py:percent`` is the baseline because it is what people use today to edit notebooks as
   text. Both sides do the same job on the same cells. jupytext's ipynb writer also validates
   against the schema; the ``*_parse_only_ms`` keys time its text side alone, for a fairer read.
2. Save-to-source latency with 1, 100 and 1,000 open shadows: a real watcher thread, a shadow
   saved by rename, the time until the ``saved`` event (the source is written by then). The
   same-run baseline is one sync of every shadow, which is what each event cost before events
   were routed to their own shadow.
3. Opening a 10 MB notebook as a shadow with progress events, against converting it alone.
4. When jupyter_server is installed (``--no-jupyter`` skips it): a Jupyter Server running
   ``DatabricksContentsManager`` opens and saves the 1 MB ``.py`` notebook through its contents
   API (what JupyterLab does on open and Ctrl+S), against the same server opening and saving
   the same notebook as ``.ipynb``.
5. When JupyterLab, Playwright and Chromium are there (``--no-jupyter`` skips it): a real
   JupyterLab set up by ``filebridge notebook jupyterlab --install`` in private Jupyter folders,
   driven in Chromium as a user does: double-click a 50 kB Databricks ``.py`` notebook in the
   file browser until its cells show, type into a code cell, Ctrl+S until the file is written.
   The same-run baseline is the same notebook as ``.ipynb``, opened, edited and saved the same
   way in the same lab.

Run: ``python benchmarks/bench_notebooks.py [--json] [--full]`` (``filebridge bench notebooks``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import filebridge
from filebridge.notebooks import (
    ShadowSession,
    SyncEvent,
    dumps_ipynb,
    loads_ipynb,
    to_ipynb,
    to_source,
    watch_session,
)
from filebridge.testing.jupyterlab import (
    WAIT,
    InstalledJupyterLab,
    double_click,
    notebook_cells,
    type_at_end_of_cell,
)

__all__ = ["generate_notebook", "main", "run"]

_TARGET_BYTES = 1_000_000


def generate_notebook(size_bytes: int = _TARGET_BYTES, seed: int = 7) -> str:
    """A Databricks ``.py`` notebook of about ``size_bytes``, with the usual mix of cells."""
    rng = random.Random(seed)
    cells: list[str] = []
    size = 0
    n = 0
    while size < size_bytes:
        n += 1
        kind = rng.random()
        if kind < 0.45:
            lines = [f"df_{n} = spark.table('catalog.schema.table_{n % 97}')"]
            lines += [f"df_{n} = df_{n}.filter(col('x{i}') > {rng.randint(0, 99)})"
                      for i in range(rng.randint(1, 6))]
            lines.append(f"display(df_{n})")
            cell = "\n".join(lines)
        elif kind < 0.65:
            body = [f"# MAGIC ## Step {n}", "# MAGIC"]
            body += [f"# MAGIC Paragraph {i} explains step {n} in a few words."
                     for i in range(rng.randint(1, 4))]
            cell = "\n".join(["# MAGIC %md", *body])
        elif kind < 0.85:
            cell = "\n".join([f"# DBTITLE 1,Query {n}", "# MAGIC %sql", "# MAGIC SELECT a, b",
                              f"# MAGIC FROM t_{n}", f"# MAGIC WHERE c > {n}"])
        elif kind < 0.92:
            cell = f"# MAGIC %pip install package-{n % 13}=={n % 5}.0"
        else:
            cell = f"# MAGIC %run ./helpers/setup_{n % 7}"
        cells.append(cell)
        size += len(cell) + 25
    return "# Databricks notebook source\n" + "\n\n# COMMAND ----------\n\n".join(cells) + "\n"


def _best_ms(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def run(full: bool = False, size_bytes: int = _TARGET_BYTES) -> dict[str, Any]:
    """Measure both directions for filebridge and jupytext; best of 3 runs (7 with ``full``)."""
    import jupytext
    import nbformat

    repeats = 7 if full else 3
    source = generate_notebook(size_bytes)
    ipynb_text = dumps_ipynb(to_ipynb(source, "python"))
    if to_source(loads_ipynb(ipynb_text)).text != source:
        raise RuntimeError("round trip of the benchmark notebook is not exact")
    # The same cells in jupytext's own text format, made once outside the timings.
    node = nbformat.reads(ipynb_text, as_version=4)
    percent_text = jupytext.writes(node, fmt="py:percent")

    results: dict[str, Any] = {
        "source_bytes": len(source.encode()),
        "ipynb_bytes": len(ipynb_text.encode()),
        "cells": len(node.cells),
        "repeats": repeats,
        "to_ipynb_ms": _best_ms(lambda: dumps_ipynb(to_ipynb(source, "python")), repeats),
        "to_source_ms": _best_ms(lambda: to_source(loads_ipynb(ipynb_text)).text, repeats),
        "jupytext_to_ipynb_ms": _best_ms(
            lambda: jupytext.writes(jupytext.reads(percent_text, fmt="py:percent"), fmt="ipynb"),
            repeats,
        ),
        "jupytext_to_source_ms": _best_ms(
            lambda: jupytext.writes(jupytext.reads(ipynb_text, fmt="ipynb"), fmt="py:percent"),
            repeats,
        ),
        "jupytext_parse_only_ms": _best_ms(
            lambda: jupytext.reads(percent_text, fmt="py:percent"), repeats
        ),
    }
    parsed = jupytext.reads(percent_text, fmt="py:percent")
    results["jupytext_write_only_ms"] = _best_ms(
        lambda: jupytext.writes(parsed, fmt="py:percent"), repeats
    )
    results["to_ipynb_ratio"] = results["jupytext_to_ipynb_ms"] / results["to_ipynb_ms"]
    results["to_source_ratio"] = results["jupytext_to_source_ms"] / results["to_source_ms"]
    return results


_SMALL_NOTEBOOK = (
    "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Notebook {n}\n\n"
    "# COMMAND ----------\n\ndf = spark.table('t_{n}')\n\n# COMMAND ----------\n\n"
    "# MAGIC %sql\n# MAGIC SELECT {n}\n"
)


def save_latency(shadows: int, saves: int = 15) -> dict[str, Any]:
    """p50 / p90 of save-to-source with ``shadows`` open, and the sync-everything baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        session = ShadowSession("bench", temp_dir=Path(tmp) / "tmp")
        paths = []
        for n in range(shadows):
            folder = workspace / f"team_{n % 20}"
            folder.mkdir(exist_ok=True)
            source = folder / f"notebook_{n}.py"
            source.write_text(_SMALL_NOTEBOOK.format(n=n))
            paths.append((source, Path(session.open(source, workspace=workspace).shadow)))
        saved: queue.Queue[float] = queue.Queue()
        stop = threading.Event()

        def on_event(event: SyncEvent) -> None:
            if event.kind == "saved":
                saved.put(time.perf_counter())

        watcher = threading.Thread(
            target=watch_session, args=(session, on_event),
            kwargs={"stop_event": stop, "recheck_ms": 60_000}, daemon=True,
        )
        watcher.start()
        time.sleep(1.0)  # let the watcher register its folders
        latencies = []
        try:
            for i in range(saves):
                source, shadow = paths[(i * 7919) % shadows]
                notebook = json.loads(shadow.read_text())
                notebook["cells"][1]["source"] = [f"df = spark.table('edited_{i}')"]
                temporary = shadow.with_name(shadow.name + ".tmp~")
                temporary.write_text(json.dumps(notebook, indent=1))
                start = time.perf_counter()
                os.replace(temporary, shadow)
                latencies.append((saved.get(timeout=30) - start) * 1000)
                if f"edited_{i}" not in source.read_text():
                    raise RuntimeError("the save did not reach the source")
                time.sleep(0.1)
        finally:
            stop.set()
            watcher.join(10)
        baseline = _best_ms(session.sync, 3)
    latencies.sort()
    return {
        "shadows": shadows,
        "saves": saves,
        "save_p50_ms": statistics.median(latencies),
        "save_p90_ms": latencies[int(0.9 * (len(latencies) - 1))],
        "sync_all_ms": baseline,
    }


def open_large(size_bytes: int = 10_000_000) -> dict[str, Any]:
    """Open a large notebook as a shadow with progress events, against converting it alone."""
    source_text = generate_notebook(size_bytes, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "large.py"
        source.write_text(source_text)
        convert_ms = _best_ms(lambda: dumps_ipynb(to_ipynb(source_text, "python")), 1)
        fractions: list[float] = []
        session = ShadowSession("bench-large", temp_dir=Path(tmp) / "tmp")
        start = time.perf_counter()
        event = session.open(source, workspace=tmp,
                             progress=lambda e: fractions.append(e.progress or 0.0))
        open_ms = (time.perf_counter() - start) * 1000
        if loads_ipynb(Path(event.shadow).read_bytes())["nbformat"] != 4:
            raise RuntimeError("the large shadow is not a notebook")
    return {
        "large_bytes": len(source_text.encode()),
        "large_open_ms": open_ms,
        "large_convert_only_ms": convert_ms,
        "large_progress_events": len(fractions),
        "large_progress_last": fractions[-1] if fractions else 0.0,
    }


def jupyter_round_trip(size_bytes: int = _TARGET_BYTES, repeats: int = 3) -> dict[str, Any]:
    """Open + save through a real Jupyter Server: the .py notebook against the same .ipynb."""
    import socket
    import subprocess
    import urllib.error
    import urllib.request

    token = "bench"
    source_text = generate_notebook(size_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "work"
        root.mkdir()
        (root / "big.py").write_text(source_text)
        (root / "big.ipynb").write_text(dumps_ipynb(to_ipynb(source_text, "python")))
        config = Path(tmp) / "config"
        config.mkdir()
        (config / "jupyter_server_config.json").write_text(json.dumps(
            {"ServerApp": {"jpserver_extensions": {"jupyterlab_jupytext": False}}}))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        # The server imports this very filebridge, installed or not.
        package_root = str(Path(filebridge.__file__).resolve().parents[1])
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": python_path, "JUPYTER_CONFIG_DIR": str(config),
               "JUPYTER_DATA_DIR": str(Path(tmp) / "data"),
               "JUPYTER_RUNTIME_DIR": str(Path(tmp) / "runtime")}
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", "--allow-root", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={root}", "--ServerApp.contents_manager_class="
             "filebridge.notebooks.jupyter.DatabricksContentsManager"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def call(method: str, path: str, body: Any = None) -> Any:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/contents/{path}", method=method,
                data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": f"token {token}"},
            )
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.loads(answer.read())

        def round_trip(name: str) -> None:
            model = call("GET", f"{name}?type=notebook&content=1")
            call("PUT", name, {"type": "notebook", "format": "json",
                               "content": model["content"]})

        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    call("GET", "")
                    break
                except (urllib.error.URLError, ConnectionError):
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("Jupyter Server did not start") from None
                    time.sleep(0.3)
            ours = _best_ms(lambda: round_trip("big.py"), repeats)
            if (root / "big.py").read_text() != source_text:
                raise RuntimeError("the Jupyter save of the .py notebook is not exact")
            baseline = _best_ms(lambda: round_trip("big.ipynb"), repeats)
        finally:
            server.terminate()
            server.wait(30)
    return {"jupyter_py_round_trip_ms": ours, "jupyter_ipynb_round_trip_ms": baseline}


def jupyterlab_round_trip(size_bytes: int = 50_000, repeats: int = 3, *,
                          lab: Optional[InstalledJupyterLab] = None,
                          browser: Any = None) -> dict[str, Any]:
    """Double-click, edit, Ctrl+S in a real JupyterLab: the .py notebook against the .ipynb.

    ``lab`` (running, filebridge installed) and ``browser`` (Playwright's), given together:
    used instead of starting both; the two files are written into the lab's folder."""
    import shutil

    from playwright.sync_api import sync_playwright

    if (lab is None) != (browser is None):
        raise ValueError("give both a running lab and a browser, or neither")
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None and browser_path is None:
        return {}
    source_text = generate_notebook(size_bytes)
    notebook = to_ipynb(source_text, "python")
    notebook["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                          "language": "python"}

    def measure_both(lab: InstalledJupyterLab, browser: Any) -> dict[str, Any]:
        (lab.root / "bench.py").write_text(source_text)
        (lab.root / "bench.ipynb").write_text(dumps_ipynb(notebook))
        page = browser.new_page()
        try:
            page.set_default_timeout(WAIT * 1000)
            py_open, py_save, py_total = _best_round_trip(page, lab, "bench.py", repeats)
            ipynb_open, ipynb_save, ipynb_total = _best_round_trip(page, lab, "bench.ipynb",
                                                                   repeats)
        finally:
            page.close()
        return {"jupyterlab_bytes": len(source_text.encode()), "jupyterlab_repeats": repeats,
                "jupyterlab_py_open_ms": py_open, "jupyterlab_py_save_ms": py_save,
                "jupyterlab_py_open_edit_save_ms": py_total,
                "jupyterlab_ipynb_open_ms": ipynb_open, "jupyterlab_ipynb_save_ms": ipynb_save,
                "jupyterlab_ipynb_open_edit_save_ms": ipynb_total}

    if lab is not None:
        return measure_both(lab, browser)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "work"
        root.mkdir()
        with InstalledJupyterLab(root, Path(tmp) / "state") as started, \
                sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=browser_path)
            try:
                return measure_both(started, launched)
            finally:
                launched.close()


def _best_round_trip(page: Any, lab: InstalledJupyterLab, name: str,
                     repeats: int) -> tuple[float, float, float]:
    """The fastest of ``repeats`` round trips of ``name``, each measure on its own."""
    runs = [_round_trip(page, lab, name, number) for number in range(repeats)]
    open_ms, save_ms, total_ms = (min(values) for values in zip(*runs))
    return open_ms, save_ms, total_ms


def _round_trip(page: Any, lab: InstalledJupyterLab, name: str,
                number: int) -> tuple[float, float, float]:
    """Milliseconds from double-click to cells shown, from Ctrl+S to the file written, and
    from double-click to written (typing included), in a freshly loaded lab."""
    path = lab.root / name
    page.goto(lab.page_url())
    page.locator(".jp-DirListing-itemText", has_text=name).first.wait_for()
    start = time.perf_counter()
    double_click(page, name)
    cells = notebook_cells(page, name)
    code = cells.locator(".cm-content").first
    code.wait_for()
    opened = time.perf_counter()
    type_at_end_of_cell(page, code.locator("xpath=ancestor::div[contains(@class,"
                                           "'jp-CodeCell')][1]"), f"  # edit {number}")
    save_pressed = time.perf_counter()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + WAIT
    while f"# edit {number}" not in path.read_text(encoding="utf-8"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the edit of {name} was not saved")
        time.sleep(0.005)
    saved = time.perf_counter()
    return ((opened - start) * 1000, (saved - save_pressed) * 1000, (saved - start) * 1000)


def run_shadows(counts: tuple[int, ...] = (1, 100, 1000), large_bytes: int = 10_000_000,
                saves: int = 15) -> dict[str, Any]:
    """Save-back latency at each shadow count, and the large-notebook open."""
    rows = [save_latency(count, saves) for count in counts]
    return {"save_latency": rows, **open_large(large_bytes)}


def _table(results: dict[str, Any]) -> str:
    rows = [
        ("source -> .ipynb", results["to_ipynb_ms"], results["jupytext_to_ipynb_ms"],
         results["jupytext_parse_only_ms"]),
        (".ipynb -> source", results["to_source_ms"], results["jupytext_to_source_ms"],
         results["jupytext_write_only_ms"]),
    ]
    head = (f"{results['source_bytes'] / 1e6:.2f} MB source, {results['cells']} cells, "
            f"best of {results['repeats']}")
    lines = [head, f"{'direction':<18}{'filebridge':>12}{'jupytext':>12}{'speed-up':>10}"
             f"{'jupytext text side only':>26}"]
    for name, ours, theirs, text_only in rows:
        lines.append(f"{name:<18}{ours:>10.1f}ms{theirs:>10.1f}ms{theirs / ours:>9.1f}x"
                     f"{text_only:>24.1f}ms")
    return "\n".join(lines)


def _shadow_table(results: dict[str, Any]) -> str:
    lines = [f"{'open shadows':<14}{'save p50':>10}{'save p90':>10}"
             f"{'baseline: sync all':>20}{'ratio':>8}"]
    for row in results["save_latency"]:
        lines.append(f"{row['shadows']:<14}{row['save_p50_ms']:>8.1f}ms{row['save_p90_ms']:>8.1f}ms"
                     f"{row['sync_all_ms']:>18.1f}ms"
                     f"{row['sync_all_ms'] / row['save_p50_ms']:>7.1f}x")
    lines.append(
        f"open {results['large_bytes'] / 1e6:.1f} MB as a shadow: {results['large_open_ms']:.0f}ms"
        f" with {results['large_progress_events']} progress events (converting alone: "
        f"{results['large_convert_only_ms']:.0f}ms, ratio "
        f"{results['large_open_ms'] / results['large_convert_only_ms']:.2f})"
    )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--full", action="store_true", help="more repeats")
    parser.add_argument("--small", action="store_true",
                        help="10 and 50 shadows and a 2 MB notebook (a quick check)")
    parser.add_argument("--no-jupyter", action="store_true",
                        help="skip opening and saving through a real Jupyter Server")
    args = parser.parse_args(argv)
    results = run(full=args.full)
    shadows = (run_shadows((10, 50), 2_000_000, saves=5) if args.small
               else run_shadows(saves=30 if args.full else 15))
    with_jupyter = not args.no_jupyter and importlib.util.find_spec("jupyter_server") is not None
    jupyter = jupyter_round_trip() if with_jupyter else {}
    with_lab = with_jupyter and all(importlib.util.find_spec(name) is not None
                                    for name in ("jupyterlab", "playwright"))
    if with_lab:
        jupyter.update(jupyterlab_round_trip())
    if args.json:
        print(json.dumps({**results, **shadows, **jupyter}, indent=2))
        return 0
    print(_table(results))
    print(_shadow_table(shadows))
    if jupyter:
        ours, theirs = jupyter["jupyter_py_round_trip_ms"], jupyter["jupyter_ipynb_round_trip_ms"]
        print(f"Jupyter Server open + save of the 1 MB notebook: .py {ours:.0f}ms, same "
              f"notebook as .ipynb {theirs:.0f}ms (ratio {ours / theirs:.2f})")
    if "jupyterlab_py_open_edit_save_ms" in jupyter:
        print(f"JupyterLab in Chromium, a {jupyter['jupyterlab_bytes'] / 1e3:.0f} kB notebook "
              f"(best of {jupyter['jupyterlab_repeats']}):")
        print(f"{'':<34}{'.py':>9}{'.ipynb':>9}{'ratio':>7}")
        for label, key in (("double-click to cells shown", "open"),
                           ("Ctrl+S to file written", "save"),
                           ("open + type an edit + save", "open_edit_save")):
            ours = jupyter[f"jupyterlab_py_{key}_ms"]
            theirs = jupyter[f"jupyterlab_ipynb_{key}_ms"]
            print(f"{label:<34}{ours:>7.0f}ms{theirs:>7.0f}ms{ours / theirs:>7.2f}")
    elif with_lab:
        print("JupyterLab round trip skipped: no Chromium found")
    return 0


if __name__ == "__main__":
    sys.exit(main())

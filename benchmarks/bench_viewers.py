"""Viewers, measured in one run against baselines from the same run.

Tables (a 10^6 x 6 pandas frame: int, float with NaN, float, text, datetime, category), through
a real host, its web page's API (real HTTP) and a live worker process:

- ``first_rows_ms``: from the worker calling ``dataview`` to the page's API answering the first
  rectangle (100 rows, all columns). Baseline: the one-document way (vscode-R's): the worker
  writes the whole table as one JSON document and the host parses it before showing a row.
  Split into: ``dataview``'s return (the schema and the first page written, the host told),
  ``first_page_encode_ms`` (the first page alone), ``listed_after_return_ms`` (the host handled
  the request and the page's API lists the view, polled every 2 ms) and ``first_fetch_ms``
  (the page's request for the rows, answered from the first page on disk).
- ``worker_blocked_ms``: how long ``dataview`` held the worker's caller (the columns are then
  written on a thread; ``snapshot_complete_ms`` says when the last one was on disk).
- ``sort_ms`` / ``filter_ms`` / ``profile_ms``: the page asking for a window sorted by one float
  column, filtered by a substring of the text column, and a column profile (live worker).
  Baselines in the same worker: pandas' own ``sort_values``, ``str.contains`` and
  ``describe()`` + ``np.histogram`` of the same frame.
- ``scroll_ms``: the rows at 900,000 once the sort is in force (what a scroll asks for).
- the same sort / filter / profile answered by the host from the snapshot files (numpy engine,
  and the plain Python engine on a 10^5-row table for the record).
- ``host_rss_growth_mb``: what opening a snapshot and serving a far window adds to the host,
  for 10^5 and 10^6 rows (it should not grow with rows).
- ``plot_ms``: from ``plt.show()`` in the worker to the new plot being served by the page.
  Baseline: rendering an identical fresh figure to PNG bytes in the worker (``savefig``).

R's figures (a 1e6 x 4 data.frame through ``View()``, and vscode-R's legacy jsonlite path
beside it) are measured in the same run by ``bench r_views`` (``--no-r`` skips them).

Worker and host timestamps are compared on one machine's clock (time.time()).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

from benchmarks._stats import print_report

REPO = Path(__file__).resolve().parents[1]

TABLE_WORKER = """
import sys, time, json
import numpy as np, pandas as pd
from filebridge.worker import viewers
n = int(sys.argv[1])
rng = np.random.default_rng(1)
y = rng.normal(size=n)
y[::50] = np.nan
df = pd.DataFrame({"i": np.arange(n), "x": rng.random(n), "y": y,
                   "s": rng.choice(["alpha", "beta", "gamma", "delta"], n),
                   "d": pd.Timestamp("2024-01-01", tz="Europe/Paris")
                        + pd.to_timedelta(np.arange(n), "s"),
                   "k": pd.Categorical(rng.choice(["p", "q", "r"], n))})
mode = sys.argv[2]
import filebridge.worker
filebridge.worker.connect()
filebridge.worker.call("echo", timeout=60)  # a session in use: the host knows it already
if mode == "document":
    started = time.time()
    with open(sys.argv[3], "w") as f:
        f.write(df.reset_index().to_json(orient="records"))
    print(json.dumps({"started": started}), flush=True)
    sys.exit(0)
from filebridge.worker import table_writer
write_head = table_writer._write_head
head_ms = []

def timed_head(*args):
    t = time.perf_counter()
    try:
        return write_head(*args)
    finally:
        head_ms.append((time.perf_counter() - t) * 1000)

table_writer._write_head = timed_head
started = time.time()
t = time.perf_counter()
viewers.dataview(df, title="bench")
blocked = (time.perf_counter() - t) * 1000
print(json.dumps({"started": started, "blocked_ms": blocked, "announced": time.time(),
                  "head_ms": head_ms[0] if head_ms else None}), flush=True)
for line in sys.stdin:
    if line.strip() != "pandas":
        break
    t = time.perf_counter()
    df.sort_values("x", kind="stable")
    sort_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    df[df["s"].str.contains("bet", regex=False)]
    filter_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    df["y"].describe()
    np.histogram(df["y"].dropna(), bins=20)
    profile_ms = (time.perf_counter() - t) * 1000
    print(json.dumps({"sort_ms": sort_ms, "filter_ms": filter_ms, "profile_ms": profile_ms}),
          flush=True)
"""

PLOT_WORKER = """
import sys, time, json, io
import matplotlib
matplotlib.use("module://filebridge.worker.mpl_backend")
import matplotlib.pyplot as plt
from filebridge.worker import viewers
viewers.dataview([{"warm": 1}])
for line in sys.stdin:
    n = int(line)
    values = [((i * n) % 17) for i in range(100)]
    plt.plot(range(100), values)
    t = time.perf_counter()
    plt.gcf().savefig(io.BytesIO(), format="png")
    render_ms = (time.perf_counter() - t) * 1000
    plt.close("all")
    plt.plot(range(100), values)
    started = time.time()
    plt.show()
    print(json.dumps({"started": started, "render_ms": render_ms}), flush=True)
"""


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _env(root: Path, session: str) -> dict[str, str]:
    return {**os.environ, "FILEBRIDGE_ROOT": str(root),
            "FILEBRIDGE_SESSION": str(root / "sessions" / session),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def _ask(base: str, session: str, view: str, command: str, args: dict[str, Any]) -> Any:
    query = urllib.parse.urlencode({"q": json.dumps(args)})
    return _get(f"{base}api/sessions/{session}/tables/{view}/{command}?{query}")


def _first_rows(base: str, session: str, deadline: float) -> tuple[float, str, float, float]:
    """Poll the page's API until a table of ``session`` answers its first rows; (time, view,
    when the page first listed the view, how long the answering request took)."""
    listed = 0.0
    while time.monotonic() < deadline:
        try:
            views = _get(f"{base}api/sessions/{session}")["views"]
        except OSError:
            views = []
        tables = [v for v in views if v["kind"] == "table"]
        if tables:
            listed = listed or time.time()
            asked = time.perf_counter()
            try:
                answer = _ask(base, session, tables[0]["id"], "rows", {"start": 0, "count": 100})
            except urllib.error.HTTPError:
                answer = {"rows": []}
            if answer["rows"]:
                return (time.time(), tables[0]["id"], listed,
                        (time.perf_counter() - asked) * 1000)
        time.sleep(0.002)
    raise TimeoutError("the first rows were never served")


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    value = fn()
    return (time.perf_counter() - t) * 1000, value


SORT = {"sort": [{"column": 2, "descending": False}]}
FILTER = {"filters": [{"column": 4, "op": "contains", "value": "bet"}]}


def measure_dataview(base: str, root: Path, rows: int) -> dict[str, Any]:
    session = f"table{rows}"
    worker = subprocess.Popen([sys.executable, "-c", TABLE_WORKER, str(rows), "filebridge"],
                              env=_env(root, session), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None and worker.stdin is not None
    try:
        served, view, listed, fetch_ms = _first_rows(base, session, time.monotonic() + 120)
        sent = json.loads(worker.stdout.readline())
        out: dict[str, Any] = {"first_rows_ms": (served - sent["started"]) * 1000,
                               "worker_blocked_ms": sent["blocked_ms"],
                               "first_page_encode_ms": sent["head_ms"],
                               "listed_after_return_ms": (listed - sent["announced"]) * 1000,
                               "first_fetch_ms": fetch_ms}
        folder = root / "sessions" / session / "views" / view
        deadline = time.monotonic() + 120
        while not json.loads((folder / "meta.json").read_text()).get("complete"):
            if time.monotonic() > deadline:
                raise TimeoutError("the snapshot was never complete")
            time.sleep(0.01)
        out["snapshot_complete_ms"] = (time.time() - sent["started"]) * 1000
        out["sort_ms"], answer = _timed(lambda: _ask(base, session, view, "rows",
                                                     {**SORT, "start": 0, "count": 100}))
        out["source"] = answer.get("source")
        out["scroll_ms"], _ = _timed(lambda: _ask(base, session, view, "rows",
                                                  {**SORT, "start": 900_000, "count": 100}))
        out["filter_ms"], answer = _timed(lambda: _ask(base, session, view, "rows",
                                                       {**FILTER, "start": 0, "count": 100}))
        out["filter_total"] = answer["total"]
        out["profile_ms"], _ = _timed(lambda: _ask(base, session, view, "profile",
                                                   {"column": 3}))
        worker.stdin.write("pandas\n")
        worker.stdin.flush()
        pandas = json.loads(worker.stdout.readline())
        out.update({f"pandas_{k}": v for k, v in pandas.items()})
        out["folder"] = str(folder)
    finally:
        worker.stdin.close()
        worker.wait(timeout=120)
    return out


def measure_snapshot(folder: Path, np: Any) -> dict[str, float]:
    """The host's engine on the snapshot files, in this process (no worker involved)."""
    from filebridge.host.viewers.table_snapshot import SnapshotTable

    query = SnapshotTable(folder, np=np, pure=np is None).query()
    out: dict[str, float] = {}
    out["sort_ms"], _ = _timed(lambda: query.rows({**SORT, "count": 100}))
    out["filter_ms"], _ = _timed(lambda: query.rows({**FILTER, "count": 100}))
    out["profile_ms"], _ = _timed(lambda: query.profile({"column": 3}))
    return out


def measure_host_memory(root: Path, rows: int) -> float:
    """RSS growth of this (host) process for opening a snapshot and serving a far window."""
    import numpy as np
    import pandas as pd

    from filebridge.host.viewers.table_snapshot import SnapshotTable
    from filebridge.worker.table_columns import as_table
    from filebridge.worker.table_writer import write_table

    folder = root / f"memory-{rows}"
    folder.mkdir()
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.random(rows), "s": rng.choice(["a", "b"], rows)})
    write_table(as_table(frame), folder, "m", total_rows=rows,  # type: ignore[arg-type]
                live=False, announce=lambda meta: None, background=False)
    del frame
    before = rss_mb()
    table = SnapshotTable(folder)
    table.query().rows({"start": rows - 200, "count": 100})
    return rss_mb() - before


def measure_r() -> dict[str, Any]:
    """R's figures in the same run, by ``bench r_views``: a 1e6 x 4 data.frame through
    View() (R blocked, first rows, sort, text filter) and vscode-R's legacy jsonlite write of
    the same frame beside it; ``{"error": ...}`` without R."""
    from benchmarks import bench_r_views

    try:
        shape = bench_r_views.run("1000000x4")["views"]["1000000x4"]
    except RuntimeError as exc:
        return {"error": str(exc)}
    keys = ("first_rows_ms", "r_blocked_ms", "sort_ms", "filter_ms", "legacy_first_rows_ms",
            "legacy_blocked_ms")
    return {key: round(shape[key], 1) for key in keys}


def measure_one_document(root: Path, rows: int) -> dict[str, float]:
    """The baseline: one JSON document, parsed whole by the host before the first page."""
    import orjson

    document = root / f"one-document-{rows}.json"
    before = rss_mb()
    worker = subprocess.Popen([sys.executable, "-c", TABLE_WORKER, str(rows), "document",
                               str(document)], env=_env(root, f"doc{rows}"),
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    started = json.loads(worker.stdout.readline())["started"]
    data = orjson.loads(document.read_bytes())
    first = data[:100]
    served = time.time()
    after = rss_mb()
    worker.wait(timeout=120)
    del data, first
    document.unlink()
    return {"first_page_ms": (served - started) * 1000, "growth_mb": after - before}


def measure_plots(base: str, root: Path, repeat: int) -> dict[str, float]:
    session = "plots"
    worker = subprocess.Popen([sys.executable, "-c", PLOT_WORKER], env=_env(root, session),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert worker.stdin is not None and worker.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _get(f"{base}api/sessions/{session}")["views"]:
                break
        except OSError:
            pass
        time.sleep(0.01)
    samples: list[float] = []
    renders: list[float] = []
    state = _get(f"{base}api/state")
    for n in range(1, repeat + 1):
        known = len(_get(f"{base}api/sessions/{session}")["plots"])
        worker.stdin.write(f"{n}\n")
        worker.stdin.flush()
        while True:
            state = _get(f"{base}api/state?since={state['version']}&wait=10")
            plots = _get(f"{base}api/sessions/{session}")["plots"]
            if len(plots) > known:
                with urllib.request.urlopen(f"{base}plot/{session}/{plots[-1]['number']}.png",
                                            timeout=30) as response:
                    response.read()
                served = time.time()
                break
        sent = json.loads(worker.stdout.readline())
        samples.append((served - sent["started"]) * 1000)
        renders.append(sent["render_ms"])
    worker.stdin.close()
    worker.wait(timeout=30)
    return {"plot_ms": statistics.median(samples), "savefig_ms": statistics.median(renders)}


def run(full: bool = False, with_r: bool = True) -> dict[str, Any]:
    from filebridge.host import Host
    from filebridge.host.viewers.service import install_viewers
    from filebridge.host.viewers.table_snapshot import host_numpy

    rows = 10**6
    with tempfile.TemporaryDirectory(prefix="filebridge-bench-viewers-") as tmp:
        root = Path(tmp) / "root"
        host = Host(root)
        viewers = install_viewers(host, ui=True)
        host.start()
        assert viewers.ui is not None
        try:
            base = viewers.ui.url
            table = measure_dataview(base, root, rows)
            snapshot = measure_snapshot(Path(table["folder"]), host_numpy())
            small = measure_dataview(base, root, 10**5)
            plain = measure_snapshot(Path(small["folder"]), None)
            baseline = measure_one_document(root, rows)
            memory_small = measure_host_memory(root, 10**5)
            memory_big = measure_host_memory(root, 10**6)
            plots = measure_plots(base, root, 20 if full else 8)
        finally:
            viewers.ui.stop()
            host.stop()
    r = measure_r() if with_r else {"error": "skipped (--no-r)"}

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("nan")

    return {
        "rows": rows,
        "first_rows_ms": round(table["first_rows_ms"], 1),
        "baseline_one_document_first_rows_ms": round(baseline["first_page_ms"], 1),
        "first_rows_ratio": ratio(table["first_rows_ms"], baseline["first_page_ms"]),
        "worker_blocked_ms": round(table["worker_blocked_ms"], 1),
        "first_page_encode_ms": round(table["first_page_encode_ms"] or 0, 1),
        "listed_after_return_ms": round(table["listed_after_return_ms"], 1),
        "first_fetch_ms": round(table["first_fetch_ms"], 1),
        "snapshot_complete_ms": round(table["snapshot_complete_ms"], 1),
        "answered_by": table["source"],
        "sort_ms": round(table["sort_ms"], 1),
        "baseline_pandas_sort_ms": round(table["pandas_sort_ms"], 1),
        "sort_ratio": ratio(table["sort_ms"], table["pandas_sort_ms"]),
        "filter_ms": round(table["filter_ms"], 1),
        "baseline_pandas_filter_ms": round(table["pandas_filter_ms"], 1),
        "filter_ratio": ratio(table["filter_ms"], table["pandas_filter_ms"]),
        "profile_ms": round(table["profile_ms"], 1),
        "baseline_pandas_profile_ms": round(table["pandas_profile_ms"], 1),
        "profile_ratio": ratio(table["profile_ms"], table["pandas_profile_ms"]),
        "scroll_900000_ms": round(table["scroll_ms"], 1),
        "snapshot_sort_ms": round(snapshot["sort_ms"], 1),
        "snapshot_filter_ms": round(snapshot["filter_ms"], 1),
        "snapshot_profile_ms": round(snapshot["profile_ms"], 1),
        "plain_python_1e5_sort_ms": round(plain["sort_ms"], 1),
        "plain_python_1e5_filter_ms": round(plain["filter_ms"], 1),
        "plain_python_1e5_profile_ms": round(plain["profile_ms"], 1),
        "host_rss_growth_1e5_mb": round(memory_small, 1),
        "host_rss_growth_1e6_mb": round(memory_big, 1),
        "baseline_one_document_rss_growth_mb": round(baseline["growth_mb"], 1),
        "r": r,
        "plot_ms": round(plots["plot_ms"], 1),
        "baseline_savefig_ms": round(plots["savefig_ms"], 1),
        "plot_ratio": round(plots["plot_ms"] / plots["savefig_ms"], 2),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench viewers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--full", action="store_true", help="more plot repetitions")
    parser.add_argument("--no-r", action="store_true", help="without R's View() figures")
    args = parser.parse_args(argv)
    result = run(full=args.full, with_r=not args.no_r)
    r = result["r"]
    missing = f"not measured: {r['error']}" if "error" in r else ""
    rows = [
        ("10^6 x 6 dataview -> first rows served (ms)", result["first_rows_ms"]),
        ("  baseline: one JSON document parsed whole (ms)",
         result["baseline_one_document_first_rows_ms"]),
        ("  ratio (lower is better)", result["first_rows_ratio"]),
        ("  of which: dataview returned (schema + first page written, announced) (ms)",
         result["worker_blocked_ms"]),
        ("    encoding and writing the first page (ms)", result["first_page_encode_ms"]),
        ("  the host handled it, the page listed the view, after the return (ms)",
         result["listed_after_return_ms"]),
        ("  the page's request for the first 100 rows (ms)", result["first_fetch_ms"]),
        ("worker blocked by dataview (ms)", result["worker_blocked_ms"]),
        ("  snapshot complete on disk after (ms)", result["snapshot_complete_ms"]),
        (f"sort by a float column, first window (ms, {result['answered_by']})",
         result["sort_ms"]),
        ("  baseline: pandas sort_values (ms)", result["baseline_pandas_sort_ms"]),
        ("  ratio", result["sort_ratio"]),
        ("text filter over 10^6 rows (ms)", result["filter_ms"]),
        ("  baseline: pandas str.contains (ms)", result["baseline_pandas_filter_ms"]),
        ("  ratio", result["filter_ratio"]),
        ("column profile (ms)", result["profile_ms"]),
        ("  baseline: pandas describe + histogram (ms)", result["baseline_pandas_profile_ms"]),
        ("  ratio", result["profile_ratio"]),
        ("rows at 900,000, sorted, after a scroll (ms)", result["scroll_900000_ms"]),
        ("host engine on the snapshot: sort / filter / profile (ms)",
         f"{result['snapshot_sort_ms']} / {result['snapshot_filter_ms']} / "
         f"{result['snapshot_profile_ms']}"),
        ("plain Python engine, 10^5 rows: sort / filter / profile (ms)",
         f"{result['plain_python_1e5_sort_ms']} / {result['plain_python_1e5_filter_ms']} / "
         f"{result['plain_python_1e5_profile_ms']}"),
        ("host RSS growth, far window of 10^5 / 10^6 rows (MB)",
         f"{result['host_rss_growth_1e5_mb']} / {result['host_rss_growth_1e6_mb']}"),
        ("  baseline growth, one document (MB)", result["baseline_one_document_rss_growth_mb"]),
        ("R 1e6 x 4 View(): first rows / R blocked (ms)",
         missing or f"{r['first_rows_ms']} / {r['r_blocked_ms']}"),
        ("  sort / text filter (ms)", missing or f"{r['sort_ms']} / {r['filter_ms']}"),
        ("  vscode-R's View() path: first rows / R blocked (ms)",
         missing or f"{r['legacy_first_rows_ms']} / {r['legacy_blocked_ms']}"),
        ("plt.show() -> plot served (ms, median)", result["plot_ms"]),
        ("  baseline: savefig of the same figure (ms)", result["baseline_savefig_ms"]),
        ("  ratio", result["plot_ratio"]),
    ]
    print_report("filebridge bench viewers", rows, result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Viewers, measured in one run against baselines from the same run.

- ``dataview_first_page_ms``: from a worker calling ``dataview`` on a 10^6-row DataFrame to the
  web page's API serving its first page (a real HTTP client polling a real host). Baseline:
  the one-document way (vscode-R's): the worker writes the whole table as one JSON document
  and the host parses it all before it can serve a page.
- ``host_rss_mb``: the host process's resident memory once that first page is served, and
  ``host_rss_growth_mb`` what serving it added; the baseline's growth is printed beside it.
- ``plot_ms``: from ``plt.show()`` in the worker to the new plot being served by the page.
  Baseline: rendering an identical fresh figure to PNG bytes in the worker (``savefig``), the
  part no transport can save; the ratio shows what the bridge and the page add to it.

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
df = pd.DataFrame({"i": np.arange(n), "x": rng.random(n), "y": rng.normal(size=n),
                   "s": rng.choice(["alpha", "beta", "gamma"], n)})
mode = sys.argv[2]
import filebridge.worker
filebridge.worker.connect()
filebridge.worker.call("echo", timeout=60)  # a session in use: the host knows it already
started = time.time()
if mode == "filebridge":
    viewers.dataview(df, title="bench")
else:
    path = sys.argv[3]
    with open(path, "w") as f:
        f.write(df.reset_index().to_json(orient="records"))
print(json.dumps({"started": started}), flush=True)
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


def _first_page(base: str, session: str, deadline: float) -> float:
    """Poll the page's API until a table of ``session`` serves rows; the time it did."""
    while time.monotonic() < deadline:
        try:
            views = _get(f"{base}api/sessions/{session}")["views"]
        except OSError:
            views = []
        tables = [v for v in views if v["kind"] == "table"]
        if tables:
            page = _get(f"{base}api/sessions/{session}/tables/{tables[0]['id']}?count=100")
            if page["rows"]:
                return time.time()
        time.sleep(0.002)
    raise TimeoutError("the first page was never served")


def measure_dataview(base: str, root: Path, rows: int) -> dict[str, float]:
    before = rss_mb()
    worker = subprocess.Popen([sys.executable, "-c", TABLE_WORKER, str(rows), "filebridge"],
                              env=_env(root, f"table{rows}"), stdout=subprocess.PIPE, text=True)
    served = _first_page(base, f"table{rows}", time.monotonic() + 120)
    assert worker.stdout is not None
    started = json.loads(worker.stdout.readline())["started"]
    worker.wait(timeout=120)
    after = rss_mb()
    return {"first_page_ms": (served - started) * 1000, "rss_mb": after,
            "growth_mb": after - before}


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


def run(full: bool = False) -> dict[str, Any]:
    from filebridge.host import Host
    from filebridge.host.viewers.service import install_viewers

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
            baseline = measure_one_document(root, rows)
            plots = measure_plots(base, root, 20 if full else 8)
        finally:
            viewers.ui.stop()
            host.stop()
    return {
        "rows": rows,
        "dataview_first_page_ms": round(table["first_page_ms"], 1),
        "baseline_one_document_first_page_ms": round(baseline["first_page_ms"], 1),
        "dataview_ratio": round(table["first_page_ms"] / baseline["first_page_ms"], 3),
        "host_rss_mb": round(table["rss_mb"], 1),
        "host_rss_growth_mb": round(table["growth_mb"], 1),
        "baseline_one_document_rss_growth_mb": round(baseline["growth_mb"], 1),
        "plot_ms": round(plots["plot_ms"], 1),
        "baseline_savefig_ms": round(plots["savefig_ms"], 1),
        "plot_ratio": round(plots["plot_ms"] / plots["savefig_ms"], 2),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench viewers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--full", action="store_true", help="more plot repetitions")
    args = parser.parse_args(argv)
    result = run(full=args.full)
    rows = [
        ("10^6-row dataview -> first page served (ms)", result["dataview_first_page_ms"]),
        ("  baseline: one JSON document parsed whole (ms)",
         result["baseline_one_document_first_page_ms"]),
        ("  ratio (lower is better)", result["dataview_ratio"]),
        ("host RSS after the first page (MB)", result["host_rss_mb"]),
        ("  host RSS growth for it (MB)", result["host_rss_growth_mb"]),
        ("  baseline growth, one document (MB)", result["baseline_one_document_rss_growth_mb"]),
        ("plt.show() -> plot served (ms, median)", result["plot_ms"]),
        ("  baseline: savefig of the same figure (ms)", result["baseline_savefig_ms"]),
        ("  ratio", result["plot_ratio"]),
    ]
    print_report("filebridge bench viewers", rows, result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

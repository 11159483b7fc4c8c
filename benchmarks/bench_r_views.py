"""R's View() of large data frames through the host's table pipeline, against vscode-R's View()
code path and R's own functions in the same run.

Real peers: a host process (the viewers' handlers and the table service the page asks) serving a
fresh root and a legacy watcher folder, and one Rscript that sources filebridge's R worker and
vscode-R's legacy session code (tests/legacy_vscode_r.R). Between its steps the R script serves
the host (``filebridge_serve``), as an R idle at its prompt does. For each frame shape:

- filebridge's ``View()``: R's time blocked (until ``View()`` returns, and the CPU time R
  spent in it: on a loaded machine the two differ by the time R waited for a core); from the
  call, the time until the host holds the first 100 rows as the page asks for them (the table
  service: from R while R answers, else from the snapshot); the time until the whole snapshot
  is written (by a forked process), and what writing it all in R's foreground costs instead;
- the page's queries answered by R from the live frame (a sort of one column, a text filter, a
  column profile, a window at 90% of the sorted rows), beside R's own ``order()`` and
  ``grepl()`` over the same column; and the same queries answered by the host from the snapshot;
- vscode-R's path (``jsonlite::write_json`` of the whole frame, then the request, then the
  host's import of that JSON): R's time blocked and the time until the host holds 100 rows.

Targets (issue 17): first rows < 200 ms, R blocked < 100 ms, sort and filter < 300 ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from benchmarks._processes import REPO, end_by_stdin, peer_env
from benchmarks._stats import print_report

R_WORKER = REPO / "session_templates" / "r" / "filebridge.R"
LEGACY_CLIENT = REPO / "tests" / "legacy_vscode_r.R"

SHAPES = "100000x10,1000000x4"
QUICK_SHAPES = "10000x10,100000x4"

# The host times, for every table view, the page's first request and the queries below
# (through the table service, as the page asks), then the same queries on the snapshot.
HOST_CODE = """
import json, sys, threading, time
from benchmarks.bench_r_views import time_queries
from filebridge.host import Host
from filebridge.host.viewers.table_service import TableService
from filebridge.host.viewers.store import ViewerStore, install_viewer_handlers
from filebridge.host.vscode_r.watcher import LegacyWatcher
host = Host(sys.argv[1])
store = ViewerStore()
install_viewer_handlers(host, store)
service = TableService(host, store)
arrivals = open(sys.argv[3], "a")
seen = set()
lock = threading.Lock()
def measure(session_id, view):
    figures = time_queries(service, store, session_id, view)
    with lock:
        arrivals.write(json.dumps(figures) + "\\n")
        arrivals.flush()
def changed(session_id):
    arrived = time.time()
    for view in store.views(session_id):
        with lock:
            if view.id in seen or view.kind != "table":
                continue
            seen.add(view.id)
        view.details["arrived"] = arrived
        threading.Thread(target=measure, args=(session_id, view), daemon=True).start()
store.subscribe(changed)
host.start()
legacy = LegacyWatcher(host, sys.argv[2])
legacy.start()
print("ready", flush=True)
sys.stdin.read()
legacy.stop()
host.stop()
"""

# The frame: integers, strings with NA, uniform doubles, normal doubles, in turn. A small View()
# first: R compiles a function at its first calls (the JIT), as a session has done already.
VIEW_CALLER = """
args <- commandArgs(trailingOnly = TRUE)
source(args[1]); source(args[2])
filebridge_connect(args[3])
options(filebridge.variables = FALSE, filebridge.plot = FALSE)
measured <- args[5]
set.seed(1)
frame <- function(rows, cols) {
  make <- function(j) switch(j %% 4 + 1, rnorm(rows), sample.int(1e6, rows, TRUE),
                             sample(c("alpha", "beta", "gamma", NA), rows, TRUE), runif(rows))
  out <- lapply(seq_len(cols), make)
  names(out) <- sprintf("col%d", seq_len(cols))
  as.data.frame(out, stringsAsFactors = FALSE)
}
# R idle at its prompt: serving the host until the host has timed its queries on this view
serve_until_measured <- function(title) {
  began <- Sys.time()
  repeat {
    filebridge_serve(0.05)
    done <- if (file.exists(measured)) readLines(measured, warn = FALSE) else character(0)
    if (any(vapply(done, function(l) identical(jsonlite::fromJSON(l)$title, title), NA))) break
    if (Sys.time() - began > 900) stop("the host did not time the view ", title)
  }
}
seconds <- function(expr) { t <- as.numeric(Sys.time()); force(expr); as.numeric(Sys.time()) - t }
View(frame(2000, 4), "warm-up")
serve_until_measured("warm-up")
result <- list()
for (shape in strsplit(args[4], ",")[[1]]) {
  dims <- as.numeric(strsplit(shape, "x")[[1]])
  df <- frame(dims[1], dims[2])
  gc()
  cpu <- proc.time()
  started <- as.numeric(Sys.time())
  View(df, shape)
  blocked <- as.numeric(Sys.time()) - started
  blocked_cpu <- sum((proc.time() - cpu)[1:2])
  serve_until_measured(shape)
  gc()
  order_s <- min(replicate(3, seconds(order(df$col4, decreasing = TRUE, method = "radix"))))
  grepl_s <- min(replicate(3, seconds(grepl("alp", df$col2, fixed = TRUE))))
  options(filebridge.view_background = FALSE)
  foreground <- seconds(View(df, paste(shape, "(foreground)")))
  options(filebridge.view_background = TRUE)
  serve_until_measured(paste(shape, "(foreground)"))
  gc()
  cpu <- proc.time()
  legacy_started <- as.numeric(Sys.time())
  legacy$view(df, paste(shape, "(vscode-R)"))
  legacy_blocked <- as.numeric(Sys.time()) - legacy_started
  legacy_cpu <- sum((proc.time() - cpu)[1:2])
  # the host imports vscode-R's document: the next shape's View() must not share the host with it
  serve_until_measured(paste(shape, "(vscode-R)"))
  result[[shape]] <- list(started = started, blocked_s = blocked, blocked_cpu_s = blocked_cpu,
                          legacy_cpu_s = legacy_cpu, foreground_s = foreground,
                          order_s = order_s, grepl_s = grepl_s, legacy_started = legacy_started,
                          legacy_blocked_s = legacy_blocked)
}
cat(jsonlite::toJSON(result, auto_unbox = TRUE, digits = NA))
"""


def _timed(ask: Any, *args: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    answer = ask(*args)
    return (time.perf_counter() - began) * 1000, answer


def time_queries(service: Any, store: Any, session_id: str, view: Any) -> dict[str, Any]:
    """In the host: the page's first rows (retried while the table is busy), then a sort, a
    text filter, a profile and a far window through the service, then the same on the
    snapshot. Times in ms; ``first_rows`` is a time.time() stamp."""
    from filebridge.errors import RemoteError

    figures: dict[str, Any] = {"title": view.title, "view": view.id,
                               "arrived": view.details.get("arrived")}
    while True:
        try:
            answer = service.answer(session_id, view.id, "rows", {"start": 0, "count": 100})
            break
        except RemoteError as exc:
            if exc.code != "busy":
                raise
            time.sleep(0.01)
    figures["first_rows"] = time.time()
    figures["first_rows_source"] = answer.get("source")
    figures["rows_read"] = len(answer["rows"])
    if not hasattr(store.table(session_id, view.id), "snapshot"):
        return figures  # vscode-R's payload: only its first rows are timed
    schema = service.answer(session_id, view.id, "schema", {})
    names = [c["name"] for c in schema["columns"]]
    if "col4" not in names:  # the warm-up
        return figures
    number, text = names.index("col4"), names.index("col2")
    rows = schema["rows"]
    queries = {
        "sort": ("rows", {"count": 100, "sort": [{"column": number, "descending": True}]}),
        "filter": ("rows", {"count": 100, "filters": [{"column": text, "op": "contains",
                                                       "value": "alp"}]}),
        "profile": ("profile", {"column": number}),
        "scroll": ("rows", {"start": int(rows * 0.9), "count": 100,
                            "sort": [{"column": number, "descending": True}]}),
    }
    for name, (command, args) in queries.items():
        took, answer = _timed(service.answer, session_id, view.id, command, args)
        figures[f"{name}_ms"] = took
        figures[f"{name}_source"] = answer.get("source")
    snapshot = store.table(session_id, view.id).snapshot
    while not all(c.get("ready") for c in snapshot.meta()["columns"]):
        time.sleep(0.05)
    figures["complete"] = snapshot.folder.joinpath("meta.json").stat().st_mtime
    for name, (command, args) in queries.items():
        figures[f"snapshot_{name}_ms"], _ = _timed(getattr(snapshot.query(), command), args)
    return figures


def _arrival(arrivals: Path, title: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in arrivals.read_text().splitlines():
            if line.strip():
                seen: dict[str, Any] = json.loads(line)
                if seen["title"] == title:
                    return seen
        time.sleep(0.05)
    raise RuntimeError(f"the host never received the view {title!r}")


def view_figures(root: Path, watcher: Path, arrivals: Path, shapes: str) -> dict[str, Any]:
    """Run the R caller against a host already serving ``root`` and ``watcher``."""
    env = {**peer_env(), "VSCODE_WATCHER_DIR": str(watcher)}
    done = subprocess.run(["Rscript", "--vanilla", "-e", VIEW_CALLER, str(R_WORKER),
                           str(LEGACY_CLIENT), str(root / "sessions" / "view"), shapes,
                           str(arrivals)], capture_output=True, text=True, timeout=3600,
                          env=env)
    if done.returncode != 0:
        raise RuntimeError(f"the View() benchmark failed: {done.stderr.strip()[-800:]}")
    timed: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    figures: dict[str, Any] = {}
    for shape, times in timed.items():
        ours = _arrival(arrivals, shape)
        theirs = _arrival(arrivals, f"{shape} (vscode-R)")
        blocked = times["blocked_s"] * 1000
        legacy_blocked = times["legacy_blocked_s"] * 1000
        first = (ours["first_rows"] - times["started"]) * 1000
        legacy_first = (theirs["first_rows"] - times["legacy_started"]) * 1000
        figures[shape] = {
            "r_blocked_ms": blocked, "r_blocked_cpu_ms": times["blocked_cpu_s"] * 1000,
            "legacy_cpu_ms": times["legacy_cpu_s"] * 1000, "first_rows_ms": first,
            "first_rows_source": ours["first_rows_source"],
            "all_rows_ms": (ours["complete"] - times["started"]) * 1000,
            "foreground_writer_ms": times["foreground_s"] * 1000,
            "legacy_blocked_ms": legacy_blocked, "legacy_first_rows_ms": legacy_first,
            "ratio_blocked_to_legacy": blocked / legacy_blocked,
            "ratio_first_rows_to_legacy": first / legacy_first,
            "r_order_ms": times["order_s"] * 1000, "r_grepl_ms": times["grepl_s"] * 1000,
            **{key: ours[key] for key in ours if key.endswith(("_ms", "_source"))
               and key != "first_rows_source"}}
        figures[shape]["ratio_sort_to_r_order"] = (figures[shape]["sort_ms"]
                                                   / figures[shape]["r_order_ms"])
        figures[shape]["ratio_filter_to_r_grepl"] = (figures[shape]["filter_ms"]
                                                     / figures[shape]["r_grepl_ms"])
    return figures


def run(shapes: str) -> dict[str, Any]:
    if shutil.which("Rscript") is None:
        raise RuntimeError("Rscript not found: apt-get install -y r-base-core r-cran-jsonlite")
    with tempfile.TemporaryDirectory(prefix="filebridge-bench-r-views-") as scratch:
        root, watcher = Path(scratch) / "root", Path(scratch) / "watcher"
        arrivals = Path(scratch) / "dataviews.jsonl"
        arrivals.touch()
        host = subprocess.Popen([sys.executable, "-c", HOST_CODE, str(root), str(watcher),
                                 str(arrivals)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=peer_env())
        try:
            assert host.stdout is not None
            if host.stdout.readline().strip() != "ready":
                raise RuntimeError("the benchmark host did not start")
            return {"views": view_figures(root, watcher, arrivals, shapes)}
        finally:
            end_by_stdin(host)


def report_rows(views: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for shape, view in views.items():
        rows += [
            (f"View() {shape}: R blocked / vscode-R's path blocked (ms)",
             f"{view['r_blocked_ms']:.0f} / {view['legacy_blocked_ms']:.0f} = "
             f"{view['ratio_blocked_to_legacy']:.3f}x (target < 100 ms)"),
            ("  R's CPU time in View() / in vscode-R's path (ms)",
             f"{view['r_blocked_cpu_ms']:.0f} / {view['legacy_cpu_ms']:.0f}"),
            ("  first 100 rows at the host / vscode-R's (ms)",
             f"{view['first_rows_ms']:.0f} ({view['first_rows_source']}) / "
             f"{view['legacy_first_rows_ms']:.0f} = {view['ratio_first_rows_to_legacy']:.3f}x "
             "(target < 200 ms)"),
            ("  whole snapshot written (background) / whole writer in R's foreground (ms)",
             f"{view['all_rows_ms']:.0f} / {view['foreground_writer_ms']:.0f}"),
            ("  sort one column: the page's query / R's order() alone (ms)",
             f"{view['sort_ms']:.0f} ({view['sort_source']}) / {view['r_order_ms']:.0f} = "
             f"{view['ratio_sort_to_r_order']:.2f}x (target < 300 ms)"),
            ("  text filter: the page's query / R's grepl() alone (ms)",
             f"{view['filter_ms']:.0f} ({view['filter_source']}) / {view['r_grepl_ms']:.0f} = "
             f"{view['ratio_filter_to_r_grepl']:.2f}x (target < 300 ms)"),
            ("  profile / window at 90% of the sorted rows (ms)",
             f"{view['profile_ms']:.0f} ({view['profile_source']}) / "
             f"{view['scroll_ms']:.0f} ({view['scroll_source']})"),
            ("  the same from the snapshot: sort / filter / profile / window (ms)",
             f"{view['snapshot_sort_ms']:.0f} / {view['snapshot_filter_ms']:.0f} / "
             f"{view['snapshot_profile_ms']:.0f} / {view['snapshot_scroll_ms']:.0f}"),
        ]
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench r_views", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true",
                        help=f"frames of {QUICK_SHAPES} instead of {SHAPES}")
    args = parser.parse_args(argv)
    try:
        result = run(QUICK_SHAPES if args.quick else SHAPES)
    except RuntimeError as exc:
        print(f"filebridge bench r_views: {exc}", file=sys.stderr)
        return 1
    print_report("filebridge bench r_views", report_rows(result["views"]), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

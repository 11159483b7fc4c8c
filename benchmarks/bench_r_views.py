"""R's View() of large data frames, against vscode-R's View() code path in the same run.

Real peers: a host process serving a fresh root and a legacy watcher folder, and one Rscript
that sources filebridge's R worker and vscode-R's legacy session code (tests/legacy_vscode_r.R).
For each frame shape, the same frame is shown twice:

- through filebridge's ``View()``: R's time blocked (until ``View()`` returns), the time until
  the host has read the first 100 rows (from the call, on one clock), the time until the
  whole snapshot is written, and the R time spent by the whole writer when it runs in the
  foreground (``filebridge.view_background = FALSE``: what the background writer costs);
- through vscode-R's path (``jsonlite::write_json`` of the whole frame, then the request, then
  the host's import of that JSON): R's time blocked and the time until the host has read the
  first 100 rows.

Targets (issue 17): first rows < 200 ms, R blocked < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from benchmarks._stats import print_report

REPO = Path(__file__).resolve().parents[1]
R_WORKER = REPO / "session_templates" / "r" / "filebridge.R"
LEGACY_CLIENT = REPO / "tests" / "legacy_vscode_r.R"

SHAPES = "100000x10,1000000x4"
QUICK_SHAPES = "10000x10,100000x4"

# The host records, for every dataview, when it arrived and when its first 100 rows were read
# as the page would read them (a legacy JSON payload is imported first, as the host does).
HOST_CODE = """
import json, sys, time
from pathlib import Path
from filebridge.host import Host
from filebridge.host.vscode_r import LegacyWatcher
from benchmarks.bench_r_views import read_first_rows
host = Host(sys.argv[1])
arrivals = open(sys.argv[3], "a")
def dataview(call):
    arrived = time.time()
    rows = read_first_rows(call.args, call.layout.folder)
    arrivals.write(json.dumps({"title": call.args.get("title"), "type": call.args.get("type"),
                               "arrived": arrived, "first_rows": time.time(), "rows": rows,
                               "dir": call.args.get("dir")}) + "\\n")
    arrivals.flush()
    return {"shown": True}
host.register("dataview", dataview, inline=True)
host.start()
legacy = LegacyWatcher(host, sys.argv[2])
legacy.start()
print("ready", flush=True)
sys.stdin.read()
legacy.stop()
host.stop()
"""

# The frame: doubles, integers, strings with NA, uniform doubles, in turn. A small View() first:
# R compiles a function at its first calls (the JIT), as a session would have done already.
VIEW_CALLER = """
args <- commandArgs(trailingOnly = TRUE)
source(args[1]); source(args[2])
filebridge_connect(args[3])
options(filebridge.variables = FALSE, filebridge.plot = FALSE)
set.seed(1)
frame <- function(rows, cols) {
  make <- function(j) switch(j %% 4 + 1, rnorm(rows), sample.int(1e6, rows, TRUE),
                             sample(c("alpha", "beta", "gamma", NA), rows, TRUE), runif(rows))
  out <- lapply(seq_len(cols), make)
  names(out) <- sprintf("col%d", seq_len(cols))
  as.data.frame(out, stringsAsFactors = FALSE)
}
newest_view <- function() {
  folders <- list.dirs(file.path(args[3], "views"), recursive = FALSE)
  folders[which.max(file.mtime(folders))]
}
wait_complete <- function() {
  folder <- newest_view()
  began <- Sys.time()
  while (!isTRUE(jsonlite::read_json(file.path(folder, "meta.json"))$complete)) {
    if (Sys.time() - began > 600) stop("the table was not finished")
    Sys.sleep(0.02)
  }
  as.numeric(file.mtime(file.path(folder, "meta.json")))
}
seconds <- function(expr) { t <- as.numeric(Sys.time()); force(expr); as.numeric(Sys.time()) - t }
View(frame(2000, 3), "warm-up")
invisible(wait_complete())
result <- list()
for (shape in strsplit(args[4], ",")[[1]]) {
  dims <- as.numeric(strsplit(shape, "x")[[1]])
  df <- frame(dims[1], dims[2])
  gc()
  started <- as.numeric(Sys.time())
  View(df, shape)
  blocked <- as.numeric(Sys.time()) - started
  complete <- wait_complete()  # written in the background: not while anything else is timed
  gc()
  options(filebridge.view_background = FALSE)
  foreground <- seconds(View(df, paste(shape, "(foreground)")))
  options(filebridge.view_background = TRUE)
  gc()
  legacy_started <- as.numeric(Sys.time())
  legacy$view(df, paste(shape, "(vscode-R)"))
  legacy_blocked <- as.numeric(Sys.time()) - legacy_started
  result[[shape]] <- list(started = started, blocked_s = blocked, complete = complete,
                          foreground_s = foreground, legacy_started = legacy_started,
                          legacy_blocked_s = legacy_blocked)
}
cat(jsonlite::toJSON(result, auto_unbox = TRUE, digits = NA))
"""


def read_first_rows(args: dict[str, Any], session_folder: Path, count: int = 100) -> int:
    """Read the first ``count`` rows of a dataview's table as the page would; how many came."""
    from filebridge.host.table_import import import_vscode_r_table
    from filebridge.host.tables import PageRequest, TableReader

    if args.get("type") == "filebridge.table":
        folder = Path(str(args["dir"]))
    else:
        data = Path(str(args["file"])).read_bytes()
        parts = ("host-views", "tables", f"bench-{time.monotonic_ns()}")
        import_vscode_r_table(data, session_folder, parts, str(args.get("title", "")))
        folder = session_folder.joinpath(*parts)
    return len(TableReader(folder).page(PageRequest(start=0, count=count))["rows"])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _end(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    env = {**_env(), "VSCODE_WATCHER_DIR": str(watcher)}
    done = subprocess.run(["Rscript", "--vanilla", "-e", VIEW_CALLER, str(R_WORKER),
                           str(LEGACY_CLIENT), str(root / "sessions" / "view"), shapes],
                          capture_output=True, text=True, timeout=1800, env=env)
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
            "r_blocked_ms": blocked, "first_rows_ms": first,
            "all_rows_ms": (times["complete"] - times["started"]) * 1000,
            "foreground_writer_ms": times["foreground_s"] * 1000,
            "legacy_blocked_ms": legacy_blocked, "legacy_first_rows_ms": legacy_first,
            "ratio_blocked_to_legacy": blocked / legacy_blocked,
            "ratio_first_rows_to_legacy": first / legacy_first}
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
                                text=True, env=_env())
        try:
            assert host.stdout is not None
            if host.stdout.readline().strip() != "ready":
                raise RuntimeError("the benchmark host did not start")
            return {"views": view_figures(root, watcher, arrivals, shapes)}
        finally:
            _end(host)


def report_rows(views: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for shape, view in views.items():
        rows += [
            (f"View() {shape}: R blocked / vscode-R's path blocked (ms)",
             f"{view['r_blocked_ms']:.0f} / {view['legacy_blocked_ms']:.0f} = "
             f"{view['ratio_blocked_to_legacy']:.3f}x (target < 100 ms)"),
            ("  first 100 rows read by the host / vscode-R's (ms)",
             f"{view['first_rows_ms']:.0f} / {view['legacy_first_rows_ms']:.0f} = "
             f"{view['ratio_first_rows_to_legacy']:.3f}x (target < 200 ms)"),
            ("  whole snapshot written (background) / whole writer in R's foreground (ms)",
             f"{view['all_rows_ms']:.0f} / {view['foreground_writer_ms']:.0f}"),
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

"""R's synchronous call through the file channel, against Python's and vscode-R's legacy design.

In one run, each peer a real process: a host process serves a fresh root (and a legacy watcher
folder); an Rscript worker times `filebridge_call("echo")`; a Python worker times
`filebridge.worker.call("echo")`. Then, on a machine with two cores or more, the R and Python
callers take turns again with every thread pinned: host and callers on separate cores, then all
on one core. Target: R's p50 within 2x Python's.

Then: a legacy vscode-R session (tests/legacy_vscode_r.R, the released session code's wire
behaviour) makes 100 identical rstudioapi calls back to back through the adapter (target: no
timeouts); an rstudioapi call through the R worker; the variables snapshot; the adapter's look
for legacy sessions that sent nothing (its first look reads /proc, later ones list the temporary
folders), beside listing /proc alone. View() of large frames: `filebridge bench r_views`.
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

from benchmarks._processes import REPO, end_by_stdin, peer_env
from benchmarks._stats import percentile, print_report

R_WORKER = REPO / "session_templates" / "r" / "filebridge.R"

HOST_CODE = """
import json, sys, time
from filebridge.host import Host
from filebridge.host.vscode_r.watcher import LegacyWatcher
host = Host(sys.argv[1])
host.register("rstudioapi", lambda call: {"path": "/project"}, inline=True)
host.start()
legacy = LegacyWatcher(host, sys.argv[2])
legacy.start()
print("ready", flush=True)
sys.stdin.read()
legacy.stop()
host.stop()
"""

# Both callers run at once and take turns, batch by batch, so that both meet the same load on
# a shared machine: each reads a count on stdin, times that many calls, prints the samples.
PYTHON_CALLER = """
import json, sys, time
import filebridge.worker as fb
fb.connect(sys.argv[1])
for _ in range(int(sys.argv[2])):
    fb.call("echo", x=1, text="hello")
print("ready", flush=True)
for line in sys.stdin:
    samples = []
    for _ in range(int(line)):
        t = time.perf_counter_ns()
        fb.call("echo", x=1, text="hello")
        samples.append((time.perf_counter_ns() - t) / 1000)
    print(json.dumps(samples), flush=True)
"""

R_CALLER = """
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
filebridge_connect(args[2])
for (i in seq_len(as.integer(args[3]))) filebridge_call("echo", x = 1, text = "hello")
cat("ready\\n")
input <- file("stdin", open = "r")
repeat {
  line <- readLines(input, n = 1)
  if (!length(line)) break
  n <- as.integer(line)
  samples <- numeric(n)
  for (i in seq_len(n)) {
    t <- as.numeric(Sys.time())
    filebridge_call("echo", x = 1, text = "hello")
    samples[i] <- (as.numeric(Sys.time()) - t) * 1e6
  }
  cat(jsonlite::toJSON(samples, digits = NA), "\\n", sep = "")
}
"""

LEGACY_CLIENT = REPO / "tests" / "legacy_vscode_r.R"

# vscode-R 2.8's request/response as its released session code did it (tests/legacy_vscode_r.R):
# `time` to the second, so back-to-back identical calls write identical requests; each look at
# response.lock 0.1 s apart, 5 s before giving up (counted as a timeout here).
LEGACY_CALLER = """
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
n <- as.integer(args[2])
legacy$attach()
Sys.sleep(0.5)
samples <- numeric(n)
timeouts <- 0L
for (i in seq_len(n)) {
  t <- as.numeric(Sys.time())
  ok <- tryCatch({ legacy$rstudioapi("get_project_path"); TRUE }, error = function(e) FALSE)
  if (!ok) timeouts <- timeouts + 1L
  samples[i] <- (as.numeric(Sys.time()) - t) * 1e6
}
legacy$detach()
cat(jsonlite::toJSON(list(samples = samples, timeouts = timeouts), auto_unbox = TRUE,
                     digits = NA))
"""

# An rstudioapi function routed to the host (getActiveProject asks `get_project_path`, answered
# by the benchmark host's handler) through filebridge's R worker.
RSTUDIOAPI_CALLER = """
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
filebridge_connect(args[2])
library(rstudioapi)
for (i in 1:50) rstudioapi::getActiveProject()
n <- as.integer(args[3])
samples <- numeric(n)
for (i in seq_len(n)) {
  t <- as.numeric(Sys.time())
  rstudioapi::getActiveProject()
  samples[i] <- (as.numeric(Sys.time()) - t) * 1e6
}
cat(jsonlite::toJSON(samples, digits = NA))
"""

# The variables snapshot of a large workspace: the first one, how many snapshots until every
# value is described, and one after a change once all are; against ls.str(), R's own listing.
SNAPSHOT_CALLER = """
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
filebridge_connect(args[2])
options(filebridge.variables = FALSE)  # no snapshot after each call: this script takes them
local({
  for (i in seq_len(as.integer(args[3]))) {
    assign(sprintf("v%05d", i), switch(i %% 3 + 1, letters, i, list(a = i)), envir = globalenv())
  }
  assign("big", numeric(1e8), envir = globalenv())
  assign("frame", data.frame(a = seq_len(1e7)), envir = globalenv())
  ms <- function(expr) { t <- proc.time()[[3]]; force(expr); (proc.time()[[3]] - t) * 1000 }
  pending <- function() {
    length(jsonlite::fromJSON(file.path(filebridge_session(), "workspace.json"))$unevaluated)
  }
  first <- ms(filebridge_publish_variables())
  snapshots <- 1
  while (pending() > 0 && snapshots < 200) {
    filebridge_publish_variables()
    snapshots <- snapshots + 1
  }
  after_change <- vapply(1:10, function(k) {
    assign("changed", k, envir = globalenv())
    ms(filebridge_publish_variables())
  }, 0)
  ls_str <- ms(utils::capture.output(utils::ls.str(envir = globalenv())))
  cat(jsonlite::toJSON(list(first_ms = first, snapshots_to_describe_all = snapshots,
                            after_change_ms = median(after_change), ls_str_ms = ls_str),
                       auto_unbox = TRUE, digits = NA))
})
"""


def _rstudioapi_samples(session: Path, count: int) -> list[float]:
    done = subprocess.run(["Rscript", "--vanilla", "-e", RSTUDIOAPI_CALLER, str(R_WORKER),
                           str(session), str(count)], capture_output=True, text=True,
                          timeout=300, env=peer_env())
    if done.returncode != 0:
        raise RuntimeError(f"the rstudioapi caller failed: {done.stderr.strip()[-500:]}")
    return [float(x) for x in json.loads(done.stdout)]


def _legacy_calls(watcher: Path, count: int) -> dict[str, Any]:
    env = {**peer_env(), "VSCODE_WATCHER_DIR": str(watcher)}
    done = subprocess.run(["Rscript", "--vanilla", "-e", LEGACY_CALLER, str(LEGACY_CLIENT),
                           str(count)], capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"the legacy caller failed: {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _caller(command: list[str]) -> subprocess.Popen[str]:
    caller = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=peer_env())
    assert caller.stdout is not None
    if caller.stdout.readline().strip() != "ready":
        caller.kill()
        raise RuntimeError(f"{command[0]} did not start: {caller.communicate()[1][-500:]}")
    return caller


def _batch(caller: subprocess.Popen[str], count: int) -> list[float]:
    assert caller.stdin is not None and caller.stdout is not None
    caller.stdin.write(f"{count}\n")
    caller.stdin.flush()
    return [float(x) for x in json.loads(caller.stdout.readline())]


def _taking_turns(python: subprocess.Popen[str], r: subprocess.Popen[str], batches: int,
                  size: int) -> tuple[list[float], list[float]]:
    python_samples: list[float] = []
    r_samples: list[float] = []
    for _ in range(batches):
        python_samples += _batch(python, size)
        r_samples += _batch(r, size)
    return python_samples, r_samples


# Where the scheduler puts a caller decides much of its round trip on a small machine: on the
# host's core the two take turns, on another core they run at once. Each worker meets both
# placements in the passes below; the headline figures leave placement to the scheduler.
# (host core, callers' core) among the last two cores: the first usually serves more interrupts.
PLACEMENTS = {"separate_cores": (-2, -1), "same_core": (-1, -1)}


def _pin(process: subprocess.Popen[str], cpu: int) -> None:
    for thread in os.listdir(f"/proc/{process.pid}/task"):
        os.sched_setaffinity(int(thread), {cpu})


def _placements_possible() -> bool:
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def _placement_passes(host: subprocess.Popen[str], python: subprocess.Popen[str],
                      r: subprocess.Popen[str], batches: int) -> dict[str, dict[str, float]]:
    cpus = sorted(os.sched_getaffinity(0))
    passes: dict[str, dict[str, float]] = {}
    for name, (host_index, worker_index) in PLACEMENTS.items():
        _pin(host, cpus[host_index])
        for caller in (python, r):
            _pin(caller, cpus[worker_index])
        python_samples, r_samples = _taking_turns(python, r, batches, 50)
        r_p50, py_p50 = percentile(r_samples, 0.5), percentile(python_samples, 0.5)
        passes[name] = {"r_p50_us": r_p50, "python_p50_us": py_p50,
                        "ratio_r_to_python_p50": r_p50 / py_p50}
    return passes


SNAPSHOT_VARIABLES = 10_000


def _snapshot_figures(session: Path, variables: int) -> dict[str, float]:
    done = subprocess.run(["Rscript", "--vanilla", "-e", SNAPSHOT_CALLER, str(R_WORKER),
                           str(session), str(variables)],
                          capture_output=True, text=True, timeout=600, env=peer_env())
    if done.returncode != 0:
        raise RuntimeError(f"the snapshot benchmark failed: {done.stderr.strip()[-500:]}")
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def _discovery_figures(watcher: Path, looks: int = 20) -> dict[str, float]:
    """The legacy adapter's look for silent sessions: the first (reads /proc), then idle ones,
    beside the baseline of listing /proc's process folders alone."""
    from filebridge.host.vscode_r.discovery import LegacyFinder

    finder = LegacyFinder(watcher)
    began = time.perf_counter()
    finder.find([], [])
    first = (time.perf_counter() - began) * 1000
    idle, listing = [], []
    for _ in range(looks):
        began = time.perf_counter()
        finder.find([], [])
        idle.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        processes = [name for name in os.listdir("/proc") if name.isdigit()]
        listing.append((time.perf_counter() - began) * 1000)
    idle_ms, listing_ms = percentile(idle, 0.5), percentile(listing, 0.5)
    return {"processes": len(processes), "first_ms": first, "idle_ms": idle_ms,
            "proc_listing_ms": listing_ms, "ratio_idle_to_listing": idle_ms / listing_ms}


def _figures(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 0.5), percentile(samples, 0.99)


def run(full: bool = False) -> dict[str, Any]:
    if shutil.which("Rscript") is None:
        raise RuntimeError("Rscript not found: apt-get install -y r-base-core r-cran-jsonlite")
    count = 5000 if full else 1000
    warm = 50
    legacy_count = 100
    with tempfile.TemporaryDirectory(prefix="filebridge-bench-r-") as scratch:
        root, watcher = Path(scratch) / "root", Path(scratch) / "watcher"
        host = subprocess.Popen([sys.executable, "-c", HOST_CODE, str(root), str(watcher)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env=peer_env())
        try:
            assert host.stdout is not None
            if host.stdout.readline().strip() != "ready":
                raise RuntimeError("the benchmark host did not start")
            python_caller = _caller([sys.executable, "-c", PYTHON_CALLER,
                                     str(root / "sessions" / "py"), str(warm)])
            r_caller = _caller(["Rscript", "--vanilla", "-e", R_CALLER, str(R_WORKER),
                                str(root / "sessions" / "r"), str(warm)])
            try:
                python, r = _taking_turns(python_caller, r_caller, count // 50, 50)
                placements = (_placement_passes(host, python_caller, r_caller, count // 50)
                              if _placements_possible() else {})
            finally:
                for caller in (python_caller, r_caller):
                    end_by_stdin(caller)
            legacy_run = _legacy_calls(watcher, legacy_count)
            rstudioapi = _rstudioapi_samples(root / "sessions" / "rstudioapi", 500)
            snapshot = _snapshot_figures(root / "sessions" / "snapshot", SNAPSHOT_VARIABLES)
            discovery = (_discovery_figures(watcher) if Path("/proc/self/stat").exists()
                         else {})
        finally:
            end_by_stdin(host)
    r_p50, r_p99 = _figures(r)
    py_p50, py_p99 = _figures(python)
    legacy_p50, _ = _figures(legacy_run["samples"])
    return {"r_p50_us": r_p50, "r_p99_us": r_p99, "python_p50_us": py_p50,
            "python_p99_us": py_p99, "legacy_p50_us": legacy_p50,
            "ratio_r_to_python_p50": r_p50 / py_p50, "ratio_legacy_to_r_p50": legacy_p50 / r_p50,
            "samples": count, "legacy_samples": legacy_count, "placements": placements,
            "legacy_timeouts": legacy_run["timeouts"],
            "rstudioapi_p50_us": percentile(rstudioapi, 0.5),
            "snapshot_variables": SNAPSHOT_VARIABLES, "legacy_discovery": discovery,
            **{f"snapshot_{key}": value for key, value in snapshot.items()}}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench r", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--full", action="store_true", help="more samples")
    args = parser.parse_args(argv)
    try:
        result = run(full=args.full)
    except RuntimeError as exc:
        print(f"filebridge bench r: {exc}", file=sys.stderr)
        return 1
    rows = [
        ("R filebridge_call round trip p50 / p99 (us)",
         f"{result['r_p50_us']:.1f} / {result['r_p99_us']:.1f}"),
        ("Python fb.call round trip p50 / p99 (us)",
         f"{result['python_p50_us']:.1f} / {result['python_p99_us']:.1f}"),
        ("  R / Python (p50)", f"{result['ratio_r_to_python_p50']:.2f}x (target <= 2x)"),
        ("vscode-R legacy design (0.1 s poll) p50 (us)", f"{result['legacy_p50_us']:.1f}"),
        ("  legacy / R (p50)", f"{result['ratio_legacy_to_r_p50']:.0f}x"),
        ("R worker: rstudioapi::getActiveProject() via the host p50 (us)",
         f"{result['rstudioapi_p50_us']:.1f}"),
        (f"legacy client: {result['legacy_samples']} identical rstudioapi calls, timeouts",
         f"{result['legacy_timeouts']} (target 0)"),
    ]
    for name, figures in result["placements"].items():
        rows.append((f"pinned, {name.replace('_', ' ')}: R / Python p50 (us)",
                     f"{figures['r_p50_us']:.1f} / {figures['python_p50_us']:.1f} = "
                     f"{figures['ratio_r_to_python_p50']:.2f}x"))
    rows += [
        (f"variables snapshot of {result['snapshot_variables']:,} values: first (ms)",
         f"{result['snapshot_first_ms']:.0f}"),
        ("  snapshots until every value is described",
         f"{result['snapshot_snapshots_to_describe_all']:.0f}"),
        ("  one after a change, then (ms, median)", f"{result['snapshot_after_change_ms']:.0f}"),
        ("  baseline: ls.str() of the same workspace (ms)", f"{result['snapshot_ls_str_ms']:.0f}"),
    ]
    discovery = result["legacy_discovery"]
    if discovery:
        rows += [
            (f"legacy adapter's look for silent sessions, {discovery['processes']:.0f} "
             "processes: first (ms)", f"{discovery['first_ms']:.1f}"),
            ("  later looks / baseline: listing /proc alone (ms, median)",
             f"{discovery['idle_ms']:.2f} / {discovery['proc_listing_ms']:.2f} = "
             f"{discovery['ratio_idle_to_listing']:.1f}x"),
        ]
    print_report("filebridge bench r", rows, result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The variables pane, measured in one run against baselines from the same run.

- ``snapshot_10k_ms``: publishing a namespace of 10,000 small variables (describe, encode,
  atomic write, doorbell), against a naive pane that ``repr``s every value into JSON.
- ``big_objects_extra_ms``: what adding a 10^8-element numpy array (uint8, 100 MB, to keep the
  machine's memory modest) and a 10^7-row pandas DataFrame adds to that snapshot (interleaved
  runs, best of each; within noise it is 0), with the two described alone, against what a
  plain ``repr`` of the two costs.
- ``page_ms``: one page of 100 children of a 10^6-element list, asked of a real worker process
  through its command channel, against a ``ping`` round trip on the same channel.
- ``hang_cell_ms``: a "cell" (on the main thread, as IPython runs one) that creates an object
  whose ``__repr__`` never returns, followed by the pane's post-execution hook with a viewer
  subscribed, against the same cell without the pane.
- ``slow_snapshots``: 100 values whose ``__repr__`` takes 10 ms: how many snapshots until
  every one is described, and the most one snapshot cost, against the snapshot budget.
- ``r_idle_page_ms``: one page of 100 children of a 10^6-element R list, asked of an
  interactive R that has sat idle at its prompt for a second (its looks backed off to the
  longest pause), against a ``ping`` asked of the same idle R the same way. Left out when R
  is not installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

from benchmarks._processes import end_by_stdin
from benchmarks._stats import percentile, print_report

REPO = Path(__file__).resolve().parents[1]

PAGE_WORKER = """
import sys
import filebridge.worker.variables as fv
readings = list(range(10**6))
fv.enable(hook=False)
print("ready", flush=True)
sys.stdin.read()
"""


def small_namespace(n: int) -> dict[str, Any]:
    kinds: list[Callable[[int], Any]] = [
        lambda i: i, lambda i: i * 0.5, lambda i: f"text {i}", lambda i: [i, i + 1, i + 2],
        lambda i: {"k": i, "v": str(i)}, lambda i: (i, "t"), lambda i: i % 2 == 0,
        lambda i: None]
    return {f"v{i:05d}": kinds[i % len(kinds)](i) for i in range(n)}


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """Milliseconds of the fastest of ``repeat`` runs (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def measure_snapshots(repeat: int) -> dict[str, Any]:
    import json

    import numpy as np
    import pandas as pd

    from filebridge.wire.layout import SessionLayout
    from filebridge.worker.variables.publisher import Publisher
    from filebridge.worker.variables.snapshot import Snapshotter

    namespace = small_namespace(10_000)
    with tempfile.TemporaryDirectory() as tmp:
        layout = SessionLayout(Path(tmp) / "sessions" / "bench")
        layout.folder.mkdir(parents=True)
        publisher = Publisher(layout, lambda: namespace, Snapshotter(budget=60.0))

        def cold() -> None:
            # A fresh snapshotter remembers nothing: every value is described.
            publisher.snapshotter = Snapshotter(budget=60.0)
            publisher.publish()

        def naive() -> None:
            data = json.dumps({k: repr(v) for k, v in namespace.items()})
            (Path(tmp) / "naive.json").write_text(data)

        big_array = np.zeros(10**8, dtype=np.uint8)
        frame = pd.DataFrame({"x": np.zeros(10**7), "n": np.arange(10**7, dtype=np.int64)})
        # Interleaved, so that load from other processes hits both sides alike.
        small_runs, big_runs = [], []
        for _ in range(repeat + 1):
            namespace.pop("big_array", None)
            namespace.pop("big_frame", None)
            small_runs.append(best_of(cold, 1))
            namespace["big_array"] = big_array
            namespace["big_frame"] = frame
            big_runs.append(best_of(cold, 1))
        small, with_big = min(small_runs[1:]), min(big_runs[1:])
        warm = best_of(publisher.publish, repeat)
        naive_ms = best_of(naive, repeat)
        describe_big = best_of(lambda: Snapshotter(budget=60.0).build(
            {"big_array": big_array, "big_frame": frame}), repeat)
        repr_big = best_of(lambda: (repr(big_array), repr(frame)), repeat)
        snapshot = publisher.last or {}
        described = {v["display_name"]: v for v in snapshot.get("variables", [])}
    return {"snapshot_10k_ms": small, "snapshot_10k_unchanged_ms": warm,
            "naive_10k_ms": naive_ms, "big_objects_extra_ms": max(0.0, with_big - small),
            "big_objects_alone_ms": describe_big,
            "repr_big_ms": repr_big, "big_array_shape": described["big_array"]["shape"],
            "big_frame_shape": described["big_frame"]["shape"]}


def measure_page(samples: int) -> dict[str, float]:
    from filebridge.host.variables.provider import DirectCommands

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        session = root / "sessions" / "bench"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
        env.update(FILEBRIDGE_SESSION=str(session), FILEBRIDGE_ROOT=str(root),
                   PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
        worker = subprocess.Popen([sys.executable, "-c", PAGE_WORKER], env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert worker.stdout is not None and worker.stdin is not None
        try:
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("the benchmark worker did not start")
            send = DirectCommands(root)
            pings, pages = [], []
            for i in range(samples + 20):
                started = time.perf_counter()
                send("bench", "ping", {}, 10.0)
                ping = (time.perf_counter() - started) * 1000
                first = (i * 7919) % (10**6 - 100)
                started = time.perf_counter()
                page = send("bench", "inspect", {"path": ["readings"], "start": first,
                                                 "count": 100}, 10.0)
                took = (time.perf_counter() - started) * 1000
                if len(page["children"]) != 100:
                    raise RuntimeError("a page did not hold 100 children")
                if i >= 20:
                    pings.append(ping)
                    pages.append(took)
            send.close()
        finally:
            end_by_stdin(worker)
    page_ms, ping_ms = statistics.median(pages), statistics.median(pings)
    return {"page_ms": page_ms, "page_p99_ms": percentile(pages, 0.99),
            "round_trip_ms": ping_ms, "page_extra_ms": max(0.0, page_ms - ping_ms)}


R_WORKER = REPO / "session_templates" / "r" / "filebridge.R"


def _r_string(value: object) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def measure_r_idle_page(samples: int, idle_s: float = 1.0) -> dict[str, float]:
    """Pages and pings asked of an interactive R sitting idle at its prompt."""
    import shutil

    from filebridge.host.variables.provider import DirectCommands

    if shutil.which("R") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        session = root / "sessions" / "rbench"
        ready = Path(tmp) / "ready"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
        r = subprocess.Popen(["R", "--interactive", "--vanilla", "--no-readline", "--quiet"],
                             env=env, text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert r.stdin is not None
        r.stdin.write(f"source({_r_string(R_WORKER)})\n"
                      f"filebridge_connect({_r_string(session)})\n"
                      "readings <- as.list(seq_len(1e6))\n"
                      f"invisible(file.create({_r_string(ready)}))\n")
        r.stdin.flush()
        send = DirectCommands(root)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                if time.monotonic() > deadline or r.poll() is not None:
                    raise RuntimeError("the benchmark's R did not start")
                time.sleep(0.05)
            pings, pages = [], []
            for i in range(samples):
                time.sleep(idle_s)
                started = time.perf_counter()
                send("rbench", "ping", {}, 10.0)
                pings.append((time.perf_counter() - started) * 1000)
                time.sleep(idle_s)
                first = (i * 7919) % (10**6 - 100)
                started = time.perf_counter()
                page = send("rbench", "inspect", {"path": ["readings"], "start": first,
                                                  "count": 100}, 10.0)
                pages.append((time.perf_counter() - started) * 1000)
                if len(page["children"]) != 100:
                    raise RuntimeError("an R page did not hold 100 children")
        finally:
            send.close()
            r.stdin.write('q("no")\n')
            end_by_stdin(r)
    page_ms, ping_ms = statistics.median(pages), statistics.median(pings)
    return {"r_idle_page_ms": page_ms, "r_idle_page_max_ms": max(pages),
            "r_idle_ping_ms": ping_ms, "r_idle_page_vs_ping": page_ms / ping_ms,
            "r_idle_page_target_ms": 200.0}


class NeverReturns:
    def __repr__(self) -> str:
        while True:
            time.sleep(0.5)


class TenMilliseconds:
    def __repr__(self) -> str:
        time.sleep(0.01)
        return "slow"


def measure_hang(repeat: int) -> dict[str, float]:
    from filebridge.wire.layout import SessionLayout
    from filebridge.worker.variables.limits import CELL_BUDGET_S
    from filebridge.worker.variables.publisher import Publisher
    from filebridge.worker.variables.snapshot import Snapshotter

    with tempfile.TemporaryDirectory() as tmp:
        layout = SessionLayout(Path(tmp) / "sessions" / "bench")
        layout.folder.mkdir(parents=True)
        namespace: dict[str, Any] = {"x": 1}
        without, with_pane = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            namespace["stuck"] = NeverReturns()
            without.append((time.perf_counter() - started) * 1000)
            # A new publisher each time: nothing remembered about earlier objects or types.
            publisher = Publisher(layout, lambda: namespace, Snapshotter(), min_interval=0)
            publisher.viewers.subscribe("bench", 60)
            started = time.perf_counter()
            namespace["stuck"] = NeverReturns()
            publisher.after_execution()
            with_pane.append((time.perf_counter() - started) * 1000)
            publisher.snapshotter.lock.acquire()  # the helper's rest of the snapshot is done
            publisher.snapshotter.lock.release()
            publisher.close()
    return {"hang_cell_ms": max(with_pane), "hang_cell_without_pane_ms": max(without),
            "hang_cell_extra_ms": max(with_pane) - max(without),
            "pane_cell_budget_ms": CELL_BUDGET_S * 1000}


def measure_slow_values() -> dict[str, float]:
    from filebridge.worker.variables.snapshot import Snapshotter

    namespace = {f"slow{i:03d}": TenMilliseconds() for i in range(100)}
    snapshotter = Snapshotter()
    costs = []
    count = 0
    while count < 10:
        count += 1
        snapshot = snapshotter.build(namespace)
        costs.append(snapshot["elapsed_ms"])
        if not snapshot["unevaluated"] and all(
                v["display_value"] == "slow" for v in snapshot["variables"]):
            break
    return {"slow_snapshots": count, "slow_snapshot_max_ms": max(costs),
            "snapshot_budget_ms": snapshotter.budget * 1000}


def run(full: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    result.update(measure_hang(repeat=5 if full else 3))
    result.update(measure_slow_values())
    result.update(measure_snapshots(repeat=15 if full else 7))
    result.update(measure_page(samples=1000 if full else 150))
    result.update(measure_r_idle_page(samples=30 if full else 8))
    result["snapshot_vs_naive"] = result["snapshot_10k_ms"] / result["naive_10k_ms"]
    result["big_extra_vs_repr"] = result["big_objects_alone_ms"] / result["repr_big_ms"]
    result["page_vs_round_trip"] = result["page_ms"] / result["round_trip_ms"]
    return result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench variables",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--full", action="store_true", help="more repetitions")
    args = parser.parse_args(argv)
    result = run(full=args.full)
    rows = [
        ("cell creating a never-returning repr, with the pane (ms)", result["hang_cell_ms"]),
        ("  baseline: the same cell without the pane (ms)",
         result["hang_cell_without_pane_ms"]),
        ("  extra (ms); the pane's stated cell budget (ms)",
         f"{result['hang_cell_extra_ms']:.1f}; {result['pane_cell_budget_ms']:.0f}"),
        ("100 values with a 10 ms repr: snapshots until all described",
         result["slow_snapshots"]),
        ("  most one snapshot cost (ms)", result["slow_snapshot_max_ms"]),
        ("  baseline: the snapshot budget (ms)", result["snapshot_budget_ms"]),
        ("  ratio", f"{result['slow_snapshot_max_ms'] / result['snapshot_budget_ms']:.2f}x"),
        ("snapshot of 10,000 variables (ms)", result["snapshot_10k_ms"]),
        ("  again, nothing changed (ms)", result["snapshot_10k_unchanged_ms"]),
        ("  baseline: repr every value into JSON (ms)", result["naive_10k_ms"]),
        ("  ratio", f"{result['snapshot_vs_naive']:.2f}x"),
        ("extra for 10^8 array + 10^7-row frame (ms)", result["big_objects_extra_ms"]),
        ("  the two described alone (ms)", result["big_objects_alone_ms"]),
        ("  baseline: repr of the two (ms)", result["repr_big_ms"]),
        ("  ratio, alone vs repr", f"{result['big_extra_vs_repr']:.2f}x"),
        ("page of 100 of a 10^6 list, median (ms)", result["page_ms"]),
        ("  p99 (ms)", result["page_p99_ms"]),
        ("  baseline: ping round trip, median (ms)", result["round_trip_ms"]),
        ("  ratio", f"{result['page_vs_round_trip']:.2f}x"),
    ]
    if "r_idle_page_ms" in result:
        rows += [
            ("R at an idle prompt: page of 100 of a 10^6 list, median (ms)",
             result["r_idle_page_ms"]),
            ("  slowest (ms); target (ms)",
             f"{result['r_idle_page_max_ms']:.1f}; {result['r_idle_page_target_ms']:.0f}"),
            ("  baseline: ping of the same idle R, median (ms)", result["r_idle_ping_ms"]),
            ("  ratio", f"{result['r_idle_page_vs_ping']:.2f}x"),
        ]
    else:
        rows.append(("R at an idle prompt", "not measured: R is not installed"))
    print_report("filebridge bench variables", rows, result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

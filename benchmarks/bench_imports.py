"""Remote imports against local imports, measured in one run.

A generated package (nested subpackages, relative imports, a few functions and a class per
module) is imported by fresh processes, each way measured in the same run on the same machine:

- local, cold: no ``__pycache__`` (Python compiles and writes it, as on a first import);
- local, warm: from ``__pycache__``;
- bridge, cold cache: a new process and an empty code cache;
- bridge, warm cache: a new process after another one filled the code cache (a restarted
  kernel, a new worker, a spawned child); its requests are counted.

Then the latency from a save to a worker running the saved code (``refresh()``), and to the
host's published index; and how long an import takes to fail when the host was killed (and
how long the template line takes to start then). ``--poll`` runs everything with the polling
strategy for the session folder (network filesystems; FILEBRIDGE_POLL=1); the served folder,
on a local disk, is still watched by file events, as ``filebridge serve`` does. The save
latencies are then measured once more with the served folder polled too (a source folder on
a network filesystem, where a look ``stat``s the folders and the files changed lately, and
the first in-place save of a long-untouched file may show only at the folders' next poll: the
worker refreshes until it runs the saved code, and the time to that is measured).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

from benchmarks._stats import print_report

SUBPACKAGES = 4  # each with SUBPACKAGES nested subpackages
REPO = Path(__file__).resolve().parent.parent

LOCAL_CODE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
t = time.perf_counter()
import localpkg
ms = (time.perf_counter() - t) * 1000
print(json.dumps({"ms": ms, "total": localpkg.total()}))
"""

BRIDGE_CODE = r"""
import json, sys, time
import filebridge.worker as fb
import filebridge.worker.imports as remote
fb.connect()
fb.call("echo", timeout=30)  # the host has found this session: measure imports, not discovery
remote.install(["benchpkg"], timeout=30)
t = time.perf_counter()
import benchpkg
ms = (time.perf_counter() - t) * 1000
print(json.dumps({"ms": ms, "total": benchpkg.total(), "stats": remote.stats()}))
"""

SAVE_CODE = r"""
import importlib, json, sys, time
import filebridge.worker as fb
import filebridge.worker.imports as remote
fb.connect()
fb.call("echo", timeout=30)
remote.install(["benchpkg"], timeout=30)
path, name, template, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
bounded = sys.argv[5] == "bounded"  # a light look may see a save only later: refresh again
module = importlib.import_module(name)
samples, refreshes = [], []
for i in range(count):
    with open(path, "w") as handle:
        handle.write(template.replace("CONSTANT = 1\n", f"CONSTANT = {10000 + i}\n"))
    t = time.perf_counter()
    remote.refresh()
    tries = 1
    while bounded and module.value() != 10000 + i and time.perf_counter() - t < 5:
        time.sleep(0.002)
        remote.refresh()
        tries += 1
    samples.append((time.perf_counter() - t) * 1000)
    refreshes.append(tries)
    assert module.value() == 10000 + i, (module.value(), i)
    time.sleep(0.05)
print(json.dumps({"samples": samples, "refreshes": refreshes}))
"""

DEAD_CODE = r"""
import json, sys, time
import filebridge.worker as fb
import filebridge.worker.imports as remote
t = time.perf_counter()
fb.start(sys.argv[1], sources=None)  # the template line, with host.json left behind
start_ms = (time.perf_counter() - t) * 1000
remote.install(["benchpkg"])
t = time.perf_counter()
try:
    import benchpkg
    error = None
except ImportError as exc:
    error = str(exc)
print(json.dumps({"start_ms": start_ms, "error_ms": (time.perf_counter() - t) * 1000,
                  "error": error}))
"""

HOST_CODE = r"""
import sys
from filebridge.host import Host
from filebridge.host.imports.service import serve_sources
host = Host(sys.argv[1])
serve_sources(host, [sys.argv[2]])
host.start()
print("ready", flush=True)
host.serve_forever()
"""

MODULE_TEXT = '''"""Generated module."""

import math

from . import __name__ as _parent_name

CONSTANT = 1


def value():
    return CONSTANT


def scaled(x, factor=1.5):
    """A little arithmetic so the module has some code to compile."""
    total = 0.0
    for i in range(3):
        total += math.sqrt(abs(x) + i) * factor
    return total


class Thing:
    kind = "thing"

    def __init__(self, size):
        self.size = size

    def grow(self, by=1):
        self.size += by
        return self


def describe():
    return {"name": __name__, "parent": _parent_name, "value": value()}
'''


def generate(folder: Path, modules: int) -> int:
    """Write the package to ``folder`` (relative imports only, so any root name works).

    Files get an mtime a day ago, as in a checked-out tree (the host reads a file modified
    in the last two seconds again on every look, as its timestamps are coarse, and a light
    look over polled folders stats only the files changed lately at every look)."""
    shutil.rmtree(folder, ignore_errors=True)
    packages = [folder]
    for i in range(SUBPACKAGES):
        outer = folder / f"group{i}"
        packages.append(outer)
        packages.extend(outer / f"part{j}" for j in range(SUBPACKAGES))
    modules_left = modules - len(packages)
    per_package = [modules_left // len(packages)] * len(packages)
    for k in range(modules_left % len(packages)):
        per_package[k] += 1
    index = 0
    written = []
    for package, count in zip(packages, per_package):
        package.mkdir(parents=True, exist_ok=True)
        names = []
        for _ in range(count):
            index += 1
            names.append(f"mod{index}")
            (package / f"mod{index}.py").write_text(MODULE_TEXT)
            written.append(package / f"mod{index}.py")
        children = sorted(p.name for p in packages if p.parent == package)
        lines = [f"from . import {name}" for name in names + children]
        summed = " + ".join([f"{n}.value()" for n in names] + [f"{c}.total()" for c in children])
        lines.append(f"\n\ndef total():\n    return {summed or 0}\n")
        (package / "__init__.py").write_text("\n".join(lines))
        written.append(package / "__init__.py")
    past = time.time() - 86400
    for path in written:
        os.utime(path, (past, past))
    return len(packages) + index


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FILEBRIDGE_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    if os.environ.get("FILEBRIDGE_POLL"):
        env["FILEBRIDGE_POLL"] = os.environ["FILEBRIDGE_POLL"]
    env.update(extra)
    return env


def _run(code: str, *args: str, **env: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", code, *args], env=_env(**env),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Served:
    """A generated package, a local copy of it, and a host serving it in this process."""

    def __init__(self, workdir: Path, modules: int, poll_sources: bool = False) -> None:
        from filebridge.host import Host
        from filebridge.host.imports.service import serve_sources

        self.workdir = workdir
        self.folder = workdir / "served" / "benchpkg"
        self.local = workdir / "local"
        self.count = generate(self.folder, modules)
        shutil.copytree(self.folder, self.local / "localpkg")
        self.root = workdir / "root"
        self.host = Host(self.root)
        self.service = serve_sources(self.host, [str(self.folder)],
                                     force_polling=True if poll_sources else None)
        self.host.start()
        watcher = self.service.watcher
        assert watcher is not None
        watcher.ready.wait(30)
        self._sessions = 0
        self.refreshes: list[int] = []

    def session(self) -> str:
        self._sessions += 1
        return str(self.root / "sessions" / f"bench{self._sessions}")

    def local_import(self, cold: bool) -> dict[str, Any]:
        if cold:
            for cache in self.local.rglob("__pycache__"):
                shutil.rmtree(cache)
        return _run(LOCAL_CODE, str(self.local))

    def bridge_import(self, cache: Path) -> dict[str, Any]:
        return _run(BRIDGE_CODE, FILEBRIDGE_ROOT=str(self.root),
                    FILEBRIDGE_SESSION=self.session(), FILEBRIDGE_IMPORT_CACHE=str(cache))

    def save_to_worker(self, count: int, bounded: bool = False) -> list[float]:
        """Save one module ``count`` times, each followed by ``refresh()``: the ms until the
        worker ran the saved code. ``bounded``: a refresh that did not see the save yet is
        made again (a light look over polled folders sees an in-place save of a file
        untouched for long within a bound, not always at once)."""
        leaf = self.folder / "group1" / "part2"
        path = sorted(leaf.glob("mod*.py"))[0]
        name = "benchpkg.group1.part2." + path.stem
        result = _run(SAVE_CODE, str(path), name, MODULE_TEXT, str(count),
                      "bounded" if bounded else "at-once",
                      FILEBRIDGE_ROOT=str(self.root), FILEBRIDGE_SESSION=self.session(),
                      FILEBRIDGE_IMPORT_CACHE=str(self.workdir / "cache-save"))
        path.write_text(MODULE_TEXT)
        self.refreshes = [int(n) for n in result["refreshes"]]
        return [float(s) for s in result["samples"]]

    def save_to_index(self, count: int) -> list[float]:
        """From a save to the host's index holding the new hash, modules.json written."""
        watcher = self.service.watcher
        assert watcher is not None
        published = threading.Event()
        publish = watcher.on_change

        def on_change() -> None:
            publish()
            published.set()

        watcher.on_change = on_change
        path = self.folder / "group3" / "mod7.py"
        samples = []
        try:
            for i in range(count):
                published.clear()
                text = MODULE_TEXT.replace("CONSTANT = 1\n", f"CONSTANT = {20000 + i}\n")
                t = time.perf_counter()
                path.write_text(text)
                if published.wait(10):
                    samples.append((time.perf_counter() - t) * 1000)
                time.sleep(0.1)
        finally:
            watcher.on_change = publish
            path.write_text(MODULE_TEXT)
        return samples

    def stop(self) -> None:
        self.host.stop()
        self.service.stop()


def dead_host(workdir: Path) -> dict[str, Any]:
    """A real host process serving the package, killed; then a worker starts and imports."""
    folder = workdir / "served" / "benchpkg"
    generate(folder, 50)
    root = workdir / "root"
    host = subprocess.Popen([sys.executable, "-c", HOST_CODE, str(root), str(folder)],
                            env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None and host.stdout.readline().strip() == "ready"
    finally:
        host.kill()
        host.wait()
    return _run(DEAD_CODE, str(root / "sessions" / "after"), FILEBRIDGE_ROOT=str(root))


def measure(size: int, rounds: int, workdir: Path, poll: bool) -> dict[str, Any]:
    """Local and bridge imports interleaved round by round, so a busy machine slows both."""
    served = Served(workdir, size)
    try:
        expected = served.local_import(cold=True)["total"]
        warm_cache = workdir / "cache-warm"
        served.bridge_import(warm_cache)
        samples: dict[str, list[float]] = {k: [] for k in ("local_cold", "bridge_cold",
                                                           "local_warm", "bridge_warm")}
        requests_cold, requests_warm = [], []
        for i in range(rounds):
            samples["local_cold"].append(served.local_import(cold=True)["ms"])
            cold = served.bridge_import(workdir / f"cache-cold{i}")
            assert cold["total"] == expected, "the served package differs from the local one"
            samples["bridge_cold"].append(cold["ms"])
            requests_cold.append(cold["stats"]["requests"])
            samples["local_warm"].append(served.local_import(cold=False)["ms"])
            warm = served.bridge_import(warm_cache)
            samples["bridge_warm"].append(warm["ms"])
            requests_warm.append(warm["stats"]["requests"])
        to_worker = served.save_to_worker(10)
        to_index = served.save_to_index(10)
    finally:
        served.stop()

    def med(values: list[float]) -> float:
        return float(statistics.median(values)) if values else float("nan")

    polled: dict[str, float] = {}
    if poll:
        served = Served(workdir / "polled", size, poll_sources=True)
        try:
            to_worker_polled = served.save_to_worker(10, bounded=True)
            refreshes = served.refreshes
            to_index_polled = served.save_to_index(10)
        finally:
            served.stop()
        polled = {"polled_save_to_worker_ms": med(to_worker_polled),
                  "polled_save_to_worker_max_ms": max(to_worker_polled),
                  "polled_save_to_worker_first_ms": to_worker_polled[0],
                  "polled_refreshes": refreshes,
                  "polled_save_to_index_ms": med(to_index_polled),
                  "polled_save_to_index_max_ms": max(to_index_polled, default=float("nan"))}

    def ratio(bridge: str, local: str) -> float:
        return med([b / a for b, a in zip(samples[bridge], samples[local])])

    return {
        "modules": served.count,
        "local_cold_ms": med(samples["local_cold"]), "local_warm_ms": med(samples["local_warm"]),
        "bridge_cold_ms": med(samples["bridge_cold"]),
        "bridge_warm_ms": med(samples["bridge_warm"]),
        "cold_ratio": ratio("bridge_cold", "local_cold"),
        "warm_ratio": ratio("bridge_warm", "local_warm"),
        "requests_cold": max(requests_cold), "requests_warm": max(requests_warm),
        "save_to_worker_ms": med(to_worker), "save_to_worker_max_ms": max(to_worker),
        "save_to_index_ms": med(to_index),
        "save_to_index_max_ms": max(to_index, default=float("nan")),
        **polled,
    }


def run(sizes: tuple[int, ...] = (200, 2000), rounds: int = 5,
        poll: bool = False) -> dict[str, Any]:
    previous = os.environ.get("FILEBRIDGE_POLL")
    if poll:
        os.environ["FILEBRIDGE_POLL"] = "1"
    try:
        with tempfile.TemporaryDirectory(prefix="fb-bench-imports-") as tmp:
            results = {str(size): measure(size, rounds, Path(tmp) / f"n{size}", poll)
                       for size in sizes}
            dead = dead_host(Path(tmp) / "dead")
    finally:
        if previous is None:
            os.environ.pop("FILEBRIDGE_POLL", None)
        else:
            os.environ["FILEBRIDGE_POLL"] = previous
    return {"strategy": "polling" if poll else "native events", "rounds": rounds,
            "sizes": results, "dead_host": dead}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench imports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per figure")
    parser.add_argument("--sizes", default="200,2000", help="package sizes, comma-separated")
    parser.add_argument("--poll", action="store_true",
                        help="the polling strategy (as FILEBRIDGE_POLL=1)")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    result = run(sizes, args.rounds, args.poll or os.environ.get("FILEBRIDGE_POLL") == "1")
    rows: list[tuple[str, Any]] = [("strategy", result["strategy"])]
    for size, r in result["sizes"].items():
        rows += [
            (f"{size} modules ({r['modules']} generated)", ""),
            ("  local, cold (compile, write __pycache__) ms", r["local_cold_ms"]),
            ("  local, warm __pycache__ ms", r["local_warm_ms"]),
            ("  bridge, cold cache, new process ms", r["bridge_cold_ms"]),
            ("    ratio to local cold (median of rounds)", f"{r['cold_ratio']:.2f}x "
                                                           "(target <= 1.5x)"),
            ("    requests", r["requests_cold"]),
            ("  bridge, warm cache, new process ms", r["bridge_warm_ms"]),
            ("    ratio to local warm (median of rounds)", f"{r['warm_ratio']:.2f}x "
                                                           "(target <= 1.5x)"),
            ("    requests (constant: one look at what changed)", r["requests_warm"]),
            ("  save -> worker runs it (refresh) ms, median / max",
             f"{r['save_to_worker_ms']:.1f} / {r['save_to_worker_max_ms']:.1f}"),
            ("  save -> host index published ms, median / max",
             f"{r['save_to_index_ms']:.1f} / {r['save_to_index_max_ms']:.1f}"),
        ]
        if "polled_save_to_worker_ms" in r:
            rows += [
                ("  served folder polled too (network filesystem):", ""),
                ("    save -> worker runs it (refresh) ms, median / max",
                 f"{r['polled_save_to_worker_ms']:.1f} / {r['polled_save_to_worker_max_ms']:.1f}"),
                ("    first save of a file untouched for a day ms (refresh() calls)",
                 f"{r['polled_save_to_worker_first_ms']:.1f} ({r['polled_refreshes'][0]})"),
                ("    save -> host index published ms, median / max",
                 f"{r['polled_save_to_index_ms']:.1f} / {r['polled_save_to_index_max_ms']:.1f}"),
            ]
    dead = result["dead_host"]
    rows += [("killed host: import error after ms", dead["error_ms"]),
             ("killed host: template line starts in ms", dead["start_ms"])]
    print_report(f"filebridge remote imports, median of {result['rounds']} fresh processes "
                 "(same run, same machine)", rows, result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Remote imports against local imports, measured in one run.

A generated package of 200 modules (nested subpackages, relative imports, a few functions and a
class each) is imported by a fresh worker process three ways: from local disk (the baseline,
compiling and writing __pycache__ as Python does on a first import), through the bridge, and
through the bridge again after every module was dropped from sys.modules with nothing changed
(which must send no request per module). The host runs in this process.
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
from pathlib import Path
from typing import Any, Optional

from benchmarks._stats import print_report

MODULES = 200
SUBPACKAGES = 4  # each with SUBPACKAGES nested subpackages

WORKER_CODE = r"""
import json, sys, time
import filebridge.worker as fb
import filebridge.worker.imports as remote

local_dir, timeout = sys.argv[1], float(sys.argv[2])
fb.connect()
fb.call("echo", timeout=30)  # the host has found this session: measure imports, not discovery

def drop(root):
    for name in [n for n in sys.modules if n == root or n.startswith(root + ".")]:
        del sys.modules[name]

sys.path.insert(0, local_dir)
t = time.perf_counter()
import localpkg
local_ms = (time.perf_counter() - t) * 1000
drop("localpkg")
t = time.perf_counter()
import localpkg
local_cached_ms = (time.perf_counter() - t) * 1000

remote.install(["benchpkg"], timeout=timeout)
t = time.perf_counter()
import benchpkg
bridge_ms = (time.perf_counter() - t) * 1000
first = remote.stats()
drop("benchpkg")
t = time.perf_counter()
import benchpkg
bridge_second_ms = (time.perf_counter() - t) * 1000
second = remote.stats()
assert benchpkg.total() == localpkg.total(), "the two packages differ"
print(json.dumps({"local_ms": local_ms, "local_cached_ms": local_cached_ms,
                  "bridge_ms": bridge_ms, "bridge_second_ms": bridge_second_ms,
                  "requests_first": first["requests"],
                  "requests_second": second["requests"] - first["requests"],
                  "modules": sum(1 for n in sys.modules if n.startswith("benchpkg"))}))
"""

MODULE_TEXT = '''"""Generated module {index}."""

import math

from . import __name__ as _parent_name

CONSTANT = {index}


def value():
    return CONSTANT


def scaled(x, factor=1.5):
    """A little arithmetic so the module has some code to compile."""
    total = 0.0
    for i in range(3):
        total += math.sqrt(abs(x) + i) * factor
    return total


class Thing{index}:
    kind = "thing"

    def __init__(self, size):
        self.size = size

    def grow(self, by=1):
        self.size += by
        return self


def describe():
    return {{"name": __name__, "parent": _parent_name, "value": value()}}
'''


def generate(folder: Path) -> int:
    """Write the package to ``folder`` (relative imports only, so any root name works)."""
    shutil.rmtree(folder, ignore_errors=True)
    packages = [folder]
    for i in range(SUBPACKAGES):
        outer = folder / f"group{i}"
        packages.append(outer)
        packages.extend(outer / f"part{j}" for j in range(SUBPACKAGES))
    modules_left = MODULES - len(packages)
    per_package = [modules_left // len(packages)] * len(packages)
    for k in range(modules_left % len(packages)):
        per_package[k] += 1
    index = 0
    for package, count in zip(packages, per_package):
        package.mkdir(parents=True, exist_ok=True)
        names = []
        for _ in range(count):
            index += 1
            names.append(f"mod{index}")
            (package / f"mod{index}.py").write_text(MODULE_TEXT.format(index=index))
        children = sorted(p.name for p in packages if p.parent == package)
        lines = [f"from . import {name}" for name in names + children]
        summed = " + ".join([f"{n}.value()" for n in names] + [f"{c}.total()" for c in children])
        lines.append(f"\n\ndef total():\n    return {summed or 0}\n")
        (package / "__init__.py").write_text("\n".join(lines))
    return len(packages) + index


def one_round(workdir: Path, timeout: float) -> dict[str, Any]:
    from filebridge.host import Host
    from filebridge.host.source_serve import serve_sources

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    served = workdir / "served" / "benchpkg"
    local = workdir / "local"
    count = generate(served)
    shutil.copytree(served, local / "localpkg")
    root = workdir / "root"
    host = Host(root)
    service = serve_sources(host, [str(served)])
    host.start()
    try:
        env = dict(os.environ, FILEBRIDGE_ROOT=str(root),
                   FILEBRIDGE_SESSION=str(root / "sessions" / "bench"),
                   PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        done = subprocess.run([sys.executable, "-c", WORKER_CODE, str(local), str(timeout)],
                              env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"benchmark worker failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["generated"] = count
        result["strategy"] = host.strategy
        return result
    finally:
        host.stop()
        service.stop()


def run(full: bool = False) -> dict[str, Any]:
    rounds = 7 if full else 3
    samples = []
    with tempfile.TemporaryDirectory(prefix="fb-bench-imports-") as tmp:
        for i in range(rounds):
            samples.append(one_round(Path(tmp) / f"round{i}", timeout=30.0))

    def median(key: str) -> float:
        return float(statistics.median(s[key] for s in samples))

    bridge, local = median("bridge_ms"), median("local_ms")
    return {
        "modules": samples[0]["generated"],
        "rounds": rounds,
        "strategy": samples[0]["strategy"],
        "bridge_ms": bridge,
        "local_ms": local,
        "ratio": bridge / local,
        "bridge_second_ms": median("bridge_second_ms"),
        "local_cached_ms": median("local_cached_ms"),
        "second_ratio": median("bridge_second_ms") / median("local_cached_ms"),
        "requests_first": max(s["requests_first"] for s in samples),
        "requests_second": max(s["requests_second"] for s in samples),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench imports", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--full", action="store_true", help="7 rounds instead of 3")
    args = parser.parse_args(argv)
    result = run(full=args.full)
    rows = [
        ("modules in the package", result["modules"]),
        ("waiting strategy", result["strategy"]),
        ("first import: local disk (ms, median)", result["local_ms"]),
        ("first import: bridge (ms, median)", result["bridge_ms"]),
        ("  ratio bridge / local", f"{result['ratio']:.2f}x (target <= 3x)"),
        ("  module_spec requests", result["requests_first"]),
        ("fresh sys.modules: local, from __pycache__ (ms)", result["local_cached_ms"]),
        ("fresh sys.modules: bridge, unchanged (ms)", result["bridge_second_ms"]),
        ("  ratio bridge / local", f"{result['second_ratio']:.2f}x"),
        ("  module_spec requests", f"{result['requests_second']} (target 0)"),
    ]
    print_report(f"filebridge remote imports, median of {result['rounds']} rounds "
                 "(same run, same machine)", rows, result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

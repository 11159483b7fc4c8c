"""``filebridge bench [NAME]``: run a benchmark from benchmarks/bench_NAME.py."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from filebridge.cli.output import CommandFailed
from filebridge.cli.paths import checkout_dir
from filebridge.cli.progress import Elapsed
from filebridge.features import features

__all__ = ["register"]


def _names() -> list[str]:
    folder = checkout_dir("benchmarks")
    return sorted(p.stem[len("bench_"):] for p in folder.glob("bench_*.py"))


CORE_BENCHMARKS = ("core", "netfs", "surfaces")


def _listed() -> list[str]:
    """The core's benchmarks (netfs through a real sshfs mount), then the features'."""
    return [*CORE_BENCHMARKS, *(name for f in features() for name in f.benchmarks)]


def _bench(args: argparse.Namespace) -> int:
    folder = checkout_dir("benchmarks")
    names = _names()
    if args.name not in names:
        raise CommandFailed(f"no benchmark {args.name!r}; there are: {', '.join(names)}")
    # Benchmarks start helper processes that import `benchmarks` too.
    checkout = str(folder.parent)
    sys.path.insert(0, checkout)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (checkout, os.environ.get("PYTHONPATH", "")) if p)
    module = importlib.import_module(f"benchmarks.bench_{args.name}")
    argv = (["--json"] if args.json else []) + (["--full"] if args.full else [])
    with Elapsed(f"filebridge bench {args.name}", "measuring (its figures come at the end)"):
        return int(module.main(argv))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure filebridge against a baseline taken in the same run",
        description="Run a benchmark and print a table (or JSON). Each compares against a "
                    "baseline measured in the same run: a Unix socket, a local import, "
                    f"jupytext. NAME is one of: {', '.join(_listed())}.")
    parser.add_argument("name", nargs="?", default="core", help="which benchmark (core)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--full", action="store_true", help="more samples, longer")
    parser.set_defaults(func=_bench)

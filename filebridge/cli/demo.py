"""``filebridge demo``: start a host and real workers in a temporary root and tour features."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from filebridge.cli.serve import build_host, build_parser_for_serve
from filebridge.demo import run_demo
from filebridge.host import Host

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    # The host's own warnings (an unknown command, a refused session) read as its lines.
    logging.basicConfig(level=logging.WARNING, format="host log: %(message)s")
    def host_factory(root: Path) -> Host:
        serve_args = build_parser_for_serve().parse_args(["--root", str(root)])
        return build_host(serve_args)

    return 1 if run_demo(host_factory, only=args.only) else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="tour every feature with a host and real worker processes",
        description="Start a host and real worker processes in a temporary root, run a "
                    "scripted tour of every feature and say what happened. Exits 0 when "
                    "every step worked.")
    parser.add_argument("--only", help="run only the steps whose title contains this")
    parser.set_defaults(func=_demo)

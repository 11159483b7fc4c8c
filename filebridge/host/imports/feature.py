"""Remote imports in ``filebridge serve``: ``--source``, ``--include``, ``--exclude``."""

from __future__ import annotations

import argparse
from typing import Optional

from filebridge.features import DemoStep, Feature
from filebridge.host.imports.demo import demo_step
from filebridge.host.imports.rules import DEFAULT_EXCLUDES
from filebridge.host.imports.service import SourceService, serve_sources
from filebridge.host.server import Host

__all__ = ["FEATURE", "add_serve_arguments", "install"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote imports")
    group.add_argument("--source", action="append", default=[], metavar="DIR[=NAME]",
                       help="serve the Python modules in DIR to workers as NAME (default: the "
                            "folder's name); repeatable")
    group.add_argument("--include", action="append", default=[], metavar="GLOB",
                       help="serve only module files matching GLOB; repeatable")
    group.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="never serve files or folders matching GLOB, in addition to "
                            f"{', '.join(DEFAULT_EXCLUDES)}; repeatable")


def install(host: Host, args: argparse.Namespace) -> Optional[SourceService]:
    """Serve the ``--source`` folders, if any were given."""
    sources = getattr(args, "source", None) or []
    if not sources:
        return None
    return serve_sources(host, sources, include=getattr(args, "include", None) or [],
                         exclude=getattr(args, "exclude", None) or [])


FEATURE = Feature(
    name="imports",
    summary="local Python source imported by workers as if it were on their sys.path",
    install=install,
    add_serve_arguments=add_serve_arguments,
    demo=DemoStep("remote imports: a local package through the bridge, and a traceback from it",
                  demo_step),
    benchmarks=("imports",),
)

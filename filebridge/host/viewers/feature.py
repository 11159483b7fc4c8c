"""Viewers in ``filebridge serve``: the handlers always, the web page with ``--ui``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from filebridge.features import DemoStep, Feature
from filebridge.host import Host
from filebridge.host.imports.rules import parse_source
from filebridge.host.viewers.cli import register as register_command
from filebridge.host.viewers.demo import demo_step
from filebridge.host.viewers.service import install_viewers

__all__ = ["FEATURE", "add_serve_arguments", "install"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("viewers")
    group.add_argument("--ui", action="store_true",
                       help="serve the local web page (127.0.0.1 only, token in its address)")
    group.add_argument("--port", type=int, default=0, metavar="N",
                       help="port of the web page (default: any free port)")
    group.add_argument("--open", action="store_true",
                       help="open the system browser on the web page (implies --ui)")
    group.add_argument("--view-folder", action="append", default=[], metavar="DIR",
                       help="let webviews and data views of every session read files under "
                            "DIR (besides each session's folder, --map and --source "
                            "folders); repeatable")


def _served_folders(args: argparse.Namespace) -> list[Path]:
    sources = [parse_source(text).folder for text in getattr(args, "source", None) or []]
    return [*sources, *(Path(d).expanduser() for d in getattr(args, "view_folder", None) or [])]


def install(host: Host, args: argparse.Namespace) -> None:
    viewers = install_viewers(host, ui=bool(getattr(args, "ui", False)),
                              port=int(getattr(args, "port", 0) or 0),
                              open_browser=bool(getattr(args, "open", False)),
                              folders=_served_folders(args))
    if viewers.ui is not None:
        print(f"filebridge: web page at {viewers.ui.url}", file=sys.stderr, flush=True)


FEATURE = Feature(
    name="viewers",
    summary="webviews, browser and help pages, plots and table views on the local web page",
    install=install,
    add_serve_arguments=add_serve_arguments,
    commands=(register_command,),
    demo=DemoStep("viewers: a plot, a webview and a data view on the local page", demo_step),
    benchmarks=("viewers",),
)

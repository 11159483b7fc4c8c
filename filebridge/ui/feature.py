"""Viewers in ``filebridge serve``: the handlers always, the web page with ``--ui``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Optional

from filebridge.host import Host
from filebridge.host.viewers import ViewerStore, install_viewer_handlers
from filebridge.ui.server import UIServer

__all__ = ["Viewers", "add_serve_arguments", "install", "install_viewers"]


@dataclass
class Viewers:
    store: ViewerStore
    ui: Optional[UIServer] = None


# The serve command's host gets one of these, so the demo and tests can reach the page.
installed: dict[int, Viewers] = {}


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("viewers")
    group.add_argument("--ui", action="store_true",
                       help="serve the local web page (127.0.0.1 only, token in its address)")
    group.add_argument("--port", type=int, default=0, metavar="N",
                       help="port of the web page (default: any free port)")
    group.add_argument("--open", action="store_true",
                       help="open the system browser on the web page (implies --ui)")


def install_viewers(host: Host, *, ui: bool = False, port: int = 0,
                    open_browser: bool = False) -> Viewers:
    """Register the viewer handlers on ``host`` and, when asked, start the web page."""
    store = ViewerStore()
    install_viewer_handlers(host, store)
    viewers = Viewers(store)
    if ui or open_browser:
        viewers.ui = UIServer(host, store, port=port)
        viewers.ui.start()
        if open_browser:
            viewers.ui.open_browser()
    installed[id(host)] = viewers
    return viewers


def install(host: Host, args: argparse.Namespace) -> None:
    viewers = install_viewers(host, ui=bool(getattr(args, "ui", False)),
                              port=int(getattr(args, "port", 0) or 0),
                              open_browser=bool(getattr(args, "open", False)))
    if viewers.ui is not None:
        print(f"filebridge: web page at {viewers.ui.url}", file=sys.stderr, flush=True)


def viewers_of(host: Host) -> Optional[Viewers]:
    return installed.get(id(host))

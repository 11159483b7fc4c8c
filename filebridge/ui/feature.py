"""Viewers in ``filebridge serve``: the handlers always, the web page with ``--ui``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from filebridge.host import Host
from filebridge.host.source_rules import parse_source
from filebridge.host.viewers import MAX_VIEWS, ViewerStore, install_viewer_handlers
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
    group.add_argument("--view-folder", action="append", default=[], metavar="DIR",
                       help="let webviews and data views of every session read files under "
                            "DIR (besides each session's folder, --map and --source "
                            "folders); repeatable")


def install_viewers(host: Host, *, ui: bool = False, port: int = 0,
                    open_browser: bool = False,
                    folders: Iterable[Path | str] = (),
                    max_views: int = MAX_VIEWS) -> Viewers:
    """Register the viewer handlers on ``host`` and, when asked, start the web page.

    Views read from each session's own folder, the local side of the host's path map and
    ``folders``; nothing else. ``max_views``: views kept per session.
    """
    store = ViewerStore(folders, max_views)
    install_viewer_handlers(host, store)
    viewers = Viewers(store)
    if ui or open_browser:
        viewers.ui = UIServer(host, store, port=port)
        viewers.ui.start()
        if open_browser:
            viewers.ui.open_browser()
    installed[id(host)] = viewers
    host.on_stop(lambda: _stop(host))
    return viewers


def _stop(host: Host) -> None:
    viewers = installed.pop(id(host), None)
    if viewers is not None and viewers.ui is not None:
        viewers.ui.stop()


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


def viewers_of(host: Host) -> Optional[Viewers]:
    return installed.get(id(host))

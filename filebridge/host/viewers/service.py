"""The viewers of a host: their handlers, their store and, when asked, the web page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from filebridge.host import Host
from filebridge.host.viewers.store import MAX_VIEWS, ViewerStore, install_viewer_handlers
from filebridge.host.viewers.table_snapshot import warm_up
from filebridge.ui.server import UIServer

__all__ = ["Viewers", "install_viewers", "viewers_of"]


@dataclass
class Viewers:
    store: ViewerStore
    ui: Optional[UIServer] = None


# The serve command's host gets one of these, so the demo and tests can reach the page.
installed: dict[int, Viewers] = {}


def install_viewers(host: Host, *, ui: bool = False, port: int = 0,
                    open_browser: bool = False,
                    folders: Iterable[Path | str] = (),
                    max_views: int = MAX_VIEWS) -> Viewers:
    """Register the viewer handlers on ``host`` and, when asked, start the web page.

    Views read from each session's own folder, the local side of the host's path map and
    ``folders``; nothing else. ``max_views``: views kept per session.
    """
    store = ViewerStore(folders, max_views)
    warm_up()
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


def viewers_of(host: Host) -> Optional[Viewers]:
    return installed.get(id(host))

"""The viewers of a host: their handlers, their store and, when asked, the web page."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from filebridge.host import Host
from filebridge.host.viewers.store import MAX_VIEWS, ViewerStore, install_viewer_handlers
from filebridge.host.viewers.table_snapshot import warm_up
from filebridge.ui.server import UIServer

__all__ = ["Viewers", "install_viewers", "viewers_of"]

WARM_UP_WAIT = 60.0


@dataclass(eq=False)
class Viewers:
    """A host's viewers: their store and, when asked, the page (with its own panels)."""

    store: ViewerStore
    ui: Optional[UIServer] = None
    warming: Optional[threading.Thread] = None
    """The thread importing the table engine, started with the viewers."""

    def stop(self) -> None:
        if self.ui is not None:
            self.ui.stop()
        if self.warming is not None:
            # An import cannot be interrupted: stopping waits for its end, so that nothing
            # the host started outlives its stop.
            self.warming.join(WARM_UP_WAIT)


# Kept in the host's parts under this name, so the demo, the editor interface and tests reach
# a host's store and page through the host.
PART = "viewers"


def install_viewers(host: Host, *, ui: bool = False, port: int = 0,
                    open_browser: bool = False,
                    folders: Iterable[Path | str] = (),
                    max_views: int = MAX_VIEWS) -> Viewers:
    """Register the viewer handlers on ``host`` and, when asked, start the web page.

    Views read from each session's own folder, the local side of the host's path map and
    ``folders``; nothing else. ``max_views``: views kept per session.
    """
    earlier = viewers_of(host)
    if earlier is not None:
        earlier.stop()  # installed again: the new store and page replace the old ones
    store = ViewerStore(folders, max_views)
    warming = warm_up()
    install_viewer_handlers(host, store)
    viewers = Viewers(store, warming=warming)
    if ui or open_browser:
        viewers.ui = UIServer(host, store, port=port)
        viewers.ui.start()
        if open_browser:
            viewers.ui.open_browser()
    host.parts[PART] = viewers
    host.on_stop(viewers.stop)
    return viewers


def viewers_of(host: Host) -> Optional[Viewers]:
    """The viewers installed on ``host`` (None: none, or the host stopped)."""
    found = host.parts.get(PART)
    return found if isinstance(found, Viewers) else None

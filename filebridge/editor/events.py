"""What a host does, as editor notifications: (method, params) pairs for a sink.

The same relay feeds ``serve --stdio`` and ``filebridge events --json``. Subscribers run on
the host's threads, so the relay only builds a small dict and hands it on: the sink must not
block (the stdio server queues it for its writer thread).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from filebridge.errors import FilebridgeError
from filebridge.host import Host, HostEvent
from filebridge.host.variables import VariablesChanged
from filebridge.host.viewers import ViewerStore

__all__ = ["TOPICS", "EventRelay", "Sink"]

Sink = Callable[[str, dict[str, Any]], None]

# Topics a client subscribes to, and the notifications each one brings.
TOPICS: dict[str, tuple[str, ...]] = {
    "sessions": ("session/added", "session/attached", "session/detached", "session/stale",
                 "session/status", "session/removed"),
    "views": ("view/opened", "view/closed", "plot/added"),
    "variables": ("variables/changed",),
    "requests": ("request/done",),
}
DEFAULT_TOPICS = ("sessions", "views", "variables")


class EventRelay:
    """Turns host, viewer and variables events into notifications for one sink."""

    def __init__(self, host: Host, sink: Sink, *, store: Optional[ViewerStore] = None,
                 variables: Any = None) -> None:
        self.host = host
        self.sink = sink
        self.topics: set[str] = set()
        self._store = store
        self._views: dict[str, set[str]] = {}
        self._last_plot: dict[str, int] = {}
        self._lock = threading.Lock()
        host.subscribe(self._on_host)
        if store is not None:
            store.subscribe(self._on_views)
        if variables is not None:
            variables.subscribe(self._on_variables)

    def _session(self, session_id: str) -> dict[str, Any]:
        try:
            return self.host.session(session_id).as_json()
        except FilebridgeError:
            return {"id": session_id, "status": "removed"}

    def _send(self, topic: str, method: str, params: dict[str, Any]) -> None:
        if topic in self.topics:
            self.sink(method, params)

    def _on_host(self, event: HostEvent) -> None:
        kind = event.kind
        if kind == "request":
            if "requests" in self.topics and event.request is not None:
                request, answer = event.request, event.answer
                params: dict[str, Any] = {"session": event.session_id, "id": request.id,
                                          "command": request.command, "time": request.time,
                                          "answered": answer is not None,
                                          "ok": answer is None or answer.ok}
                if answer is not None and not answer.ok:
                    params["error"] = {"code": answer.error_code,
                                       "message": answer.error_message}
                self.sink("request/done", params)
            return
        if "sessions" not in self.topics:
            return
        session = self._session(event.session_id)
        if kind == "session_added":
            self.sink("session/added", {"session": session})
        elif kind in ("attached", "detached"):
            self.sink(f"session/{kind}", {"session": session})
        elif kind == "status":
            stale = session.get("status") == "stale"
            self.sink("session/stale" if stale else "session/status", {"session": session})
        elif kind == "session_removed":
            with self._lock:
                self._views.pop(event.session_id, None)
                self._last_plot.pop(event.session_id, None)
            self.sink("session/removed", {"session": session})

    def _on_views(self, session_id: str) -> None:
        store = self._store
        if store is None or "views" not in self.topics:
            return
        views = store.views(session_id)
        plots = store.plots(session_id)
        with self._lock:
            known = self._views.setdefault(session_id, set())
            current = {view.id for view in views}
            opened = [view for view in views if view.id not in known]
            closed = sorted(known - current)
            self._views[session_id] = current
            last = self._last_plot.get(session_id, 0)
            added = [plot for plot in plots if plot.number > last]
            if plots:
                self._last_plot[session_id] = max(last, plots[-1].number)
        for view in opened:
            self.sink("view/opened", {"session": session_id, "view": view.as_json()})
        for view_id in closed:
            self.sink("view/closed", {"session": session_id, "view": view_id})
        for plot in added:
            self.sink("plot/added", {"session": session_id, "plot": plot.as_json()})

    def _on_variables(self, change: VariablesChanged) -> None:
        self._send("variables", "variables/changed", {
            "session": change.session_id, "version": change.version,
            "assigned": list(change.assigned), "removed": list(change.removed),
            "length": change.length})

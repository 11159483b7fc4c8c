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
from filebridge.host.variables.provider import VariablesChanged
from filebridge.host.viewers.store import ViewerStore

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
# A session turns stale by the clock, with no event: its status is looked at this often.
STATUS_LOOK = 0.5


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
        self._status: dict[str, str] = {}  # the status each session was last notified with
        self._said: dict[str, str] = {}  # and the notification that said it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._looker: Optional[threading.Thread] = None
        host.subscribe(self._on_host)
        host.on_stop(self.close)
        if store is not None:
            store.subscribe(self._on_views)
        if variables is not None:
            variables.subscribe(self._on_variables)

    def _session(self, session_id: str) -> dict[str, Any]:
        try:
            return self.host.session(session_id).as_json()
        except FilebridgeError:
            return {"id": session_id, "status": "removed"}

    def subscribe(self, topics: list[str] | set[str]) -> None:
        self.topics.update(topics)
        if "sessions" in self.topics and self._looker is None:
            self._looker = threading.Thread(target=self._look_at_statuses, daemon=True,
                                            name="filebridge-editor-status")
            self._looker.start()

    def close(self) -> None:
        self.topics.clear()
        self._stop.set()

    def _look_at_statuses(self) -> None:
        while not self._stop.wait(STATUS_LOOK):
            if "sessions" not in self.topics:
                continue
            for info in self.host.sessions():
                self._status_is(info.id, info.as_json())

    def _status_is(self, session_id: str, session: dict[str, Any],
                   method: Optional[str] = None) -> None:
        """Notify ``method`` (else what the status change means) unless already notified."""
        status = str(session.get("status"))
        with self._lock:
            before = self._status.get(session_id)
            if method is None:
                if status == before:
                    return
                if before is None:  # seen here before the host's event says it is added
                    method = "session/added"
                else:
                    method = {"stale": "session/stale", "detached": "session/detached"}.get(
                        status, "session/attached" if before == "detached" and status == "alive"
                        else "session/status")
            elif status == before and self._said.get(session_id) == method:
                return  # the status look said it first
            self._status[session_id] = status
            self._said[session_id] = method
        self.sink(method, {"session": session})

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
                                          "answered": request.answer,
                                          "ok": answer is None or answer.ok}
                if answer is not None and not answer.ok:
                    params["error"] = {"code": answer.error_code,
                                       "message": answer.error_message}
                self.sink("request/done", params)
            return
        if "sessions" not in self.topics:
            return
        session = self._session(event.session_id)
        sid = event.session_id
        if kind == "session_added":
            self._status_is(sid, session, "session/added")
        elif kind in ("attached", "detached"):
            self._status_is(sid, session, f"session/{kind}")
        elif kind == "status":
            self._status_is(sid, session)
        elif kind == "session_removed":
            with self._lock:
                self._views.pop(sid, None)
                self._last_plot.pop(sid, None)
                self._status.pop(sid, None)
                self._said.pop(sid, None)
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

"""What the web page asks for: URL segments in, a Response out (no HTTP plumbing here).

Every path below is relative to ``/<token>/``:

| path | what |
|---|---|
| `` / `` | the page |
| `static/<file>` | its script and style sheet |
| `panels/<name>.js` | a registered panel's script |
| `api/state?since=V&wait=S&host=H` | sessions, prompts, panels, the host's health (H: last seen) |
| `api/sessions/<sid>` | a session's views and plots |
| `api/sessions/<sid>/tables/<vid>?start&count&sort=f:desc&filter=text&f.<field>=q` | a page |
| `api/sessions/<sid>/tables/<vid>/<command>?q=<JSON>` | schema, rows, profile, export, code |
| `api/sessions/<sid>/views/<vid>/content` | a tree's JSON or a text view's text |
| `api/sessions/<sid>/views/<vid>/close` (POST) | close a view |
| `api/log?session=<sid>` | the request log, newest first |
| `api/prompts/<id>` (POST `{"value": text or null}`) | answer a worker's prompt (null: cancel) |
| `api/panels/<name>/<route>` | a panel's route |
| `plot/<sid>/<n>.png` | a plot |
| `plot/<sid>/<n>.svg` | its SVG, where the worker sent one (a download) |

Webviews and help pages are not served here: each has a capability URL on the views origin
(the ``frame`` field of a view in ``api/sessions/<sid>``), see ``filebridge.ui.server``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Optional
from urllib.parse import quote

from filebridge.errors import FilebridgeError, PageError, RemoteError
from filebridge.host import Host
from filebridge.host.viewers.store import View, ViewerStore
from filebridge.host.viewers.table_service import TableService
from filebridge.host.viewers.tables import PageRequest, parse_sort
from filebridge.ui import panels as panel_registry
from filebridge.ui.activity import Activity
from filebridge.ui.capabilities import ViewCapabilities
from filebridge.ui.empty_state import start_commands
from filebridge.ui.host_health import STALL_AFTER, health_of
from filebridge.ui.prompts import PagePrompts
from filebridge.wire.codec import dumps

__all__ = ["HEALTH_LOOK", "Api", "Response"]

LONG_POLL_MAX = 30.0
HEALTH_LOOK = 2.0  # a long poll looks at the host's health this often
ERROR_STATUS = {"not_found": 404, "refused": 403, "bad_request": 400, "too_large": 413,
                "busy": 503}


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, "application/json", dumps(value))

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message}, status)


def _static(name: str) -> bytes:
    return (resources.files("filebridge.ui") / "static" / name).read_bytes()


def _prompt_value(body: bytes) -> Optional[str]:
    """A prompt's answer: ``{"value": "text"}``, or ``{"value": null}`` when cancelled."""
    try:
        found = json.loads(body or b"{}")
    except ValueError:
        raise PageError(400, "a prompt's answer is JSON: {\"value\": text or null}") from None
    value = found.get("value") if isinstance(found, dict) else None
    if value is not None and not isinstance(value, str):
        raise PageError(400, "a prompt's value is a string or null")
    return value


def _int(query: dict[str, str], key: str, default: int) -> int:
    try:
        return int(query.get(key, default))
    except ValueError:
        raise PageError(400, f"{key} must be a whole number") from None


def _query_args(query: dict[str, str]) -> dict[str, Any]:
    """A table query's arguments: the JSON object in ``q``."""
    text = query.get("q", "{}")
    try:
        args = json.loads(text)
    except ValueError:
        raise PageError(400, "q is not JSON") from None
    if not isinstance(args, dict):
        raise PageError(400, "q is not a JSON object")
    return args


class Api:
    def __init__(self, host: Host, store: ViewerStore, activity: Activity,
                 capabilities: ViewCapabilities, view_base: str,
                 prompts: PagePrompts, panels: panel_registry.PagePanels, *,
                 health_look: float = HEALTH_LOOK, stall_after: float = STALL_AFTER) -> None:
        self.host = host
        self.health_look = health_look
        self.stall_after = stall_after
        self.panels = panels
        self.prompts = prompts
        self.store = store
        self.activity = activity
        self.capabilities = capabilities
        self.view_base = view_base
        self._panel_routes: dict[str, dict[str, panel_registry.PanelRoute]] = {}
        self.tables = TableService(host, store)

    def handle(self, method: str, segments: list[str], query: dict[str, str],
               body: bytes, caller_left: Callable[[], bool] = lambda: False) -> Response:
        """``caller_left``: whether whoever asked is gone (a long poll ends when it says so)."""
        try:
            return self._route(method, segments, query, body, caller_left)
        except PageError as exc:
            return Response.error(exc.status, exc.message)
        except RemoteError as exc:
            return Response.error(ERROR_STATUS.get(exc.code, 400), exc.remote_message)
        except FilebridgeError as exc:
            return Response.error(404, str(exc))

    def _route(self, method: str, segments: list[str], query: dict[str, str],
               body: bytes, caller_left: Callable[[], bool]) -> Response:
        head, rest = segments[0], segments[1:]
        if head == "" and not rest:
            return Response(200, "text/html; charset=utf-8", _static("index.html"))
        if head == "static" and len(rest) == 1 and rest[0] in ("dom.js", "app.js", "style.css",
                                                               "grid.js", "grid.css"):
            kind = "text/javascript" if rest[0].endswith(".js") else "text/css"
            return Response(200, f"{kind}; charset=utf-8", _static(rest[0]))
        if head == "panels" and len(rest) == 1 and rest[0].endswith(".js"):
            found = self.panels.get(rest[0][:-3])
            if found is None:
                return Response.error(404, "no such panel")
            return Response(200, "text/javascript; charset=utf-8", found.script.read_bytes())
        if head == "plot" and len(rest) == 2 and rest[1].endswith(".png"):
            number = int(rest[1][:-4]) if rest[1][:-4].isdigit() else -1
            self._session_views(rest[0])
            return Response(200, "image/png", self.store.plot_bytes(rest[0], number))
        if head == "plot" and len(rest) == 2 and rest[1].endswith(".svg"):
            number = int(rest[1][:-4]) if rest[1][:-4].isdigit() else -1
            self._session_views(rest[0])
            # Worker SVG may hold scripts: only ever a download, and inert if opened.
            return Response(200, "image/svg+xml", self.store.plot_svg_bytes(rest[0], number),
                            {"Content-Disposition": f'attachment; filename="plot-{number}.svg"',
                             "Content-Security-Policy": "sandbox; default-src 'none'; "
                                                        "style-src 'unsafe-inline'"})
        if head == "api" and rest:
            return self._api(method, rest, query, body, caller_left)
        return Response.error(404, "not found")

    # -- API -----------------------------------------------------------------------------

    def _api(self, method: str, rest: list[str], query: dict[str, str],
             body: bytes, caller_left: Callable[[], bool]) -> Response:
        if rest == ["state"]:
            since = _int(query, "since", -1)
            wait = min(float(_int(query, "wait", 0)), LONG_POLL_MAX)
            self.prompts.poll_started()
            try:
                version = self._wait(since, wait, query.get("host", ""), caller_left)
            finally:
                self.prompts.poll_ended()
            return Response.json(self._state(version))
        if rest[0] == "prompts" and len(rest) == 2:
            if method != "POST":
                return Response.error(405, "answer a prompt with POST")
            return Response.json({"answered": self.prompts.answer(rest[1],
                                                                  _prompt_value(body))})
        if rest == ["log"]:
            return Response.json({"requests": self.activity.requests(
                query.get("session") or None, _int(query, "limit", 200))})
        if rest[0] == "panels" and len(rest) == 3:
            return self._panel(method, rest[1], rest[2], query, body)
        if rest[0] == "sessions" and len(rest) >= 2:
            session_id = rest[1]
            if len(rest) == 2:
                return Response.json(self._session(session_id))
            if len(rest) == 4 and rest[2] == "tables":
                return Response.json(self._table_page(session_id, rest[3], query))
            if len(rest) == 5 and rest[2] == "tables":
                self._session_views(session_id)
                return Response.json(self.tables.answer(session_id, rest[3], rest[4],
                                                        _query_args(query)))
            if len(rest) == 5 and rest[2] == "views" and rest[4] == "content":
                return self._content(session_id, rest[3])
            if len(rest) == 5 and rest[2] == "views" and rest[4] == "close":
                if method != "POST":
                    return Response.error(405, "close with POST")
                self._session_views(session_id)
                closed = self.store.close(session_id, rest[3])
                if closed:
                    self.tables.close(session_id, rest[3])
                return Response.json({"closed": closed})
        return Response.error(404, "no such API path")

    def _wait(self, since: int, wait: float, known_health: str,
              caller_left: Callable[[], bool]) -> int:
        """The version once it passes ``since``, or once the host's health differs from
        ``known_health`` (what the page last saw; a host that stops or stalls makes no
        event), or after ``wait`` seconds, or once the page that asked is closed (its prompts
        then learn that no page is open without waiting out the poll)."""
        deadline = time.monotonic() + wait
        health = known_health or self._health()["state"]
        while True:
            left = deadline - time.monotonic()
            version = self.activity.wait(since, min(left, self.health_look))
            if (version > since or left <= self.health_look
                    or self._health()["state"] != health or caller_left()):
                return version

    def _health(self) -> dict[str, Any]:
        return health_of(self.host, self.stall_after)

    def _state(self, version: int) -> dict[str, Any]:
        return {"version": version, "host": self._health(),
                "root": str(self.host.root.root),
                "start_commands": start_commands(self.host.root.root),
                "sessions": [info.as_json() for info in self.host.sessions()],
                "prompts": self.prompts.pending(),
                "panels": [{"name": p.name, "title": p.title}
                           for p in self.panels.all()]}

    def _session_views(self, session_id: str) -> None:
        """Load a session's saved views the first time the page asks for them."""
        if session_id not in self.store.session_ids():
            self.store.attach_folder(session_id, self.host.session(session_id).folder)

    def _session(self, session_id: str) -> dict[str, Any]:
        info = self.host.session(session_id)
        self._session_views(session_id)
        return {"session": info.as_json(),
                "views": [self._view_json(v) for v in self.store.views(session_id)],
                "plots": [p.as_json() for p in self.store.plots(session_id)]}

    def _view_json(self, view: View) -> dict[str, Any]:
        """A view for the page; webviews and help pages get their capability address."""
        found = view.as_json()
        if view.kind in ("webview", "help") and view.folder:
            capability = self.capabilities.grant(view.session_id, view.id)
            found["frame"] = f"{self.view_base}/{capability}/{quote(view.page)}"
        return found

    def _table_page(self, session_id: str, view_id: str,
                    query: dict[str, str]) -> dict[str, Any]:
        self._session_views(session_id)
        filters = tuple(sorted((key[2:], value) for key, value in query.items()
                               if key.startswith("f.") and value.strip()))
        request = PageRequest(start=_int(query, "start", 0), count=_int(query, "count", 100),
                              sort=parse_sort(query.get("sort", "")),
                              filter=query.get("filter", "").strip(), column_filters=filters)
        return self.store.table(session_id, view_id).page(request)

    def _content(self, session_id: str, view_id: str) -> Response:
        self._session_views(session_id)
        view = self.store.view(session_id, view_id)
        if view.kind == "text" and not view.page:
            return Response(200, "text/plain; charset=utf-8",
                            str(view.details.get("text", "")).encode())
        if view.kind not in ("tree", "text"):
            raise PageError(400, f"view {view_id!r} has no content to fetch")
        kind = "application/json" if view.kind == "tree" else "text/plain; charset=utf-8"
        return Response(200, kind, self.store.content(session_id, view_id))

    # -- panels --------------------------------------------------------------------------

    def _panel(self, method: str, name: str, route: str, query: dict[str, str],
               body: bytes) -> Response:
        found = self.panels.get(name)
        if found is None:
            return Response.error(404, f"no panel {name!r}")
        routes = self._panel_routes.get(name)
        if routes is None:
            routes = self._panel_routes[name] = found.routes(self.host)
        func: Callable[[panel_registry.PanelRequest], panel_registry.PanelResponse] | None = \
            routes.get(route)
        if func is None:
            return Response.error(404, f"panel {name!r} has no route {route!r}")
        try:
            status, content_type, payload = func(
                panel_registry.PanelRequest(method, route, query, body))
        except PageError as exc:
            return Response.error(exc.status, exc.message)
        return Response(status, content_type, payload)

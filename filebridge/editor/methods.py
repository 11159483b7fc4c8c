"""The requests an editor may make, each a function of its params (docs/editor-protocol.md).

They call what the web page's API calls: the host (sessions, commands), the viewer store
(views, plots, table pages), the variables provider, and the notebook shadow session.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Callable, Optional

from filebridge.errors import (
    RPC_ERROR_CODES,
    CallTimeout,
    FilebridgeError,
    NotebookError,
    RemoteError,
    RpcError,
)
from filebridge.host import Host
from filebridge.host.variables.provider import NoSnapshot, VariablesProvider
from filebridge.host.viewers.store import ViewerStore
from filebridge.host.viewers.tables import PageRequest, parse_sort

__all__ = ["ERRORS", "Methods", "RpcError"]

ERRORS = RPC_ERROR_CODES  # (kind -> JSON-RPC error code), defined with RpcError


class Params:
    """A request's params, read with checks that answer invalid_params saying what is wrong."""

    def __init__(self, method: str, raw: Any) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise RpcError("invalid_params", f"{method}: params must be an object")
        self.method = method
        self.raw: dict[str, Any] = raw

    def _bad(self, name: str, what: str) -> RpcError:
        return RpcError("invalid_params", f"{self.method}: {name!r} must be {what}")

    def text(self, name: str, default: Optional[str] = None) -> str:
        value = self.raw.get(name, default)
        if not isinstance(value, str) or (default is None and not value):
            raise self._bad(name, "a non-empty string" if default is None else "a string")
        return value

    def number(self, name: str, default: int, low: int = 0) -> int:
        value = self.raw.get(name, default)
        if type(value) is not int or value < low:
            raise self._bad(name, f"a whole number >= {low}")
        return value

    def seconds(self, name: str, default: Optional[float]) -> Optional[float]:
        value = self.raw.get(name, default)
        if value is not None and (type(value) not in (int, float) or value < 0):
            raise self._bad(name, "a number of seconds >= 0, or null")
        return None if value is None else float(value)

    def keys(self, name: str) -> list[str]:
        value = self.raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, "a list of strings")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise self._bad(name, "an object")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value


def translate(exc: Exception) -> RpcError:
    """A library error as the JSON-RPC error an editor gets."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, CallTimeout):
        return RpcError("timeout", str(exc), {"waited": exc.waited,
                                              "hostAlive": exc.host_alive})
    if isinstance(exc, RemoteError):
        kind = {"not_found": "not_found", "bad_request": "invalid_params"}.get(exc.code,
                                                                              "remote_error")
        return RpcError(kind, exc.remote_message,
                        {"code": exc.code, "details": exc.details})
    if isinstance(exc, (NoSnapshot, NotebookError)):
        return RpcError("not_found" if isinstance(exc, NoSnapshot) else "remote_error",
                        str(exc), {"code": type(exc).__name__})
    if isinstance(exc, FilebridgeError):
        return RpcError("not_found", str(exc))
    return RpcError("internal_error", f"{type(exc).__name__}: {exc}")


Method = Callable[[Params], Any]


class Methods:
    """Every request method, by name, over one host."""

    def __init__(self, host: Host, store: Optional[ViewerStore],
                 variables: Optional[VariablesProvider],
                 notebook_temp: Optional[Path] = None) -> None:
        from filebridge.ui.activity import Activity

        self.activity = Activity()  # the page's request log, kept the same way here
        host.subscribe(self.activity.on_host_event)
        self.host = host
        self.store = store
        self.variables = variables
        self.notebook_temp = notebook_temp
        self.table: dict[str, Method] = {
            "sessions/list": self.sessions_list,
            "session/get": self.session_get,
            "session/command": self.session_command,
            "requests/log": self.requests_log,
            "view/tablePage": self.table_page,
            "view/content": self.view_content,
            "view/file": self.view_file,
            "view/close": self.view_close,
            "plot/get": self.plot_get,
            "variables/list": self.variables_list,
            "variables/inspect": self.variables_inspect,
            "variables/view": self.variables_view,
            "notebook/open": self.notebook_open,
            "notebook/sync": self.notebook_sync,
            "notebook/reload": self.notebook_reload,
            "notebook/status": self.notebook_status,
        }

    def call(self, method: str, raw_params: Any) -> Any:
        func = self.table.get(method)
        if func is None:
            raise RpcError("method_not_found", f"no method {method!r}")
        try:
            return func(Params(method, raw_params))
        except Exception as exc:
            raise translate(exc) from exc

    # -- sessions ------------------------------------------------------------------------

    def sessions_list(self, params: Params) -> dict[str, Any]:
        return {"sessions": [info.as_json() for info in self.host.sessions()]}

    def _viewers(self, session_id: str) -> ViewerStore:
        if self.store is None:
            raise RpcError("not_found", "this host has no viewers")
        if session_id not in self.store.session_ids():
            self.store.attach_folder(session_id, self.host.session(session_id).folder)
        return self.store

    def session_get(self, params: Params) -> dict[str, Any]:
        session_id = params.text("session")
        info = self.host.session(session_id)
        store = self._viewers(session_id)
        return {"session": info.as_json(),
                "views": [view.as_json() for view in store.views(session_id)],
                "plots": [plot.as_json() for plot in store.plots(session_id)]}

    def session_command(self, params: Params) -> dict[str, Any]:
        result = self.host.command(params.text("session"), params.text("command"),
                                   timeout=params.seconds("timeout", 10.0),
                                   **params.mapping("args"))
        return {"result": result}

    def requests_log(self, params: Params) -> dict[str, Any]:
        session_id = params.text("session", "") or None
        return {"requests": self.activity.requests(session_id, params.number("limit", 200, 1))}

    # -- views and plots -----------------------------------------------------------------

    def table_page(self, params: Params) -> dict[str, Any]:
        session_id, view_id = params.text("session"), params.text("view")
        filters = params.mapping("columnFilters")
        if not all(isinstance(v, str) for v in filters.values()):
            raise RpcError("invalid_params", "view/tablePage: columnFilters maps to strings")
        request = PageRequest(start=params.number("start", 0),
                              count=params.number("count", 100),
                              sort=parse_sort(params.text("sort", "")),
                              filter=params.text("filter", "").strip(),
                              column_filters=tuple(sorted((k, v) for k, v in filters.items()
                                                          if v.strip())))
        return dict(self._viewers(session_id).table(session_id, view_id).page(request))

    def view_content(self, params: Params) -> dict[str, Any]:
        session_id, view_id = params.text("session"), params.text("view")
        store = self._viewers(session_id)
        view = store.view(session_id, view_id)
        if view.kind == "text" and not view.page:
            return {"kind": "text", "text": str(view.details.get("text", ""))}
        if view.kind not in ("tree", "text"):
            raise RemoteError("bad_request", f"view {view_id!r} ({view.kind}) has no content "
                                             "to fetch; a page's files come by view/file")
        data = store.content(session_id, view_id)
        return {"kind": view.kind, "text": data.decode("utf-8", errors="replace")}

    def view_file(self, params: Params) -> dict[str, Any]:
        session_id, view_id = params.text("session"), params.text("view")
        name, data = self._viewers(session_id).view_file(session_id, view_id,
                                                         params.keys("path"))
        return {"name": name, "data": base64.b64encode(data).decode("ascii")}

    def view_close(self, params: Params) -> dict[str, Any]:
        session_id, view_id = params.text("session"), params.text("view")
        return {"closed": self._viewers(session_id).close(session_id, view_id)}

    def plot_get(self, params: Params) -> dict[str, Any]:
        session_id = params.text("session")
        data = self._viewers(session_id).plot_bytes(session_id, params.number("number", 1, 1))
        return {"png": base64.b64encode(data).decode("ascii")}

    # -- variables -----------------------------------------------------------------------

    def _provider(self) -> VariablesProvider:
        if self.variables is None:
            raise RpcError("not_found", "this host has no variables provider")
        return self.variables

    def variables_list(self, params: Params) -> dict[str, Any]:
        count = params.raw.get("count")
        return self._provider().list(
            params.text("session"), start=params.number("start", 0),
            count=params.number("count", 0) if count is not None else None,
            sort=params.text("sort", "") or None, filter=params.text("filter", "") or None)

    def variables_inspect(self, params: Params) -> dict[str, Any]:
        return self._provider().inspect(
            params.text("session"), params.keys("path"), start=params.number("start", 0),
            count=params.number("count", 100, 1), sort=params.text("sort", "") or None,
            filter=params.text("filter", "") or None)

    def variables_view(self, params: Params) -> dict[str, Any]:
        return self._provider().view(params.text("session"), params.keys("path"))

    # -- notebooks -----------------------------------------------------------------------

    def _shadows(self, params: Params) -> Any:
        from filebridge.notebooks.shadow import ShadowSession

        name = params.text("notebookSession", "") or None
        return ShadowSession(name, temp_dir=self.notebook_temp)

    def notebook_open(self, params: Params) -> dict[str, Any]:
        location = params.text("location", "temp")
        event = self._shadows(params).open(params.text("source"),
                                           workspace=params.text("workspace", "") or None,
                                           location=location,
                                           auto_reload=params.flag("autoReload"))
        return dict(event.to_dict())

    def notebook_sync(self, params: Params) -> dict[str, Any]:
        events = self._shadows(params).sync(params.text("source", "") or None)
        return {"events": [event.to_dict() for event in events]}

    def notebook_reload(self, params: Params) -> dict[str, Any]:
        events = self._shadows(params).reload(params.text("source"))
        return {"events": [event.to_dict() for event in events]}

    def notebook_status(self, params: Params) -> dict[str, Any]:
        return {"notebooks": self._shadows(params).status()}

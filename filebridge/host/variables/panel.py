"""The variables panel of the web page: JSON routes over the host's variables provider.

Routes (GET, ``session`` in every query):
``list?sort=&filter=&start=&count=`` the top level from the snapshot; ``children?path=[keys]``
a page of children (``start``, ``count``, ``sort``, ``filter``); ``view?path=`` a data-view
table; ``changes?since=V&wait=S`` long-polls until the session's snapshot version is not V
(reading the snapshot subscribes the host's provider as a viewer, so the worker snapshots);
``retry?path=`` describes again a value that went over the time limit.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from filebridge.errors import CallTimeout, FilebridgeError, RemoteError
from filebridge.host.variables.provider import NoSnapshot, VariablesChanged
from filebridge.host.variables.service import provider_for
from filebridge.ui.panels import (
    Panel,
    PanelError,
    PanelRequest,
    PanelResponse,
    PanelRoute,
    json_response,
)

if TYPE_CHECKING:
    from filebridge.host import Host

__all__ = ["PANEL", "SCRIPT", "routes"]

SCRIPT = Path(__file__).resolve().parent / "panel.js"
MAX_WAIT = 25.0


def _session(request: PanelRequest) -> str:
    if not request.session_id:
        raise PanelError(400, "no session selected")
    return request.session_id


def _int(request: PanelRequest, name: str, default: int) -> int:
    text = request.query.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise PanelError(400, f"{name} must be an integer") from None
    if value < 0:
        raise PanelError(400, f"{name} must not be negative")
    return value


def _path(request: PanelRequest) -> list[str]:
    try:
        path = json.loads(request.query.get("path") or "[]")
    except ValueError:
        raise PanelError(400, "path must be a JSON list of access keys") from None
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise PanelError(400, "path must be a JSON list of access keys")
    return path


def _sort(request: PanelRequest) -> Optional[str]:
    sort = request.query.get("sort") or None
    if sort not in (None, "name", "size", "type"):
        raise PanelError(400, "sort is one of name, size, type")
    return sort


def _failure(exc: Exception) -> PanelError:
    if isinstance(exc, PanelError):
        return exc
    if isinstance(exc, NoSnapshot):
        return PanelError(404, str(exc))
    if isinstance(exc, CallTimeout):
        return PanelError(504, str(exc))
    if isinstance(exc, RemoteError):
        status = {"not_found": 404, "bad_request": 400, "refused": 409,
                  "too_large": 413}.get(exc.code, 502)
        return PanelError(status, exc.remote_message)
    return PanelError(400, str(exc))


class _Versions:
    """The latest snapshot version per session, to long-poll on."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._versions: dict[str, int] = {}

    def seen(self, change: VariablesChanged) -> None:
        with self._changed:
            self._versions[change.session_id] = change.version
            self._changed.notify_all()

    def wait(self, session_id: str, since: int, timeout: float, current: int) -> int:
        with self._changed:
            self._versions.setdefault(session_id, current)
            self._changed.wait_for(lambda: self._versions[session_id] != since, timeout)
            return self._versions[session_id]


def routes(host: Host) -> dict[str, PanelRoute]:
    provider = provider_for(host)
    versions = _Versions()
    provider.subscribe(versions.seen)

    def list_(request: PanelRequest) -> PanelResponse:
        try:
            return json_response(provider.list(
                _session(request), start=_int(request, "start", 0),
                count=_int(request, "count", 1000), sort=_sort(request),
                filter=request.query.get("filter") or None))
        except (FilebridgeError, ValueError) as exc:
            raise _failure(exc) from None

    def children(request: PanelRequest) -> PanelResponse:
        try:
            return json_response(provider.inspect(
                _session(request), _path(request), start=_int(request, "start", 0),
                count=min(_int(request, "count", 100), 1000), sort=_sort(request),
                filter=request.query.get("filter") or None))
        except FilebridgeError as exc:
            raise _failure(exc) from None

    def view(request: PanelRequest) -> PanelResponse:
        try:
            answer = provider.view(_session(request), _path(request),
                                   open=request.query.get("open") == "1")
            # the page opens the data view itself; the first rows of the table stay out
            return json_response({key: answer[key] for key in ("title", "view", "total_rows")
                                  if key in answer})
        except FilebridgeError as exc:
            raise _failure(exc) from None

    def retry(request: PanelRequest) -> PanelResponse:
        path = _path(request)
        try:
            return json_response(provider.retry(_session(request), path or None))
        except FilebridgeError as exc:
            raise _failure(exc) from None

    def changes(request: PanelRequest) -> PanelResponse:
        session = _session(request)
        try:
            current = int(provider.snapshot(session).get("version") or 0)
        except NoSnapshot:
            current = 0
        since = _int(request, "since", current)
        wait = min(float(_int(request, "wait", 20)), MAX_WAIT)
        return json_response({"version": versions.wait(session, since, wait, current)})

    return {"list": list_, "children": children, "view": view, "changes": changes,
            "retry": retry}


PANEL = Panel(name="variables", title="Variables", script=SCRIPT, routes=routes, order=50)

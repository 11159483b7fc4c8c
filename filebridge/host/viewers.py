"""The host's viewers: what each session asked to show, kept until closed or pruned.

    from filebridge.host import Host
    from filebridge.host.viewers import ViewerStore, install_viewer_handlers

    store = ViewerStore()
    install_viewer_handlers(host, store)    # webview, browser, help, dataview, plot, httpgd
    store.views(session_id)                 # list[View]
    store.table(session_id, view_id).page(PageRequest(start=0, count=100))

Integrations that show views their own way register their own handlers for these commands
(the host's plugin point) or subscribe to the store with ``store.subscribe(fn(session_id))``.
Views live in memory and in ``<session>/host-views/index.json`` (so a restarted host still
lists them); plots are copied into ``<session>/host-views/plots/``. Pruning the session
folder removes both.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

from filebridge.errors import RemoteError
from filebridge.host.dispatch import Call
from filebridge.host.server import Host, HostEvent
from filebridge.host.table_import import import_vscode_r_table
from filebridge.host.tables import TableReader
from filebridge.wire.codec import dumps, loads
from filebridge.wire.files import atomic_write
from filebridge.wire.layout import is_valid_session_id, make_private_dir

__all__ = ["PLOT_HISTORY", "PlotRecord", "View", "ViewerStore", "install_viewer_handlers"]

log = logging.getLogger("filebridge.viewers")

PLOT_HISTORY = 50
HOST_FOLDER = "host-views"
VIEW_KINDS = ("webview", "browser", "help", "table", "tree", "text", "httpgd")


@dataclass
class View:
    """One thing a session asked to show. ``folder`` is the local folder served or read."""

    id: str
    session_id: str
    kind: str
    title: str
    created: float
    command: str
    request_id: str
    folder: str = ""
    page: str = ""  # the page inside ``folder`` (webview, help) or the file read (tree, text)
    url: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PlotRecord:
    number: int
    time: float
    width: int
    height: int
    bytes: int
    file: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class _SessionViews:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.views: OrderedDict[str, View] = OrderedDict()
        self.plots: list[PlotRecord] = []
        self.tables: dict[str, TableReader] = {}
        self.last_plot_digest = ""

    @property
    def store_folder(self) -> Path:
        return self.folder / HOST_FOLDER


class ViewerStore:
    """Views and plots per session. Thread-safe: handlers and the web page share it."""

    def __init__(self) -> None:
        self._sessions: dict[str, _SessionViews] = {}
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[str], None]] = []

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """``callback(session_id)`` after every change to a session's views or plots."""
        self._subscribers.append(callback)

    def _changed(self, session_id: str) -> None:
        for callback in list(self._subscribers):
            try:
                callback(session_id)
            except Exception:
                log.exception("viewer subscriber failed")

    # -- sessions ------------------------------------------------------------------------

    def attach_folder(self, session_id: str, folder: Path) -> _SessionViews:
        """The views of a session, loaded from its folder the first time."""
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None:
                entry = _SessionViews(folder)
                self._load(entry, session_id)
                self._sessions[session_id] = entry
            return entry

    def _load(self, entry: _SessionViews, session_id: str) -> None:
        try:
            saved = loads((entry.store_folder / "index.json").read_bytes())
        except (OSError, ValueError):
            return
        for raw in saved.get("views", []):
            try:
                view = View(**raw)
            except TypeError:
                continue
            if view.session_id == session_id:
                entry.views[view.id] = view
        for raw in saved.get("plots", []):
            try:
                entry.plots.append(PlotRecord(**raw))
            except TypeError:
                continue

    def _save(self, entry: _SessionViews) -> None:
        try:
            make_private_dir(entry.store_folder)
            atomic_write(entry.store_folder / "index.json", dumps({
                "views": [v.as_json() for v in entry.views.values()],
                "plots": [p.as_json() for p in entry.plots]}))
        except OSError as exc:
            log.warning("cannot save the views of %s: %s", entry.folder, exc)

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
        self._changed(session_id)

    def session_ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def _entry(self, session_id: str) -> _SessionViews:
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None:
            raise RemoteError("not_found", f"no views for session {session_id!r}")
        return entry

    # -- views ---------------------------------------------------------------------------

    def add(self, folder: Path, view: View) -> View:
        entry = self.attach_folder(view.session_id, folder)
        with self._lock:
            entry.views.pop(view.id, None)
            entry.tables.pop(view.id, None)
            entry.views[view.id] = view
            self._save(entry)
        self._changed(view.session_id)
        return view

    def views(self, session_id: str) -> list[View]:
        with self._lock:
            entry = self._sessions.get(session_id)
            return list(entry.views.values()) if entry else []

    def view(self, session_id: str, view_id: str) -> View:
        with self._lock:
            view = self._entry(session_id).views.get(view_id)
        if view is None:
            raise RemoteError("not_found", f"no view {view_id!r} in session {session_id!r}")
        return view

    def close(self, session_id: str, view_id: str) -> bool:
        with self._lock:
            entry = self._entry(session_id)
            closed = entry.views.pop(view_id, None) is not None
            entry.tables.pop(view_id, None)
            if closed:
                self._save(entry)
        if closed:
            self._changed(session_id)
        return closed

    def table(self, session_id: str, view_id: str) -> TableReader:
        view = self.view(session_id, view_id)
        if view.kind != "table":
            raise RemoteError("bad_request", f"view {view_id!r} is a {view.kind}, not a table")
        with self._lock:
            entry = self._entry(session_id)
            reader = entry.tables.get(view_id)
            if reader is None:
                reader = entry.tables[view_id] = TableReader(Path(view.folder))
            return reader

    # -- plots ---------------------------------------------------------------------------

    def add_plot(self, session_id: str, folder: Path, data: bytes, width: int,
                 height: int) -> Optional[PlotRecord]:
        """Keep a copy of a new plot (the same picture twice is kept once)."""
        entry = self.attach_folder(session_id, folder)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if digest == entry.last_plot_digest and entry.plots:
                return None
            number = entry.plots[-1].number + 1 if entry.plots else 1
            plots = entry.store_folder / "plots"
            make_private_dir(plots)
            name = f"{number:06d}.png"
            atomic_write(plots / name, data)
            record = PlotRecord(number, time.time(), width, height, len(data), name)
            entry.plots.append(record)
            entry.last_plot_digest = digest
            while len(entry.plots) > PLOT_HISTORY:
                old = entry.plots.pop(0)
                (plots / old.file).unlink(missing_ok=True)
            self._save(entry)
        self._changed(session_id)
        return record

    def plots(self, session_id: str) -> list[PlotRecord]:
        with self._lock:
            entry = self._sessions.get(session_id)
            return list(entry.plots) if entry else []

    def plot_file(self, session_id: str, number: int) -> Path:
        entry = self._entry(session_id)
        with self._lock:
            for record in entry.plots:
                if record.number == number:
                    return entry.store_folder / "plots" / record.file
        raise RemoteError("not_found", f"no plot {number} in session {session_id!r}")


# -- handlers --------------------------------------------------------------------------------

def _text(args: dict[str, Any], key: str, default: str = "") -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise RemoteError("bad_request", f"{key!r} must be a string")
    return value


def _local_path(call: Call, key: str, *, required: bool = True) -> Optional[Path]:
    """A path argument as a local path.

    ``<key>_in_session`` (relative to the session folder) wins: it needs no path map. Else the
    absolute ``<key>``, already rewritten by the host's path map.
    """
    relative = call.args.get(f"{key}_in_session")
    if isinstance(relative, str) and relative:
        parts = PurePosixPath(relative).parts
        if relative.startswith("/") or ".." in parts:
            raise RemoteError("refused", f"{key}_in_session must stay inside the session folder")
        return call.layout.folder.joinpath(*parts)
    value = call.args.get(key)
    if isinstance(value, str) and value:
        return Path(value)
    if required:
        raise RemoteError("bad_request", f"{call.command} needs {key!r}")
    return None


def _view_id(call: Call) -> str:
    value = call.args.get("view")
    if isinstance(value, str) and is_valid_session_id(value):
        return value
    return call.request.id


def _new_view(call: Call, kind: str, title: str, **fields: Any) -> View:
    return View(id=_view_id(call), session_id=call.session.id, kind=kind, title=title,
                created=call.request.time, command=call.command, request_id=call.request.id,
                **fields)


def _served_page(call: Call, default_title: str) -> View:
    """webview and help: a page and the folder its assets may come from."""
    page = _local_path(call, "file")
    assert page is not None
    folder = _local_path(call, "dir", required=False) or page.parent
    try:
        real_page, real_folder = page.resolve(strict=True), folder.resolve(strict=True)
    except OSError:
        raise RemoteError("not_found", f"{call.command}: no such file on this side: {page} "
                          "(is a --map needed?)") from None
    if real_folder not in real_page.parents:
        raise RemoteError("refused", f"{call.command}: {page} is not inside {folder}")
    kind = "help" if call.command == "help" else "webview"
    return _new_view(call, kind, _text(call.args, "title") or default_title,
                     folder=str(real_folder),
                     page=real_page.relative_to(real_folder).as_posix(),
                     details={"topic": call.args.get("topic")} if kind == "help" else {})


def install_viewer_handlers(host: Host, store: ViewerStore) -> None:
    """Register the viewer commands on ``host``; later registrations replace them."""

    def keep(call: Call, view: View) -> dict[str, Any]:
        store.add(call.layout.folder, view)
        return {"view": view.id}

    def webview(call: Call) -> dict[str, Any]:
        return keep(call, _served_page(call, "page"))

    def help_page(call: Call) -> dict[str, Any]:
        if "file" not in call.args and "file_in_session" not in call.args:
            # vscode-R sends a path on R's own help server, which this side cannot reach
            path = _text(call.args, "requestPath")
            return keep(call, _new_view(call, "text", f"Help: {path}",
                                        details={"text": f"R help page {path} (served by R's "
                                                         "help server on the worker)"}))
        return keep(call, _served_page(call, "Help"))

    def browser(call: Call) -> dict[str, Any]:
        url = _text(call.args, "url")
        if not url.startswith(("http://", "https://")):
            raise RemoteError("refused", f"browser shows http and https URLs, not {url!r}")
        kind = "httpgd" if call.command == "httpgd" else "browser"
        return keep(call, _new_view(call, kind, _text(call.args, "title") or url, url=url,
                                    details={"viewer": call.args.get("viewer", True)}))

    def dataview(call: Call) -> dict[str, Any]:
        source = _text(call.args, "source", "table")
        kind_of_file = _text(call.args, "type", "")
        title = _text(call.args, "title") or "data"
        if source == "table" and kind_of_file == "filebridge.table":
            folder = _local_path(call, "dir")
            assert folder is not None
            if not (folder / "meta.json").is_file():
                raise RemoteError("not_found", f"dataview: no table at {folder} "
                                  "(is a --map needed?)")
            return keep(call, _new_view(call, "table", title, folder=str(folder),
                                        details={"rows": call.args.get("rows")}))
        payload = _local_path(call, "file")
        assert payload is not None
        if not payload.is_file():
            raise RemoteError("not_found", f"dataview: no such file on this side: {payload}")
        if source == "table":
            view_id = _view_id(call)
            target = call.layout.folder / HOST_FOLDER / "tables" / view_id
            meta = import_vscode_r_table(payload, target, title)
            return keep(call, _new_view(call, "table", title, folder=str(target),
                                        details={"rows": meta["rows"]}))
        kind = "tree" if source == "list" else "text"
        return keep(call, _new_view(call, kind, title, folder=str(payload.parent),
                                    page=payload.name,
                                    details={"language": call.args.get("language") or
                                             ("r" if kind_of_file == "R" else "")}))

    def plot(call: Call) -> dict[str, Any]:
        image = _local_path(call, "file", required=False) or call.layout.plot_png
        try:
            data = image.read_bytes()
        except OSError as exc:
            raise RemoteError("not_found", f"plot: cannot read {image}: {exc}") from None
        if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 24:
            raise RemoteError("bad_request", f"plot: {image} is not a PNG image")
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        record = store.add_plot(call.session.id, call.layout.folder, data, width, height)
        return {"plot": record.number if record else None}

    host.register("webview", webview, idempotent=True)
    host.register("help", help_page, idempotent=True)
    host.register("browser", browser, idempotent=True)
    host.register("httpgd", browser, idempotent=True)
    host.register("dataview", dataview, idempotent=True)
    host.register("plot", plot, idempotent=True)

    def on_event(event: HostEvent) -> None:
        if event.kind == "session_removed":
            store.forget(event.session_id)

    host.subscribe(on_event)

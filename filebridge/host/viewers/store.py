"""The host's viewers: what each session asked to show, kept until closed or pruned.

    from filebridge.host import Host
    from filebridge.host.viewers.store import ViewerStore, install_viewer_handlers

    store = ViewerStore()
    install_viewer_handlers(host, store)    # webview, browser, help, dataview, plot, httpgd
    store.views(session_id)                 # list[View]
    store.table(session_id, view_id).page(PageRequest(start=0, count=100))

Integrations that show views their own way register their own handlers for these commands
(the host's plugin point) or subscribe to the store with ``store.subscribe(fn(session_id))``.
Views live in memory and in ``<session>/host-views/index.json`` (so a restarted host still
lists them); plots are copied into ``<session>/host-views/plots/``. Pruning the session
folder removes both.

Every file a view reads goes through ``filebridge.host.viewers.files``: only inside the session
folder or the folders the user let the host serve, never through a symlink leading out, never a
FIFO or a device, and never more than the size limits below. The worker can edit
``index.json``, so what it says is checked again whenever a file is read.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

from filebridge.errors import RemoteError
from filebridge.host.dispatch import Call
from filebridge.host.server import Host, HostEvent
from filebridge.host.viewers.files import AllowedFolders, remove_inside, write_inside
from filebridge.host.viewers.table_import import import_vscode_r_table
from filebridge.host.viewers.table_snapshot import SnapshotTable
from filebridge.host.viewers.tables import MAX_META_BYTES, SnapshotPages, TableReader, table_version
from filebridge.wire.codec import dumps, loads
from filebridge.wire.layout import is_valid_session_id

__all__ = ["MAX_VIEWS", "PLOT_HISTORY", "PlotRecord", "View", "ViewerStore",
           "install_viewer_handlers"]

log = logging.getLogger("filebridge.viewers")

PLOT_HISTORY = 50
MAX_VIEWS = 200  # per session; the oldest view goes when a new one would pass it
OPEN_TABLES = 4  # table readers (with their caches) kept per session
HOST_FOLDER = "host-views"
VIEW_KINDS = ("webview", "browser", "help", "table", "tree", "text", "httpgd")
MAX_INDEX_BYTES = 8 << 20
MAX_PLOT_BYTES = 64 << 20
MAX_CONTENT_BYTES = 32 << 20  # a text or tree view's file
MAX_ASSET_BYTES = 128 << 20  # one file of a webview or help page
MAX_IMPORT_BYTES = 256 << 20  # vscode-R's table payload, parsed whole
MAX_TITLE = 300
MAX_URL = 8192
_PLOT_FILE = re.compile(r"[0-9]{6}\.png")
_SVG_FILE = re.compile(r"[0-9]{6}\.svg")


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
    svg: str = ""  # the same picture as SVG, where the worker sent one

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _small_details(details: Any) -> dict[str, Any]:
    """Only short scalar details are kept (a worker chooses them)."""
    if not isinstance(details, dict):
        return {}
    kept: dict[str, Any] = {}
    for key, value in list(details.items())[:8]:
        if isinstance(value, str):
            kept[str(key)[:40]] = _short(value, 2000)
        elif value is None or isinstance(value, (bool, int, float)):
            kept[str(key)[:40]] = value
    return kept


def _view_from_saved(raw: Any, session_id: str) -> Optional[View]:
    if not isinstance(raw, dict) or set(raw) - {f.name for f in fields(View)}:
        return None
    try:
        view = View(**raw)
    except TypeError:
        return None
    text_fields = (view.id, view.session_id, view.kind, view.title, view.command,
                   view.request_id, view.folder, view.page, view.url)
    if not all(isinstance(v, str) for v in text_fields) or view.session_id != session_id \
            or view.kind not in VIEW_KINDS or not is_valid_session_id(view.id) \
            or not isinstance(view.created, (int, float)):
        return None
    view.title = _short(view.title, MAX_TITLE)
    view.url = _short(view.url, MAX_URL)
    view.details = _small_details(view.details)
    return view


def _plot_from_saved(raw: Any) -> Optional[PlotRecord]:
    if not isinstance(raw, dict):
        return None
    try:
        record = PlotRecord(**raw)
    except TypeError:
        return None
    if not isinstance(record.file, str) or not _PLOT_FILE.fullmatch(record.file) \
            or not all(isinstance(v, int) and not isinstance(v, bool)
                       for v in (record.number, record.width, record.height, record.bytes)):
        return None
    if not isinstance(record.svg, str) or (record.svg and not _SVG_FILE.fullmatch(record.svg)):
        return None
    return record


class _SessionViews:
    def __init__(self, folder: Path, allowed: AllowedFolders) -> None:
        self.folder = folder
        self.allowed = allowed
        self.views: OrderedDict[str, View] = OrderedDict()
        self.plots: list[PlotRecord] = []
        self.tables: OrderedDict[str, TableReader | SnapshotPages] = OrderedDict()
        self.last_plot_digest = ""

    @property
    def store_folder(self) -> Path:
        return self.folder / HOST_FOLDER


class ViewerStore:
    """Views and plots per session. Thread-safe: handlers and the web page share it.

    ``folders``: the host folders, besides each session's own folder, that views may read
    (the local side of ``--map``, ``--source`` and ``--view-folder`` folders).
    ``max_views``: views kept per session; the oldest goes when a new one would pass it.
    """

    def __init__(self, folders: Iterable[Path | str] = (), max_views: int = MAX_VIEWS) -> None:
        self.max_views = max_views
        self._sessions: dict[str, _SessionViews] = {}
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[str], None]] = []
        self._folders: list[Path] = [Path(f) for f in folders]

    def add_folders(self, folders: Iterable[Path | str]) -> None:
        """Let views of every session read ``folders`` too (from sessions attached later)."""
        with self._lock:
            self._folders.extend(Path(f) for f in folders)

    def allowed(self, session_folder: Path) -> AllowedFolders:
        """What a view of the session in ``session_folder`` may read."""
        with self._lock:
            return AllowedFolders(self._folders, session=session_folder)

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
                entry = _SessionViews(folder, self.allowed(folder))
                self._load(entry, session_id)
                self._sessions[session_id] = entry
            return entry

    def _load(self, entry: _SessionViews, session_id: str) -> None:
        own = AllowedFolders([], session=entry.folder)
        try:
            saved = loads(own.read(entry.store_folder / "index.json", MAX_INDEX_BYTES))
        except (RemoteError, ValueError) as exc:
            if not (isinstance(exc, RemoteError) and exc.code == "not_found"):
                log.warning("session %s: saved views ignored: %s", session_id, exc)
            return
        if not isinstance(saved, dict):
            return
        views = saved.get("views")
        for raw in (views if isinstance(views, list) else [])[-self.max_views:]:
            view = _view_from_saved(raw, session_id)
            if view is not None:
                entry.views[view.id] = view
        plots = saved.get("plots")
        for raw in (plots if isinstance(plots, list) else [])[-PLOT_HISTORY:]:
            record = _plot_from_saved(raw)
            if record is not None:
                entry.plots.append(record)

    def _save(self, entry: _SessionViews) -> None:
        try:
            write_inside(entry.folder, (HOST_FOLDER, "index.json"), dumps({
                "views": [v.as_json() for v in entry.views.values()],
                "plots": [p.as_json() for p in entry.plots]}))
        except (OSError, RemoteError) as exc:
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
        view.title = _short(view.title, MAX_TITLE)
        view.url = _short(view.url, MAX_URL)
        view.details = _small_details(view.details)
        with self._lock:
            entry.views.pop(view.id, None)
            entry.tables.pop(view.id, None)
            entry.views[view.id] = view
            while len(entry.views) > self.max_views:
                oldest, _ = entry.views.popitem(last=False)
                entry.tables.pop(oldest, None)
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

    def table(self, session_id: str, view_id: str) -> TableReader | SnapshotPages:
        """The reader of a table view: SnapshotPages (version 2) or TableReader (1)."""
        view = self.view(session_id, view_id)
        if view.kind != "table":
            raise RemoteError("bad_request", f"view {view_id!r} is a {view.kind}, not a table")
        with self._lock:
            entry = self._entry(session_id)
            reader = entry.tables.get(view_id)
            if reader is None:
                folder = Path(view.folder)
                reader = (SnapshotPages(SnapshotTable(folder, entry.allowed))
                          if table_version(folder, entry.allowed) == 2
                          else TableReader(folder, entry.allowed))
                entry.tables[view_id] = reader
                while len(entry.tables) > OPEN_TABLES:
                    entry.tables.popitem(last=False)
            else:
                entry.tables.move_to_end(view_id)
            return reader

    def content(self, session_id: str, view_id: str) -> bytes:
        """The file a tree or text view shows."""
        view = self.view(session_id, view_id)
        entry = self._entry(session_id)
        return entry.allowed.read(Path(view.folder) / view.page, MAX_CONTENT_BYTES,
                                  within=view.folder)

    def view_file(self, session_id: str, view_id: str, parts: list[str]) -> tuple[str, bytes]:
        """``(name, bytes)`` of a webview's or help page's file (its page for no ``parts``)."""
        view = self.view(session_id, view_id)
        if view.kind not in ("webview", "help") or not view.folder:
            raise RemoteError("bad_request", "only webviews and help pages are served as files")
        if any(p in ("", ".", "..") or "/" in p or "\\" in p or "\0" in p for p in parts):
            raise RemoteError("refused", "no '.', '..' or empty segments in view paths")
        relative = parts or PurePosixPath(view.page).parts
        if not relative or any(p in ("", ".", "..") for p in relative):
            raise RemoteError("refused", "this view names no page")
        entry = self._entry(session_id)
        path = Path(view.folder).joinpath(*relative)
        return relative[-1], entry.allowed.read(path, MAX_ASSET_BYTES, within=view.folder)

    # -- plots ---------------------------------------------------------------------------

    def add_plot(self, session_id: str, folder: Path, data: bytes, width: int,
                 height: int, svg: Optional[bytes] = None) -> Optional[PlotRecord]:
        """Keep a copy of a new plot (the same picture twice is kept once), and of its SVG."""
        entry = self.attach_folder(session_id, folder)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if digest == entry.last_plot_digest and entry.plots:
                return None
            number = entry.plots[-1].number + 1 if entry.plots else 1
            name = f"{number % 1_000_000:06d}.png"
            try:
                write_inside(entry.folder, (HOST_FOLDER, "plots", name), data)
            except OSError as exc:
                raise RemoteError("refused", f"plot: cannot keep the plot: {exc}") from None
            svg_name = ""
            if svg is not None:
                svg_name = f"{number % 1_000_000:06d}.svg"
                try:
                    write_inside(entry.folder, (HOST_FOLDER, "plots", svg_name), svg)
                except OSError:
                    svg_name = ""  # the PNG is what the page shows; the SVG is a bonus
            record = PlotRecord(number, time.time(), width, height, len(data), name, svg_name)
            entry.plots.append(record)
            entry.last_plot_digest = digest
            while len(entry.plots) > PLOT_HISTORY:
                old = entry.plots.pop(0)
                remove_inside(entry.folder, (HOST_FOLDER, "plots", old.file))
                if old.svg:
                    remove_inside(entry.folder, (HOST_FOLDER, "plots", old.svg))
            self._save(entry)
        self._changed(session_id)
        return record

    def plots(self, session_id: str) -> list[PlotRecord]:
        with self._lock:
            entry = self._sessions.get(session_id)
            return list(entry.plots) if entry else []

    def plot_bytes(self, session_id: str, number: int) -> bytes:
        """The PNG of a kept plot, read from the session's own ``host-views/plots``."""
        entry = self._entry(session_id)
        with self._lock:
            found = [r for r in entry.plots if r.number == number]
        if not found:
            raise RemoteError("not_found", f"no plot {number} in session {session_id!r}")
        own = AllowedFolders([], session=entry.folder)
        data = own.read(entry.store_folder / "plots" / found[0].file, MAX_PLOT_BYTES)
        if not data.startswith(PNG_SIGNATURE):
            raise RemoteError("refused", f"plot {number} is no longer a PNG image")
        return data


    def plot_svg_bytes(self, session_id: str, number: int) -> bytes:
        """The SVG a worker sent with a kept plot (not_found when it sent none)."""
        entry = self._entry(session_id)
        with self._lock:
            found = [r for r in entry.plots if r.number == number and r.svg]
        if not found:
            raise RemoteError("not_found", f"plot {number} of session {session_id!r} has no SVG")
        own = AllowedFolders([], session=entry.folder)
        data = own.read(entry.store_folder / "plots" / found[0].svg, MAX_SVG_BYTES)
        if not looks_like_svg(data):
            raise RemoteError("refused", f"plot {number}'s SVG is no longer an SVG image")
        return data


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SVG_BYTES = 32 << 20


def looks_like_svg(data: bytes) -> bool:
    """An XML document whose root is ``<svg`` (matplotlib starts with a declaration and a
    doctype), judged from its first kilobytes."""
    head = data[:4096].lstrip()
    return head.startswith((b"<?xml", b"<svg", b"<!DOCTYPE svg")) and b"<svg" in data[:8192]


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


def _served_page(call: Call, allowed: AllowedFolders, default_title: str) -> View:
    """webview and help: a page and the folder its assets may come from."""
    page = _local_path(call, "file")
    assert page is not None
    folder = _local_path(call, "dir", required=False) or page.parent
    real_folder = allowed.check_folder(folder)
    with allowed.open(page, MAX_ASSET_BYTES, within=real_folder):
        pass  # the page exists, is a regular file inside the folder, and is not too large
    real_page = Path(allowed.locate(page)[1])
    kind = "help" if call.command == "help" else "webview"
    return _new_view(call, kind, _text(call.args, "title") or default_title,
                     folder=str(real_folder),
                     page=real_page.relative_to(real_folder).as_posix(),
                     details={"topic": call.args.get("topic")} if kind == "help" else {})


def _png_size(data: bytes, shown: Path) -> tuple[int, int]:
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24:
        raise RemoteError("bad_request", f"plot: {shown} is not a PNG image")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def install_viewer_handlers(host: Host, store: ViewerStore) -> None:
    """Register the viewer commands on ``host``; later registrations replace them."""
    store.add_folders(local for _, local in host.path_map.pairs)

    def allowed(call: Call) -> AllowedFolders:
        return store.allowed(call.layout.folder)

    def keep(call: Call, view: View) -> dict[str, Any]:
        store.add(call.layout.folder, view)
        return {"view": view.id}

    def webview(call: Call) -> dict[str, Any]:
        return keep(call, _served_page(call, allowed(call), "page"))

    def help_page(call: Call) -> dict[str, Any]:
        if "file" not in call.args and "file_in_session" not in call.args:
            # vscode-R sends a path on R's own help server, which this side cannot reach
            path = _short(_text(call.args, "requestPath"), 1000)
            return keep(call, _new_view(call, "text", f"Help: {path}",
                                        details={"text": f"R help page {path} (served by R's "
                                                         "help server on the worker)"}))
        return keep(call, _served_page(call, allowed(call), "Help"))

    def browser(call: Call) -> dict[str, Any]:
        url = _text(call.args, "url")
        if not url.startswith(("http://", "https://")):
            raise RemoteError("refused", f"browser shows http and https URLs, not {url[:200]!r}")
        if len(url) > MAX_URL:
            raise RemoteError("bad_request", f"browser: the URL is longer than {MAX_URL}")
        kind = "httpgd" if call.command == "httpgd" else "browser"
        return keep(call, _new_view(call, kind, _text(call.args, "title") or url, url=url,
                                    details={"viewer": call.args.get("viewer", True)}))

    def dataview(call: Call) -> dict[str, Any]:
        source = _text(call.args, "source", "table")
        kind_of_file = _text(call.args, "type", "")
        title = _text(call.args, "title") or "data"
        where = allowed(call)
        if source == "table" and kind_of_file == "filebridge.table":
            folder = _local_path(call, "dir")
            assert folder is not None
            real_folder = where.check_folder(folder)
            with where.open(real_folder / "meta.json", MAX_META_BYTES, within=real_folder):
                pass  # a table is there
            rows = call.args.get("rows")
            return keep(call, _new_view(call, "table", title, folder=str(real_folder),
                                        details={"rows": rows if isinstance(rows, int)
                                                 else None}))
        payload = _local_path(call, "file")
        assert payload is not None
        if source == "table":
            view_id = _view_id(call)
            data = where.read(payload, MAX_IMPORT_BYTES)
            parts = (HOST_FOLDER, "tables", view_id)
            meta = import_vscode_r_table(data, call.layout.folder, parts, title)
            return keep(call, _new_view(call, "table", title,
                                        folder=str(call.layout.folder.joinpath(*parts)),
                                        details={"rows": meta["rows"]}))
        kind = "tree" if source == "list" else "text"
        _, real = where.locate(payload)
        with where.open(real, MAX_CONTENT_BYTES):
            pass  # a regular file, not too large
        return keep(call, _new_view(call, kind, title, folder=str(real.parent),
                                    page=real.name,
                                    details={"language": call.args.get("language") or
                                             ("r" if kind_of_file == "R" else "")}))

    def plot(call: Call) -> dict[str, Any]:
        image = _local_path(call, "file", required=False) or call.layout.plot_png
        data = allowed(call).read(image, MAX_PLOT_BYTES)
        width, height = _png_size(data, image)
        svg_file = _local_path(call, "svg", required=False)
        svg = allowed(call).read(svg_file, MAX_SVG_BYTES) if svg_file is not None else None
        if svg is not None and not looks_like_svg(svg):
            raise RemoteError("bad_request", f"plot: {svg_file} is not an SVG image")
        record = store.add_plot(call.session.id, call.layout.folder, data, width, height, svg)
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

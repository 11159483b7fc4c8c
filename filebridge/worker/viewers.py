"""Showing things on the host: HTML pages, URLs, help, tables and trees, source, plots.

    from filebridge.worker import viewers
    viewers.plot(fig)                        # a matplotlib figure or PNG bytes
    viewers.dataview(df, title="sales")     # pandas / polars / numpy / records / dict of columns
    viewers.webview("report/index.html")    # the page and the assets in its folder
    viewers.browser("https://example.org")
    viewers.help("json.dumps")              # pydoc's HTML page
    viewers.redirect_webbrowser()           # webbrowser.open(...) goes to the host from now on

Every function writes what the host needs under ``<session>/views/<id>/`` (or ``plot.png``)
and then sends one fire-and-forget request (docs/protocol-viewers.md). Standard library only
at import; pandas, polars, numpy and matplotlib are touched only when the object is one.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import pydoc
import secrets
import shutil
import struct
import sys
import webbrowser
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote, urlparse

from filebridge.wire.files import Doorbell, atomic_write
from filebridge.wire.layout import make_private_dir
from filebridge.worker.connection import Connection
from filebridge.worker.current import connect
from filebridge.worker.table_columns import EncodedTable
from filebridge.worker.table_writer import as_table, limited, live_tables, write_table

__all__ = ["MPL_BACKEND", "browser", "dataview", "help", "install_integrations", "plot",
           "redirect_webbrowser", "webview"]

MPL_BACKEND = "module://filebridge.worker.mpl_backend"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TREE_ITEMS = 1000
TREE_DEPTH = 20
TREE_NODES = 100_000
# A page outside the session folder is copied in with its folder, up to these sizes (the host
# reads nothing outside the session folder unless the user mapped or served it).
COPY_FILES = 1000
COPY_BYTES = 64 << 20


def _connection() -> Connection:
    return connect()


def _new_view(conn: Connection) -> tuple[str, Path]:
    view_id = secrets.token_hex(8)
    folder = conn.session_dir / "views" / view_id
    make_private_dir(folder)
    return view_id, folder


def _relative(conn: Connection, path: Path) -> Optional[str]:
    """``path`` relative to the session folder, so the host finds it without a path map."""
    try:
        return path.resolve().relative_to(conn.session_dir.resolve()).as_posix()
    except ValueError:
        return None


def _location(conn: Connection, key: str, path: Path) -> dict[str, Any]:
    fields: dict[str, Any] = {key: str(path.resolve())}
    relative = _relative(conn, path)
    if relative is not None:
        fields[f"{key}_in_session"] = relative
    return fields


def _folder_files(base: Path, skip: Path) -> Optional[list[Path]]:
    """The regular files under ``base`` but not under ``skip`` (the sessions), or None when
    there are more than the copy limits."""
    found: list[Path] = []
    total = 0
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (Path(folder) / d).resolve() != skip)
        for name in sorted(files):
            path = Path(folder) / name
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if not path.is_file() or (path.is_symlink()
                                      and base not in path.resolve().parents):
                continue  # a link out of the folder is not part of the page
            found.append(path)
            total += size
            if len(found) > COPY_FILES or total > COPY_BYTES:
                return None
    return found


def _copy_into_session(conn: Connection, page: Path, base: Path) -> tuple[str, Path, Path]:
    """Copy a page (and its folder, when small enough) under ``<session>/views/<id>/``."""
    view_id, target = _new_view(conn)
    files = _folder_files(base, conn.session_dir.resolve().parent)
    if files is None:
        print(f"filebridge: webview: {base} holds more than {COPY_FILES} files or "
              f"{COPY_BYTES >> 20} MB; only the page was copied (pass folder= a smaller "
              "folder for its assets)", file=sys.stderr)
        files = [page]
    for source in files:
        destination = target / source.relative_to(base)
        make_private_dir(destination.parent)
        try:
            shutil.copyfile(source, destination)
        except OSError:
            if source == page:
                raise
    return view_id, target / page.relative_to(base), target


def webview(path: Optional[str | os.PathLike[str]] = None, title: Optional[str] = None, *,
            folder: Optional[str | os.PathLike[str]] = None, html: Optional[str] = None) -> str:
    """Show an HTML page; the host serves it and the files under ``folder`` (its own folder).

    A page outside the session folder is copied into it first, with its folder when that
    holds at most COPY_FILES files and COPY_BYTES bytes (else the page alone).

    Pass ``html=`` instead of a path for a page held in memory (e.g. ``fig.to_html()``).
    Returns the view id.
    """
    conn = _connection()
    if (path is None) == (html is None):
        raise ValueError("webview needs exactly one of a path or html=")
    if html is not None:
        view_id, view_folder = _new_view(conn)
        page = view_folder / "index.html"
        atomic_write(page, html.encode("utf-8"))
        base = view_folder
    else:
        page = Path(path).expanduser().resolve()  # type: ignore[arg-type]
        if not page.is_file():
            raise FileNotFoundError(f"webview: no such file: {page}")
        base = Path(folder).expanduser().resolve() if folder is not None else page.parent
        if base not in page.parents:
            raise ValueError(f"webview: {page} is not inside the folder {base}")
        if _relative(conn, base) is None:
            view_id, page, base = _copy_into_session(conn, page, base)
        else:
            view_id = secrets.token_hex(8)
    conn.send("webview", view=view_id, title=title or page.name, viewer=True,
              **_location(conn, "file", page), **_location(conn, "dir", base))
    return view_id


def browser(url: str, title: Optional[str] = None, *, external: bool = False) -> str:
    """Show a URL (http, https, or a local HTML file as a webview); return the view id."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return webview(unquote(parsed.path), title)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"browser: only http, https and file URLs are shown, not {url!r}")
    view_id = secrets.token_hex(8)
    _connection().send("browser", view=view_id, url=url, title=title or url,
                       viewer=not external)
    return view_id


def help(topic: Any) -> str:
    """Show pydoc's HTML page for an object or a dotted name; return the view id."""
    conn = _connection()
    try:
        obj, name = pydoc.resolve(topic)  # type: ignore[misc]
    except ImportError as exc:
        raise LookupError(f"help: {exc}") from None
    title = pydoc.describe(obj)
    page = pydoc.html.page(title, pydoc.html.document(obj, name))
    view_id, folder = _new_view(conn)
    target = folder / "help.html"
    atomic_write(target, page.encode("utf-8"))
    conn.send("help", view=view_id, topic=str(name), title=f"Help: {name}", viewer=True,
              **_location(conn, "file", target), **_location(conn, "dir", folder))
    return view_id


def dataview(obj: Any, title: Optional[str] = None, row_limit: Optional[int] = None) -> str:
    """Show a table (DataFrame, 2-D array, records, dict of columns), a tree or source code.

    A table's schema is written and the host told at once; its columns are written on a
    thread while the worker answers the host's queries from the object. Returns the view id.
    """
    conn = _connection()
    name = title or _title_of(obj)
    view_id, folder = _new_view(conn)
    table = as_table(obj)
    if table is not None:
        show_table(conn, table, view_id, folder, name, row_limit)
        return view_id
    if inspect.isroutine(obj) or inspect.isclass(obj) or inspect.ismodule(obj):
        try:
            text = inspect.getsource(obj)
        except (OSError, TypeError):
            text = repr(obj)
        target = folder / "source.txt"
        atomic_write(target, text.encode("utf-8"))
        conn.send("dataview", view=view_id, source="object", type="txt", language="python",
                  title=name, viewer=True, **_location(conn, "file", target))
        return view_id
    if isinstance(obj, (dict, list, tuple, set, frozenset)):
        budget = [TREE_NODES]
        target = folder / "data.json"
        atomic_write(target, json.dumps(_tree(obj, 0, budget), ensure_ascii=False,
                                        allow_nan=False).encode("utf-8"))
        conn.send("dataview", view=view_id, source="list", type="json", title=name,
                  viewer=True, **_location(conn, "file", target))
        return view_id
    target = folder / "object.txt"
    atomic_write(target, repr(obj).encode("utf-8"))
    conn.send("dataview", view=view_id, source="object", type="txt", title=name, viewer=True,
              **_location(conn, "file", target))
    return view_id


def show_table(conn: Connection, table: EncodedTable, view_id: str, folder: Path,
               title: str, row_limit: Optional[int] = None) -> None:
    """Write ``table``'s snapshot into ``folder`` and show it; answer ``table.*`` for it."""
    total = table.rows
    shown = limited(table, row_limit)
    if shown.rows < total:
        title = f"{title} (limited to {shown.rows}/{total})"
    for command, handler in live_tables.handlers().items():
        conn.on_command(command, handler)
    first_answer = live_tables.keep(view_id, shown)

    def announce(meta: dict[str, Any]) -> None:
        conn.send("dataview", view=view_id, source="table", type="filebridge.table",
                  title=meta["title"], rows=meta["rows"], viewer=True,
                  **_location(conn, "dir", folder))

    write_table(shown, folder, title, total_rows=total, live=True, announce=announce,
                first_answer=first_answer)


def _title_of(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "name", None)
    kind = type(obj).__name__
    if isinstance(name, str) and name:
        return f"{name} ({kind})"
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple):
        return f"{kind} {' x '.join(str(s) for s in shape)}"
    return kind


def _tree(value: Any, depth: int, budget: list[int]) -> Any:
    """A JSON copy of nested containers, cut at fixed limits (marked with a "..." entry)."""
    budget[0] -= 1
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    if isinstance(value, dict):
        if depth >= TREE_DEPTH or budget[0] <= 0:
            return f"{{...}} ({len(value)} items)"
        out: dict[str, Any] = {}
        for n, (key, item) in enumerate(value.items()):
            if n >= TREE_ITEMS or budget[0] <= 0:
                out["..."] = f"{len(value) - n} more"
                break
            out[str(key)] = _tree(item, depth + 1, budget)
        return out
    if isinstance(value, (list, tuple)):
        if depth >= TREE_DEPTH or budget[0] <= 0:
            return f"[...] ({len(value)} items)"
        items = []
        for n, item in enumerate(value):
            if n >= TREE_ITEMS or budget[0] <= 0:
                items.append(f"... {len(value) - n} more")
                break
            items.append(_tree(item, depth + 1, budget))
        return items
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) \
            else repr(value)
    return repr(value)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24:
        raise ValueError("plot: the bytes are not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def plot(figure_or_png: Any, *, dpi: Optional[float] = None) -> str:
    """Send a plot: a matplotlib Figure (or anything with ``savefig``) or PNG bytes.

    Replaces ``<session>/plot.png`` atomically, rings ``plot.lock`` and sends ``plot``.
    Returns the request id.
    """
    if isinstance(figure_or_png, (bytes, bytearray, memoryview)):
        data = bytes(figure_or_png)
    elif hasattr(figure_or_png, "savefig"):
        buffer = io.BytesIO()
        options: dict[str, Any] = {"format": "png"}
        if dpi is not None:
            options["dpi"] = dpi
        figure_or_png.savefig(buffer, **options)
        data = buffer.getvalue()
    else:
        raise TypeError(f"plot: expected a figure or PNG bytes, got {type(figure_or_png)}")
    width, height = png_size(data)
    conn = _connection()
    layout = conn.layout
    atomic_write(layout.plot_png, data)
    bell = Doorbell(layout.plot_lock)
    try:
        bell.ring()
    finally:
        bell.close()
    return conn.send("plot", format="png", width=width, height=height, bytes=len(data),
                     **_location(conn, "file", layout.plot_png))


class _HostBrowser(webbrowser.BaseBrowser):
    """``webbrowser.open`` in the worker shows the page on the host instead."""

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        try:
            browser(url)
        except (ValueError, OSError) as exc:
            print(f"filebridge: cannot show {url}: {exc}", file=sys.stderr)
            return False
        return True


def redirect_webbrowser() -> None:
    """Make ``webbrowser.open`` (and libraries that call it) show pages on the host."""
    webbrowser.register("filebridge", None, _HostBrowser("filebridge"), preferred=True)


def install_integrations(*, webbrowser: bool = True, matplotlib: bool = True) -> None:
    """What a bootstrap calls: ``webbrowser.open`` and ``plt.show()`` go to the host.

    matplotlib is not imported here: when it is not loaded yet, MPLBACKEND is set for it;
    when pyplot is already loaded, its backend is switched.
    """
    if webbrowser:
        redirect_webbrowser()
    if matplotlib:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.switch_backend(MPL_BACKEND)
        elif "matplotlib" in sys.modules:
            sys.modules["matplotlib"].use(MPL_BACKEND)
        else:
            os.environ["MPLBACKEND"] = MPL_BACKEND

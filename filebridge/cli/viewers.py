"""``filebridge views`` and ``filebridge table``: what sessions asked to show, from the shell.

Both read the session folders directly (the host keeps its view list in
``<session>/host-views/index.json``), so they work with or without a running host. What a
session folder holds is the worker's: files are read only inside that folder, without
following symlinks out, size-capped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from filebridge.cli.output import CommandFailed, emit
from filebridge.cli.sessions import add_root_argument
from filebridge.errors import RemoteError
from filebridge.host.table_snapshot import SnapshotTable
from filebridge.host.tables import (
    PageRequest,
    SnapshotPages,
    TableReader,
    display_text,
    parse_sort,
    table_version,
)
from filebridge.host.view_files import AllowedFolders
from filebridge.host.viewers import HOST_FOLDER, MAX_INDEX_BYTES
from filebridge.wire.codec import loads
from filebridge.wire.layout import RootLayout, is_valid_session_id

__all__ = ["register"]


def _saved_views(root: RootLayout, session: str) -> list[dict[str, Any]]:
    folder = root.session(session).folder
    try:
        saved = loads(AllowedFolders([], session=folder).read(
            folder / HOST_FOLDER / "index.json", MAX_INDEX_BYTES))
    except RemoteError as exc:
        if exc.code == "not_found":
            return []
        raise CommandFailed(f"session {session}: view list refused: {exc.remote_message}") \
            from None
    except ValueError as exc:
        raise CommandFailed(f"session {session}: unreadable view list: {exc}") from None
    views = saved.get("views", []) if isinstance(saved, dict) else []
    return [v for v in views if isinstance(v, dict) and isinstance(v.get("id"), str)
            and isinstance(v.get("kind"), str) and isinstance(v.get("title"), str)
            and isinstance(v.get("created", 0), (int, float))]


def _sessions(root: RootLayout, only: str | None) -> list[str]:
    if only:
        if not is_valid_session_id(only) or not root.session(only).folder.is_dir():
            raise CommandFailed(f"no session {only!r} under {root.root}")
        return [only]
    try:
        return sorted(p.name for p in root.sessions.iterdir() if p.is_dir())
    except OSError:
        return []


def _list(args: argparse.Namespace) -> int:
    root = RootLayout(Path(args.root).expanduser())
    rows = [{**view, "session_id": session}
            for session in _sessions(root, args.session)
            for view in _saved_views(root, session)]
    lines = [f"{v['session_id']}  {v['id']}  {v['kind']:<8} "
             f"{time.strftime('%H:%M:%S', time.localtime(v.get('created', 0)))}  {v['title']}"
             for v in rows]
    emit(rows, args.json, "\n".join(lines) or "no views")
    return 0


def _table(args: argparse.Namespace) -> int:
    root = RootLayout(Path(args.root).expanduser())
    matches = [(session, view) for session in _sessions(root, args.session)
               for view in _saved_views(root, session) if view.get("id") == args.view]
    if not matches:
        raise CommandFailed(f"no view {args.view!r} (list them with `filebridge views`)")
    session, view = matches[-1]
    if view.get("kind") != "table":
        raise CommandFailed(f"view {args.view!r} is a {view.get('kind')}, not a table")
    filters = []
    for text in args.where:
        field, sep, query = text.partition("=")
        if not sep:
            raise CommandFailed(f"--where takes FIELD=QUERY, got {text!r}")
        filters.append((field, query))
    try:
        folder = root.session(session).folder
        table_folder = Path(str(view.get("folder", "")))
        allowed = AllowedFolders([], session=folder)
        reader = (SnapshotPages(SnapshotTable(table_folder, allowed))
                  if table_version(table_folder, allowed) == 2
                  else TableReader(table_folder, allowed))
        page = reader.page(PageRequest(
            start=args.start, count=args.count, sort=parse_sort(args.sort or ""),
            filter=args.filter or "", column_filters=tuple(filters)))
    except RemoteError as exc:
        raise CommandFailed(exc.remote_message) from None
    header = "\t".join(f"{c['name']} [{c['field']}]" for c in page["columns"])
    body = "\n".join("\t".join(display_text(v) for v in row) for row in page["rows"])
    summary = (f"rows {page['start'] + 1}-{page['start'] + len(page['rows'])} of "
               f"{page['total']}")
    emit(page, args.json, f"{header}\n{body}\n({summary})")
    return 0


def register(subparsers: Any) -> None:
    views = subparsers.add_parser(
        "views", help="list what sessions asked to show (plots excepted)",
        description="List the webviews, help pages, data views and URLs the host keeps for "
                    "each session, newest last.")
    add_root_argument(views)
    views.add_argument("--session", metavar="ID", help="only this session")
    views.add_argument("--json", action="store_true", help="print JSON")
    views.set_defaults(func=_list)

    table = subparsers.add_parser(
        "table", help="print a page of a data view, sorted and filtered",
        description="Page through a table view without loading it whole. Columns are "
                    "named by field (shown in brackets in the header).")
    add_root_argument(table)
    table.add_argument("view", metavar="VIEW", help="the view id (see `filebridge views`)")
    table.add_argument("--session", metavar="ID", help="the session holding the view")
    table.add_argument("--start", type=int, default=0, metavar="N", help="first row (0)")
    table.add_argument("--count", type=int, default=20, metavar="N", help="rows (20)")
    table.add_argument("--sort", metavar="FIELD[:desc],...", help="sort keys")
    table.add_argument("--filter", metavar="TEXT", help="rows with TEXT in any cell")
    table.add_argument("--where", action="append", default=[], metavar="FIELD=QUERY",
                       help="column filter: text, NA, >3, <=2.5, 1..5 (repeatable)")
    table.add_argument("--json", action="store_true", help="print JSON")
    table.set_defaults(func=_table)

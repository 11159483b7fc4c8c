"""Answering the page's table queries: from the live worker, else from the snapshot.

A version-2 view whose ``meta.json`` says ``live`` is asked through the reverse channel
(``table.rows`` ... answered from the object the worker kept) while the snapshot lacks a column
the query needs, or always when the host has no numpy (its plain Python engine is slower than
the worker's). When the session is not alive, the worker does not answer within LIVE_TIMEOUT
(busy: R is single-threaded) or no longer keeps the table, the host answers the same request
from the snapshot's files. A worker that timed out is not asked again for BUSY_SECONDS.
Version-1 folders (JSON Lines) are paged by TableReader.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from filebridge.errors import CallTimeout, FilebridgeError, RemoteError
from filebridge.host.viewers.table_code import query_code
from filebridge.host.viewers.tables import PageRequest, TableReader
from filebridge.wire.table_query import MAX_COLUMNS, parse_query

__all__ = ["BUSY_SECONDS", "COMMANDS", "LIVE_TIMEOUT", "TableService"]

LIVE_TIMEOUT = 2.0
BUSY_SECONDS = 10.0
COMMANDS = ("schema", "rows", "profile", "export", "code")


class TableService:
    """``answer(session, view, command, args)`` for the page; ``store`` is the ViewerStore."""

    def __init__(self, host: Any, store: Any, *, live_timeout: float = LIVE_TIMEOUT) -> None:
        """``live_timeout``: seconds a live worker has to answer a query whose columns the
        snapshot has (five times that while it lacks them)."""
        self.host = host
        self.live_timeout = live_timeout
        self.store = store
        self._busy_until: dict[str, float] = {}
        self._not_live: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def answer(self, session_id: str, view_id: str, command: str,
               args: dict[str, Any]) -> dict[str, Any]:
        if command not in COMMANDS:
            raise RemoteError("bad_request", f"no table command {command!r}")
        table = self.store.table(session_id, view_id)
        if isinstance(table, TableReader):
            return self._legacy(table, command, args)
        snapshot = table.snapshot
        meta = snapshot.meta()
        if command == "schema":
            return {**snapshot.query().schema(), "title": meta.get("title", ""),
                    "total_rows": meta.get("total_rows", meta["rows"]),
                    "complete": bool(meta.get("complete")), "live": bool(meta.get("live"))}
        if command == "code":
            query = parse_query(args, len(meta["columns"]))
            names = [c["name"] for c in meta["columns"]]
            return {"code": query_code(query, names, str(args.get("language", "pandas")))}
        needed = self._columns_used(command, args, len(meta["columns"]))
        if command == "rows" and not snapshot.ready(needed):
            first = snapshot.head_window(args)
            if first is not None:
                return {**first, "source": "snapshot"}
            shared = self._sorted_here(session_id, view_id, snapshot, meta, args)
            if shared is not None:
                return shared
        # Once the snapshot has the columns a query needs, a host with numpy answers it as fast
        # as the worker would, and the worker's interpreter stays free for the user's code (an
        # export's text would also travel through the session folder as one large answer).
        worker_first = not snapshot.ready(needed) or (snapshot.np is None
                                                      and command != "export")
        if worker_first and meta.get("live") and self._may_ask(session_id, view_id):
            live = self._ask_worker(session_id, view_id, command, args,
                                    snapshot.ready(needed))
            if live is not None:
                return {**live, "source": "live"}
        if not snapshot.ready(needed):
            raise RemoteError("busy", "the table is still being written and its worker does "
                                      "not answer; try again in a moment")
        query = snapshot.query()
        found = getattr(query, command)(args)
        return {**found, "source": "snapshot"}

    def _sorted_here(self, session_id: str, view_id: str, snapshot: Any,
                     meta: dict[str, Any], args: dict[str, Any]) -> Optional[dict[str, Any]]:
        """A sorted or filtered window whose sort and filter columns are on disk while some
        shown column is not: the host orders the rows itself (numpy) and asks the live worker
        only for the missing columns' cells at those rows (``positions``)."""
        width = len(meta["columns"])
        query = parse_query(args, width)
        keys = [i for i, _ in query.sort] + [f.column for f in query.filters]
        if query.identity or query.search or snapshot.np is None or not meta.get("live") \
                or not snapshot.ready(keys) or not self._may_ask(session_id, view_id):
            return None
        asked = args.get("columns")
        columns = (list(range(min(width, MAX_COLUMNS))) if asked is None else asked)
        if not isinstance(columns, list) or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c < width
                for c in columns):
            return None
        on_disk = [c for c in columns if snapshot.ready([c])]
        here = snapshot.query().rows(dict(args, columns=on_disk))
        missing = [c for c in columns if c not in on_disk]
        there = self._ask_worker(session_id, view_id, "rows",
                                 {"positions": here["rows"], "columns": missing}, False)
        if there is None or there.get("columns") != missing \
                or not isinstance(there.get("cells"), list) \
                or len(there["cells"]) != len(missing):
            return None
        cells = dict(zip(on_disk, here["cells"]))
        cells.update(zip(missing, there["cells"]))
        return {**here, "columns": columns, "cells": [cells[c] for c in columns],
                "source": "snapshot+live"}

    @staticmethod
    def _columns_used(command: str, args: dict[str, Any], width: int) -> list[int]:
        used: list[int] = []
        asked = args.get("columns")
        if command == "profile":
            column = args.get("column")
            used.append(column if isinstance(column, int) else 0)
        elif isinstance(asked, list):
            used.extend(i for i in asked if isinstance(i, int))
        else:
            used.extend(range(width))
        for key in list(args.get("sort") or ()) + list(args.get("filters") or ()):
            if isinstance(key, dict) and isinstance(key.get("column"), int):
                used.append(key["column"])
        if args.get("search"):
            used.extend(range(width))
        return used

    def _may_ask(self, session_id: str, view_id: str) -> bool:
        with self._lock:
            if (session_id, view_id) in self._not_live:
                return False
            if self._busy_until.get(session_id, 0) > time.monotonic():
                return False
        try:
            return bool(self.host.session(session_id).status == "alive")
        except FilebridgeError:
            return False

    def _ask_worker(self, session_id: str, view_id: str, command: str, args: dict[str, Any],
                    snapshot_ready: bool) -> Optional[dict[str, Any]]:
        timeout = self.live_timeout if snapshot_ready else self.live_timeout * 5
        try:
            answer = self.host.command(session_id, f"table.{command}", timeout=timeout,
                                       **dict(args, view=view_id))
        except CallTimeout:
            with self._lock:
                self._busy_until[session_id] = time.monotonic() + BUSY_SECONDS
            return None
        except RemoteError as exc:
            if exc.code in ("not_found", "no_handler"):
                with self._lock:
                    self._not_live.add((session_id, view_id))
                return None
            raise
        except FilebridgeError:
            return None
        return answer if isinstance(answer, dict) else None

    def close(self, session_id: str, view_id: str) -> None:
        """Tell a live worker to forget the view's object (in the background)."""
        def forget() -> None:
            try:
                self.host.command(session_id, "table.close", timeout=5, view=view_id)
            except (FilebridgeError, RemoteError, OSError):
                pass
        threading.Thread(target=forget, name="filebridge-table-close", daemon=True).start()

    # -- version 1 -------------------------------------------------------------------------

    @staticmethod
    def _legacy(reader: TableReader, command: str, args: dict[str, Any]) -> dict[str, Any]:
        meta = reader.meta()
        columns = meta["columns"]
        kinds = {"number": "float", "bool": "boolean", "date": "string"}
        if command == "schema":
            return {"rows": reader.available_rows(meta), "title": meta.get("title", ""),
                    "total_rows": meta.get("total_rows"), "complete": bool(meta.get("complete",
                                                                                    True)),
                    "live": False,
                    "columns": [{"name": str(c.get("name", "")), "dtype": c.get("dtype", ""),
                                 "type": kinds.get(str(c.get("type")), "string"),
                                 **({"role": "label"} if (n == 0 and c.get("dtype") == "index")
                                    or c.get("name") == "(row)" else {})}
                                for n, c in enumerate(columns)]}
        if command != "rows":
            raise RemoteError("bad_request", "this table was written by an older worker: it "
                                             "pages and sorts, but has no profiles or export")
        query = parse_query(args, len(columns))
        fields = [str(c.get("field")) for c in columns]
        page = reader.page(PageRequest(
            start=int(args.get("start", 0) or 0), count=int(args.get("count", 100) or 100),
            sort=tuple((fields[i], d) for i, d in query.sort), filter=query.search))
        cells = [list(column) for column in zip(*page["rows"])] or [[] for _ in fields]
        return {"total": page["total"], "start": page["start"],
                "rows": list(range(page["start"], page["start"] + len(page["rows"]))),
                "columns": list(range(len(fields))), "cells": cells, "source": "snapshot"}


"""Showing a table: its snapshot on disk, and live answers while the worker keeps the object.

``show_table`` writes the first page (``head.json``, from a slice of the object) and
``meta.json`` (every column ``ready: false``), tells the host, and writes the column files on a
background thread, so the worker is blocked only for the schema and the first page. Until
``table.close`` (or until LIVE_VIEWS newer views push it out) the worker keeps the encoded table
and answers the host's ``table.*`` commands from it (docs/protocol-viewers.md).

Standard library only at import.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Optional

from filebridge.errors import RemoteError
from filebridge.wire.files import atomic_write
from filebridge.wire.table_format import FORMAT, VERSION
from filebridge.wire.table_query import ColumnBuffers, TableQuery, parse_query
from filebridge.worker.table_columns import EncodedTable, as_table

__all__ = ["LIVE_VIEWS", "LiveTables", "as_table", "limited", "live_tables", "write_table"]

LIVE_VIEWS = 16
HEAD_ROWS = 100  # the first page: the grid's first block of rows
HEAD_COLUMNS = 64  # ... of the columns a first screen shows, at most
FIRST_ANSWER_WAIT = 0.5  # seconds the snapshot writer waits for the host's first window
ANSWER_SENT_WAIT = 0.1
META_INTERVAL = 0.1  # seconds between two rewrites of meta.json while columns are written ...
META_EVERY_COLUMN = 64  # ... for tables wider than this; narrower ones: after each column
_SUFFIX = {"f64": "f64", "i32": "i32", "i64": "i64", "utf8": "utf8"}


def _write_buffer(path: Path, data: Any) -> None:
    """Write a buffer under a temporary name and rename it, so a reader never sees a part."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    with open(tmp, "wb") as out:
        out.write(memoryview(data).cast("B"))
    os.replace(tmp, path)


def _file_specs(table: EncodedTable) -> list[dict[str, Any]]:
    columns = []
    for n, spec in enumerate(table.specs):
        name = "r" if spec.get("role") == "label" else f"c{n}"
        entry = dict(spec, file=f"{name}.{_SUFFIX[spec['storage']]}", ready=False)
        if spec["storage"] == "utf8":
            entry["offsets"] = f"{name}.off"
        columns.append(entry)
    return columns


def _write_column(folder: Path, entry: dict[str, Any], buffers: ColumnBuffers) -> None:
    _write_buffer(folder / entry["file"], buffers.data)
    if entry.get("offsets"):
        _write_buffer(folder / entry["offsets"], buffers.offsets)
    if buffers.na is not None:
        entry["na"] = entry["file"].rsplit(".", 1)[0] + ".na"
        _write_buffer(folder / entry["na"], buffers.na)
    entry["ready"] = True


def _write_head(folder: Path, table: EncodedTable) -> Optional[dict[str, Any]]:
    """Write ``head.json``, the first page's cells, encoded from a slice of the object (its
    cost does not grow with the rows); its entry for ``meta.json``, or None."""
    rows = min(table.rows, HEAD_ROWS)
    if rows < table.rows and table.slicer is None:
        return None
    part = table.slicer(0, rows) if rows < table.rows and table.slicer is not None else table
    columns = list(range(min(len(table.specs), HEAD_COLUMNS)))
    answer = TableQuery(part.specs, part.rows, part.buffers, part.np).rows(
        {"start": 0, "count": rows, "columns": columns})
    atomic_write(folder / "head.json", json.dumps(answer, ensure_ascii=False,
                                                  allow_nan=False).encode("utf-8"))
    return {"file": "head.json", "rows": rows, "columns": len(columns)}


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    atomic_write(folder / "meta.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))


def write_table(table: EncodedTable, folder: Path, title: str, *, total_rows: int,
                live: bool, announce: Callable[[dict[str, Any]], None],
                background: bool = True,
                first_answer: Optional[threading.Event] = None) -> Optional[threading.Thread]:
    """Write ``meta.json``, call ``announce(meta)``, then write the columns (on a thread when
    ``background``). Returns the thread, if any."""
    meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "title": title,
                            "rows": table.rows, "total_rows": total_rows, "complete": False,
                            "live": live, "columns": _file_specs(table)}
    lock = threading.Lock()
    head = _write_head(folder, table)
    if head is not None:
        meta["head"] = head
    _write_meta(folder, meta)
    announce(meta)

    def columns() -> None:
        # Encoding holds the interpreter lock; without a first page on disk, let the host's
        # first window be answered by the live object first.
        if head is None and first_answer is not None and first_answer.wait(FIRST_ANSWER_WAIT):
            time.sleep(ANSWER_SENT_WAIT)  # the answer is set before it is written out
        try:
            written = time.monotonic()
            specs = meta["columns"]
            for n, entry in enumerate(specs):
                _write_column(folder, entry, table.buffers(n))
                last = n == len(specs) - 1
                # a wide frame's columns come fast: its meta.json (which lists them all) is
                # rewritten at most every META_INTERVAL, and before a text column (slow)
                if last or len(specs) <= META_EVERY_COLUMN \
                        or time.monotonic() - written >= META_INTERVAL \
                        or specs[n + 1]["storage"] == "utf8":
                    with lock:
                        meta["complete"] = last
                        _write_meta(folder, meta)
                    written = time.monotonic()
        except Exception as exc:  # the folder vanished, the disk is full: say so, keep running
            print(f"filebridge: writing the table {title!r} stopped: {exc}", file=sys.stderr)

    if not background:
        columns()
        return None
    # Not a daemon: a script that ends right after dataview still leaves a complete snapshot.
    thread = threading.Thread(target=columns, name="filebridge-table-writer", daemon=False)
    thread.start()
    return thread


class LiveTables:
    """The tables this worker keeps for answering ``table.*``; the newest LIVE_VIEWS."""

    def __init__(self) -> None:
        self._tables: OrderedDict[str, tuple[EncodedTable, TableQuery]] = OrderedDict()
        self._first: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def keep(self, view: str, table: EncodedTable) -> threading.Event:
        """Keep ``table`` for ``view``; the event is set once its first rows were answered."""
        query = TableQuery(table.specs, table.rows, table.buffers, table.np)
        answered = threading.Event()
        with self._lock:
            self._first[view] = answered
            for old in [v for v in self._first if v not in self._tables and v != view]:
                self._first.pop(old, None)
            self._tables[view] = (table, query)
            self._tables.move_to_end(view)
            while len(self._tables) > LIVE_VIEWS:
                gone, _ = self._tables.popitem(last=False)
                self._first.pop(gone, None)
        return answered

    def _get(self, args: dict[str, Any]) -> tuple[EncodedTable, TableQuery]:
        view = args.get("view")
        with self._lock:
            found = self._tables.get(view) if isinstance(view, str) else None
        if found is None:
            raise RemoteError("not_found", f"this worker no longer keeps the table {view!r}")
        return found

    # -- commands --------------------------------------------------------------------------

    def schema(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._get(args)[1].schema()

    def rows(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._rows(args)
        finally:
            with self._lock:
                answered = self._first.get(str(args.get("view")))
            if answered is not None:
                answered.set()

    def _rows(self, args: dict[str, Any]) -> dict[str, Any]:
        table, query = self._get(args)
        asked = parse_query(args, len(table.specs))
        start = args.get("start", 0)
        count = args.get("count", 100)
        if asked.identity and args.get("positions") is None and table.slicer is not None \
                and isinstance(start, int) \
                and isinstance(count, int) and start >= 0 and count >= 0:
            # An unsorted window: encode only its rows, not whole columns.
            stop = min(table.rows, start + min(count, 2000))
            part = table.slicer(start, max(start, stop))
            answer = TableQuery(part.specs, part.rows, part.buffers, part.np).rows(
                dict(args, start=0, count=stop - start))
            return dict(answer, start=start, total=table.rows,
                        rows=[start + r for r in answer["rows"]])
        return query.rows(args)

    def profile(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._get(args)[1].profile(args)

    def export(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._get(args)[1].export(args)

    def close(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._tables.pop(str(args.get("view")), None)
        return {}

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"table.schema": self.schema, "table.rows": self.rows,
                "table.profile": self.profile, "table.export": self.export,
                "table.close": self.close}


live_tables = LiveTables()


def limited(table: EncodedTable, row_limit: Optional[int]) -> EncodedTable:
    """The first ``row_limit`` rows of ``table`` (the whole table without a limit)."""
    if row_limit is None or row_limit >= table.rows or table.slicer is None:
        return table
    return table.slicer(0, max(0, row_limit))

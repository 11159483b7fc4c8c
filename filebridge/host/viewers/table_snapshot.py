"""A version-2 table snapshot (columnar files) read by the host and queried in place.

Each column file is mapped into memory (``mmap``), never read whole into the host's heap: a
window touches only its pages, and a sort or filter reads the columns it uses through the page
cache, keeping only its row order and keys. numpy (the ``viewers`` extra) does the scans;
without it ``filebridge.wire.table_query`` does the same in plain Python, slower.

The folder is the worker's: files are opened through ``AllowedFolders`` (no symlink out,
regular files only), file names must be plain, and each file's size must match ``rows``.
"""

from __future__ import annotations

import mmap
import os
import threading
from pathlib import Path
from typing import Any, Optional

from filebridge.errors import RemoteError
from filebridge.host.viewers.files import AllowedFolders, read_capped
from filebridge.wire.codec import loads
from filebridge.wire.table_format import COLUMN_TYPES, STORAGE_FORMATS, check_file_name
from filebridge.wire.table_query import (
    MAX_COLUMNS,
    MAX_WINDOW,
    ColumnBuffers,
    TableQuery,
    parse_query,
)

__all__ = ["MAX_COLUMN_BYTES", "SnapshotTable", "host_numpy", "warm_up"]

MAX_META_BYTES = 16 << 20
MAX_HEAD_BYTES = 16 << 20
MAX_COLUMN_BYTES = 64 << 30
MAX_SNAPSHOT_COLUMNS = 10_000


def host_numpy() -> Any:
    """numpy when the ``viewers`` extra is installed; None for the plain Python engine."""
    if os.environ.get("FILEBRIDGE_TABLES_PURE") == "1":
        return None
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def warm_up() -> threading.Thread:
    """Import the engine (numpy takes a few hundred ms on a loaded machine) on a thread, so
    the first table's first query does not pay for it; the thread, started."""
    def load() -> None:
        if host_numpy() is not None:
            import filebridge.wire.table_order  # noqa: F401

    thread = threading.Thread(target=load, name="filebridge-tables-warm-up", daemon=True)
    thread.start()
    return thread


_EMPTY = b""


class SnapshotTable:
    """One snapshot folder; safe to use from several threads."""

    def __init__(self, folder: Path, allowed: Optional[AllowedFolders] = None,
                 np: Any = None, pure: bool = False) -> None:
        """``pure``: the plain Python engine even where numpy is installed."""
        self.folder = folder
        self.allowed = allowed if allowed is not None else AllowedFolders([folder])
        self._np = np
        self._pure = pure
        self._lock = threading.RLock()
        self._meta: dict[str, Any] = {}
        self._stamp: tuple[int, int] = (-1, -1)
        self._query: Optional[TableQuery] = None
        self._maps: list[mmap.mmap] = []
        self._head: Optional[tuple[list[int], list[list[Any]]]] = None

    @property
    def np(self) -> Any:
        """numpy, or None for the plain Python engine; imported when first needed (the first
        page is served without it)."""
        if self._pure:
            return None
        if self._np is None:
            self._np = host_numpy()
            self._pure = self._np is None
        return self._np

    def meta(self) -> dict[str, Any]:
        path = self.folder / "meta.json"
        with self._lock, self.allowed.open(path, MAX_META_BYTES, within=self.folder) as (fd,
                                                                                        size):
            stat = os.fstat(fd)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                try:
                    meta = loads(read_capped(fd, size, MAX_META_BYTES, path))
                except ValueError as exc:
                    raise RemoteError("bad_request", f"unreadable meta.json: {exc}") from None
                self._meta = _checked(meta)
                self._stamp = stamp
                self._query = None  # a column became ready: map afresh
            return self._meta

    def head_window(self, args: dict[str, Any]) -> Optional[dict[str, Any]]:
        """The ``table.rows`` answer from the first page the worker wrote before anything else
        (``head.json``), for an unsorted, unfiltered window inside it; None otherwise."""
        meta = self.meta()
        entry = meta.get("head")
        if not isinstance(entry, dict) or parse_query(args, len(meta["columns"])).sort \
                or args.get("filters") or args.get("search"):
            return None
        start, count = args.get("start", 0), args.get("count", 100)
        if isinstance(start, bool) or isinstance(count, bool) or not isinstance(start, int) \
                or not isinstance(count, int) or start < 0 or count < 0:
            return None
        head = self._read_head(entry, meta)
        if head is None:
            return None
        columns, cells = head
        asked = args.get("columns")
        wanted = (list(range(min(len(meta["columns"]), MAX_COLUMNS))) if asked is None
                  else asked)
        if not isinstance(wanted, list) or not all(isinstance(c, int) and not isinstance(
                c, bool) and 0 <= c < len(columns) for c in wanted):
            return None
        rows = len(cells[0]) if cells else 0
        stop = min(meta["rows"], start + min(count, MAX_WINDOW))
        if stop > rows and stop > start:
            return None
        stop = max(start, stop)
        return {"total": meta["rows"], "start": start, "rows": list(range(start, stop)),
                "columns": wanted, "cells": [cells[c][start:stop] for c in wanted]}

    def _read_head(self, entry: dict[str, Any], meta: dict[str, Any]
                   ) -> Optional[tuple[list[int], list[list[Any]]]]:
        with self._lock:
            if self._head is not None:
                return self._head
            try:
                name = check_file_name(entry.get("file"))
                path = self.folder / name
                with self.allowed.open(path, MAX_HEAD_BYTES, within=self.folder) as (fd,
                                                                                     size):
                    head = loads(read_capped(fd, size, MAX_HEAD_BYTES, path))
            except (OSError, ValueError, RemoteError):
                return None  # the columns or the live worker answer instead
            if not isinstance(head, dict):
                return None
            columns, cells = head.get("columns"), head.get("cells")
            width = len(meta["columns"])
            if not isinstance(columns, list) or columns != list(range(len(columns))) \
                    or len(columns) > width or not isinstance(cells, list) \
                    or len(cells) != len(columns) or not all(isinstance(c, list) for c in cells) \
                    or len({len(c) for c in cells}) > 1 \
                    or (cells and len(cells[0]) > meta["rows"]):
                return None
            self._head = (columns, cells)
            return self._head

    def query(self) -> TableQuery:
        meta = self.meta()
        with self._lock:
            if self._query is None:
                self._query = TableQuery(meta["columns"], meta["rows"], self._buffers, self.np)
            return self._query

    def ready(self, columns: list[int]) -> bool:
        specs = self.meta()["columns"]
        return all(specs[i].get("ready") for i in columns if 0 <= i < len(specs))

    def _map(self, name: str, size: int) -> Any:
        if size == 0:
            return _EMPTY
        path = self.folder / name
        with self.allowed.open(path, MAX_COLUMN_BYTES, within=self.folder) as (fd, actual):
            if actual != size:
                raise RemoteError("bad_request", f"{name} has {actual} bytes where the table's "
                                                 f"rows need {size}")
            mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        return mapped

    def _buffers(self, index: int) -> ColumnBuffers:
        spec = self._meta["columns"][index]
        if not spec.get("ready"):
            raise RemoteError("busy", f"column {spec.get('name')!r} is still being written")
        rows = self._meta["rows"]
        storage = spec["storage"]
        na = self._map(spec["na"], rows) if spec.get("na") else None
        if storage == "utf8":
            offsets = self._map(spec["offsets"], (rows + 1) * 8)
            last = memoryview(offsets).cast("B").cast("d")[rows] if rows else 0.0
            data = self._map(spec["file"], int(last))
            return ColumnBuffers(data, offsets, na)
        return ColumnBuffers(self._map(spec["file"], rows * STORAGE_FORMATS[storage][1]),
                             None, na)


def _checked(meta: Any) -> dict[str, Any]:
    """meta.json with what the reader relies on checked; RemoteError otherwise."""
    def bad(message: str) -> RemoteError:
        return RemoteError("bad_request", f"meta.json: {message}")

    if not isinstance(meta, dict) or meta.get("version") != 2:
        raise bad("not a version 2 table")
    rows = meta.get("rows")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise bad("'rows' is not a whole number")
    columns = meta.get("columns")
    if not isinstance(columns, list) or not columns or len(columns) > MAX_SNAPSHOT_COLUMNS:
        raise bad("'columns' is not a list of 1 to 10,000 columns")
    for n, spec in enumerate(columns):
        if not isinstance(spec, dict):
            raise bad(f"column {n} is not an object")
        if spec.get("type") not in COLUMN_TYPES:
            raise bad(f"column {n} has the unknown type {spec.get('type')!r}")
        if spec.get("storage") not in STORAGE_FORMATS:
            raise bad(f"column {n} has the unknown storage {spec.get('storage')!r}")
        try:
            check_file_name(spec.get("file"))
            if spec["storage"] == "utf8":
                check_file_name(spec.get("offsets"))
            if spec.get("na"):
                check_file_name(spec["na"])
        except ValueError as exc:
            raise RemoteError("refused", f"meta.json: column {n}: {exc}") from None
        levels = spec.get("levels")
        if levels is not None and not isinstance(levels, list):
            raise bad(f"column {n}'s levels are not a list")
        spec["name"] = str(spec.get("name", f"column {n}"))
    return meta

"""Paging, sorting and filtering a table view without holding its rows in memory.

A table is a folder with ``meta.json`` and JSON Lines chunks (filebridge/worker/table_writer.py,
docs/protocol-viewers.md). A page reads only its own lines: each chunk's line offsets are
found once and kept for a few chunks. Sorting and filtering scan the chunks one at a time and
keep only the resulting row order (4 bytes a row) and, while sorting, the sort column's keys.

The folder is the worker's: every file is opened through ``AllowedFolders`` (no symlink out,
regular files only, size-capped) and nothing ``meta.json`` says is trusted.
"""

from __future__ import annotations

import math
import os
import re
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from filebridge.errors import RemoteError
from filebridge.host.view_files import AllowedFolders, read_capped
from filebridge.wire.codec import loads

__all__ = ["MAX_CHUNK_BYTES", "MAX_META_BYTES", "MAX_PAGE", "PageRequest", "TableReader",
           "cell_matches", "parse_sort"]

MAX_PAGE = 1000
MAX_META_BYTES = 16 << 20
MAX_CHUNK_BYTES = 256 << 20
MAX_CHUNKS = 100_000
_OFFSET_CACHE = 8
_ORDER_CACHE = 4
NA_TEXT = "NA"
ROW_FIELD = "r"


@dataclass(frozen=True)
class PageRequest:
    start: int = 0
    count: int = 100
    sort: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    filter: str = ""
    column_filters: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def needs_order(self) -> bool:
        return bool(self.sort or self.filter or self.column_filters)


def parse_sort(text: str) -> tuple[tuple[str, bool], ...]:
    """``"c1:desc,c0"`` -> ((c1, True), (c0, False))."""
    keys = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, direction = part.partition(":")
        if direction not in ("", "asc", "desc"):
            raise RemoteError("bad_request", f"sort direction must be asc or desc: {part!r}")
        keys.append((name, direction == "desc"))
    return tuple(keys)


def display_text(value: Any) -> str:
    if value is None:
        return NA_TEXT
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return value
    return str(value)


def _number(value: Any) -> Optional[float]:
    """A numeric cell as a float (NaN for NaN); None for NA or text."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_COMPARISON = re.compile(r"\s*(>=|<=|!=|>|<|=)\s*(\S+)\s*")
_RANGE = re.compile(r"\s*(\S+)\s*\.\.\s*(\S+)\s*")


def cell_matches(value: Any, kind: str, query: str) -> bool:
    """One column filter: ``NA``; for numbers ``>3``, ``<=2.5``, ``=1``, ``!=0``, ``1..5``;
    otherwise a case-insensitive substring of the shown text."""
    if query.strip().upper() == NA_TEXT:
        return value is None
    if kind == "number":
        found = _COMPARISON.fullmatch(query)
        bounds = _RANGE.fullmatch(query)
        number = _number(value)
        try:
            if found:
                limit = float(found.group(2))
                if number is None or math.isnan(number):
                    return found.group(1) == "!="
                return {">": number > limit, "<": number < limit, ">=": number >= limit,
                        "<=": number <= limit, "=": number == limit,
                        "!=": number != limit}[found.group(1)]
            if bounds:
                low, high = float(bounds.group(1)), float(bounds.group(2))
                return number is not None and low <= number <= high
        except ValueError:
            pass
    return query.lower() in display_text(value).lower()


class _Chunk:
    def __init__(self, path: Path, start: int, rows: int) -> None:
        self.path = path
        self.start = start
        self.rows = rows


class TableReader:
    """One table folder; safe to use from several threads."""

    def __init__(self, folder: Path, allowed: Optional[AllowedFolders] = None) -> None:
        self.folder = folder
        self.allowed = allowed if allowed is not None else AllowedFolders([folder])
        self._lock = threading.RLock()
        self._meta: dict[str, Any] = {}
        self._meta_stamp: tuple[int, int] = (-1, -1)
        self._offsets: OrderedDict[str, array[int]] = OrderedDict()
        self._orders: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()

    # -- metadata ------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        path = self.folder / "meta.json"
        with self._lock, self.allowed.open(path, MAX_META_BYTES, within=self.folder) as (fd, size):
            stat = os.fstat(fd)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._meta_stamp:
                try:
                    meta = loads(read_capped(fd, size, MAX_META_BYTES, path))
                except ValueError as exc:
                    raise RemoteError("bad_request", f"unreadable meta.json: {exc}") from None
                if not isinstance(meta, dict) or not isinstance(meta.get("columns"), list) \
                        or not all(isinstance(c, dict) for c in meta["columns"]):
                    raise RemoteError("bad_request", "meta.json has no column list")
                self._meta, self._meta_stamp = meta, stamp
            return self._meta

    def _chunks(self, meta: dict[str, Any]) -> list[_Chunk]:
        chunks = []
        listed = meta.get("chunks", [])
        if not isinstance(listed, list) or len(listed) > MAX_CHUNKS:
            raise RemoteError("bad_request", "meta.json's chunk list is not a short list")
        for entry in listed:
            name = str(entry.get("file", "")) if isinstance(entry, dict) else ""
            if not name or "/" in name or "\\" in name or name.startswith("."):
                raise RemoteError("refused", f"chunk name {name!r} leaves the table folder")
            try:
                start, rows = int(entry["start"]), int(entry["rows"])
            except (KeyError, TypeError, ValueError):
                raise RemoteError("bad_request", f"chunk {name!r} has no whole start and "
                                                 "rows") from None
            if start < 0 or rows < 0:
                raise RemoteError("bad_request", f"chunk {name!r} has a negative start or rows")
            chunks.append(_Chunk(self.folder / name, start, rows))
        return chunks

    def _read_chunk(self, chunk: _Chunk) -> bytes:
        return self.allowed.read(chunk.path, MAX_CHUNK_BYTES, within=self.folder)

    def available_rows(self, meta: dict[str, Any]) -> int:
        return sum(chunk.rows for chunk in self._chunks(meta))

    # -- reading lines -------------------------------------------------------------------

    def _chunk_offsets(self, chunk: _Chunk) -> array[int]:
        key = chunk.path.name
        with self._lock:
            cached = self._offsets.get(key)
            if cached is not None:
                self._offsets.move_to_end(key)
                return cached
        data = self._read_chunk(chunk)
        offsets = array("Q", [0])
        position = data.find(b"\n")
        while position != -1:
            offsets.append(position + 1)
            position = data.find(b"\n", position + 1)
        with self._lock:
            self._offsets[key] = offsets
            while len(self._offsets) > _OFFSET_CACHE:
                self._offsets.popitem(last=False)
        return offsets

    def _locate(self, chunks: list[_Chunk], row: int) -> tuple[_Chunk, int]:
        for chunk in chunks:
            if chunk.start <= row < chunk.start + chunk.rows:
                return chunk, row - chunk.start
        raise RemoteError("bad_request", f"row {row} is not in the table")

    def _read_rows(self, chunks: list[_Chunk], rows: list[int]) -> list[dict[str, Any]]:
        """The parsed lines of ``rows`` (in that order), reading runs of adjacent rows at once."""
        out: list[dict[str, Any]] = []
        run_start = 0
        while run_start < len(rows):
            chunk, local = self._locate(chunks, rows[run_start])
            run_end = run_start + 1
            while (run_end < len(rows) and rows[run_end] == rows[run_end - 1] + 1
                   and rows[run_end] < chunk.start + chunk.rows):
                run_end += 1
            offsets = self._chunk_offsets(chunk)
            count = run_end - run_start
            if local + count >= len(offsets):
                raise RemoteError("bad_request", f"{chunk.path.name} has fewer lines than "
                                                 "meta.json says")
            first, last = offsets[local], offsets[local + count]
            with self.allowed.open(chunk.path, MAX_CHUNK_BYTES, within=self.folder) as (fd, _):
                data = os.pread(fd, last - first, first)
            for line in data.split(b"\n")[:count]:
                out.append(_record(line))
            run_start = run_end
        return out

    def _scan(self, chunks: list[_Chunk]) -> Iterator[tuple[int, bytes]]:
        for chunk in chunks:
            data = self._read_chunk(chunk)
            for n, line in enumerate(data.split(b"\n")[:chunk.rows]):
                yield chunk.start + n, line

    # -- ordering ------------------------------------------------------------------------

    def _order(self, meta: dict[str, Any], chunks: list[_Chunk],
               request: PageRequest) -> array[int]:
        available = sum(c.rows for c in chunks)
        key = (request.sort, request.filter, request.column_filters, available)
        with self._lock:
            cached = self._orders.get(key)
            if cached is not None:
                self._orders.move_to_end(key)
                return cached
        kinds = {str(c.get("field")): str(c.get("type", "string")) for c in meta["columns"]}
        for name, _ in request.sort:
            if name not in kinds:
                raise RemoteError("bad_request", f"no column {name!r} to sort by")
        for name, _ in request.column_filters:
            if name not in kinds:
                raise RemoteError("bad_request", f"no column {name!r} to filter")
        fields = list(kinds)
        matches = self._matcher(request, kinds, fields)
        sort_fields = [name for name, _ in request.sort]
        rows = array("I")
        keys: list[list[Any]] = [[] for _ in sort_fields]
        needle = request.filter.lower().encode("utf-8")
        for row, line in self._scan(chunks):
            if needle and needle not in line.lower():
                continue  # cheap reject before parsing; matches are checked on cells below
            record = _record(line) if (matches or sort_fields) else None
            if matches is not None and record is not None and not matches(record):
                continue
            rows.append(row)
            for column, name in enumerate(sort_fields):
                keys[column].append(record.get(name) if record is not None else None)
        order = rows
        if sort_fields:
            positions = list(range(len(rows)))
            # Sort by the last key first: Python's sort is stable, so earlier keys win.
            for column in reversed(range(len(sort_fields))):
                name, descending = request.sort[column]
                positions = _sorted(positions, keys[column], kinds[name], descending)
            order = array("I", (rows[n] for n in positions))
        with self._lock:
            self._orders[key] = order
            while len(self._orders) > _ORDER_CACHE:
                self._orders.popitem(last=False)
        return order

    @staticmethod
    def _matcher(request: PageRequest, kinds: dict[str, str],
                 fields: list[str]) -> Optional[Callable[[dict[str, Any]], bool]]:
        if not request.filter and not request.column_filters:
            return None
        needle = request.filter.lower()

        def matches(record: dict[str, Any]) -> bool:
            for name, query in request.column_filters:
                if not cell_matches(record.get(name), kinds[name], query):
                    return False
            if needle:
                return any(needle in display_text(record.get(f)).lower() for f in fields)
            return True

        return matches

    # -- pages ---------------------------------------------------------------------------

    def page(self, request: PageRequest) -> dict[str, Any]:
        meta = self.meta()
        chunks = self._chunks(meta)
        available = sum(c.rows for c in chunks)
        count = max(0, min(request.count, MAX_PAGE))
        start = max(0, request.start)
        if request.needs_order:
            order = self._order(meta, chunks, request)
            total = len(order)
            wanted = list(order[start:start + count])
        else:
            total = available
            wanted = list(range(start, min(available, start + count)))
        records = self._read_rows(chunks, wanted)
        fields = [str(c.get("field")) for c in meta["columns"]]
        return {
            "title": meta.get("title", ""),
            "columns": meta["columns"],
            "rows": [[record.get(f) for f in fields] for record in records],
            "start": start,
            "total": total,
            "available": available,
            "rows_total": meta.get("rows", available),
            "complete": bool(meta.get("complete", True)),
        }


def _record(line: bytes) -> dict[str, Any]:
    """A row line as a dict; a broken line (the worker wrote it) counts as an empty row."""
    try:
        record = loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _sorted(positions: list[int], values: list[Any], kind: str,
            descending: bool) -> list[int]:
    """``positions`` ordered by ``values[position]``; NA last in both directions."""
    present = [n for n in positions if values[n] is not None]
    missing = [n for n in positions if values[n] is None]
    if kind == "number":
        def number_key(n: int) -> float:
            number = _number(values[n])
            if number is None:
                return -math.inf
            return math.inf if math.isnan(number) else number
        present.sort(key=number_key, reverse=descending)
    else:
        present.sort(key=lambda n: display_text(values[n]).lower(), reverse=descending)
    return present + missing


# -- version 2 snapshots behind the same page interface (the CLI's `filebridge table`) ----------

_RANGE_QUERY = re.compile(r"\s*(\S+)\s*\.\.\s*(\S+)\s*")


def _filter_of(column: int, query: str) -> dict[str, Any]:
    """A version-1 column filter (``>3``, ``1..5``, ``NA``, text) as a protocol filter."""
    if query.strip().upper() == NA_TEXT:
        return {"column": column, "op": "is_na"}
    found = _COMPARISON.fullmatch(query)
    if found:
        return {"column": column, "op": found.group(1), "value": found.group(2)}
    bounds = _RANGE_QUERY.fullmatch(query)
    if bounds:
        return {"column": column, "op": "between", "low": bounds.group(1),
                "high": bounds.group(2)}
    return {"column": column, "op": "contains", "value": query}


class SnapshotPages:
    """``page(PageRequest)`` over a version-2 snapshot, with version 1's field names."""

    def __init__(self, snapshot: Any) -> None:
        self.snapshot = snapshot

    @staticmethod
    def fields(columns: list[dict[str, Any]]) -> list[str]:
        """``r`` for the row labels, ``c0``, ``c1``... for the other columns."""
        names, number = [], 0
        for spec in columns:
            if isinstance(spec.get("field"), str):
                names.append(spec["field"])  # imported from vscode-R: its own field names
            elif spec.get("role") == "label":
                names.append(ROW_FIELD)
            else:
                names.append(f"c{number}")
                number += 1
        return names

    def _index(self, field_name: str, columns: list[dict[str, Any]]) -> int:
        for n, name in enumerate(self.fields(columns)):
            if field_name == name:
                return n
        for n, spec in enumerate(columns):
            if field_name == spec.get("name"):
                return n
        raise RemoteError("bad_request", f"no column {field_name!r}")

    def page(self, request: PageRequest) -> dict[str, Any]:
        meta = self.snapshot.meta()
        columns = meta["columns"]
        args = {"start": max(0, request.start), "count": max(0, min(request.count, MAX_PAGE)),
                "sort": [{"column": self._index(f, columns), "descending": d}
                         for f, d in request.sort],
                "filters": [_filter_of(self._index(f, columns), q)
                            for f, q in request.column_filters],
                "search": request.filter}
        answer = self.snapshot.query().rows(args)
        kinds = {"integer": "number", "float": "number", "boolean": "bool", "date": "date",
                 "datetime": "date"}
        return {"title": meta.get("title", ""),
                "columns": [{"name": c["name"], "field": name,
                             "type": kinds.get(c["type"], "string"), "dtype": c.get("dtype", "")}
                            for name, c in zip(self.fields(columns), columns)],
                "rows": [list(cells) for cells in zip(*answer["cells"])],
                "start": answer["start"], "total": answer["total"],
                "available": meta["rows"], "rows_total": meta["rows"],
                "complete": bool(meta.get("complete", True))}


def table_version(folder: Path, allowed: AllowedFolders) -> int:
    path = folder / "meta.json"
    with allowed.open(path, MAX_META_BYTES, within=folder) as (fd, size):
        try:
            meta = loads(read_capped(fd, size, MAX_META_BYTES, path))
        except ValueError as exc:
            raise RemoteError("bad_request", f"unreadable meta.json: {exc}") from None
    version = meta.get("version", 1) if isinstance(meta, dict) else 1
    return version if version in (1, 2) else 1

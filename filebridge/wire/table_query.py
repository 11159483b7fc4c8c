"""Sort, filter, window, profile and export a columnar table (docs/protocol-viewers.md).

The same code answers ``table.*`` queries in a live Python worker (over the columns it encoded
from the object) and on the host (over the snapshot's files, mapped into memory), so both give
the same answer. numpy is used when it is passed in (the worker passes it only when the object
already was a numpy / pandas / polars one; the host when the ``viewers`` extra is installed);
without it every operation has a plain Python path that gives the same result, slower.

Standard library only at import.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from filebridge.errors import RemoteError
from filebridge.wire.table_format import (
    INT32_NA,
    INT64_NA,
    date_text,
    datetime_text,
    float_is_na,
    parse_moment,
    zone,
)
from filebridge.wire.table_order import monotone_keys, stable_order

__all__ = [
    "MAX_COLUMNS",
    "MAX_EXPORT_BYTES",
    "MAX_EXPORT_ROWS",
    "MAX_WINDOW",
    "ColumnBuffers",
    "Query",
    "TableQuery",
    "parse_query",
]

MAX_WINDOW = 2000
MAX_COLUMNS = 500
MAX_EXPORT_ROWS = 1_000_000
MAX_EXPORT_BYTES = 64 << 20
_CACHED_ORDERS = 4
_NUMERIC_TYPES = ("integer", "float", "boolean", "date", "datetime")
_TEXT_TYPES = ("string", "other")
_COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")
_TEXT_OPS = ("contains", "starts_with", "ends_with", "regex")
_OPS = (*_COMPARE_OPS, *_TEXT_OPS, "between", "not_between", "is_na", "not_na", "is_empty",
        "not_empty", "is_true", "is_false", "in", "not_in")


@dataclass
class ColumnBuffers:
    """One column's bytes: ``data`` (numbers, or UTF-8 text with ``offsets``), ``na`` mask."""

    data: Any
    offsets: Any = None
    na: Any = None


@dataclass(frozen=True)
class Filter:
    column: int
    op: str
    value: Any = None
    low: Any = None
    high: Any = None
    values: tuple[str, ...] = ()
    case_sensitive: bool = False


@dataclass(frozen=True)
class Query:
    sort: tuple[tuple[int, bool], ...] = ()
    filters: tuple[Filter, ...] = ()
    search: str = ""

    @property
    def identity(self) -> bool:
        return not (self.sort or self.filters or self.search)


def _bad(message: str) -> RemoteError:
    return RemoteError("bad_request", message)


def _column_index(value: Any, width: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < width:
        raise _bad(f"{what}: column {value!r} is not a column index below {width}")
    return value


def parse_query(args: dict[str, Any], width: int) -> Query:
    """The ``sort`` / ``filters`` / ``search`` arguments, checked; bad ones are bad_request."""
    sort = []
    for key in args.get("sort") or ():
        if not isinstance(key, dict):
            raise _bad("sort: each key is {\"column\": i, \"descending\": bool}")
        sort.append((_column_index(key.get("column"), width, "sort"),
                     bool(key.get("descending", False))))
    filters = []
    for spec in args.get("filters") or ():
        if not isinstance(spec, dict):
            raise _bad("filters: each filter is {\"column\": i, \"op\": ...}")
        op = spec.get("op")
        if op not in _OPS:
            raise _bad(f"filter op {op!r} is not one of {', '.join(_OPS)}")
        values = spec.get("values") or ()
        if not isinstance(values, (list, tuple)):
            raise _bad("filter 'values' must be a list")
        if op in ("between", "not_between") and (spec.get("low") is None
                                                 or spec.get("high") is None):
            raise _bad(f"filter {op} needs 'low' and 'high'")
        if op in (*_COMPARE_OPS, *_TEXT_OPS) and spec.get("value") is None:
            raise _bad(f"filter {op} needs a 'value'")
        if op == "regex":
            try:
                re.compile(str(spec["value"]))
            except re.error as exc:
                raise _bad(f"filter regex {spec['value']!r}: {exc}") from None
        filters.append(Filter(_column_index(spec.get("column"), width, "filter"), str(op),
                              spec.get("value"), spec.get("low"), spec.get("high"),
                              tuple(str(v) for v in values),
                              bool(spec.get("case_sensitive", False))))
    search = args.get("search") or ""
    if not isinstance(search, str):
        raise _bad("search must be text")
    return Query(tuple(sort), tuple(filters), search)


def _int_arg(args: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = args.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{key!r} must be a whole number")
    return max(low, min(high, value))


class _Column:
    """Typed views of one column's buffers, made once."""

    def __init__(self, spec: dict[str, Any], buffers: ColumnBuffers, rows: int,
                 np: Any) -> None:
        self.spec = spec
        self.type = str(spec.get("type", "other"))
        self.storage = str(spec.get("storage", "utf8"))
        self.levels: list[str] = [str(v) for v in spec.get("levels") or ()]
        self.tz = zone(str(spec.get("tz") or "")) if self.type == "datetime" else None
        self.rows = rows
        self.np = np
        self.buffers = buffers
        code = {"f64": "d", "i32": "i", "i64": "q"}.get(self.storage)
        self.text_data: Any = None
        self.offsets: Any = None
        if code is None:
            self.text_data = buffers.data
            self.offsets = (np.frombuffer(buffers.offsets, dtype="<f8")
                            if np is not None else memoryview(buffers.offsets).cast("B")
                            .cast("d"))
            self.values: Any = None
        elif np is not None:
            self.values = np.frombuffer(buffers.data, dtype={"d": "<f8", "i": "<i4",
                                                             "q": "<i8"}[code])
        else:
            self.values = memoryview(buffers.data).cast("B").cast(code)  # type: ignore[call-overload]
        self._na: Any = None
        self._texts: Optional[list[str]] = None

    # -- NA ------------------------------------------------------------------------------

    def na_mask(self) -> Any:
        """numpy: a bool array of NA cells; plain: a bytes-like of 0/1 per row."""
        if self._na is not None:
            return self._na
        np = self.np
        given = self.buffers.na
        if np is not None:
            mask = (np.frombuffer(given, dtype=np.uint8) != 0 if given is not None
                    else np.zeros(self.rows, dtype=bool))
            mask = self._with_sentinels(mask, self.values)
        else:
            mask = bytearray(given) if given is not None else bytearray(self.rows)
            values = self.values
            if self.storage == "f64":
                for row in range(self.rows):
                    value = values[row]
                    if value != value and float_is_na(value):
                        mask[row] = 1
            elif self.storage in ("i32", "i64"):
                sentinel = INT32_NA if self.storage == "i32" else INT64_NA
                for row in range(self.rows):
                    if values[row] == sentinel:
                        mask[row] = 1
        self._na = mask
        return mask

    def _with_sentinels(self, mask: Any, values: Any) -> Any:
        """numpy: ``mask`` or'ed with the NA sentinels among ``values`` (of this column)."""
        np = self.np
        if self.storage == "f64":
            nan = np.isnan(values)
            if nan.any():
                mask = mask | (nan & ((values.view(np.uint64) & np.uint64(0xFFFFFFFF)) == 1954))
        elif self.storage == "i32":
            mask = mask | (values == INT32_NA)
        elif self.storage == "i64":
            mask = mask | (values == INT64_NA)
        return mask

    def is_na(self, row: int) -> bool:
        """One cell's NA-ness without scanning the column (a window touches only its rows)."""
        if self._na is not None:
            return bool(self._na[row])
        given = self.buffers.na
        if given is not None and given[row]:
            return True
        if self.storage == "f64":
            value = float(self.values[row])
            return value != value and float_is_na(value)
        if self.storage == "i32":
            return int(self.values[row]) == INT32_NA
        if self.storage == "i64":
            return int(self.values[row]) == INT64_NA
        return False

    # -- cells ---------------------------------------------------------------------------

    def raw_text(self, row: int) -> str:
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        return bytes(self.text_data[start:stop]).decode("utf-8", "replace")

    def texts(self) -> list[str]:
        """Every cell's text (string columns); NA cells are ""."""
        if self._texts is None:
            data = bytes(self.text_data)
            offsets = (self.offsets.astype(self.np.int64).tolist() if self.np is not None
                       else [int(v) for v in self.offsets])
            if data.isascii():
                whole = data.decode("ascii")
                self._texts = [whole[offsets[n]:offsets[n + 1]] for n in range(self.rows)]
            else:
                self._texts = [data[offsets[n]:offsets[n + 1]].decode("utf-8", "replace")
                               for n in range(self.rows)]
        return self._texts

    def number(self, row: int) -> Any:
        value = self.values[row]
        return float(value) if self.storage == "f64" else int(value)

    def cell(self, row: int) -> Any:
        """The JSON cell of the protocol's ``table.rows`` answer."""
        if self.is_na(row):
            return None
        if self.values is None:
            return self.raw_text(row)
        return self._shown(self.number(row))

    def cells_at(self, rows: Sequence[int]) -> list[Any]:
        """``cell(row)`` for each of ``rows``. With numpy a window's values and NA flags are
        taken from the arrays at once: one array access per cell costs more than the rest
        of the cell (and, as ``is_na``, touches only the window's rows)."""
        np = self.np
        if np is None or not rows:
            return [self.cell(row) for row in rows]
        at = np.asarray(rows, dtype=np.int64)
        if self._na is not None:
            missing = self._na[at]
        elif self.buffers.na is not None:
            missing = np.frombuffer(self.buffers.na, dtype=np.uint8)[at] != 0
        else:
            missing = np.zeros(len(at), dtype=bool)
        if self.values is None:
            starts = self.offsets[at].astype(np.int64).tolist()
            stops = self.offsets[at + 1].astype(np.int64).tolist()
            data = self.text_data
            return [None if gone else bytes(data[start:stop]).decode("utf-8", "replace")
                    for gone, start, stop in zip(missing.tolist(), starts, stops)]
        window = self.values[at]
        missing = self._with_sentinels(missing, window)
        shown = self._shown
        return [None if gone else shown(value)
                for gone, value in zip(missing.tolist(), window.tolist())]

    def _shown(self, value: Any) -> Any:
        """The JSON cell of a value that is not NA."""
        kind = self.type
        if kind == "float" or (kind == "integer" and isinstance(value, float)):
            if math.isnan(value):
                return "NaN"
            if math.isinf(value):
                return "Inf" if value > 0 else "-Inf"
            return value
        if kind == "integer":
            return value if abs(value) < 2 ** 53 else str(value)
        if kind == "boolean":
            return bool(value)
        if kind == "date":
            return date_text(value)
        if kind == "datetime":
            return datetime_text(value, self.tz)
        if kind == "category":
            return self.levels[value - 1] if 0 < value <= len(self.levels) else str(value)
        return str(value)

    def texts_at(self, rows: Sequence[int]) -> list[str]:
        """``text(row)`` for many rows, with fast paths for text and number columns."""
        na = self.na_mask()
        if self.values is None:
            texts = self.texts()
            return ["" if na[r] else texts[r] for r in rows]
        if self.type in ("integer", "float") and self.storage != "utf8":
            picked = ([self.values[r] for r in rows] if self.np is None
                      else self.values[self.np.asarray(rows, dtype=self.np.int64)].tolist())
            out = []
            for r, value in zip(rows, picked):
                if na[r]:
                    out.append("")
                elif self.storage == "f64":
                    out.append(_float_text(value))
                else:
                    out.append(str(value))
            return out
        return [self.text(r) for r in rows]

    def text(self, row: int) -> str:
        """The cell as shown (filters on text, export); NA is ""."""
        value = self.cell(row)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
            return str(int(value)) if self.type != "float" else repr(value)
        return str(value)


class TableQuery:
    """Answers for one table; ``load(i)`` gives column i's buffers (called once per column)."""

    def __init__(self, columns: Sequence[dict[str, Any]], rows: int,
                 load: Callable[[int], ColumnBuffers], np: Any = None) -> None:
        self.specs = list(columns)
        self.nrows = rows
        self.np = np
        self._load = load
        self._columns: dict[int, _Column] = {}
        self._orders: OrderedDict[Query, Any] = OrderedDict()
        self._lock = threading.RLock()

    def column(self, index: int) -> _Column:
        with self._lock:
            found = self._columns.get(index)
            if found is None:
                found = self._columns[index] = _Column(self.specs[index], self._load(index),
                                                       self.nrows, self.np)
            return found

    # -- answers -------------------------------------------------------------------------

    def rows(self, args: dict[str, Any]) -> dict[str, Any]:
        query = parse_query(args, len(self.specs))
        start = _int_arg(args, "start", 0, 0, 2 ** 62)
        count = _int_arg(args, "count", 100, 0, MAX_WINDOW)
        columns = self._columns_arg(args)
        if args.get("positions") is not None:
            # the rows the asker chose (it sorted and filtered itself): these, in this order
            positions = self._positions_arg(args["positions"])
            return {"total": self.nrows, "start": 0, "rows": positions, "columns": columns,
                    "cells": [self.column(i).cells_at(positions) for i in columns]}
        order = self.order(query)
        total = self.nrows if order is None else len(order)
        stop = min(total, start + count)
        positions = (list(range(start, stop)) if order is None
                     else [int(v) for v in order[start:stop]])
        cells = [self.column(index).cells_at(positions) for index in columns]
        return {"total": total, "start": start, "rows": positions, "columns": columns,
                "cells": cells}

    def _positions_arg(self, asked: Any) -> list[int]:
        if not isinstance(asked, (list, tuple)) or len(asked) > MAX_WINDOW or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v < self.nrows
                for v in asked):
            raise _bad(f"positions: a list of at most {MAX_WINDOW} row positions below "
                       f"{self.nrows}")
        return list(asked)

    def _columns_arg(self, args: dict[str, Any]) -> list[int]:
        asked = args.get("columns")
        if asked is None:
            return list(range(min(len(self.specs), MAX_COLUMNS)))
        if not isinstance(asked, (list, tuple)) or len(asked) > MAX_COLUMNS:
            raise _bad(f"columns: a list of at most {MAX_COLUMNS} column indexes")
        return [_column_index(v, len(self.specs), "columns") for v in asked]

    def order(self, query: Query) -> Any:
        """The rows (0-based positions) after filters, in sort order; None when all, unsorted."""
        if query.identity:
            return None
        with self._lock:
            cached = self._orders.get(query)
            if cached is not None:
                self._orders.move_to_end(query)
                return cached
        selected = self._select(query)
        for index, descending in reversed(query.sort):
            selected = self._sort_by(selected, self.column(index), descending)
        with self._lock:
            self._orders[query] = selected
            while len(self._orders) > _CACHED_ORDERS:
                self._orders.popitem(last=False)
        return selected

    # -- filters -------------------------------------------------------------------------

    def _select(self, query: Query) -> Any:
        """The rows the filters keep, in row order; None for all rows (numpy, no filter)."""
        np = self.np
        if np is not None:
            if not (query.filters or query.search):
                return None
            mask = np.ones(self.nrows, dtype=bool)
            for spec in query.filters:
                mask &= self._mask(spec)
            if query.search:
                mask &= self._search_mask(query.search)
            return np.flatnonzero(mask)
        keep = bytearray(b"\x01") * self.nrows
        for spec in query.filters:
            self._apply_plain(keep, spec)
        if query.search:
            self._apply_plain_search(keep, query.search)
        return [row for row in range(self.nrows) if keep[row]]

    def _text_test(self, spec: Filter) -> Callable[[str], bool]:
        op = spec.op
        if op in _TEXT_OPS:
            needle = str(spec.value)
            if op == "regex":
                pattern = re.compile(needle, 0 if spec.case_sensitive else re.IGNORECASE)
                return lambda text: pattern.search(text) is not None
            if not spec.case_sensitive:
                needle = needle.casefold()
            method = {"contains": str.__contains__, "starts_with": str.startswith,
                      "ends_with": str.endswith}[op]
            if spec.case_sensitive:
                return lambda text: bool(method(text, needle))
            return lambda text: bool(method(text.casefold(), needle))
        if op in ("in", "not_in"):
            chosen = set(spec.values)
            return ((lambda text: text in chosen) if op == "in"
                    else (lambda text: text not in chosen))
        if op in ("is_empty", "not_empty"):
            return (lambda text: text == "") if op == "is_empty" else (lambda text: text != "")
        if op in _COMPARE_OPS:
            value = str(spec.value)
            compare = _COMPARE[op]
            return lambda text: bool(compare(text, value))
        if op in ("between", "not_between"):
            low, high = str(spec.low), str(spec.high)
            inside = op == "between"
            return lambda text: (low <= text <= high) == inside
        raise _bad(f"filter {op} does not apply to a text column")

    def _bound(self, column: _Column, value: Any) -> float:
        if column.type in ("date", "datetime"):
            try:
                return parse_moment(str(value), column.type, column.tz)
            except ValueError:
                raise _bad(f"{value!r} is not a {column.type} (2024-08-25 or "
                           "2024-08-25 13:45)") from None
        if column.type == "boolean" and isinstance(value, str) \
                and value.lower() in ("true", "false"):
            return 1.0 if value.lower() == "true" else 0.0
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad(f"{value!r} is not a number") from None

    def _mask(self, spec: Filter) -> Any:
        np = self.np
        column = self.column(spec.column)
        na = column.na_mask()
        op = spec.op
        if op == "is_na" or op == "not_na":
            missing = na.copy()
            if column.storage == "f64":
                missing |= np.isnan(column.values)
            return missing if op == "is_na" else ~missing
        if column.type in _NUMERIC_TYPES and op not in (*_TEXT_OPS, "in", "not_in",
                                                        "is_empty", "not_empty"):
            values = column.values
            present = ~na
            if op in ("is_true", "is_false"):
                return present & (values == (1 if op == "is_true" else 0))
            with np.errstate(invalid="ignore"):
                if op in ("between", "not_between"):
                    low, high = self._bound(column, spec.low), self._bound(column, spec.high)
                    inside = (values >= low) & (values <= high)
                    if op == "between":
                        return present & inside
                    number = ~np.isnan(values) if column.storage == "f64" else True
                    return present & ~inside & number
                if op in _COMPARE_OPS:
                    bound = self._bound(column, spec.value)
                    result = _COMPARE[op](values, bound)
                    return present & result
            raise _bad(f"filter {op} does not apply to a {column.type} column")
        if column.type == "category":
            test = self._text_test(spec)
            chosen = [code + 1 for code, level in enumerate(column.levels) if test(level)]
            return ~na & np.isin(column.values, np.array(chosen, dtype=column.values.dtype))
        if column.values is None and op == "contains":
            return ~na & self._contains(column, str(spec.value), spec.case_sensitive)
        test = self._text_test(spec)
        if column.values is None:
            matched = np.fromiter((test(text) for text in column.texts()), dtype=bool,
                                  count=self.nrows)
        else:
            matched = np.fromiter((test(column.text(row)) for row in range(self.nrows)),
                                  dtype=bool, count=self.nrows)
        return ~na & matched

    def _contains(self, column: _Column, needle: str, case_sensitive: bool) -> Any:
        """A substring over a text column: found in the UTF-8 bytes, then mapped to rows."""
        np = self.np
        data = bytes(column.text_data)
        if not case_sensitive:
            if not needle.isascii():
                folded = needle.casefold()
                return np.fromiter((folded in text.casefold() for text in column.texts()),
                                   dtype=bool, count=self.nrows)
            data = data.lower()
            needle = needle.lower()
        encoded = needle.encode("utf-8")
        mask = np.zeros(self.nrows, dtype=bool)
        if not encoded:
            mask[:] = True
            return mask
        hits = np.fromiter((m.start() for m in re.finditer(re.escape(encoded), data)),
                           dtype=np.int64)
        if hits.size:
            rows = np.searchsorted(column.offsets, hits.astype(np.float64), side="right") - 1
            inside = hits + len(encoded) <= column.offsets[rows + 1]
            mask[rows[inside]] = True
        return mask

    def _search_mask(self, text: str) -> Any:
        np = self.np
        mask = np.zeros(self.nrows, dtype=bool)
        number = _as_number(text)
        for index in range(len(self.specs)):
            column = self.column(index)
            if column.values is None:
                mask |= ~column.na_mask() & self._contains(column, text, False)
            elif column.type == "category":
                mask |= self._mask(Filter(index, "contains", text))
            elif number is not None and column.type in ("integer", "float"):
                with np.errstate(invalid="ignore"):
                    mask |= ~column.na_mask() & (column.values == number)
        return mask

    def _apply_plain(self, keep: bytearray, spec: Filter) -> None:
        column = self.column(spec.column)
        na = column.na_mask()
        op = spec.op
        test: Callable[[int], bool]
        if op in ("is_na", "not_na"):
            floats = column.storage == "f64"

            def missing(row: int) -> bool:
                return bool(na[row]) or (floats and math.isnan(column.values[row]))
            test = missing if op == "is_na" else (lambda row: not missing(row))
        elif column.type in _NUMERIC_TYPES and op not in (*_TEXT_OPS, "in", "not_in",
                                                          "is_empty", "not_empty"):
            values = column.values
            if op in ("is_true", "is_false"):
                wanted = 1 if op == "is_true" else 0
                test = lambda row: not na[row] and values[row] == wanted  # noqa: E731
            elif op in ("between", "not_between"):
                low, high = self._bound(column, spec.low), self._bound(column, spec.high)
                inside = op == "between"

                def within(row: int) -> bool:
                    value = values[row]
                    if na[row] or value != value:
                        return False
                    return bool((low <= value <= high) == inside)
                test = within
            elif op in _COMPARE_OPS:
                bound = self._bound(column, spec.value)
                compare = _COMPARE[op]

                def compared(row: int) -> bool:
                    return not na[row] and bool(compare(values[row], bound))
                test = compared
            else:
                raise _bad(f"filter {op} does not apply to a {column.type} column")
        else:
            text_test = self._text_test(spec)
            if column.values is None:
                texts = column.texts()
                test = lambda row: not na[row] and text_test(texts[row])  # noqa: E731
            else:
                test = lambda row: not na[row] and text_test(column.text(row))  # noqa: E731
        for row in range(self.nrows):
            if keep[row] and not test(row):
                keep[row] = 0

    def _apply_plain_search(self, keep: bytearray, text: str) -> None:
        folded = text.casefold()
        number = _as_number(text)
        columns = [self.column(i) for i in range(len(self.specs))]
        for row in range(self.nrows):
            if not keep[row]:
                continue
            found = False
            for column in columns:
                if column.is_na(row):
                    continue
                if column.values is None or column.type == "category":
                    found = folded in column.text(row).casefold()
                elif number is not None and column.type in ("integer", "float"):
                    found = column.values[row] == number
                if found:
                    break
            if not found:
                keep[row] = 0

    # -- sorting -------------------------------------------------------------------------

    def _sort_by(self, selected: Any, column: _Column, descending: bool) -> Any:
        """``selected`` (None: all rows) stably reordered by ``column``: values, then NaN,
        then NA."""
        np = self.np
        na = column.na_mask()
        if np is not None:
            if column.values is None:
                texts = column.texts()
                positions = range(self.nrows) if selected is None else selected.tolist()
                present = [r for r in positions if not na[r]]
                missing = [r for r in positions if na[r]]
                present.sort(key=texts.__getitem__, reverse=descending)
                return np.array(present + missing, dtype=np.int64)
            values = column.values if selected is None else column.values[selected]
            missing = na if selected is None else na[selected]
            nan = (np.isnan(values) & ~missing if column.storage == "f64"
                   else np.zeros(values.size, dtype=bool))
            present = ~(missing | nan)
            if present.all():
                order = stable_order(np, monotone_keys(np, values, descending))
            else:
                kept = np.flatnonzero(present)
                order = np.concatenate([
                    kept[stable_order(np, monotone_keys(np, values[kept], descending))],
                    np.flatnonzero(nan), np.flatnonzero(missing)])
            return order if selected is None else selected[order]
        positions = list(selected)
        if column.values is None:
            texts = column.texts()
            present = [r for r in positions if not na[r]]
            present.sort(key=texts.__getitem__, reverse=descending)
            return present + [r for r in positions if na[r]]
        values = column.values
        regular, nans, missing = [], [], []
        for row in positions:
            if na[row]:
                missing.append(row)
            elif values[row] != values[row]:
                nans.append(row)
            else:
                regular.append(row)
        regular.sort(key=values.__getitem__, reverse=descending)
        return regular + nans + missing

    # -- profiles ------------------------------------------------------------------------

    def profile(self, args: dict[str, Any]) -> dict[str, Any]:
        query = parse_query(args, len(self.specs))
        index = _column_index(args.get("column"), len(self.specs), "profile")
        bins = _int_arg(args, "bins", 20, 1, 200)
        top = _int_arg(args, "top", 10, 1, 100)
        order = self.order(query)
        column = self.column(index)
        if self.np is not None:
            return {"column": index, **self._profile_numpy(column, order, bins, top)}
        return {"column": index, **self._profile_plain(column, order, bins, top)}

    def _profile_numpy(self, column: _Column, order: Any, bins: int,
                       top: int) -> dict[str, Any]:
        np = self.np
        na = column.na_mask()
        if order is not None:
            na = na[order]
        rows = int(na.size)
        out: dict[str, Any] = {"rows": rows, "na": int(na.sum()), "nan": 0, "inf": 0}
        if column.values is None:
            texts = column.texts()
            positions = order.tolist() if order is not None else range(self.nrows)
            counts = Counter(texts[r] for r, missing in zip(positions, na.tolist())
                             if not missing)
            out.update(empty=counts.get("", 0), distinct=len(counts),
                       frequent=_frequent(counts, top))
            return out
        values = column.values if order is None else column.values[order]
        present = values[~na]
        if column.type in ("category", "boolean"):
            if column.type == "category":
                codes = np.bincount(present.astype(np.int64), minlength=len(column.levels) + 1)
                counts = Counter({level: int(codes[code + 1])
                                  for code, level in enumerate(column.levels)
                                  if code + 1 < codes.size and codes[code + 1]})
            else:
                trues = int((present == 1).sum())
                counts = Counter({"true": trues, "false": int(present.size) - trues})
                out["stats"] = {"true": trues, "false": int(present.size) - trues}
                counts = +counts
            out.update(distinct=len(counts), frequent=_frequent(counts, top))
            return out
        numbers = present.astype(np.float64)
        nan = np.isnan(numbers)
        inf = np.isinf(numbers)
        out["nan"], out["inf"] = int(nan.sum()), int(inf.sum())
        finite = numbers[~nan & ~inf]
        if finite.size:
            stats = {"min": float(finite.min()), "max": float(finite.max()),
                     "median": float(np.median(finite))}
            if column.type in ("integer", "float"):
                stats["mean"] = float(finite.mean())
                stats["std"] = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
            out["stats"] = self._stats_cells(column, stats)
            counts, edges = np.histogram(finite, bins=bins)
            out["histogram"] = {"edges": [float(e) for e in edges],
                                "counts": [int(c) for c in counts]}
        return out

    def _profile_plain(self, column: _Column, order: Any, bins: int,
                       top: int) -> dict[str, Any]:
        na = column.na_mask()
        positions = list(order) if order is not None else list(range(self.nrows))
        present = [r for r in positions if not na[r]]
        out: dict[str, Any] = {"rows": len(positions), "na": len(positions) - len(present),
                               "nan": 0, "inf": 0}
        if column.values is None or column.type in ("category", "boolean"):
            counts = Counter(column.text(r) for r in present)
            if column.values is None:
                out["empty"] = counts.get("", 0)
            if column.type == "boolean":
                out["stats"] = {"true": counts.get("true", 0), "false": counts.get("false", 0)}
            out.update(distinct=len(counts), frequent=_frequent(counts, top))
            return out
        numbers = [float(column.values[r]) for r in present]
        out["nan"] = sum(1 for v in numbers if math.isnan(v))
        out["inf"] = sum(1 for v in numbers if math.isinf(v))
        finite = sorted(v for v in numbers if math.isfinite(v))
        if finite:
            stats: dict[str, Any] = {"min": finite[0], "max": finite[-1],
                                     "median": statistics.median(finite)}
            if column.type in ("integer", "float"):
                stats["mean"] = math.fsum(finite) / len(finite)
                stats["std"] = statistics.stdev(finite) if len(finite) > 1 else 0.0
            out["stats"] = self._stats_cells(column, stats)
            out["histogram"] = _histogram(finite, bins)
        return out

    @staticmethod
    def _stats_cells(column: _Column, stats: dict[str, Any]) -> dict[str, Any]:
        if column.type == "date":
            return {k: date_text(v) for k, v in stats.items()}
        if column.type == "datetime":
            return {k: datetime_text(v, column.tz) for k, v in stats.items()}
        return stats

    # -- export --------------------------------------------------------------------------

    def export(self, args: dict[str, Any]) -> dict[str, Any]:
        query = parse_query(args, len(self.specs))
        fmt = args.get("format", "csv")
        if fmt not in ("csv", "tsv"):
            raise _bad(f"export format {fmt!r} is not csv or tsv")
        start = _int_arg(args, "start", 0, 0, 2 ** 62)
        count = _int_arg(args, "count", MAX_EXPORT_ROWS, 0, MAX_EXPORT_ROWS)
        columns = self._columns_arg(args)
        order = self.order(query)
        total = self.nrows if order is None else len(order)
        stop = min(total, start + count)
        picked = [self.column(i) for i in columns]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None

        def write(fields: list[str]) -> None:
            if writer is not None:
                writer.writerow(fields)
            else:
                out.write("\t".join(f.replace("\t", " ").replace("\n", " ").replace("\r", " ")
                                    for f in fields) + "\n")

        write([str(c.spec.get("name", "")) for c in picked])
        written = 0
        truncated = stop < total and count == MAX_EXPORT_ROWS
        for block in range(start, stop, 50_000):
            end = min(stop, block + 50_000)
            rows = (list(range(block, end)) if order is None
                    else [int(v) for v in order[block:end]])
            for fields in zip(*(c.texts_at(rows) for c in picked)):
                write(list(fields))
                written += 1
            if out.tell() > MAX_EXPORT_BYTES:
                truncated = True
                break
        return {"text": out.getvalue(), "rows": written, "truncated": truncated}

    def schema(self) -> dict[str, Any]:
        hidden = ("file", "offsets", "na", "ready")
        return {"rows": self.nrows,
                "columns": [{k: v for k, v in c.items() if k not in hidden}
                            for c in self.specs]}


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _as_number(text: str) -> Optional[float]:
    try:
        number = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Inf" if value > 0 else "-Inf"
    return repr(value)


def _frequent(counts: Counter[str], top: int) -> dict[str, Any]:
    common = counts.most_common(top)
    shown = sum(c for _, c in common)
    return {"values": [v for v, _ in common], "counts": [c for _, c in common],
            "other": sum(counts.values()) - shown}


def _histogram(values: list[float], bins: int) -> dict[str, Any]:
    """Equal-width bins over sorted finite values, the last bin closed (as numpy's)."""
    low, high = values[0], values[-1]
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    edges = [low + width * n for n in range(bins)] + [high]
    counts = [0] * bins
    for value in values:
        slot = min(bins - 1, int((value - low) / width))
        counts[slot] += 1
    return {"edges": edges, "counts": counts}

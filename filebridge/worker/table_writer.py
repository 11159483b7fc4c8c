"""Writing a table into a view folder so the host can page through it without loading it whole.

Layout of ``<session>/views/<id>/`` (docs/protocol-viewers.md):
``meta.json`` (columns, chunk list, row counts, ``complete``) and ``rows-00000.jsonl``,
``rows-00001.jsonl``, ... with one JSON object per row, keyed by each column's ``field``.
The first chunk is written before the host is told, the rest after, so a huge table shows its
first page while the remainder is still being written.

Standard library only at import; pandas, polars and numpy are used only when the object is one.
"""

from __future__ import annotations

import datetime
import json
import math
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional

from filebridge.wire.files import atomic_write

__all__ = ["CHUNK_ROWS", "ROW_FIELD", "TableSource", "as_table", "write_table"]

CHUNK_ROWS = 50_000
ROW_FIELD = "r"
ROW_HEADER = "(row)"
TABLE_FORMAT = "filebridge.table"


def _cell(value: Any) -> Any:
    """A JSON-safe cell: NA is null, non-finite floats are the strings NaN / Inf / -Inf."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return _cell(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _kind_of(values: Iterable[Any]) -> str:
    """The display type of a column from its first non-null cells."""
    kinds = set()
    for count, value in enumerate(v for v in values if v is not None):
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, (int, float)) or value in ("NaN", "Inf", "-Inf"):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
        else:
            kinds.add("other")
        if count >= 100:
            break
    if len(kinds) == 1:
        return kinds.pop()
    return "number" if kinds == {"number", "bool"} else "string"


class TableSource:
    """Columns plus a way to produce JSON Lines for a range of rows."""

    def __init__(self, headers: list[str], kinds: list[str], dtypes: list[str], nrows: int,
                 encode: Callable[[int, int, list[str]], str]) -> None:
        self.headers = headers
        self.kinds = kinds
        self.dtypes = dtypes
        self.nrows = nrows
        self.fields = [f"c{i}" for i in range(len(headers))]
        self.row_kind = "number"
        self._encode = encode

    def lines(self, start: int, stop: int) -> str:
        """Rows [start, stop) as JSON Lines keyed by ``ROW_FIELD`` and the column fields."""
        return self._encode(start, stop, self.fields)

    def columns(self) -> list[dict[str, Any]]:
        first = {"name": ROW_HEADER, "field": ROW_FIELD, "type": self.row_kind,
                 "dtype": "index"}
        return [first] + [{"name": h, "field": f, "type": k, "dtype": d}
                          for h, f, k, d in zip(self.headers, self.fields, self.kinds,
                                                self.dtypes)]


def _python_rows(headers: list[str], rows: Sequence[Sequence[Any]],
                 labels: Optional[Sequence[Any]] = None) -> TableSource:
    kinds = [_kind_of(_cell(row[i]) if i < len(row) else None for row in rows[:200])
             for i in range(len(headers))]

    def encode(start: int, stop: int, fields: list[str]) -> str:
        out = []
        for n in range(start, stop):
            row = rows[n]
            record: dict[str, Any] = {ROW_FIELD: _cell(labels[n]) if labels is not None else n}
            for i, field in enumerate(fields):
                record[field] = _cell(row[i]) if i < len(row) else None
            out.append(json.dumps(record, ensure_ascii=False, allow_nan=False))
        return "\n".join(out) + "\n" if out else ""

    return TableSource(headers, kinds, ["object"] * len(headers), len(rows), encode)


def _from_records(records: Sequence[Mapping[Any, Any]]) -> TableSource:
    keys: dict[Any, None] = {}
    for record in records:
        for key in record:
            keys.setdefault(key, None)
    order = list(keys)
    rows = [[record.get(key) for key in order] for record in records]
    return _python_rows([str(k) for k in order], rows)


def _from_columns(columns: Mapping[Any, Sequence[Any]]) -> TableSource:
    names = list(columns)
    length = len(columns[names[0]]) if names else 0
    rows = [[columns[name][n] for name in names] for n in range(length)]
    return _python_rows([str(n) for n in names], rows)


def _pandas_kind(series: Any, pd: Any) -> str:
    types = pd.api.types
    if types.is_bool_dtype(series.dtype):
        return "bool"
    if types.is_numeric_dtype(series.dtype) and not types.is_complex_dtype(series.dtype):
        return "number"
    if types.is_datetime64_any_dtype(series.dtype):
        return "date"
    return "string"


def _from_pandas(frame: Any) -> TableSource:
    pd = sys.modules["pandas"]
    np = sys.modules["numpy"]
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(name=frame.name if frame.name is not None else "value")
    kinds = [_pandas_kind(frame.iloc[:, i], pd) for i in range(frame.shape[1])]
    plain_index = (isinstance(frame.index, pd.RangeIndex)
                   or (frame.index.nlevels == 1
                       and pd.api.types.is_numeric_dtype(frame.index.dtype)))

    def encode(start: int, stop: int, fields: list[str]) -> str:
        part = frame.iloc[start:stop].set_axis(fields, axis=1)
        for field, kind in zip(fields, kinds):
            column = part[field]
            if kind == "number" and column.dtype.kind == "f":
                values = column.to_numpy()
                infinite = np.isinf(values)
                if infinite.any():
                    marked = column.astype(object)
                    marked[infinite] = np.where(values[infinite] > 0, "Inf", "-Inf")
                    part = part.assign(**{field: marked})
            elif kind == "string" and column.dtype.kind in "mcO" and column.dtype.kind != "O":
                part = part.assign(**{field: column.astype(str)})
        labels = part.index if plain_index else part.index.map(str)
        part = part.assign(**{ROW_FIELD: labels.to_numpy()})
        part = part[[ROW_FIELD, *fields]]
        text: str = part.to_json(orient="records", lines=True, date_format="iso",
                                 default_handler=str, double_precision=15)
        return text if text.endswith("\n") or not text else text + "\n"

    table = TableSource([str(c) for c in frame.columns], kinds,
                        [str(frame.dtypes.iloc[i]) for i in range(frame.shape[1])],
                        int(frame.shape[0]), encode)
    if not plain_index and not pd.api.types.is_numeric_dtype(frame.index.dtype):
        table.row_kind = "string"
    return table


def _from_polars(frame: Any) -> TableSource:
    pl = sys.modules["polars"]
    kinds = []
    for dtype in frame.dtypes:
        if dtype == pl.Boolean:
            kinds.append("bool")
        elif dtype.is_numeric():
            kinds.append("number")
        elif dtype.is_temporal():
            kinds.append("date")
        else:
            kinds.append("string")

    def encode(start: int, stop: int, fields: list[str]) -> str:
        part = frame.slice(start, stop - start)
        renamed = dict(zip(part.columns, fields))
        part = part.rename(renamed)
        exprs = [pl.int_range(start, start + part.height, eager=False).alias(ROW_FIELD)]
        for field, dtype in zip(fields, part.dtypes):
            column = pl.col(field)
            if dtype.is_float():
                # polars writes NaN and Inf as null: keep them visible as strings
                exprs.append(pl.when(column.is_nan()).then(pl.lit("NaN"))
                             .when(column == float("inf")).then(pl.lit("Inf"))
                             .when(column == float("-inf")).then(pl.lit("-Inf"))
                             .otherwise(column.cast(pl.String)).alias(field)
                             if bool(part.select((column.is_nan() | column.is_infinite()).any())
                                     .item()) else column)
            else:
                exprs.append(column)
        text: str = part.select(exprs).write_ndjson()
        return text

    return TableSource([str(c) for c in frame.columns], kinds, [str(d) for d in frame.dtypes],
                       int(frame.height), encode)


def _from_numpy(array: Any) -> TableSource:
    if "pandas" in sys.modules:
        return _from_pandas(sys.modules["pandas"].DataFrame(array))
    rows = array.tolist() if array.ndim == 2 else [[v] for v in array.tolist()]
    width = len(rows[0]) if rows else 0
    return _python_rows([str(i) for i in range(width)], rows)


def _is_instance(obj: Any, module: str, names: tuple[str, ...]) -> bool:
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, tuple(getattr(mod, n) for n in names))


def as_table(obj: Any) -> Optional[TableSource]:
    """``obj`` as a table, or None when it is not table-shaped."""
    if _is_instance(obj, "pandas", ("DataFrame", "Series")):
        return _from_pandas(obj)
    if _is_instance(obj, "polars", ("DataFrame",)):
        return _from_polars(obj)
    if _is_instance(obj, "numpy", ("ndarray",)) and obj.ndim in (1, 2):
        return _from_numpy(obj)
    if isinstance(obj, Mapping) and obj and all(
            isinstance(v, Sequence) and not isinstance(v, (str, bytes)) for v in obj.values()):
        if len({len(v) for v in obj.values()}) == 1:
            return _from_columns(obj)
        return None
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)) and obj:
        if all(isinstance(r, Mapping) for r in obj):
            return _from_records(obj)
        if all(isinstance(r, (list, tuple)) for r in obj) and len({len(r) for r in obj}) == 1:
            return _python_rows([str(i) for i in range(len(obj[0]))], obj)
    return None


def _chunks(nrows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, nrows, CHUNK_ROWS):
        yield start, min(nrows, start + CHUNK_ROWS)


def write_table(source: TableSource, folder: Path, title: str, *, row_limit: Optional[int],
                announce: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Write ``source`` into ``folder``; call ``announce(meta)`` once the first chunk is readable.

    Returns the final meta.json content.
    """
    shown = source.nrows if row_limit is None else max(0, min(row_limit, source.nrows))
    if shown < source.nrows:
        title = f"{title} (limited to {shown}/{source.nrows})"
    meta: dict[str, Any] = {
        "format": TABLE_FORMAT, "version": 1, "title": title,
        "columns": source.columns(), "rows": shown, "total_rows": source.nrows,
        "chunks": [], "complete": False,
    }
    announced = False
    for number, (start, stop) in enumerate(_chunks(shown)):
        name = f"rows-{number:05d}.jsonl"
        atomic_write(folder / name, source.lines(start, stop).encode("utf-8"))
        meta["chunks"].append({"file": name, "start": start, "rows": stop - start})
        if not announced:
            _write_meta(folder, meta)
            announce(meta)
            announced = True
    meta["complete"] = True
    _write_meta(folder, meta)
    if not announced:
        announce(meta)
    return meta


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    atomic_write(folder / "meta.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))

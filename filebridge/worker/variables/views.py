"""Data views and clipboard text of one value, bounded by VIEW_ROWS and CLIPBOARD_CHARS.

A view is the table payload vscode-R's data viewer uses: ``columns`` (headerName, field, type)
and row-wise ``data``, a ``(row)`` column first; numbers that JSON cannot carry (NaN, Inf) and
every other value become strings.
"""

from __future__ import annotations

import csv
import io
import json
import math
from itertools import islice
from typing import Any

from filebridge.errors import RemoteError
from filebridge.worker.variables.describe import methods_for
from filebridge.worker.variables.families import preview
from filebridge.worker.variables.limits import CLIPBOARD_CHARS, NESTED_CHARS, VIEW_ROWS

__all__ = ["clipboard_text", "table_summary", "view_payload"]

MAX_COLUMNS = 200


def cell(value: Any) -> Any:
    """A JSON-safe table cell."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) else value[:NESTED_CHARS * 8]
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text, _ = preview(value, NESTED_CHARS, 10, 1)
    return text


def _column_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    numeric = present and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                              for v in present)
    return "numericColumn" if numeric else "textColumn"


def _table(title: str, headers: list[str], rows: list[list[Any]], total: int) -> dict[str, Any]:
    fields = ["x0"] + [f"x{i}" for i in range(1, len(headers))]
    data = [dict(zip(fields, [cell(v) for v in row])) for row in rows]
    columns = [{"headerName": header, "headerTooltip": header, "field": field,
                "type": _column_type([r.get(field) for r in data])}
               for header, field in zip(headers, fields)]
    shown = len(rows)
    limited = shown < total
    if limited:
        title = f"{title} (limited to {shown}/{total})"
    return {"source": "table", "title": title, "columns": columns, "data": data,
            "total_rows": total, "limited": limited}


def _pandas_frame(x: Any, title: str) -> dict[str, Any]:
    head = x.iloc[:VIEW_ROWS, :MAX_COLUMNS]
    headers = ["(row)"] + [str(c) for c in head.columns]
    rows = [[label, *values] for label, values in zip(head.index, head.itertuples(index=False))]
    return _table(title, headers, rows, int(x.shape[0]))


def _polars_frame(x: Any, title: str) -> dict[str, Any]:
    head = x.head(VIEW_ROWS).select(x.columns[:MAX_COLUMNS])
    headers = ["(row)", *list(head.columns)]
    rows = [[i, *values] for i, values in enumerate(head.rows())]
    return _table(title, headers, rows, int(x.shape[0]))


def _deephaven_table(x: Any, title: str) -> dict[str, Any]:
    import importlib

    to_pandas = importlib.import_module("deephaven.pandas").to_pandas  # present with a Table
    names = [c.name for c in x.columns][:MAX_COLUMNS]
    head = to_pandas(x.head(VIEW_ROWS).view(names))
    return {**_pandas_frame(head, title), **_limited(title, len(head), int(x.size))}


def _limited(title: str, shown: int, total: int) -> dict[str, Any]:
    limited = shown < total
    return {"total_rows": total, "limited": limited,
            "title": f"{title} (limited to {shown}/{total})" if limited else title}


def _series(x: Any, title: str) -> dict[str, Any]:
    if hasattr(x, "iloc"):
        head = x.iloc[:VIEW_ROWS]
        labels: list[Any] = list(head.index)
        values = head.tolist()
    else:
        values = x.head(VIEW_ROWS).to_list()
        labels = list(range(len(values)))
    name = str(getattr(x, "name", None) or "value")
    return _table(title, ["(row)", name], [[a, b] for a, b in zip(labels, values)], len(x))


def _array(x: Any, title: str) -> dict[str, Any]:
    head = x[:VIEW_ROWS]
    if x.ndim == 1:
        return _table(title, ["(row)", "value"], [[i, v] for i, v in enumerate(head.tolist())],
                      int(x.shape[0]))
    head = head[:, :MAX_COLUMNS]
    headers = ["(row)"] + [f"V{j + 1}" for j in range(head.shape[1])]
    return _table(title, headers, [[i, *row] for i, row in enumerate(head.tolist())],
                  int(x.shape[0]))


def _records(x: Any, title: str) -> dict[str, Any]:
    items = list(islice(iter(x), VIEW_ROWS))
    if items and all(isinstance(i, dict) for i in items):
        keys: list[Any] = []
        for item in items:
            keys.extend(k for k in item if k not in keys and len(keys) < MAX_COLUMNS)
        rows = [[i, *[item.get(k) for k in keys]] for i, item in enumerate(items)]
        return _table(title, ["(row)"] + [str(k) for k in keys], rows, len(x))
    return _table(title, ["(row)", "value"], [[i, v] for i, v in enumerate(items)], len(x))


def _mapping(x: Any, title: str) -> dict[str, Any]:
    rows = [[k, v] for k, v in islice(x.items(), VIEW_ROWS)]
    return _table(title, ["key", "value"], rows, len(x))


def view_payload(value: Any, title: str) -> dict[str, Any]:
    """The data view of ``value``; RemoteError("refused") when it has no viewer."""
    methods = methods_for(value)
    custom = methods.custom_view(value)
    if custom is not None:
        return {"source": "table", "title": title, **custom}
    if not methods.has_viewer(value):
        raise RemoteError("refused", f"{title} ({type(value).__name__}) has no data viewer")
    family = type(methods.family).__name__
    if family == "DeephavenTableFamily":
        return _deephaven_table(value, title)
    builders = {"PandasFrameFamily": _pandas_frame, "PolarsFrameFamily": _polars_frame,
                "PandasSeriesFamily": _series, "PolarsSeriesFamily": _series,
                "NumpyArrayFamily": _array, "SequenceFamily": _records,
                "MappingFamily": _mapping}
    build = builders.get(family)
    if build is None:
        raise RemoteError("refused", f"{title} ({type(value).__name__}) has no data viewer")
    return build(value, title)


def _csv(payload: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = [c["field"] for c in payload["columns"]]
    writer.writerow([c["headerName"] for c in payload["columns"]])
    for row in payload["data"]:
        writer.writerow(["" if row.get(f) is None else row.get(f) for f in fields])
    return out.getvalue()


def clipboard_text(value: Any, title: str, mime: str) -> tuple[str, bool]:
    """(text, truncated) of ``value`` for the clipboard as ``mime``."""
    if mime == "text/csv":
        payload = view_payload(value, title)
        text = _csv(payload)
        truncated = bool(payload.get("limited"))
    elif mime == "text/plain":
        if isinstance(value, str):
            text, truncated = value, False
        else:
            text, truncated = preview(value, CLIPBOARD_CHARS, VIEW_ROWS, 3)
    else:
        raise RemoteError("bad_request", f"clipboard format {mime!r} is not supported; "
                          "use text/plain or text/csv")
    if len(text) > CLIPBOARD_CHARS:
        return text[:CLIPBOARD_CHARS], True
    return text, truncated



def _column_schema(name: str, dtype: str, index: int) -> str:
    return json.dumps({"column_name": name, "column_index": index, "type_name": dtype,
                       "type_display": _type_display(dtype)})


def _type_display(dtype: str) -> str:
    lowered = dtype.lower()
    if "bool" in lowered:
        return "boolean"
    if any(word in lowered for word in ("int", "float", "double", "decimal", "long", "short",
                                        "byte", "complex")):
        return "number"
    if "datetime" in lowered or "timestamp" in lowered or "instant" in lowered:
        return "datetime"
    if "date" in lowered:
        return "date"
    if "str" in lowered or "object" in lowered or "utf8" in lowered:
        return "string"
    return "unknown"


def table_summary(value: Any) -> dict[str, Any]:
    """Positron's ``query_table_summary`` answer: sizes and one JSON schema per column
    (at most MAX_COLUMNS); profiles are not computed (their cost grows with the rows)."""
    methods = methods_for(value)
    family = methods.family
    columns = family.columns(value)
    if columns is None:
        raise RemoteError("refused", f"{type(value).__name__} is not a table")
    rows, names_and_types = columns
    schemas = [_column_schema(name, dtype, i)
               for i, (name, dtype) in enumerate(names_and_types[:MAX_COLUMNS])]
    return {"num_rows": rows, "num_columns": len(names_and_types),
            "column_schemas": schemas, "column_profiles": []}

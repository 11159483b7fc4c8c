"""vscode-R's table payload, accepted as it is, turned into a table snapshot (version 2).

vscode-R's R side writes ``{"columns": [{"headerName", "field", "type", "headerTooltip"}],
"data": [{field: value, ...}, ...]}`` with its ``(row)`` column first, NA as the string
``"NA"`` and Inf / NaN as strings. This module writes the same cells as the columnar snapshot
R's own worker writes (docs/protocol-viewers.md), so the host sorts, filters, profiles and
exports a legacy session's table like any other; the legacy session keeps nothing, so the
snapshot is all there is (``live: false``).
"""

from __future__ import annotations

import datetime
import math
import re
import sys
from array import array
from pathlib import Path
from typing import Any, Optional

from filebridge.errors import RemoteError
from filebridge.host.viewers.files import write_inside
from filebridge.wire.codec import dumps, loads
from filebridge.wire.table_format import FORMAT, INT32_NA, VERSION, na_float

__all__ = ["import_vscode_r_table"]

_MISSING = ("NA", None)
_NON_FINITE = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
_EPOCH = datetime.date(1970, 1, 1).toordinal()
_CLASS = re.compile(r"class: \[([^\]]*)\]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _spec(column: Any, n: int) -> tuple[str, str, str, str]:
    """(name, field, vscode-R type, dtype) of a payload column."""
    if not isinstance(column, dict) or not isinstance(column.get("field"), str):
        raise RemoteError("bad_request", f"column {n} of the table has no 'field'")
    name = str(column.get("headerName", column["field"]))
    kind = column.get("type") if isinstance(column.get("type"), str) else "textColumn"
    tooltip = str(column.get("headerTooltip", kind))
    found = _CLASS.search(tooltip)
    return name, column["field"], str(kind), found.group(1) if found else tooltip


def _packed(code: str, values: list[Any]) -> bytes:
    packed = array(code, values)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if value in _MISSING:
        return na_float()
    if value in _NON_FINITE:
        return _NON_FINITE[value]
    try:
        return float(value)
    except (TypeError, ValueError):
        return na_float()


def _day(value: Any) -> Optional[float]:
    if value in _MISSING:
        return na_float()
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return float(datetime.date.fromisoformat(value[:10]).toordinal() - _EPOCH)
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value).decode("utf-8")


def _encode(values: list[Any], kind: str, dtype: str) -> tuple[dict[str, Any],
                                                                 dict[str, bytes]]:
    """A column's meta fields (without its name and file names) and its files' bytes by
    suffix: ``data``, and ``off`` / ``na`` for text."""
    present = [v for v in values if v not in _MISSING]
    if kind == "numericColumn":
        whole = all(isinstance(v, int) and not isinstance(v, bool) and -2 ** 31 < v < 2 ** 31
                    for v in present)
        if whole and "integer" in dtype:
            return ({"type": "integer", "storage": "i32"},
                    {"data": _packed("i", [INT32_NA if v in _MISSING else v for v in values])})
        return {"type": "float", "storage": "f64"}, {"data": _packed("d", [_number(v)
                                                                          for v in values])}
    if kind == "dateColumn":
        days = [_day(v) for v in values]
        if all(d is not None for d in days):
            return {"type": "date", "storage": "f64"}, {"data": _packed("d", days)}
    if present and all(isinstance(v, bool) for v in present):
        return ({"type": "boolean", "storage": "i32"},
                {"data": _packed("i", [INT32_NA if v in _MISSING else int(v) for v in values])})
    texts = [b"" if v in _MISSING else _text(v).encode("utf-8") for v in values]
    offsets = [0.0]
    for text in texts:
        offsets.append(offsets[-1] + len(text))
    files = {"data": b"".join(texts), "off": _packed("d", offsets)}
    if len(present) < len(values):
        files["na"] = bytes(1 if v in _MISSING else 0 for v in values)
    return {"type": "string", "storage": "utf8"}, files


def import_vscode_r_table(data: bytes, session_folder: Path, target: tuple[str, ...],
                          title: str) -> dict[str, Any]:
    """Convert the payload ``data`` into a snapshot folder at ``session_folder/target...``.

    The folder is written without following symlinks (the session folder is the worker's).
    Returns the table's meta.
    """
    try:
        payload = loads(data)
    except ValueError as exc:
        raise RemoteError("bad_request", f"the table file is not JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("columns"), list) \
            or not isinstance(payload.get("data"), list):
        raise RemoteError("bad_request", "a table payload has 'columns' and 'data' lists")
    if not payload["columns"]:
        raise RemoteError("bad_request", "a table payload has at least one column")
    rows = [row if isinstance(row, dict) else {} for row in payload["data"]]
    columns = []
    for n, column in enumerate(payload["columns"]):
        name, field, kind, dtype = _spec(column, n)
        values = [row.get(field) for row in rows]
        spec, files = _encode(values, kind, dtype)
        base = f"c{n}"
        # `field`: vscode-R's own name of the column, which its page's requests use
        spec = {"name": name, "field": field, **spec, "dtype": dtype,
                "file": f"{base}.{spec['storage']}", "ready": True}
        if n == 0 and name == "(row)":
            spec["role"] = "label"
        _write(session_folder, (*target, spec["file"]), files["data"])
        if "off" in files:
            spec["offsets"] = f"{base}.off"
            _write(session_folder, (*target, spec["offsets"]), files["off"])
        if "na" in files:
            spec["na"] = f"{base}.na"
            _write(session_folder, (*target, spec["na"]), files["na"])
        columns.append(spec)
    meta = {"format": FORMAT, "version": VERSION, "title": title, "rows": len(rows),
            "total_rows": len(rows), "complete": True, "live": False, "columns": columns,
            "imported_from": "vscode-R"}
    _write(session_folder, (*target, "meta.json"), dumps(meta))
    return meta


def _write(folder: Path, parts: tuple[str, ...], data: bytes) -> None:
    try:
        write_inside(folder, parts, data)
    except OSError as exc:
        raise RemoteError("refused", f"cannot write the table: {exc}") from None

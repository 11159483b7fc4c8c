"""vscode-R's table payload, accepted as it is, turned into a pageable table folder.

vscode-R's R side writes ``{"columns": [{"headerName", "field", "type", ...}], "data": [{field:
value, ...}, ...]}`` with its ``(row)`` column first and NA / Inf as strings. This module
writes the same table as a version-2 snapshot (docs/protocol-viewers.md), so the host reads,
sorts, filters and profiles it like any other table.
"""

from __future__ import annotations

import datetime
import math
from array import array
from itertools import accumulate
from pathlib import Path
from typing import Any

from filebridge.errors import RemoteError
from filebridge.host.viewers.files import write_inside
from filebridge.wire.codec import dumps, loads
from filebridge.wire.table_format import FORMAT, VERSION, na_float

__all__ = ["import_vscode_r_table"]

_EPOCH = datetime.date(1970, 1, 1).toordinal()
_SPECIAL = {"NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}
_TYPES = {"numericColumn": "number", "dateColumn": "date", "textColumn": "string"}


def _column(spec: Any, n: int) -> dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
        raise RemoteError("bad_request", f"column {n} of the table has no 'field'")
    name = spec.get("headerName", spec["field"])
    value_type = spec.get("type")
    kind = _TYPES.get(value_type, "string") if isinstance(value_type, str) else "string"
    return {"name": str(name), "field": spec["field"], "type": kind,
            "dtype": str(spec.get("headerTooltip", value_type or ""))}


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in _SPECIAL:
        return _SPECIAL[value]
    return na_float()


def _day(value: Any) -> float:
    try:
        return float(datetime.date.fromisoformat(str(value)[:10]).toordinal() - _EPOCH)
    except ValueError:
        return na_float()


def _text_column(values: list[Any]) -> tuple[bytes, bytes, bytes]:
    missing = [v is None or v == "NA" for v in values]
    encoded = [b"" if m else str(v).encode("utf-8", "replace") for v, m in zip(values, missing)]
    offsets = array("d", accumulate(map(len, encoded), initial=0))
    return b"".join(encoded), offsets.tobytes(), bytes(bytearray(missing))


def import_vscode_r_table(data: bytes, session_folder: Path, target: tuple[str, ...],
                          title: str) -> dict[str, Any]:
    """Convert the payload ``data`` into a table snapshot at ``session_folder/target...``.

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
    columns = [_column(spec, n) for n, spec in enumerate(payload["columns"])]
    rows = [row if isinstance(row, dict) else {} for row in payload["data"]]
    specs = []
    for n, column in enumerate(columns):
        values = [row.get(column["field"]) for row in rows]
        spec: dict[str, Any] = {"name": column["name"], "field": column["field"],
                                "dtype": column["dtype"], "ready": True}
        if n == 0 and column["name"] == "(row)":
            spec["role"] = "label"
        name = f"c{n}"
        if column["type"] == "number":
            spec.update(type="float", storage="f64", file=f"{name}.f64")
            _write(session_folder, (*target, spec["file"]),
                   array("d", map(_number, values)).tobytes())
        elif column["type"] == "date":
            spec.update(type="date", storage="f64", file=f"{name}.f64")
            _write(session_folder, (*target, spec["file"]),
                   array("d", map(_day, values)).tobytes())
        else:
            text, offsets, missing = _text_column(values)
            spec.update(type="string", storage="utf8", file=f"{name}.utf8",
                        offsets=f"{name}.off", na=f"{name}.na")
            _write(session_folder, (*target, spec["file"]), text)
            _write(session_folder, (*target, spec["offsets"]), offsets)
            _write(session_folder, (*target, spec["na"]), missing)
        specs.append(spec)
    meta = {"format": FORMAT, "version": VERSION, "title": title, "columns": specs,
            "rows": len(rows), "total_rows": len(rows), "complete": True, "live": False,
            "imported_from": "vscode-R"}
    _write(session_folder, (*target, "meta.json"), dumps(meta))
    return meta


def _write(folder: Path, parts: tuple[str, ...], data: bytes) -> None:
    try:
        write_inside(folder, parts, data)
    except OSError as exc:
        raise RemoteError("refused", f"cannot write the table: {exc}") from None

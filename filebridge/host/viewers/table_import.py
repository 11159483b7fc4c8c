"""vscode-R's table payload, accepted as it is, turned into a pageable table folder.

vscode-R's R side writes ``{"columns": [{"headerName", "field", "type", ...}], "data": [{field:
value, ...}, ...]}`` with its ``(row)`` column first and NA / Inf as strings. This module
writes the same rows as filebridge.table chunks so the host pages them like any other table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from filebridge.errors import RemoteError
from filebridge.host.viewers.files import write_inside
from filebridge.wire.codec import dumps, loads

__all__ = ["CHUNK_ROWS", "import_vscode_r_table"]

CHUNK_ROWS = 50_000
_TYPES = {"numericColumn": "number", "dateColumn": "date", "textColumn": "string"}


def _column(spec: Any, n: int) -> dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
        raise RemoteError("bad_request", f"column {n} of the table has no 'field'")
    name = spec.get("headerName", spec["field"])
    value_type = spec.get("type")
    kind = _TYPES.get(value_type, "string") if isinstance(value_type, str) else "string"
    return {"name": str(name), "field": spec["field"], "type": kind,
            "dtype": str(spec.get("headerTooltip", value_type or ""))}


def import_vscode_r_table(data: bytes, session_folder: Path, target: tuple[str, ...],
                          title: str) -> dict[str, Any]:
    """Convert the payload ``data`` into a table folder at ``session_folder/target...``.

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
    data = payload["data"]
    chunks = []
    for number, start in enumerate(range(0, len(data), CHUNK_ROWS)):
        rows = data[start:start + CHUNK_ROWS]
        name = f"rows-{number:05d}.jsonl"
        body = b"".join(dumps(row if isinstance(row, dict) else {}) + b"\n" for row in rows)
        _write(session_folder, (*target, name), body)
        chunks.append({"file": name, "start": start, "rows": len(rows)})
    meta = {"format": "filebridge.table", "version": 1, "title": title, "columns": columns,
            "rows": len(data), "total_rows": len(data), "chunks": chunks, "complete": True,
            "imported_from": "vscode-R"}
    _write(session_folder, (*target, "meta.json"), dumps(meta))
    return meta


def _write(folder: Path, parts: tuple[str, ...], data: bytes) -> None:
    try:
        write_inside(folder, parts, data)
    except OSError as exc:
        raise RemoteError("refused", f"cannot write the table: {exc}") from None

"""JSON encoding for the wire: orjson when importable, else the standard library."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "loads"]


def _fallback(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


try:
    import orjson

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON with no raw newline in it."""
        return orjson.dumps(value, default=_fallback, option=orjson.OPT_SERIALIZE_NUMPY)

    def loads(data: bytes | str) -> Any:
        return orjson.loads(data)

except ImportError:  # the worker side runs without it

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON with no raw newline in it."""
        text = json.dumps(value, default=_fallback, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)
        return text.encode("utf-8")

    def loads(data: bytes | str) -> Any:
        return json.loads(data)

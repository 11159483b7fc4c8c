"""The JSON Schemas of the editor protocol, as shipped in the package (schemas/*.json)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["NAMES", "load_schema"]

NAMES = ("message", "requests", "notifications")


def load_schema(name: str) -> dict[str, Any]:
    """``message`` (any JSON-RPC message), ``requests`` (params and result of each method by
    ``methods/<method>``) or ``notifications`` (params of each by ``notifications/<method>``)."""
    if name not in NAMES:
        raise ValueError(f"no schema {name!r}; there are: {', '.join(NAMES)}")
    text = (resources.files("filebridge.editor") / "schemas" / f"{name}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema

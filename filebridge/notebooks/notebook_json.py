"""Read and write ``.ipynb`` text the way Jupyter does (sorted keys, one-space indent, UTF-8).

Matching Jupyter's own bytes keeps a shadow from showing as modified when an editor opens and
re-saves it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from filebridge.errors import NotebookFormatError

__all__ = ["dumps_ipynb", "is_complete_json", "loads_ipynb"]


def dumps_ipynb(notebook: Mapping[str, Any]) -> str:
    """``json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\\n"``, but fast.

    The standard library only uses its C encoder without ``indent``; orjson indents by two, and
    since JSON strings cannot hold a raw newline, halving each line's leading spaces is exact.
    """
    text = orjson.dumps(notebook, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(" "):
            depth = len(line) - len(line.lstrip(" "))
            lines[index] = line[depth // 2 :]
    return "\n".join(lines) + "\n"


def loads_ipynb(text: str | bytes) -> dict[str, Any]:
    """The notebook in ``text``; ``NotebookFormatError`` if it is not a JSON object."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        value = _loads_python_json(text, exc)
    if not isinstance(value, dict):
        raise NotebookFormatError("not notebook JSON: the top level is not an object")
    return value


def _loads_python_json(text: str | bytes, first_error: orjson.JSONDecodeError) -> Any:
    """JSON as Python's ``json`` writes it: ``NaN``, ``Infinity`` and ``-Infinity`` allowed.

    nbformat, papermill and nbclient save through ``json.dumps``, which writes those for float
    values in outputs and metadata; orjson (strict JSON) refuses them.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise NotebookFormatError(f"not notebook JSON: {first_error}") from None


def is_complete_json(data: bytes) -> bool:
    """True if ``data`` is a whole JSON object: an editor has finished writing it."""
    try:
        loads_ipynb(data)
    except NotebookFormatError:
        return False
    return True

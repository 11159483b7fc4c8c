"""Exact ``int``, ``float``, ``complex``, ``bool``, ``None``, ``str`` and ``bytes``, described
without the general path's calls.

Most of a namespace is such values, and their description runs none of the user's code, so a
snapshot of 10,000 small variables spends most of its time here. The fields are exactly what
``describe`` gives through the scalar and text families (tests compare the two); values of a
type with a registered display method never come here.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

__all__ = ["SCALAR_TYPES", "describe_scalar"]

# type -> (display name, kind, is text)
SCALAR_TYPES: dict[type, tuple[str, str, bool]] = {
    int: ("int", "number", False), float: ("float", "number", False),
    complex: ("complex", "number", False), bool: ("bool", "boolean", False),
    type(None): ("NoneType", "empty", False), str: ("str", "string", True),
    bytes: ("bytes", "bytes", True)}

_INT_DIGITS_BITS = 4096  # int -> str is quadratic and refused past 4300 digits


def describe_scalar(value: Any, fields: tuple[str, str, bool], *, name: str, access_key: str,
                    evaluate_name: Optional[str], width: int,
                    now_ms: int) -> dict[str, Any]:
    """The description of an exact scalar or text value (``fields``: its SCALAR_TYPES entry)."""
    type_name, kind, text = fields
    length: Optional[int]
    if text:
        length = len(value)
        shown = repr(value[:width])
        cut = length > width
        display_type = f"{type_name} [{length}]"
        shape: Optional[list[int]] = [length]
    else:
        length = shape = None
        display_type = type_name
        if type_name == "int" and value.bit_length() > _INT_DIGITS_BITS:
            shown, cut = f"<int of {value.bit_length()} bits>", True
        else:
            shown, cut = repr(value), False
    if len(shown) > width:
        shown, cut = shown[:width], True
    return {
        "access_key": access_key,
        "display_name": name,
        "display_value": shown,
        "display_type": display_type,
        "type_info": type_name,
        "kind": kind,
        "length": length,
        "shape": shape,
        "size": sys.getsizeof(value),
        "has_children": False,
        "children_kind": None,
        "named_children": 0,
        "indexed_children": 0,
        "has_viewer": False,
        "is_truncated": cut,
        "not_described": None,
        "updated_time": now_ms,
        "evaluate_name": evaluate_name,
    }

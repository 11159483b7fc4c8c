"""Paths of access keys: how a host names a variable's child, re-resolved from the top each time.

``path[0]`` is the variable's name in the namespace; every later element is the JSON text of a
child's key as ``inspect`` returned it (an index, a dict key, ``{"attr": name}``, ``{"at": n}``),
so dict keys that are not strings survive the trip.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from filebridge.errors import RemoteError
from filebridge.worker.variables.describe import methods_for
from filebridge.worker.variables.families import join_expr, top_level_expr

__all__ = ["encode_key", "resolve", "resolve_names"]


def encode_key(key: Any) -> str:
    return json.dumps(key, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def decode_key(text: Any) -> Any:
    if not isinstance(text, str):
        raise RemoteError("bad_request", f"an access key is a string, got {text!r}")
    try:
        return json.loads(text)
    except ValueError:
        raise RemoteError("bad_request", f"access key {text!r} is not JSON") from None


def _check_path(path: Any) -> list[str]:
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise RemoteError("bad_request", "'path' must be a list of access keys (strings)")
    return path


def _top(namespace: dict[str, Any], name: str) -> Any:
    try:
        return namespace[name]
    except KeyError:
        raise RemoteError("not_found", f"no variable named {name!r}") from None


def resolve(namespace: dict[str, Any], path: Any) -> tuple[Any, Optional[str]]:
    """The value at ``path`` and the expression that reaches it (None when none does)."""
    keys = _check_path(path)
    if not keys:
        raise RemoteError("bad_request", "the path is empty: name a variable first")
    value = _top(namespace, keys[0])
    expression: Optional[str] = top_level_expr(keys[0])
    for text in keys[1:]:
        key = decode_key(text)
        methods = methods_for(value)
        suffix = _suffix_for(methods, value, key)
        value = methods.child(value, key)
        expression = join_expr(expression, suffix)
    return value, expression


def _suffix_for(methods: Any, value: Any, key: Any) -> Optional[str]:
    if isinstance(key, dict) and "name" in key and methods.registration is not None:
        return None
    suffix: Optional[str] = methods.family.key_expr(value, key)
    return suffix


def resolve_names(namespace: dict[str, Any], names: Any) -> list[str]:
    """Access keys for a path given by display names (``config/servers/0`` on the CLI)."""
    names = _check_path(names)
    if not names:
        return []
    value = _top(namespace, names[0])
    keys = [names[0]]
    for name in names[1:]:
        methods = methods_for(value)
        key = methods.family.find(value, name)
        if key is None and methods.registration is not None:
            for child in methods.children(value, 0, methods.count(value)):
                if child.name == name:
                    key = child.key
                    break
        if key is None:
            raise RemoteError("not_found", f"{'/'.join(keys)} has no child named {name!r}")
        value = methods.child(value, key)
        keys.append(encode_key(key))
    return keys

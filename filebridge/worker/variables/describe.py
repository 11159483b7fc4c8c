"""One variable's description: registered methods first, the type's default family after."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from filebridge.worker.variables.families import Child, Family, family_of, preview
from filebridge.worker.variables.limits import (
    NESTED_CHARS,
    NESTED_ITEMS,
    PREVIEW_DEPTH,
    TOP_LEVEL_CHARS,
    TOP_LEVEL_ITEMS,
)
from filebridge.worker.variables.registry import Registration, lookup, report_failure
from filebridge.worker.variables.scalars import SCALAR_TYPES, describe_scalar

__all__ = ["KINDS", "Methods", "cheap_description", "describe", "methods_for"]

KINDS = frozenset({"boolean", "bytes", "class", "collection", "empty", "function", "map",
                   "number", "other", "string", "table", "lazy", "connection"})


def _guard(fn: Callable[..., Any], *args: Any) -> Any:
    """A default method's result, or None when the value's own code (``__len__``...) raises."""
    try:
        return fn(*args)
    except Exception:
        return None


class Methods:
    """The methods that describe instances of one type: registered ones over the defaults."""

    def __init__(self, cls: type) -> None:
        self.family: Family = family_of(cls)
        self.registration: Optional[Registration] = lookup(cls)

    def _custom(self, method: str, check: Callable[[Any], bool], *args: Any) -> tuple[bool, Any]:
        """(True, result) from a registered method, or (False, None) to use the default."""
        fn = self.registration.get(method) if self.registration else None
        if fn is None:
            return False, None
        try:
            result = fn(*args)
        except Exception as exc:
            report_failure(self.registration, method, exc)  # type: ignore[arg-type]
            return False, None
        if not check(result):
            bad = TypeError(f"returned {type(result).__name__}, which is not usable here")
            report_failure(self.registration, method, bad)  # type: ignore[arg-type]
            return False, None
        return True, result

    def display_value(self, x: Any, width: int, items: int) -> tuple[str, bool]:
        done, text = self._custom("display_value", lambda r: isinstance(r, str), x, width)
        if done:
            return (text[:width], True) if len(text) > width else (text, False)
        return preview(x, width, items, PREVIEW_DEPTH)

    def display_type(self, x: Any, include_length: bool) -> str:
        done, text = self._custom("display_type", lambda r: isinstance(r, str), x,
                                  include_length)
        if done:
            return str(text)[:NESTED_CHARS]
        return _guard(self.family.display_type, x, include_length) or type(x).__name__

    def kind(self, x: Any) -> str:
        done, kind = self._custom("kind", lambda r: r in KINDS, x)
        return str(kind) if done else self.family.kind

    def _registered_children(self, x: Any) -> Optional[list[tuple[str, Any]]]:
        done, found = self._custom("get_children", lambda r: isinstance(r, (dict, list, tuple)),
                                   x)
        if not done:
            return None
        pairs = list(found.items()) if isinstance(found, dict) else list(found)
        return [(str(name), value) for name, value in pairs]

    def has_children(self, x: Any) -> bool:
        done, answer = self._custom("has_children", lambda r: isinstance(r, bool), x)
        if done:
            return bool(answer)
        if self.registration is not None and self.registration.get("get_children"):
            children = self._registered_children(x)
            if children is not None:
                return bool(children)
        return bool(_guard(self.family.has_children, x))

    def count(self, x: Any) -> int:
        children = self._children_override(x)
        if children is not None:
            return len(children)
        return int(self.family.count(x))

    def _children_override(self, x: Any) -> Optional[list[tuple[str, Any]]]:
        if self.registration is None or not self.registration.get("get_children"):
            return None
        return self._registered_children(x)

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        registered = self._children_override(x)
        if registered is None:
            return self.family.children(x, start, count)
        page = registered[start:start + count]
        return [Child(name, {"at": i, "name": name}, value, None)
                for i, (name, value) in enumerate(page, start)]

    def child(self, x: Any, key: Any) -> Any:
        registered_key = isinstance(key, dict) and "name" in key and "at" in key
        if self.registration is not None and registered_key:
            fn = self.registration.get("get_child_at")
            if fn is not None:
                return fn(x, key["at"], key["name"])  # no fallback: ark's rule
            children = self._children_override(x)
            if children is not None:
                index = key["at"]
                if isinstance(index, int) and 0 <= index < len(children):
                    return children[index][1]
        return self.family.child(x, key)

    def has_viewer(self, x: Any) -> bool:
        done, answer = self._custom("has_viewer", lambda r: isinstance(r, bool), x)
        if done:
            return bool(answer)
        if self.registration is not None and self.registration.get("view"):
            return True
        return bool(_guard(self.family.has_viewer, x))

    def custom_view(self, x: Any) -> Optional[dict[str, Any]]:
        done, payload = self._custom("view", lambda r: isinstance(r, dict), x)
        return payload if done else None


_methods: dict[type, Methods] = {}


def methods_for(value: Any) -> Methods:
    cls = type(value)
    found = _methods.get(cls)
    if found is None or found.registration is not lookup(cls):
        found = _methods[cls] = Methods(cls)
    return found


def _shape_fields(family: Family, value: Any) -> tuple[Any, Any, Any, Any]:
    """(type_info, length, shape, size): one try for all, each alone when one fails."""
    try:
        return (family.type_info(value), family.length(value), family.shape(value),
                family.size(value))
    except Exception:
        return (_guard(family.type_info, value) or type(value).__name__,
                _guard(family.length, value), _guard(family.shape, value),
                _guard(family.size, value))


def describe(value: Any, *, name: str, access_key: str, evaluate_name: Optional[str],
             top_level: bool, width: Optional[int] = None,
             now_ms: Optional[int] = None) -> dict[str, Any]:
    """The fields of one variable (docs/protocol-variables.md)."""
    methods = methods_for(value)
    if width is None:
        width = TOP_LEVEL_CHARS if top_level else NESTED_CHARS
    scalar = SCALAR_TYPES.get(type(value))
    if scalar is not None and methods.registration is None:
        return describe_scalar(value, scalar, name=name, access_key=access_key,
                               evaluate_name=evaluate_name, width=width,
                               now_ms=int(time.time() * 1000) if now_ms is None else now_ms)
    return describe_by_family(value, methods, name=name, access_key=access_key,
                              evaluate_name=evaluate_name, top_level=top_level, width=width,
                              now_ms=now_ms)


def describe_by_family(value: Any, methods: Methods, *, name: str, access_key: str,
                       evaluate_name: Optional[str], top_level: bool, width: int,
                       now_ms: Optional[int]) -> dict[str, Any]:
    """``describe`` through the value's registered methods or its family (every value but
    the plain scalars, which ``describe_scalar`` gives the same fields faster)."""
    family = methods.family
    items = TOP_LEVEL_ITEMS if top_level else NESTED_ITEMS
    if methods.registration is None:
        text, cut = preview(value, width, items, PREVIEW_DEPTH, family)
        has_children = bool(_guard(family.has_children, value))
        display_type = _guard(family.display_type, value, True) or type(value).__name__
        kind = family.kind
        has_viewer = bool(_guard(family.has_viewer, value))
    else:
        text, cut = methods.display_value(value, width, items)
        has_children = methods.has_children(value)
        display_type = methods.display_type(value, True)
        kind = methods.kind(value)
        has_viewer = methods.has_viewer(value)
    type_info, length, shape, size = _shape_fields(family, value)
    primary: Optional[str] = None
    if family.children_kind is None and methods.registration is None:
        named = indexed = 0
    elif family.count_is_length and methods.registration is None:
        count = length if has_children and isinstance(length, int) else 0
        if count:
            primary = family.children_kind
        named, indexed = (0, count) if primary == "indexed" else (count, 0)
    else:
        named, indexed = _child_counts(methods, value, has_children)
        primary = _primary_kind(family, named, indexed)
    return {
        "access_key": access_key,
        "display_name": name,
        "display_value": text,
        "display_type": display_type,
        "type_info": type_info,
        "kind": kind,
        "length": length,
        "shape": shape,
        "size": size,
        "has_children": has_children or named + indexed > 0,
        "children_kind": primary,
        "named_children": named,
        "indexed_children": indexed,
        "has_viewer": has_viewer,
        "is_truncated": cut,
        "not_described": None,
        "updated_time": int(time.time() * 1000) if now_ms is None else now_ms,
        "evaluate_name": evaluate_name,
    }


def _primary_kind(family: Family, named: int, indexed: int) -> Optional[str]:
    if family.children_kind == "indexed" and indexed:
        return "indexed"
    if named:
        return "named"
    return "indexed" if indexed else None


def _child_counts(methods: Methods, value: Any, has_children: bool) -> tuple[int, int]:
    """(named, indexed): DAP's two counts; arrays and series have both."""
    family = methods.family
    extra = len(family.named_extras(value)) if family.children_kind == "indexed" else 0
    if not has_children:
        return extra, 0
    count = _guard(methods.count, value) or 0
    if methods.registration is not None and methods.registration.get("get_children"):
        return int(count), 0
    if family.children_kind == "indexed":
        return extra, int(count)
    return int(count), 0


def cheap_description(value: Any, *, name: str, access_key: str,
                      evaluate_name: Optional[str], text: str,
                      reason: str) -> dict[str, Any]:
    """A description that runs none of the value's own code: name, type and why not more.

    ``reason``: ``"over_limit"`` (its code went over the time limit; "try again" applies) or
    ``"budget"`` (the snapshot's budget ran out; it is described first next time).
    """
    cls = type(value)
    family = family_of(cls)
    return {
        "access_key": access_key,
        "display_name": name,
        "display_value": text,
        "display_type": cls.__name__,
        "type_info": f"{cls.__module__}.{cls.__qualname__}",
        "kind": family.kind,
        "length": None,
        "shape": None,
        "size": None,
        "has_children": family.children_kind is not None,
        "children_kind": family.children_kind,
        "named_children": 0,
        "indexed_children": 0,
        "has_viewer": False,
        "is_truncated": True,
        "not_described": reason,
        "updated_time": int(time.time() * 1000),
        "evaluate_name": evaluate_name,
    }

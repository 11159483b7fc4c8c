"""The host's requests about variables, answered on the worker's background thread.

``inspect``, ``view``, ``clipboard_format``, ``delete`` and ``refresh``
(docs/protocol-variables.md).
They run while the main thread may be running user code: each reads a bounded part of a value,
re-resolving its path from the top, so a value replaced meanwhile is found or reported missing,
never half-read. A value mutated in place while it is paged can show a mix of old and new items.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from filebridge.errors import RemoteError
from filebridge.worker.variables.describe import describe, methods_for
from filebridge.worker.variables.limits import PAGE_DEFAULT, PAGE_MAX, SORT_LIMIT
from filebridge.worker.variables.paths import encode_key, resolve, resolve_names
from filebridge.worker.variables.publisher import Publisher
from filebridge.worker.variables.views import clipboard_text, view_payload

__all__ = ["COMMANDS", "VariableCommands"]

COMMANDS = ("inspect", "view", "clipboard_format", "delete", "refresh")
SORTS = ("name", "size", "type")


def _int_arg(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RemoteError("bad_request", f"'{name}' must be an integer from {low} to {high}")
    return value


def _sort_key(sort: str) -> Callable[[dict[str, Any]], Any]:
    if sort == "name":
        return lambda v: v["display_name"].lower()
    if sort == "size":
        return lambda v: -(v["size"] if v["size"] is not None else -1)
    return lambda v: v["display_type"].lower()


class VariableCommands:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def _namespace(self) -> dict[str, Any]:
        return self.publisher.namespace()

    def _path(self, args: dict[str, Any]) -> list[str]:
        if args.get("names") is not None:
            return resolve_names(self._namespace(), args["names"])
        path = args.get("path", [])
        if not isinstance(path, list):
            raise RemoteError("bad_request", "'path' must be a list of access keys")
        return path

    def inspect(self, args: dict[str, Any]) -> dict[str, Any]:
        """A page of the children at ``path`` (the top level when empty), and how many."""
        path = self._path(args)
        start = _int_arg(args, "start", 0, 0, 2**62)
        count = _int_arg(args, "count", PAGE_DEFAULT, 0, PAGE_MAX)
        sort, text = args.get("sort"), args.get("filter")
        if sort is not None and sort not in SORTS:
            raise RemoteError("bad_request", f"'sort' must be one of {', '.join(SORTS)}")
        if text is not None and not isinstance(text, str):
            raise RemoteError("bad_request", "'filter' must be a string")
        if not path:
            children, total, kind = self._top_level(start, count, sort, text)
            return {"path": [], "evaluate_name": None, "length": total, "start": start,
                    "children_kind": kind, "children": children}
        value, expression = resolve(self._namespace(), path)
        methods = methods_for(value)
        total = methods.count(value)

        def page(first: int, size: int) -> list[dict[str, Any]]:
            out = []
            for child in methods.children(value, first, size):
                evaluate = expression + child.expr if expression and child.expr else None
                out.append(describe(child.value, name=child.name,
                                    access_key=encode_key(child.key), evaluate_name=evaluate,
                                    top_level=False))
            return out

        if sort is None and not text:
            children = page(start, count)
        else:
            if total > SORT_LIMIT:
                raise RemoteError("too_large", f"sorting or filtering {total} children is "
                                  f"limited to {SORT_LIMIT}; page through them unsorted")
            everything = _sorted_filtered(page(0, total), sort, text)
            total = len(everything)
            children = everything[start:start + count]
        return {"path": path, "evaluate_name": expression, "length": total, "start": start,
                "children_kind": methods.family.children_kind or "named",
                "children": children}

    def _top_level(self, start: int, count: int, sort: Optional[str],
                   text: Optional[str]) -> tuple[list[dict[str, Any]], int, str]:
        snapshotter = self.publisher.snapshotter
        entries = snapshotter.visible(dict(self._namespace()))
        if sort is None and not text:
            page = entries[start:start + count]
            return ([describe(v, name=n, access_key=n, evaluate_name=n, top_level=True)
                     for n, v in page], len(entries), "named")
        described = [describe(v, name=n, access_key=n, evaluate_name=n, top_level=True)
                     for n, v in entries[:SORT_LIMIT]]
        everything = _sorted_filtered(described, sort, text)
        return everything[start:start + count], len(everything), "named"

    def view(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        value, expression = resolve(self._namespace(), path)
        title = args.get("title") or expression or path[0]
        return view_payload(value, str(title))

    def clipboard_format(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        mime = args.get("mime", "text/plain")
        value, expression = resolve(self._namespace(), path)
        text, truncated = clipboard_text(value, expression or path[0], str(mime))
        return {"mime": mime, "content": text, "is_truncated": truncated}

    def delete(self, args: dict[str, Any]) -> dict[str, Any]:
        names = args.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RemoteError("bad_request", "'names' must be a list of variable names")
        namespace = self._namespace()
        removed, missing = [], []
        for name in names:
            if namespace.pop(name, _MISSING) is _MISSING:
                missing.append(name)
            else:
                removed.append(name)
        snapshot = self.publisher.publish()
        return {"removed": removed, "missing": missing, "version": snapshot["version"]}

    def refresh(self, args: dict[str, Any]) -> dict[str, Any]:
        snapshot = self.publisher.publish()
        return {"version": snapshot["version"], "length": snapshot["length"],
                "elapsed_ms": snapshot["elapsed_ms"], "time": time.time()}

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"inspect": self.inspect, "view": self.view,
                "clipboard_format": self.clipboard_format, "delete": self.delete,
                "refresh": self.refresh}


_MISSING = object()


def _sorted_filtered(entries: list[dict[str, Any]], sort: Optional[str],
                     text: Optional[str]) -> list[dict[str, Any]]:
    if text:
        needle = text.lower()
        entries = [e for e in entries if needle in e["display_name"].lower()]
    if sort is not None:
        entries = sorted(entries, key=_sort_key(sort))
    return entries

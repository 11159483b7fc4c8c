"""The host's requests about variables, answered on the worker's background thread.

``inspect``, ``view``, ``clipboard_format``, ``query_table_summary``, ``delete``, ``clear``,
``refresh``, ``retry``, ``subscribe`` and ``unsubscribe`` (docs/protocol-variables.md).
Requests that run a value's code run on a helper thread the answer never waits for longer
than REQUEST_LIMIT_S, and each child's description is limited like a snapshot's.
They run while the main thread may be running user code: each reads a bounded part of a value,
re-resolving its path from the top, so a value replaced meanwhile is found or reported missing,
never half-read. A value mutated in place while it is paged can show a mix of old and new items.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from filebridge.errors import RemoteError
from filebridge.worker.variables.describe import methods_for
from filebridge.worker.variables.families import join_expr, top_level_expr
from filebridge.worker.variables.guarded import describe_guarded
from filebridge.worker.variables.limits import (
    PAGE_DEFAULT,
    PAGE_MAX,
    REQUEST_LIMIT_S,
    SORT_LIMIT,
    SUBSCRIPTION_MAX_S,
)
from filebridge.worker.variables.paths import encode_key, resolve, resolve_names
from filebridge.worker.variables.publisher import Publisher
from filebridge.worker.variables.timelimit import Limiter, Overtime, run_abandonable
from filebridge.worker.variables.views import clipboard_text, table_summary, view_payload

__all__ = ["COMMANDS", "VariableCommands"]

COMMANDS = ("inspect", "view", "clipboard_format", "query_table_summary", "delete", "clear",
            "refresh", "retry", "subscribe", "unsubscribe")
CHILD_KINDS = ("named", "indexed")
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
    def __init__(self, publisher: Publisher, request_limit: float = REQUEST_LIMIT_S) -> None:
        """``request_limit``: seconds a request may spend in the values' own code before it
        is answered with ``timeout`` (the code left running on an abandoned thread)."""
        self.publisher = publisher
        self.request_limit = request_limit

    def _namespace(self) -> dict[str, Any]:
        return self.publisher.namespace()

    def _path(self, args: dict[str, Any]) -> list[str]:
        if args.get("names") is not None:
            return resolve_names(self._namespace(), args["names"])
        path = args.get("path", [])
        if not isinstance(path, list):
            raise RemoteError("bad_request", "'path' must be a list of access keys")
        return path

    def _limited(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return run_abandonable(fn, self.request_limit, what,
                                   self.publisher.snapshotter.slow.abandoned)
        except Overtime:
            raise RemoteError("timeout", f"{what} took over {self.request_limit:g} s in the "
                              "value's own code and was abandoned") from None

    def inspect(self, args: dict[str, Any]) -> dict[str, Any]:
        """A page of the children at ``path`` (the top level when empty), and how many.

        ``children``: ``"named"`` or ``"indexed"`` (DAP's filter); without it, the value's
        main kind of children.
        """
        path = self._path(args)
        start = _int_arg(args, "start", 0, 0, 2**62)
        count = _int_arg(args, "count", PAGE_DEFAULT, 0, PAGE_MAX)
        sort, text = args.get("sort"), args.get("filter")
        which = args.get("children")
        if sort is not None and sort not in SORTS:
            raise RemoteError("bad_request", f"'sort' must be one of {', '.join(SORTS)}")
        if text is not None and not isinstance(text, str):
            raise RemoteError("bad_request", "'filter' must be a string")
        if which is not None and which not in CHILD_KINDS:
            raise RemoteError("bad_request", "'children' must be 'named' or 'indexed'")
        return dict(self._limited("inspect", lambda: self._inspect(
            path, start, count, sort, text, which)))

    def _inspect(self, path: list[str], start: int, count: int, sort: Optional[str],
                 text: Optional[str], which: Optional[str]) -> dict[str, Any]:
        slow = self.publisher.snapshotter.slow
        limit = self.publisher.snapshotter.value_limit
        if not path:
            with Limiter(limit) as limiter:
                children, total = self._top_level(limiter, start, count, sort, text)
            return {"path": [], "evaluate_name": None, "length": total, "start": start,
                    "children_kind": "named", "children": children}
        value, expression = resolve(self._namespace(), path)
        methods = methods_for(value)
        family = methods.family
        primary = family.children_kind or "named"
        if methods.registration is not None and methods.registration.get("get_children"):
            primary = "named"
        extras = which == "named" and primary == "indexed"
        if which is not None and which != primary and not extras:
            return {"path": path, "evaluate_name": expression, "length": 0, "start": start,
                    "children_kind": which, "children": []}
        total = len(family.named_extras(value)) if extras else methods.count(value)

        def page(first: int, size: int) -> list[dict[str, Any]]:
            found = (family.named_children(value, first, size) if extras
                     else methods.children(value, first, size))
            with Limiter(limit) as limiter:
                return [describe_guarded(child.value, limiter, slow, name=child.name,
                                         access_key=encode_key(child.key),
                                         evaluate_name=join_expr(expression, child.expr),
                                         top_level=False)
                        for child in found]

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
                "children_kind": which or primary, "children": children}

    def _top_level(self, limiter: Limiter, start: int, count: int, sort: Optional[str],
                   text: Optional[str]) -> tuple[list[dict[str, Any]], int]:
        snapshotter = self.publisher.snapshotter
        entries = snapshotter.visible(dict(self._namespace()))

        def described(chosen: list[tuple[str, Any]]) -> list[dict[str, Any]]:
            return [describe_guarded(v, limiter, snapshotter.slow, name=n, access_key=n,
                                     evaluate_name=top_level_expr(n), top_level=True)
                    for n, v in chosen]

        if sort is None and not text:
            return described(entries[start:start + count]), len(entries)
        if text:
            needle = text.lower()
            entries = [(n, v) for n, v in entries if needle in n.lower()]
        everything = _sorted_filtered(described(entries[:SORT_LIMIT]), sort, None)
        return everything[start:start + count], len(everything)

    def view(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self._path(args)

        def work() -> dict[str, Any]:
            value, expression = resolve(self._namespace(), path)
            title = args.get("title") or expression or path[0]
            payload = view_payload(value, str(title))
            if args.get("open"):
                # The real data view: the same table pipeline and grid as dataview().
                from filebridge.worker.viewers import dataview
                payload["view"] = dataview(value, title=str(title))
            return payload

        return dict(self._limited("view", work))

    def clipboard_format(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        mime = args.get("mime", "text/plain")

        def work() -> tuple[str, bool]:
            value, expression = resolve(self._namespace(), path)
            return clipboard_text(value, expression or path[0], str(mime))

        text, truncated = self._limited("clipboard_format", work)
        return {"mime": mime, "content": text, "is_truncated": truncated}

    def query_table_summary(self, args: dict[str, Any]) -> dict[str, Any]:
        """Positron's table summary: rows, columns, one JSON schema per column."""
        path = self._path(args)

        def work() -> dict[str, Any]:
            value, _expression = resolve(self._namespace(), path)
            return table_summary(value)

        return dict(self._limited("query_table_summary", work))

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

    def clear(self, args: dict[str, Any]) -> dict[str, Any]:
        """Positron's ``clear``: delete every listed variable (and hidden ones when asked)."""
        hidden = args.get("include_hidden_objects", False)
        if not isinstance(hidden, bool):
            raise RemoteError("bad_request", "'include_hidden_objects' must be true or false")
        snapshotter = self.publisher.snapshotter
        namespace = dict(self._namespace())
        listed = {n for n, _ in snapshotter.visible(namespace)}
        names = [n for n, v in namespace.items() if isinstance(n, str) and (
            n in listed or (hidden and snapshotter.is_private_user_name(n, v)))]
        return self.delete({"names": names})

    def refresh(self, args: dict[str, Any]) -> dict[str, Any]:
        snapshot = self.publisher.publish(anew=True)
        return {"version": snapshot["version"], "length": snapshot["length"],
                "elapsed_ms": snapshot["elapsed_ms"], "time": time.time()}

    def retry(self, args: dict[str, Any]) -> dict[str, Any]:
        """Try again to describe values that went over the time limit: the value at ``path``
        (and its type), or every remembered one without ``path``."""
        slow = self.publisher.snapshotter.slow
        if args.get("path") is None and args.get("names") is None:
            slow.forget()
        else:
            path = self._path(args)
            value, _expression = self._limited("retry", lambda: resolve(self._namespace(),
                                                                         path))
            slow.forget(value)
        snapshot = self.publisher.publish(anew=True)
        return {"version": snapshot["version"], "unevaluated": snapshot["unevaluated"],
                "still_over_limit": [v["display_name"] for v in snapshot["variables"]
                                     if v.get("not_described") == "over_limit"]}

    def subscribe(self, args: dict[str, Any]) -> dict[str, Any]:
        """A viewer is looking for ``seconds`` (renew before they pass); a stale or missing
        snapshot is written first."""
        viewer = args.get("viewer")
        if not isinstance(viewer, str) or not 0 < len(viewer) <= 200:
            raise RemoteError("bad_request", "'viewer' must be a string of 1 to 200 characters")
        seconds = args.get("seconds", 30)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) \
                or not 0 < seconds <= SUBSCRIPTION_MAX_S:
            raise RemoteError("bad_request", f"'seconds' must be a number from 0 to "
                              f"{SUBSCRIPTION_MAX_S:g}")
        viewers = self.publisher.viewers.subscribe(viewer, float(seconds))
        last = self.publisher.last
        if last is None or (self.publisher.stale and self.publisher.mode == "auto"):
            last = self.publisher.publish()
        return {"version": last["version"], "viewers": viewers}

    def unsubscribe(self, args: dict[str, Any]) -> dict[str, Any]:
        viewer = args.get("viewer")
        if not isinstance(viewer, str):
            raise RemoteError("bad_request", "'viewer' must be a string")
        return {"viewers": self.publisher.viewers.unsubscribe(viewer)}

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {name: getattr(self, name) for name in COMMANDS}


_MISSING = object()


def _sorted_filtered(entries: list[dict[str, Any]], sort: Optional[str],
                     text: Optional[str]) -> list[dict[str, Any]]:
    if text:
        needle = text.lower()
        entries = [e for e in entries if needle in e["display_name"].lower()]
    if sort is not None:
        entries = sorted(entries, key=_sort_key(sort))
    return entries

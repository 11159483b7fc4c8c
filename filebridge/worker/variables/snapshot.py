"""Building the top-level snapshot (workspace.json) and what changed since the last one."""

from __future__ import annotations

import gc
import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from filebridge.worker.variables.describe import cheap_description, describe
from filebridge.worker.variables.families import family_of
from filebridge.worker.variables.limits import (
    NESTED_CHARS,
    SNAPSHOT_BUDGET_S,
    SNAPSHOT_CHARS,
    VALUE_BUDGET_S,
)
from filebridge.worker.variables.registry import failures

__all__ = ["FORMAT", "Snapshotter", "is_visible"]

FORMAT = 1
Hidden = Callable[[str, Any], bool]
# Values of these types cannot change in place: the same object keeps its last description.
IMMUTABLE = frozenset({int, float, complex, bool, type(None), str, bytes})


def is_visible(name: str, value: Any) -> bool:
    """Names a user assigned: no private names, no modules."""
    return not name.startswith("_") and not family_of(type(value)).hidden


@contextmanager
def gc_paused() -> Iterator[None]:
    """Describing allocates thousands of small dicts; a full collection midway doubles the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Snapshotter:
    """Describes a namespace within a time budget and remembers what it saw for the deltas.

    A value whose description took longer than VALUE_BUDGET_S is described cheaply (name and
    type, none of its code) for as long as the same object stays under that name: a slow
    ``__repr__`` cannot be interrupted, only not called again.
    """

    def __init__(self, hidden: Optional[Hidden] = None, *,
                 budget: float = SNAPSHOT_BUDGET_S) -> None:
        self.version = 0
        self.budget = budget
        self._hidden = hidden
        self._seen: dict[str, tuple[tuple[Any, ...], int]] = {}
        self._kept: dict[str, tuple[int, dict[str, Any]]] = {}
        self._slow: dict[str, tuple[int, float]] = {}

    def visible(self, namespace: dict[str, Any]) -> list[tuple[str, Any]]:
        hidden = self._hidden
        return [(name, value) for name, value in namespace.items()
                if isinstance(name, str) and is_visible(name, value)
                and not (hidden is not None and hidden(name, value))]

    def build(self, namespace: dict[str, Any]) -> dict[str, Any]:
        with gc_paused():
            return self._build(namespace)

    def _build(self, namespace: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        deadline = started + self.budget
        chars = 0
        variables: list[dict[str, Any]] = []
        ids: list[int] = []
        unevaluated: list[str] = []
        now_ms = int(time.time() * 1000)
        kept: dict[str, tuple[int, dict[str, Any]]] = {}
        for name, value in self.visible(namespace):
            now = time.perf_counter()
            slow = self._slow.get(name)
            previous = self._kept.get(name)
            if previous is not None and previous[0] == id(value):
                entry = previous[1]
            elif slow is not None and slow[0] == id(value):
                entry = cheap_description(value, name=name, access_key=name, evaluate_name=name,
                                          why=f"not shown: describing it took "
                                              f"{slow[1] * 1000:.0f} ms")
            elif now > deadline:
                unevaluated.append(name)
                entry = cheap_description(value, name=name, access_key=name, evaluate_name=name,
                                          why="not described: the snapshot's time budget ran out")
            else:
                width = NESTED_CHARS if chars > SNAPSHOT_CHARS else None
                entry = describe(value, name=name, access_key=name, evaluate_name=name,
                                 top_level=True, width=width, now_ms=now_ms)
                took = time.perf_counter() - now
                if took > VALUE_BUDGET_S:
                    self._slow[name] = (id(value), took)
                else:
                    self._slow.pop(name, None)
            if type(value) in IMMUTABLE and not entry["is_truncated"]:
                kept[name] = (id(value), entry)
            chars += len(entry["display_value"])
            variables.append(entry)
            ids.append(id(value))
        self._kept = kept
        return self._versioned(variables, ids, unevaluated, time.perf_counter() - started)

    def _versioned(self, variables: list[dict[str, Any]], ids: list[int],
                   unevaluated: list[str], elapsed: float) -> dict[str, Any]:
        seen: dict[str, tuple[tuple[Any, ...], int]] = {}
        assigned = []
        for entry, identity in zip(variables, ids):
            name = entry["display_name"]
            # Same object and same look: unchanged. In-place changes show in the look.
            mark = (identity, entry["display_value"], entry["display_type"], entry["length"],
                    entry["size"], entry["kind"])
            before = self._seen.get(name)
            if before is not None and before[0] == mark:
                entry["updated_time"] = before[1]
            else:
                assigned.append(name)
            seen[name] = (mark, entry["updated_time"])
        removed = [name for name in self._seen if name not in seen]
        for name in removed:
            self._slow.pop(name, None)
        self._seen = seen
        self.version += 1
        return {
            "format": FORMAT,
            "version": self.version,
            "time": time.time(),
            "pid": os.getpid(),
            "language": "python",
            "length": len(variables),
            "variables": variables,
            "assigned": assigned,
            "removed": removed,
            "unevaluated": unevaluated,
            "elapsed_ms": round(elapsed * 1000, 3),
            "errors": failures(),
        }

"""Building the top-level snapshot (workspace.json) fairly, in slices, and what changed.

A snapshot is a ``SnapshotJob``: the visible names, described one by one under the hard time
limit, in slices that may run on different threads (the main thread right after an execution,
then a helper thread). Names the previous snapshot could not reach are described first, so
every variable is described within a bounded number of snapshots. A description that cost
more than REUSE_AFTER_S is kept while the object and its attributes stay the same objects.
"""

from __future__ import annotations

import gc
import keyword
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, Callable, Optional

from filebridge.worker.variables.describe import cheap_description, describe
from filebridge.worker.variables.families import family_of, top_level_expr
from filebridge.worker.variables.guarded import describe_guarded, over_limit_text
from filebridge.worker.variables.limits import (
    NESTED_CHARS,
    REUSE_AFTER_S,
    SNAPSHOT_BUDGET_S,
    SNAPSHOT_CHARS,
    VALUE_LIMIT_S,
)
from filebridge.worker.variables.registry import failures
from filebridge.worker.variables.timelimit import (
    Limiter,
    Overtime,
    SlowMemory,
    run_abandonable,
    signals_usable,
)

__all__ = ["FORMAT", "SnapshotJob", "Snapshotter", "fingerprint", "is_visible"]

FORMAT = 1
Hidden = Callable[[str, Any], bool]
# Values of these types cannot change in place: the same object keeps its last description.
IMMUTABLE = frozenset({int, float, complex, bool, type(None), str, bytes})
BUDGET_TEXT = "not described yet: the snapshot's time budget ran out"
_CONTAINERS = (list, tuple, dict, set, frozenset)
KEYWORDS = frozenset(keyword.kwlist)


def is_visible(name: str, value: Any) -> bool:
    """Names a user assigned: no private names, no modules."""
    return not name.startswith("_") and not family_of(type(value)).hidden


def fingerprint(value: Any) -> Optional[tuple[Any, ...]]:
    """What shows a shallow change without running the value's code, or None.

    The identities of an object's attributes (its ``__dict__`` values) or of a built-in
    container's first 64 items, with its length.
    """
    cls = type(value)
    if cls in _CONTAINERS:
        items = value.values() if cls is dict else value
        return (cls, len(value), tuple(id(v) for v in islice(items, 64)))
    try:
        attributes = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        return None
    if type(attributes) is not dict:
        return None
    return (cls, len(attributes), tuple(id(v) for v in islice(attributes.values(), 64)))


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
    """Describes namespaces within budgets and remembers what it saw for deltas and fairness."""

    def __init__(self, hidden: Optional[Hidden] = None, *,
                 budget: float = SNAPSHOT_BUDGET_S,
                 value_limit: float = VALUE_LIMIT_S) -> None:
        self.version = 0
        self.budget = budget
        self.value_limit = value_limit
        self.slow = SlowMemory()
        self._hidden = hidden
        self._seen: dict[str, tuple[tuple[Any, ...], int]] = {}
        self._kept: dict[str, tuple[int, dict[str, Any]]] = {}
        self._reused: dict[str, tuple[int, Any, dict[str, Any]]] = {}
        self._pending: list[str] = []
        self._expressions: dict[str, str] = {}
        self.lock = threading.Lock()

    def visible(self, namespace: dict[str, Any]) -> list[tuple[str, Any]]:
        hidden = self._hidden
        return [(name, value) for name, value in list(namespace.items())
                if isinstance(name, str) and is_visible(name, value)
                and not (hidden is not None and hidden(name, value))]

    def is_private_user_name(self, name: str, value: Any) -> bool:
        """``_x`` assigned by the user: not dunder, not a module, not the interpreter's own."""
        hidden = self._hidden
        return (name.startswith("_") and not name.startswith("__")
                and not family_of(type(value)).hidden
                and not (hidden is not None and hidden(name, value)))

    def begin(self, namespace: dict[str, Any]) -> SnapshotJob:
        with gc_paused():
            return SnapshotJob(self, self.visible(namespace))

    @property
    def grace(self) -> float:
        """How long past its budget a helper's slice may run before it is abandoned."""
        return 2 * self.value_limit + 0.1

    def run_job(self, job: SnapshotJob, seconds: float) -> None:
        """Describe for ``seconds``: on this thread under the timer signal when it is usable,
        else on a helper thread that is abandoned when stuck in code that cannot be
        interrupted (its value is then remembered as over the limit)."""
        if signals_usable():
            with Limiter(self.value_limit) as limiter:
                job.run(limiter, seconds)
            return

        def work() -> None:
            with Limiter(self.value_limit) as limiter:
                job.run(limiter, seconds)

        began = time.perf_counter()
        try:
            run_abandonable(work, seconds + self.grace, "snapshot")
        except Overtime:
            job.abandon((time.perf_counter() - began) * 1000)
            job.spent = max(job.spent, time.perf_counter() - began)

    def build(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """A whole snapshot within the budget (run_job)."""
        with gc_paused():  # one pause for all: each re-enabling would collect
            job = self.begin(namespace)
            self.run_job(job, self.budget)
            return job.finish()

    @property
    def pending(self) -> bool:
        """Whether some variables wait to be described (the budget ran out, or a first
        overrun is to be tried again)."""
        return bool(self._pending)

    def forget_descriptions(self) -> None:
        """Describe everything anew next time (a refresh, a "try again")."""
        self._kept.clear()
        self._reused.clear()


class SnapshotJob:
    """One snapshot in the making; ``run`` slices, then ``finish``."""

    def __init__(self, owner: Snapshotter, items: list[tuple[str, Any]]) -> None:
        self.owner = owner
        self.items = items
        self.entries: list[Optional[dict[str, Any]]] = [None] * len(items)
        order: list[int] = list(range(len(items)))
        if owner._pending:
            position = {name: i for i, (name, _) in enumerate(items)}
            first = [position[n] for n in owner._pending if n in position]
            chosen = set(first)
            order = first + [i for i in order if i not in chosen]
        self.next = 0
        self.spent = 0.0
        self.chars = 0
        self.now_ms = int(time.time() * 1000)
        self.kept: dict[str, tuple[int, dict[str, Any]]] = {}
        self.cancelled = False
        self.overruns = 0  # values over the limit (tried again first next time)
        self.current: Optional[Any] = None
        self._store = threading.Lock()
        if owner._kept or owner._reused:
            self.queue = [i for i in order if not self._known(i)]
        else:
            self.queue = order

    def _known(self, index: int) -> bool:
        """Fill in a description kept from before (no user code runs); True when found."""
        name, value = self.items[index]
        owner = self.owner
        previous = owner._kept.get(name)
        if previous is not None and previous[0] == id(value):
            entry = previous[1]
            self.kept[name] = previous
        else:
            reused = owner._reused.get(name)
            if (reused is None or reused[0] != id(value) or owner.slow.slow_ms(value) is not None
                    or reused[1] != fingerprint(value)):
                return False
            entry = reused[2]
        self.entries[index] = entry
        self.chars += len(entry["display_value"])
        return True

    @property
    def done(self) -> bool:
        return self.next >= len(self.queue)

    def run(self, limiter: Limiter, seconds: float) -> bool:
        """Describe for up to ``seconds`` (and what is left of the budget); True when done."""
        started = time.perf_counter()
        # A value starts only when its whole limit fits: the budget is never overrun.
        stop = started + min(seconds, self.owner.budget - self.spent) - limiter.seconds
        try:
            with gc_paused():
                self._loop(limiter, stop)
        finally:
            self.spent += time.perf_counter() - started
            self.current = None
        return self.done

    def _loop(self, limiter: Limiter, stop: float) -> None:
        # The hot loop of a snapshot: 10,000 values take a few milliseconds of it, so what
        # each value needs is bound to local names once, the position and the characters
        # are counted in locals (stored back at the end), and plain ASCII names are their
        # own expressions without a call.
        owner, items, queue, entries, kept = (self.owner, self.items, self.queue,
                                              self.entries, self.kept)
        expressions, reused, slow = owner._expressions, owner._reused, owner.slow
        clock, total, now_ms = time.perf_counter, len(queue), self.now_ms
        reuse_ms = REUSE_AFTER_S * 1000
        position, chars = self.next, self.chars
        try:
            while position < total and not self.cancelled and clock() < stop:
                index = queue[position]
                name, value = items[index]
                self.current = value
                width = NESTED_CHARS if chars > SNAPSHOT_CHARS else None
                if name.isascii() and name.isidentifier() and name not in KEYWORDS:
                    expression = name
                else:
                    known = expressions.get(name)
                    if known is None:
                        known = expressions[name] = top_level_expr(name)
                    expression = known
                immutable = type(value) in IMMUTABLE
                if immutable:  # runs no user code: no timer, nothing to reuse
                    entry = describe(value, name=name, access_key=name,
                                     evaluate_name=expression, top_level=True, width=width,
                                     now_ms=now_ms)
                else:
                    entry = describe_guarded(value, limiter, slow, name=name, access_key=name,
                                             evaluate_name=expression, top_level=True,
                                             width=width, now_ms=now_ms, track=False)
                    if entry["not_described"] is not None:
                        self.overruns += 1
                    elif limiter.elapsed_ms() > reuse_ms:
                        mark = fingerprint(value)
                        if mark is not None:
                            reused[name] = (id(value), mark, entry)
                if self.cancelled:  # abandoned meanwhile: finish() owns the entries now
                    return
                if immutable and not entry["is_truncated"]:
                    kept[name] = (id(value), entry)
                chars += len(entry["display_value"])
                entries[index] = entry
                position += 1
        finally:
            self.next, self.chars = position, chars

    def abandon(self, took_ms: float) -> None:
        """The slice's thread is stuck in the current value's code: remember it, stop."""
        with self._store:
            self.cancelled = True
            if self.current is not None:
                self.owner.slow.remember(self.current, took_ms, at_once=True)

    def finish(self) -> dict[str, Any]:
        """The snapshot: what was described, the rest by name and type (described first next)."""
        with gc_paused():
            return self._finish()

    def _finish(self) -> dict[str, Any]:
        owner = self.owner
        with self._store:
            self.cancelled = True
            variables: list[dict[str, Any]] = []
            unevaluated: list[str] = []
            for (name, value), entry in zip(self.items, self.entries):
                took = owner.slow.slow_ms(value) if entry is None else None
                if took is not None:  # its slice was abandoned while it ran
                    entry = cheap_description(value, name=name, access_key=name,
                                              evaluate_name=top_level_expr(name),
                                              text=over_limit_text(took), reason="over_limit")
                elif entry is None:
                    unevaluated.append(name)
                    entry = cheap_description(value, name=name, access_key=name,
                                              evaluate_name=top_level_expr(name),
                                              text=BUDGET_TEXT, reason="budget")
                variables.append(entry)
        owner._kept = self.kept
        if owner._reused or len(owner._expressions) > 2 * len(self.items):
            names = {name for name, _ in self.items}
            owner._reused = {n: r for n, r in owner._reused.items() if n in names}
            if len(owner._expressions) > 2 * len(names):
                owner._expressions = {n: e for n, e in owner._expressions.items()
                                      if n in names}
        # First overruns (not remembered yet) are tried again first, like the unreached.
        # (only this job's own descriptions can be such: kept ones were described in full)
        again = [e["display_name"] for e, (_, v) in zip(variables, self.items)
                 if e["not_described"] == "over_limit" and owner.slow.slow_ms(v) is None] \
            if self.overruns else []
        owner._pending = unevaluated + again
        return _versioned(owner, variables, [id(v) for _, v in self.items], unevaluated,
                          self.spent)


def _versioned(owner: Snapshotter, variables: list[dict[str, Any]], ids: list[int],
               unevaluated: list[str], elapsed: float) -> dict[str, Any]:
    seen: dict[str, tuple[tuple[Any, ...], int]] = {}
    assigned = []
    for entry, identity in zip(variables, ids):
        name = entry["display_name"]
        # Same object and same look: unchanged. In-place changes show in the look.
        mark = (identity, entry["display_value"], entry["display_type"], entry["length"],
                entry["size"], entry["kind"])
        before = owner._seen.get(name)
        if before is not None and before[0] == mark:
            entry["updated_time"] = before[1]
        else:
            assigned.append(name)
        seen[name] = (mark, entry["updated_time"])
    removed = [name for name in owner._seen if name not in seen]
    owner._seen = seen
    owner.version += 1
    return {
        "format": FORMAT,
        "version": owner.version,
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

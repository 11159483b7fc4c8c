"""Writing snapshots: when, how often, on which thread, and only while someone is looking.

After each top-level execution the hook calls ``after_execution``. Nothing happens while no
viewer is subscribed (``Viewers``): the namespace is only marked stale, and the first
subscription writes a snapshot. In ``auto`` mode with a viewer, a snapshot starts at once
unless one was written less than ``interval`` ago; then one deferred snapshot is armed for the
end of that interval, and every execution before it fires shares it. The interval grows to
twice the last snapshot's cost, so describing never takes more than about a third of the
session's time.

On the main thread, with signals usable, the snapshot starts there under the timer-signal
limit for at most CELL_BUDGET_S; what is left continues on a helper thread under the watchdog,
and a helper stuck in C code is abandoned (its value remembered as over the limit). While
variables are left undescribed (the budget ran out), follow-up snapshots are scheduled the
same way until every variable is described. ``manual`` mode writes only on ``publish()`` or a
host ``refresh``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from filebridge.wire.codec import dumps
from filebridge.wire.files import Doorbell, atomic_write
from filebridge.wire.layout import SessionLayout
from filebridge.worker.variables.limits import CELL_BUDGET_S, SUBSCRIPTION_MAX_S
from filebridge.worker.variables.snapshot import SnapshotJob, Snapshotter, gc_paused
from filebridge.worker.variables.timelimit import Limiter, signals_usable

__all__ = ["MODES", "Publisher", "Viewers"]

MODES = ("auto", "manual")
log = logging.getLogger("filebridge.worker.variables")


class Viewers:
    """Who is looking: viewer ids with the worker-clock time their subscription ends."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    MAX_VIEWERS = 100

    def subscribe(self, viewer: str, seconds: float) -> int:
        """Add or renew a viewer; past MAX_VIEWERS the one ending soonest makes room."""
        with self._lock:
            self._count()
            if viewer not in self._until and len(self._until) >= self.MAX_VIEWERS:
                del self._until[min(self._until, key=self._until.__getitem__)]
            self._until[viewer] = time.monotonic() + min(seconds, SUBSCRIPTION_MAX_S)
            return self._count()

    def unsubscribe(self, viewer: str) -> int:
        with self._lock:
            self._until.pop(viewer, None)
            return self._count()

    def _count(self) -> int:
        now = time.monotonic()
        for viewer in [v for v, until in self._until.items() if until <= now]:
            del self._until[viewer]
        return len(self._until)

    def active(self) -> bool:
        with self._lock:
            return self._count() > 0


class Publisher:
    def __init__(self, layout: SessionLayout, namespace: Callable[[], dict[str, Any]],
                 snapshotter: Snapshotter, *, mode: str = "auto",
                 min_interval: float = 0.05, require_viewer: bool = True) -> None:
        self.layout = layout
        self.namespace = namespace
        self.snapshotter = snapshotter
        self.min_interval = min_interval
        self.mode = check_mode(mode)
        self.require_viewer = require_viewer
        self.viewers = Viewers()
        self.last: Optional[dict[str, Any]] = None
        self.stale = True
        self._interval = min_interval
        self._last_time = float("-inf")
        self._state = threading.Lock()
        self._deferred: Optional[threading.Timer] = None
        self._closed = False
        self._bell = Doorbell(layout.workspace_lock)

    def watched(self) -> bool:
        return not self.require_viewer or self.viewers.active()

    def publish(self, *, anew: bool = False) -> dict[str, Any]:
        """Describe the namespace now (whole budget) and write workspace.json; the snapshot.

        ``anew``: describe every value again instead of keeping earlier descriptions.
        """
        self._cancel_deferred()
        with self.snapshotter.lock:
            if anew:
                self.snapshotter.forget_descriptions()
            with gc_paused():  # one pause for all: each re-enabling would collect
                job = self.snapshotter.begin(dict(self.namespace()))
                self.snapshotter.run_job(job, self.snapshotter.budget)
                return self._write(job)

    def _write(self, job: SnapshotJob) -> dict[str, Any]:
        snapshot = job.finish()
        atomic_write(self.layout.workspace_json, dumps(snapshot))
        self._bell.ring(snapshot["version"])
        self.last = snapshot
        self.stale = False
        self._last_time = time.monotonic()
        self._interval = max(self.min_interval, 2 * snapshot["elapsed_ms"] / 1000)
        if self.snapshotter.pending:
            self.stale = True
            self._arm(self._interval)
        return snapshot

    def after_execution(self) -> None:
        """A top-level execution finished: snapshot now, or join the pending deferred one."""
        self.stale = True
        if self.mode != "auto" or not self.watched():
            return
        with self._state:
            if self._deferred is not None:
                return
            wait = self._last_time + self._interval - time.monotonic()
            if wait > 0:
                self._arm_locked(wait)
                return
        self._snapshot_in_slices()

    def _snapshot_in_slices(self) -> None:
        """The main thread's slice (when signals are usable), the rest on a helper thread."""
        if not self.snapshotter.lock.acquire(blocking=False):
            self._arm(self.min_interval)  # a snapshot is being written: run again after it
            return
        handed_over = False
        try:
            started = time.perf_counter()
            job = self.snapshotter.begin(dict(self.namespace()))
            if signals_usable():
                with Limiter(self.snapshotter.value_limit) as limiter:
                    job.run(limiter, CELL_BUDGET_S - (time.perf_counter() - started))
            if job.done:
                self._write(job)
                return
            helper = threading.Thread(target=self._continue, args=(job,), daemon=True,
                                      name="filebridge-variables-snapshot")
            helper.start()
            handed_over = True
        except Exception:  # a hook must never break the user's prompt
            log.exception("filebridge: could not publish the variables snapshot")
        finally:
            if not handed_over:
                self.snapshotter.lock.release()

    def _continue(self, job: SnapshotJob) -> None:
        """The rest of a snapshot the main thread started (holds the snapshotter's lock)."""
        try:
            self.snapshotter.run_job(job, self.snapshotter.budget - job.spent)
            self._write(job)
        except Exception:
            log.exception("filebridge: could not publish the variables snapshot")
        finally:
            self.snapshotter.lock.release()

    def _arm(self, wait: float) -> None:
        with self._state:
            if self._deferred is None:
                self._arm_locked(wait)

    def _arm_locked(self, wait: float) -> None:
        if self._closed:
            return
        self._deferred = threading.Timer(wait, self._deferred_snapshot)
        self._deferred.daemon = True
        self._deferred.start()

    def _deferred_snapshot(self) -> None:
        with self._state:
            self._deferred = None
        if self.mode != "auto" or not self.watched():
            return
        if not self.snapshotter.lock.acquire(blocking=False):
            self._arm(self.min_interval)
            return
        try:
            job = self.snapshotter.begin(dict(self.namespace()))
            self.snapshotter.run_job(job, self.snapshotter.budget)
            self._write(job)
        except Exception:
            log.exception("filebridge: could not publish the variables snapshot")
        finally:
            self.snapshotter.lock.release()

    def _cancel_deferred(self) -> None:
        with self._state:
            if self._deferred is not None:
                self._deferred.cancel()
                self._deferred = None

    def close(self) -> None:
        with self._state:
            self._closed = True
            if self._deferred is not None:
                self._deferred.cancel()
                self._deferred = None
        self._bell.close()


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"variables mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode

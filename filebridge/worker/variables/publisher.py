"""Writing snapshots: when, how often, and in which mode.

After each top-level execution the hook calls ``after_execution``. In ``auto`` mode a snapshot is
written at once unless one was written less than ``interval`` ago; then one deferred snapshot
is armed for the end of that interval, and every execution before it fires shares it. The
interval grows to twice the last snapshot's cost, so describing the namespace never takes more
than about a third of the session's time. ``manual`` mode writes only on ``publish()`` or a
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
from filebridge.worker.variables.snapshot import Snapshotter

__all__ = ["MODES", "Publisher"]

MODES = ("auto", "manual")
log = logging.getLogger("filebridge.worker.variables")


class Publisher:
    def __init__(self, layout: SessionLayout, namespace: Callable[[], dict[str, Any]],
                 snapshotter: Snapshotter, *, mode: str = "auto",
                 min_interval: float = 0.05) -> None:
        self.layout = layout
        self.namespace = namespace
        self.snapshotter = snapshotter
        self.min_interval = min_interval
        self.mode = check_mode(mode)
        self.last: Optional[dict[str, Any]] = None
        self._interval = min_interval
        self._last_time = float("-inf")
        self._writing = threading.Lock()
        self._state = threading.Lock()
        self._deferred: Optional[threading.Timer] = None
        self._bell = Doorbell(layout.workspace_lock)

    def publish(self) -> dict[str, Any]:
        """Describe the namespace now and write workspace.json; return the snapshot."""
        with self._state:
            if self._deferred is not None:
                self._deferred.cancel()
                self._deferred = None
        with self._writing:
            # A copy: the main thread may assign names while a deferred snapshot runs.
            snapshot = self.snapshotter.build(dict(self.namespace()))
            atomic_write(self.layout.workspace_json, dumps(snapshot))
            self._bell.ring(snapshot["version"])
            self.last = snapshot
            self._last_time = time.monotonic()
            self._interval = max(self.min_interval, 2 * snapshot["elapsed_ms"] / 1000)
        return snapshot

    def after_execution(self) -> None:
        """A top-level execution finished: publish now, or join the pending deferred publish."""
        if self.mode != "auto":
            return
        with self._state:
            if self._deferred is not None:
                return
            wait = self._last_time + self._interval - time.monotonic()
            if wait > 0:
                self._deferred = threading.Timer(wait, self._publish_quietly)
                self._deferred.daemon = True
                self._deferred.start()
                return
        self._publish_quietly()

    def _publish_quietly(self) -> None:
        try:
            self.publish()
        except Exception:  # a hook must never break the user's prompt
            log.exception("filebridge: could not publish the variables snapshot")

    def close(self) -> None:
        with self._state:
            if self._deferred is not None:
                self._deferred.cancel()
                self._deferred = None
        self._bell.close()


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"variables mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode

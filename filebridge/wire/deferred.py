"""Writes that need not hold up the caller, run in order by one background thread.

On a network mount every write is a round trip to the server. A worker waiting for an answer
need not wait for its doorbell to be rung or for the last answer file to be removed: those
are handed here, and the call goes on to look for its answer at once.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from typing import Callable, Optional

__all__ = ["defer", "flush"]

log = logging.getLogger("filebridge")


class _Deferred:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Optional[Callable[[], None]]] = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._pid = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0

    def put(self, action: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._pending = 0
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="filebridge-deferred",
                                                daemon=True)
                self._thread.start()
            self._pending += 1
            self._idle.clear()
        self._queue.put(action)

    def _run(self) -> None:
        while True:
            action = self._queue.get()
            if action is None:
                return
            try:
                action()
            except Exception as exc:  # a deferred write that failed is retried by its owner
                log.debug("filebridge: a deferred write failed: %s", exc)
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.set()

    def flush(self, timeout: float) -> None:
        if self._thread is not None and self._pid == os.getpid():
            self._idle.wait(timeout)


_deferred = _Deferred()


def defer(action: Callable[[], None]) -> None:
    """Run ``action`` soon, after the actions deferred before it, on a background thread."""
    _deferred.put(action)


def flush(timeout: float = 2.0) -> None:
    """Wait (up to ``timeout`` seconds) until every deferred action ran."""
    _deferred.flush(timeout)


atexit.register(flush)

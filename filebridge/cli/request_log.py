"""What ``filebridge serve`` logs about each request, without flooding during bursts."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from filebridge.host import HostEvent

__all__ = ["RequestLogger"]

log = logging.getLogger("filebridge.host")


class RequestLogger:
    """One line per request, up to ``per_second``; past that, one summary line a second."""

    def __init__(self, per_second: int = 20) -> None:
        self.per_second = per_second
        self._lock = threading.Lock()
        self._window = 0.0
        self._logged = 0
        self._skipped: Counter[str] = Counter()

    def __call__(self, event: HostEvent) -> None:
        if event.kind != "request" or event.request is None:
            return
        request, answer = event.request, event.answer
        with self._lock:
            now = time.monotonic()
            if now - self._window >= 1.0:
                self._flush()
                self._window, self._logged = now, 0
            if self._logged >= self.per_second:
                if not self._skipped:
                    # The summary is due even if no request follows to trigger it.
                    timer = threading.Timer(1.0, self._flush_now)
                    timer.daemon = True
                    timer.start()
                self._skipped[request.command] += 1
                return
            self._logged += 1
        outcome = "ok" if answer is None or answer.ok else f"error {answer.error_code}"
        kind = "call" if request.answer else "send"
        log.info("session %s: %s %s -> %s", event.session_id, kind, request.command, outcome)

    def _flush_now(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._skipped:
            most = ", ".join(f"{name} x{count}" for name, count in self._skipped.most_common(5))
            log.info("... and %d more requests in the last second (%s)",
                     sum(self._skipped.values()), most)
            self._skipped.clear()

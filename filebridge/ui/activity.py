"""What changed, for the web page: a version number to long-poll on and a request log."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Optional

from filebridge.host import HostEvent

__all__ = ["REQUEST_LOG_SIZE", "Activity"]

REQUEST_LOG_SIZE = 1000


def _summary(args: dict[str, Any], limit: int = 200) -> str:
    parts = []
    for key, value in args.items():
        text = value if isinstance(value, str) else repr(value)
        parts.append(f"{key}={text}")
    joined = ", ".join(parts)
    return joined if len(joined) <= limit else joined[:limit - 1] + "\u2026"


class Activity:
    """Bumped by host events and viewer changes; waited on by the page's long poll."""

    def __init__(self) -> None:
        self._version = 0
        self._changed = threading.Condition()
        self._log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    @property
    def version(self) -> int:
        return self._version

    def bump(self, _session_id: str = "") -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def on_host_event(self, event: HostEvent) -> None:
        if event.kind == "request" and event.request is not None:
            request = event.request
            entry: dict[str, Any] = {
                "time": time.time(), "sent": request.time, "session": event.session_id,
                "id": request.id, "command": request.command, "answer": request.answer,
                "args": _summary(request.args)}
            if event.answer is not None:
                entry["ok"] = event.answer.ok
                entry["error"] = event.answer.error_message or None
            self._log.append(entry)
        self.bump()

    def requests(self, session_id: Optional[str] = None, limit: int = 200) -> list[Any]:
        entries = [e for e in list(self._log) if session_id in (None, e["session"])]
        return entries[-limit:][::-1]

    def wait(self, since: int, timeout: float) -> int:
        """Block until the version passes ``since`` or ``timeout`` runs out; the version."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._version <= since:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self._version

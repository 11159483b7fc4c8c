"""What sessions asked a host for, and waiting on it: the assertions of the pytest plugin.

A ``HostLog`` subscribes to a host's events once; ``SessionLog`` is one session's view of it.
Every wait has a timeout and fails with a ``WaitTimeout`` (an AssertionError) whose message
carries the session's request log, so a failing test says what the worker did ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from filebridge.errors import WaitTimeout
from filebridge.host import Host, HostEvent
from filebridge.wire.messages import Answer, Request

__all__ = ["HostLog", "LoggedRequest", "SessionLog", "WaitTimeout"]

DEFAULT_WAIT = 30.0


@dataclass(frozen=True)
class LoggedRequest:
    """A request the host finished, with its answer (None for fire-and-forget requests)."""

    request: Request
    answer: Optional[Answer]
    done_at: float

    @property
    def command(self) -> str:
        return self.request.command

    @property
    def args(self) -> dict[str, Any]:
        return self.request.args

    @property
    def result(self) -> Any:
        return self.answer.result if self.answer is not None and self.answer.ok else None

    @property
    def error_code(self) -> str:
        return self.answer.error_code if self.answer is not None and not self.answer.ok else ""

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.request.args.items())
        if len(args) > 200:
            args = args[:197] + "..."
        if self.answer is None:
            outcome = "(no answer)"
        elif self.answer.ok:
            outcome = f"-> {self.answer.result!r}"[:200]
        else:
            outcome = f"-> error {self.answer.error_code}: {self.answer.error_message}"[:200]
        if not self.request.answer:
            outcome += " (not wanted)"
        return f"{self.request.command}({args}) {outcome}"


class HostLog:
    """Every finished request and every session event of one host, as they happen."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._requests: list[tuple[str, LoggedRequest]] = []
        self._events: list[HostEvent] = []
        self._changed = threading.Condition()
        host.subscribe(self._on_event)

    def _on_event(self, event: HostEvent) -> None:
        with self._changed:
            self._events.append(event)
            if event.kind == "request" and event.request is not None:
                entry = LoggedRequest(event.request, event.answer, time.time())
                self._requests.append((event.session_id, entry))
            self._changed.notify_all()

    def session(self, session_id: str) -> SessionLog:
        return SessionLog(self, session_id)

    def requests_of(self, session_id: str) -> list[LoggedRequest]:
        with self._changed:
            return [entry for sid, entry in self._requests if sid == session_id]

    def events_of(self, session_id: str) -> list[HostEvent]:
        with self._changed:
            return [event for event in self._events if event.session_id == session_id]

    def wait(self, ready: Callable[[], Any], timeout: float, what: str,
             log: Callable[[], str]) -> Any:
        """``ready()``'s first truthy value; WaitTimeout after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = ready()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"waited {timeout:g} s for {what}\n{log()}")
                # Events wake the wait; the short cap also sees changes that are not events.
                self._changed.wait(min(left, 0.05))


class SessionLog:
    """One session's requests, as the host served them."""

    def __init__(self, host_log: HostLog, session_id: str) -> None:
        self.host_log = host_log
        self.session_id = session_id

    @property
    def host(self) -> Host:
        return self.host_log.host

    def requests(self, command: Optional[str] = None,
                 where: Optional[Callable[[LoggedRequest], bool]] = None) -> list[LoggedRequest]:
        """The finished requests, oldest first; only ``command``'s, and those ``where`` keeps."""
        found = self.host_log.requests_of(self.session_id)
        if command is not None:
            found = [entry for entry in found if entry.command == command]
        if where is not None:
            found = [entry for entry in found if where(entry)]
        return found

    def commands(self) -> list[str]:
        return [entry.command for entry in self.requests()]

    def wait_for_request(self, command: str, *, count: int = 1,
                         where: Optional[Callable[[LoggedRequest], bool]] = None,
                         timeout: float = DEFAULT_WAIT) -> LoggedRequest:
        """The ``count``-th finished ``command`` request (matching ``where``), once it is done."""
        def found() -> Optional[LoggedRequest]:
            matching = self.requests(command, where)
            return matching[count - 1] if len(matching) >= count else None

        what = f"request {command!r}" + (f" #{count}" if count > 1 else "")
        entry: LoggedRequest = self.host_log.wait(found, timeout, what, self.describe)
        return entry

    def wait_for_status(self, status: str, timeout: float = DEFAULT_WAIT) -> None:
        """Wait until the host shows this session as ``status`` (alive, detached, stale...)."""
        def reached() -> bool:
            try:
                return self.host.session(self.session_id).status == status
            except Exception:
                return False

        self.host_log.wait(reached, timeout, f"session status {status!r}", self.describe)

    def wait_until(self, ready: Callable[[], Any], *, what: str = "a condition",
                   timeout: float = DEFAULT_WAIT) -> Any:
        """Any condition, failing with this session's log attached."""
        return self.host_log.wait(ready, timeout, what, self.describe)

    def save(self, path: Any) -> Any:
        """Write what this session asked as a recording file (``filebridge replay`` plays it)."""
        from filebridge.testing.recording import from_session_log

        return from_session_log(self).save(path)

    def describe(self) -> str:
        """The request log, one line a request, for failure messages and test reports."""
        entries = self.requests()
        try:
            status = self.host.session(self.session_id).status
        except Exception:
            status = "not served"
        lines = [f"session {self.session_id} ({status}): {len(entries)} request(s)"]
        start = entries[0].request.time if entries else 0.0
        lines += [f"  +{entry.request.time - start:8.3f}s {entry.describe()}"
                  for entry in entries[-200:]]
        return "\n".join(lines)

"""One direction of a session: requests appended to a log, a doorbell, answers by id.

The worker talks to the host through request.log and its answers, the host to the worker
through command.log and its answers; both directions are this class.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from filebridge.errors import ProtocolError, WriteFailed
from filebridge.wire.answers import Inbox
from filebridge.wire.deferred import defer
from filebridge.wire.files import Doorbell, WakeBell, atomic_write, fresh_reads, make_folder
from filebridge.wire.logs import AppendLog
from filebridge.wire.messages import Answer, Request, new_request
from filebridge.wire.pacing import FirstLook
from filebridge.wire.waiting import PollingWaiter, Waiter, make_waiter

__all__ = ["Channel", "open_waiter"]

log = logging.getLogger("filebridge")


# How often a call that waits looks whether the answering side is still there.
LOOK_AGAIN = 0.5
# A writer that posted nothing for this long rings the root's wake bell too: a host that polls
# may by now look at this session's doorbell only every few seconds.
COLD_AFTER = 0.02


# Where every look is a round trip to a server, the caller looks for its answer itself, with
# pauses growing from RELOOK_FIRST by RELOOK_GROWTH to RELOOK_BRISK for the first RELOOK_BRISK_FOR
# seconds (an answer that takes a moment), then up to RELOOK_LONGEST.
RELOOK_FIRST, RELOOK_GROWTH = 0.0002, 1.3
RELOOK_BRISK, RELOOK_BRISK_FOR, RELOOK_LONGEST = 0.002, 0.25, 0.02


def _look_until(found: Callable[[], bool], deadline: Optional[float],
                gone: Optional[Callable[[], bool]]) -> bool:
    """Look until ``found()``; False at ``deadline`` (time.monotonic()) or when ``gone()``,
    asked every LOOK_AGAIN seconds, says the answering side left.

    On a mount the answer itself is looked at, not the doorbell rung with it: a look that
    misses is one open of the answer log (its size has not moved), where reading the doorbell
    first would be an open and a read, and then the log's open and read anyway. The second
    look follows a miss at once: the miss itself took a round trip.
    """
    start = time.monotonic()
    next_gone = start + LOOK_AGAIN
    pause = 0.0
    while not found():
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return found()
        if gone is not None and now >= next_gone:
            if gone():
                return found()
            next_gone = now + LOOK_AGAIN
        ceiling = RELOOK_BRISK if now - start < RELOOK_BRISK_FOR else RELOOK_LONGEST
        if deadline is not None:
            ceiling = min(ceiling, max(0.0, deadline - now))
        time.sleep(min(pause, ceiling))
        pause = min(max(pause * RELOOK_GROWTH, RELOOK_FIRST), ceiling or RELOOK_FIRST)
    return True


class Channel:
    """``wake``: the root's wake bell and this session's id, for the worker -> host direction."""

    def __init__(self, log_path: Path, bell_path: Path, inbox: Inbox, strategy: str,
                 wake: Optional[tuple[Path, str]] = None,
                 rotate_at: Optional[int] = None,
                 released: Optional[Callable[[], int]] = None) -> None:
        """``rotate_at`` and ``released``: when the log is retired for a new generation, and
        how far its reader read (see ``AppendLog``)."""
        self.inbox = inbox
        self.strategy = strategy
        self.log_path = log_path
        self._log = AppendLog(log_path, rotate_at, released)
        self._bell = Doorbell(bell_path)
        # On a mount a ring is a round trip the caller need not wait for: the host watches the
        # log itself when its side can (docs/protocol.md, "Waking a host that polls").
        self._ring_later = fresh_reads(log_path.parent)
        self._wake = WakeBell(*wake) if wake else None
        self._posted = 0.0
        self._waiters = threading.local()
        self._first_look = FirstLook() if self._ring_later else None

    def post(self, command: str, args: dict[str, Any], *, answer: bool = False) -> Request:
        return self._post(new_request(command, args, answer=answer))[0]

    def _post(self, request: Request, hold_ring: bool = False
              ) -> tuple[Request, Optional[Callable[[], None]]]:
        """The request as sent, and with ``hold_ring`` the ring of the doorbells, for the
        caller to hand to ``defer`` itself."""
        try:
            line = request.encode()
            if len(line) > AppendLog.MAX_LINE:
                request, args = request.with_args_in_file()
                line = request.encode()
        except TypeError as exc:
            raise ProtocolError(f"arguments of {request.command!r} are not JSON: {exc}") from None
        try:
            if request.args_file:
                folder = self.log_path.parent / "requests"
                make_folder(folder)
                atomic_write(folder / request.args_file, args)
            end = self._log.append(line)
            now = time.monotonic()
            wake = self._wake if self._wake is not None and now - self._posted > COLD_AFTER \
                else None

            def ring() -> None:
                self._ring(end, wake)

            held: Optional[Callable[[], None]] = None
            if hold_ring:
                held = ring
            elif self._ring_later:
                defer(ring)
            else:
                ring()
            self._posted = now
        except OSError as exc:
            raise WriteFailed(f"{request.command!r} was not sent: cannot write to "
                              f"{self.log_path.parent}: {exc.strerror or exc}",
                              exc.errno) from None
        return request, held

    def _ring(self, end: int, wake: Optional[WakeBell]) -> None:
        self._bell.ring(end)
        if wake is not None:
            wake.ring()

    def call(self, command: str, args: dict[str, Any], timeout: Optional[float],
             gone: Optional[Callable[[], bool]] = None
             ) -> tuple[Request, Optional[Answer], float]:
        """Post and wait for the answer to that very request: (request, answer or None, waited).

        ``gone``: asked every LOOK_AGAIN seconds of waiting; when it says the answering side is
        gone, the wait ends early (no answer)."""
        waiter = self._waiter()
        request = new_request(command, args, answer=True)
        self.inbox.expect(request.id)
        started = time.monotonic()
        found: list[Answer] = []
        looks, last_look = 0, 0.0  # how many looks for the answer, when the last one started

        def arrived() -> bool:
            nonlocal looks, last_look
            looks, last_look = looks + 1, time.perf_counter()
            answer = self.inbox.take(request.id)
            if answer is not None:
                found.append(answer)
            return answer is not None

        try:
            _, ring = self._post(request, hold_ring=self._first_look is not None)
            posted = time.perf_counter()
            deadline = None if timeout is None else started + timeout
            if self._first_look is not None:
                # The doorbells are rung once the first look is on its way: on a mount,
                # writes sent before it would go to the server ahead of it, and a host that
                # answers within a round trip watches the log itself.
                try:
                    if self._first_look.delay:
                        time.sleep(self._first_look.delay)
                    first = arrived()
                finally:
                    if ring is not None:
                        defer(ring)
                if not first:
                    _look_until(arrived, deadline, gone)
            elif gone is None:
                waiter.wait_until(arrived, timeout)
            else:
                while True:
                    left = LOOK_AGAIN if deadline is None else deadline - time.monotonic()
                    if waiter.wait_until(arrived, max(0.0, min(LOOK_AGAIN, left))):
                        break
                    if (deadline is not None and time.monotonic() >= deadline) or gone():
                        break
        finally:
            if not found:
                self.inbox.forget(request.id)
        if found and self._first_look is not None:
            self._first_look.learn(looks == 1, last_look - posted)
        return request, (found[0] if found else None), time.monotonic() - started

    def first_looks(self) -> Optional[tuple[int, int]]:
        """Where looks are paced (a mount): calls answered and how many first looks missed."""
        look = self._first_look
        return None if look is None else (look.calls, look.missed)

    def _waiter(self) -> Waiter:
        # One waiter per thread and process, kept: creating one per call costs more than a call.
        waiter: Optional[Waiter] = getattr(self._waiters, "waiter", None)
        if waiter is None or getattr(self._waiters, "pid", None) != os.getpid():
            waiter = open_waiter(self.strategy)
            self.inbox.watch_with(waiter)
            self._waiters.waiter = waiter
            self._waiters.pid = os.getpid()
        return waiter

    def close(self) -> None:
        self._log.close()
        self._bell.close()
        if self._wake is not None:
            self._wake.close()
        self.inbox.close()
        # The closing thread's waiter: it would hold its inotify instance for as long as the
        # thread lives (the main thread: until exit), and the system allows each user only a
        # few (fs.inotify.max_user_instances, often 128). Other threads' waiters end with their
        # threads; closing them here would break a call one of them may still be waiting in.
        waiter: Optional[Waiter] = getattr(self._waiters, "waiter", None)
        if waiter is not None and getattr(self._waiters, "pid", None) == os.getpid():
            self._waiters.waiter = None
            waiter.close()


def open_waiter(strategy: str) -> Waiter:
    """A waiter of ``strategy``; polling when the system refuses another inotify instance."""
    try:
        return make_waiter(strategy)
    except OSError as exc:
        log.warning("filebridge: %s waiter unavailable (%s); polling instead", strategy, exc)
        return PollingWaiter()

"""Running the requests of one session: in order, exactly once, never holding up others."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Optional

from filebridge.errors import UnsafeFile
from filebridge.host.dispatch import Call, HandlerSpec, run_handler
from filebridge.host.journal import Journal
from filebridge.host.pathmap import PathMap
from filebridge.host.session import SessionState
from filebridge.wire import faults
from filebridge.wire.codec import loads
from filebridge.wire.files import read_file, remove_file
from filebridge.wire.log_reader import LineReader, LogLine
from filebridge.wire.logs import log_end
from filebridge.wire.messages import (
    Answer,
    BadRequest,
    Request,
    decode_request,
    no_handler_answer,
    salvage_id,
)

if TYPE_CHECKING:
    from filebridge.host.server import Host

__all__ = ["RequestRunner", "ServedSession"]

log = logging.getLogger("filebridge.host")

# What the host keeps of one session's requests at a time: lines are read in slices of
# READ_SLICE bytes and not read again while MAX_BACKLOG requests wait, so a worker's unserved
# backlog streams through memory instead of filling it.
READ_SLICE = 4 << 20
MAX_BACKLOG = 256
MAX_UNHANDLED_NAMES = 64
# Bad lines of one session logged in full per minute; the rest are counted.
BAD_LINES_LOGGED = 10
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
# Handlers of one session the host gave up on (past their deadline) that still hold a thread:
# beyond this many, the session's requests are answered at once instead of run.
MAX_ABANDONED = 2


class _Running:
    """The request a session's handler is running now."""

    __slots__ = ("abandoned", "end", "request", "started")

    def __init__(self, request: Request, end: int) -> None:
        self.request = request
        self.end = end
        self.started = time.monotonic()
        self.abandoned = False


class ServedSession:
    """A session the host reads: its state, its log reader and its journal."""

    def __init__(self, state: SessionState, max_line: int, mirror: Any) -> None:
        self.state = state
        layout = state.layout
        self.journal = Journal(layout.host_offset, mirror, log_end(layout.request_log))
        self.reader = LineReader(layout.request_log, self.journal.done, max_line,
                                 bell=layout.request_lock)
        self.read_lock = threading.Lock()
        self.deferred = False
        # A request between DONE and CLAIMED was running when the last host died.
        self.in_flight_end = self.journal.claimed if self.journal.claimed > self.journal.done else 0
        self.unhandled: set[str] = set()
        self.running: Optional[_Running] = None
        self.drain_generation = 0
        self.abandoned = 0
        self._bad_window = 0.0
        self._bad_count = 0

    def log_bad(self, message: str, *args: object) -> None:
        """Log a bad line, at most BAD_LINES_LOGGED a minute for one session."""
        now = time.monotonic()
        if now - self._bad_window > 60:
            if self._bad_count > BAD_LINES_LOGGED:
                log.error("session %s: %d more bad lines in the last minute were not logged",
                          self.state.layout.id, self._bad_count - BAD_LINES_LOGGED)
            self._bad_window, self._bad_count = now, 0
        self._bad_count += 1
        if self._bad_count <= BAD_LINES_LOGGED:
            log.error(message, *args)

    def close(self) -> None:
        self.reader.close()
        self.journal.close()
        if self.state._outbox is not None:
            self.state._outbox.close()


class _Undelivered(Exception):
    """An answer or a journal record could not be written (full disk, dropped mount).

    ``args[0]`` is (what, payload, end): ("answer", the answer, its line's end), ("journal",
    None, end) or ("retry", the queued request, end) when it could not even be claimed.
    """


class _Stuck:
    """A backlog entry: what must be written before the session's next request runs."""

    def __init__(self, what: tuple[str, Any, int]) -> None:
        self.what = what


class RequestRunner:
    """Reads a session's new lines and runs them: a handler marked inline on the calling thread
    when the session has nothing queued, anything else on the pool, one at a time per session.
    """

    def __init__(self, host: Host, handlers: dict[str, HandlerSpec], pool: ThreadPoolExecutor,
                 path_map: PathMap,
                 on_request: Callable[[str, Request, Answer], None]) -> None:
        self.host = host
        self.handlers = handlers
        self.pool = pool
        self.path_map = path_map
        self.on_request = on_request

    def read(self, served: ServedSession, skip_bell: bool = False) -> int:
        """Run every complete request that arrived in ``served``'s log since the last look;
        return how many lines there were.

        Raises OSError when the log cannot be read; the caller decides whether that is a
        passing fault (a dropped mount) or breaks the session.
        """
        state = served.state
        with served.read_lock:
            with state.lock:
                if len(state.backlog) >= MAX_BACKLOG:
                    served.deferred = True  # the drain reads on once it has room
                    return 0
            lines = served.reader.read(READ_SLICE, skip_bell)
        for line in lines:
            self._accept(served, line)
        return len(lines)

    def _accept(self, served: ServedSession, line: LogLine) -> None:
        sid = served.state.layout.id
        if line.data is None:
            rid = salvage_id(line.head)
            served.log_bad("session %s: request of %d bytes at offset %d is over the %d-byte "
                           "limit", sid, line.end - line.start, line.start,
                           served.reader.max_line)
            bad = BadRequest(f"request of {line.end - line.start} bytes is over the host's "
                             f"limit of {served.reader.max_line}", code="too_large",
                             request_id=rid)
            self._enqueue(served, None, line, bad)
            return
        if not line.data.strip():
            self._enqueue(served, None, line, None)
            return
        try:
            request = decode_request(line.data)
            if request.args_file:
                request = self._args_from_file(served, request)
        except BadRequest as exc:
            served.log_bad("session %s: bad request at offset %d: %s", sid, line.start, exc)
            self._enqueue(served, None, line, exc)
            return
        self._enqueue(served, request, line, None)

    def _args_from_file(self, served: ServedSession, request: Request) -> Request:
        """A request whose args were too large for a line: they are in requests/<args_file>."""
        path = served.state.layout.folder / "requests" / request.args_file
        try:
            args = loads(read_file(path, served.reader.max_line))
        except (OSError, ValueError) as exc:
            raise BadRequest(f"cannot read its args from requests/{request.args_file}: {exc}",
                             request_id=request.id, wants_answer=request.answer) from None
        if not isinstance(args, dict):
            raise BadRequest(f"requests/{request.args_file} does not hold a JSON object",
                             request_id=request.id, wants_answer=request.answer)
        return request._replace(args=args)

    def _enqueue(self, served: ServedSession, request: Optional[Request], line: LogLine,
                 bad: Optional[BadRequest]) -> None:
        state = served.state
        spec = self.handlers.get(request.command) if request else None
        item = (request, spec, line, bad)
        with state.lock:
            if not state.busy and not state.backlog and (spec is None or spec.inline):
                state.busy = True
                inline = True
            else:
                state.backlog.append(item)
                inline = False
                if not state.busy:
                    state.busy = True
                    self.pool.submit(self._drain, served)
        if inline:
            try:
                self._execute(served, *item)
            except _Undelivered as stuck:
                with state.lock:
                    state.backlog.appendleft(_Stuck(stuck.args[0]))
                self.pool.submit(self._drain, served)
                return
            with state.lock:
                state.busy = False

    def _drain(self, served: ServedSession) -> None:
        state = served.state
        generation = served.drain_generation
        while True:
            if generation != served.drain_generation:
                return  # the host gave up on this thread's handler; another drain carries on
            with state.lock:
                if not state.backlog:
                    if not served.deferred:
                        state.busy = False
                        return
                    served.deferred = False
                    item = None
                else:
                    item = state.backlog.popleft()
            if item is None:
                self._read_on(served)
                continue
            try:
                if isinstance(item, _Stuck):
                    self._wait_for_room(served, item.what)
                else:
                    self._execute(served, *item)
            except _Undelivered as stuck:
                with state.lock:
                    state.backlog.appendleft(_Stuck(stuck.args[0]))
            except UnsafeFile as exc:
                with state.lock:
                    state.backlog.clear()
                    state.busy = False
                self.host.session_fault(served, exc)
                return
            except Exception:
                log.exception("session %s: failed to handle a request", state.layout.id)

    def enforce_deadline(self, served: ServedSession, deadline: float) -> None:
        """Give up on a handler running longer than ``deadline`` seconds: answer its request
        with ``timeout`` and let the session's next requests run on another thread."""
        running = served.running
        if running is None or time.monotonic() - running.started < deadline:
            return
        running.abandoned = True
        served.running = None
        served.abandoned += 1
        served.drain_generation += 1
        request = running.request
        log.error("session %s: the handler for %r has run over %g s; the host gave up on it",
                  served.state.layout.id, request.command, deadline)
        answer = Answer(request.id, False, error_code="timeout", error_message=(
            f"the handler for {request.command!r} did not finish within {deadline:g} s"))
        try:
            if request.answer:
                self._answer(served, answer, running.end)
            self._finish(served, running.end)
        except _Undelivered as stuck:
            with served.state.lock:
                served.state.backlog.appendleft(_Stuck(stuck.args[0]))
        threading.Thread(target=self._drain, args=(served,), daemon=True,
                         name="filebridge-handler-after-deadline").start()

    def _read_on(self, served: ServedSession) -> None:
        try:
            self.read(served)
        except OSError as exc:
            log.warning("session %s: cannot read request.log: %s", served.state.layout.id, exc)

    def _wait_for_room(self, served: ServedSession, what: tuple[str, Any, int]) -> None:
        """Keep trying to write what could not be written, with a growing pause; the
        session's later requests wait behind it, in order, and nothing is acknowledged early.
        A stopping host leaves it unwritten: the journal then shows the request in flight."""
        kind, payload, end = what
        sid = served.state.layout.id
        for attempt in range(1 << 30):
            if self.host.stopping:
                return
            delays = self.host.write_retry_delays
            time.sleep(delays[min(attempt, len(delays) - 1)])
            try:
                if kind == "answer":
                    served.state.outbox.deliver(payload)
                if kind == "retry":
                    served.journal.claim(end)
                else:
                    served.journal.finish(end)
            except OSError as exc:
                if attempt % 20 == 0:
                    log.error("session %s: still cannot write (%s); retrying", sid, exc)
                continue
            log.info("session %s: writing works again; carrying on", sid)
            break
        if kind == "retry":
            self._execute(served, *payload)

    def _execute(self, served: ServedSession, request: Optional[Request],
                 spec: Optional[HandlerSpec], line: LogLine, bad: Optional[BadRequest]) -> None:
        if request is None:
            if bad is not None and bad.request_id and bad.wants_answer:
                self._answer(served, Answer(bad.request_id, False, error_code=bad.code,
                                            error_message=str(bad)), line.end)
            self._finish(served, line.end)
            return
        if line.end <= served.in_flight_end:
            served.in_flight_end = 0
            if not self._resume_interrupted(served, request, spec, line.end):
                self._finish(served, line.end)
                return
        if spec is None or not spec.idempotent:
            # An idempotent request cut short by a crash simply runs again: no claim needed.
            try:
                served.journal.claim(line.end)
            except OSError as exc:
                raise _Undelivered(("retry", (request, spec, line, bad), line.end)) from exc
        if faults.ARMED: faults.at_host_point("claimed", request.command)  # noqa: E701
        if spec is None:
            if (request.command not in served.unhandled
                    and len(served.unhandled) < MAX_UNHANDLED_NAMES):
                served.unhandled.add(request.command)
                log.warning("session %s: no handler for %r (logged once per session)",
                            served.state.layout.id, request.command)
            answer = no_handler_answer(request, "host")
        elif served.abandoned >= MAX_ABANDONED and not spec.inline:
            answer = Answer(request.id, False, error_code="timeout", error_message=(
                f"not run: {served.abandoned} handlers of this session are past their "
                "deadline and still running"))
        else:
            call = Call(request, self.path_map.args(request.args), served.state.snapshot(),
                        self.host)
            running = _Running(request, line.end)
            if not spec.inline:
                served.running = running
            try:
                answer = run_handler(spec, call)
            finally:
                if served.running is running:
                    served.running = None
            if running.abandoned:
                served.abandoned -= 1
                log.warning("session %s: %r finished after the host gave up on it; its result "
                            "was dropped", served.state.layout.id, request.command)
                return
            if not answer.ok:
                # a handler passing a call on to nobody (``no_handler``) is no failure here
                level = logging.INFO if answer.error_code == "no_handler" else logging.ERROR
                log.log(level, "session %s: %s -> %s", served.state.layout.id,
                        request.command, answer.error_message)
        if faults.ARMED: faults.at_host_point("handled", request.command)  # noqa: E701
        if request.answer:
            self._answer(served, answer, line.end)
        if faults.ARMED: faults.at_host_point("answered", request.command)  # noqa: E701
        self._finish(served, line.end, lazily=spec is not None and spec.idempotent)
        if request.args_file:
            try:
                remove_file(served.state.layout.folder / "requests" / request.args_file)
            except OSError:
                pass
        self.on_request(served.state.layout.id, request, answer)

    def _finish(self, served: ServedSession, end: int, lazily: bool = False) -> None:
        try:
            served.journal.finish(end, lazily=lazily and served.journal.lazy)
        except OSError as exc:
            log.error("session %s: cannot record progress: %s", served.state.layout.id, exc)
            raise _Undelivered(("journal", None, end)) from exc

    def _resume_interrupted(self, served: ServedSession, request: Request,
                            spec: Optional[HandlerSpec], end: int) -> bool:
        """A request that was running when the last host died: run it again only if safe."""
        sid = served.state.layout.id
        if request.answer and served.state.outbox.delivered(request.id):
            return False
        if spec is not None and spec.idempotent:
            log.warning("session %s: running %r again: the last host stopped while running it",
                        sid, request.command)
            return True
        log.error("session %s: %r (%s) was running when the last host stopped; not run again",
                  sid, request.command, request.id)
        if request.answer:
            self._answer(served, Answer(request.id, False, error_code="interrupted",
                                        error_message="the host stopped while handling this "
                                        "request; it may have partly run, so it was not run "
                                        "again"), end)
        return False

    def _answer(self, served: ServedSession, answer: Answer, end: int) -> None:
        outbox = served.state.outbox
        try:
            try:
                outbox.deliver(answer)
            except TypeError as exc:
                answer = Answer(answer.id, False, error_code="handler_error",
                                error_message=f"the handler's result is not JSON: {exc}")
                outbox.deliver(answer)
        except UnsafeFile:
            raise  # not a passing fault: the session's files cannot be trusted
        except OSError as exc:
            log.error("session %s: cannot write the answer to %s: %s; it is kept and written "
                      "again until that works", served.state.layout.id, answer.id, exc)
            raise _Undelivered(("answer", answer, end)) from exc

"""Running the requests of one session: in order, exactly once, never holding up others."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Optional

from filebridge.host.dispatch import Call, HandlerSpec, run_handler
from filebridge.host.journal import Journal
from filebridge.host.pathmap import PathMap
from filebridge.host.reader import LineReader, LogLine
from filebridge.host.session import SessionState
from filebridge.wire.messages import Answer, BadRequest, Request, decode_request, salvage_id

if TYPE_CHECKING:
    from filebridge.host.server import Host

__all__ = ["RequestRunner", "ServedSession"]

log = logging.getLogger("filebridge.host")


class ServedSession:
    """A session the host reads: its state, its log reader and its journal."""

    def __init__(self, state: SessionState, max_line: int) -> None:
        self.state = state
        self.journal = Journal(state.layout.host_offset)
        self.reader = LineReader(state.layout.request_log, self.journal.done, max_line)
        # A request between DONE and CLAIMED was running when the last host died.
        self.in_flight_end = self.journal.claimed if self.journal.claimed > self.journal.done else 0
        self.unhandled: set[str] = set()

    def close(self) -> None:
        self.reader.close()
        self.journal.close()
        self.state.outbox.close()


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

    def read(self, served: ServedSession) -> None:
        """Run every complete request that arrived in ``served``'s log since the last look."""
        try:
            lines = served.reader.read()
        except OSError as exc:
            log.error("session %s: cannot read request.log: %s", served.state.layout.id, exc)
            return
        for line in lines:
            self._accept(served, line)

    def _accept(self, served: ServedSession, line: LogLine) -> None:
        sid = served.state.layout.id
        if line.data is None:
            rid = salvage_id(line.head)
            log.error("session %s: request of %d bytes at offset %d is over the %d-byte limit",
                      sid, line.end - line.start, line.start, served.reader.max_line)
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
        except BadRequest as exc:
            log.error("session %s: bad request at offset %d: %s", sid, line.start, exc)
            self._enqueue(served, None, line, exc)
            return
        self._enqueue(served, request, line, None)

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
            finally:
                with state.lock:
                    state.busy = False

    def _drain(self, served: ServedSession) -> None:
        state = served.state
        while True:
            with state.lock:
                if not state.backlog:
                    state.busy = False
                    return
                item = state.backlog.popleft()
            try:
                self._execute(served, *item)
            except Exception:
                log.exception("session %s: failed to handle a request", state.layout.id)

    def _execute(self, served: ServedSession, request: Optional[Request],
                 spec: Optional[HandlerSpec], line: LogLine, bad: Optional[BadRequest]) -> None:
        journal = served.journal
        if request is None:
            if bad is not None and bad.request_id and bad.wants_answer:
                self._answer(served, Answer(bad.request_id, False, error_code=bad.code,
                                            error_message=str(bad)))
            journal.finish(line.end)
            return
        if line.end <= served.in_flight_end:
            served.in_flight_end = 0
            if not self._resume_interrupted(served, request, spec):
                journal.finish(line.end)
                return
        if spec is None or not spec.idempotent:
            # An idempotent request cut short by a crash simply runs again: no claim needed.
            journal.claim(line.end)
        if spec is None:
            if request.command not in served.unhandled:
                served.unhandled.add(request.command)
                log.warning("session %s: no handler for %r (logged once per session)",
                            served.state.layout.id, request.command)
            answer = Answer(request.id, False, error_code="no_handler",
                            error_message=f"no handler for {request.command!r} on this host")
        else:
            call = Call(request, self.path_map.args(request.args), served.state.snapshot(),
                        self.host)
            answer = run_handler(spec, call)
            if not answer.ok:
                log.error("session %s: %s -> %s", served.state.layout.id, request.command,
                          answer.error_message)
        if request.answer:
            self._answer(served, answer)
        journal.finish(line.end)
        self.on_request(served.state.layout.id, request, answer)

    def _resume_interrupted(self, served: ServedSession, request: Request,
                            spec: Optional[HandlerSpec]) -> bool:
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
                                        "again"))
        return False

    def _answer(self, served: ServedSession, answer: Answer) -> None:
        try:
            served.state.outbox.deliver(answer)
        except TypeError as exc:
            served.state.outbox.deliver(Answer(
                answer.id, False, error_code="handler_error",
                error_message=f"the handler's result is not JSON: {exc}"))
        except OSError as exc:
            log.error("session %s: cannot write the answer to %s: %s",
                      served.state.layout.id, answer.id, exc)

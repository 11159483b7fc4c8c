"""The worker's one background thread: heartbeat, and answering the host's requests.

It answers while the main thread runs user code, as far as the GIL lets it: pure-Python
handlers interleave with user code; a C call that holds the GIL delays them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Optional

from filebridge.wire.answers import FileOutbox
from filebridge.wire.channel import open_waiter
from filebridge.wire.files import Doorbell
from filebridge.wire.layout import SessionLayout
from filebridge.wire.log_reader import LineReader, LogLine
from filebridge.wire.messages import (
    Answer,
    BadRequest,
    Request,
    answer_by_running,
    decode_request,
    no_handler_answer,
    salvage_id,
)

__all__ = ["HEARTBEAT_INTERVAL", "MAX_COMMAND_LINE", "BackgroundService", "CommandHandler"]

HEARTBEAT_INTERVAL = float(os.environ.get("FILEBRIDGE_HEARTBEAT_INTERVAL") or 2.0)
CommandHandler = Callable[[dict[str, Any]], Any]
# One read of command.log asks for this much; a longer command line is answered too_large.
MAX_COMMAND_LINE = 16 << 20
# Where the command doorbell is polled (a mount), how often once a second passed without a
# command: each look is a round trip to the mount's server, made by every idle worker, and
# one that comes while the main thread calls the host delays that call. As R's idle prompt.
COMMAND_IDLE_LOOK = 0.1
log = logging.getLogger("filebridge.worker")


class BackgroundService:
    def __init__(self, layout: SessionLayout, strategy: str,
                 handlers: dict[str, CommandHandler]) -> None:
        self.layout = layout
        self._strategy = strategy
        self._handlers = handlers
        self._stop = threading.Event()
        self._heartbeat = Doorbell(layout.heartbeat)
        self._outbox = FileOutbox(layout.command_responses, layout.command_response_lock)
        self._beats = 0
        self._commands = self._command_reader()
        self._thread: Optional[threading.Thread] = None
        self._waiter = open_waiter(strategy)

    def _command_reader(self, position: Optional[int] = None) -> Optional[LineReader]:
        try:
            return LineReader(self.layout.command_log, position, MAX_COMMAND_LINE,
                              chunk=MAX_COMMAND_LINE)
        except OSError:
            return None

    def start(self) -> None:
        self._waiter.watch(self.layout.command_lock, idle_interval=COMMAND_IDLE_LOOK,
                           pace="on_change")
        self.beat()
        self._thread = threading.Thread(target=self._run, name="filebridge-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._waiter.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._waiter.close()
        self._heartbeat.close()
        if self._commands is not None:
            self._commands.close()

    def beat(self) -> None:
        """Ring the heartbeat; a folder that cannot be written now (a dropped mount, a full
        disk) is tried again at the next beat, and the thread lives on."""
        self._beats += 1
        try:
            self._heartbeat.ring(self._beats)
        except OSError as exc:
            if self._beats % 30 == 1:
                log.warning("filebridge: cannot ring the heartbeat: %s", exc)

    def _run(self) -> None:
        next_beat = time.monotonic() + HEARTBEAT_INTERVAL
        while not self._stop.is_set():
            changes = True
            try:
                changes = bool(self._waiter.wait(max(0.0, next_beat - time.monotonic())))
            except OSError:
                time.sleep(0.1)
            if self._stop.is_set():
                return
            if time.monotonic() >= next_beat:
                self.beat()
                next_beat = time.monotonic() + HEARTBEAT_INTERVAL
                changes = True  # and the log is read, whatever the doorbell said
            if not changes:
                continue  # a look that found the doorbell unchanged: no need to open the log
            try:
                self.serve_pending()
            except Exception:  # the thread must outlive any one bad command
                log.exception("filebridge: failed to serve host requests")

    def serve_pending(self) -> None:
        """Serve what one read of command.log finds."""
        if self._commands is None:
            self._commands = self._command_reader(0)
            if self._commands is None:
                return
        try:
            lines = self._commands.read(MAX_COMMAND_LINE)
        except OSError:
            return
        for line in lines:
            self._serve_line(line)

    def _serve_line(self, line: LogLine) -> None:
        if line.data is None:
            rid = salvage_id(line.head)
            if rid:
                self._answer(Answer(rid, False, error_code="too_large",
                                    error_message=f"a command of {line.end - line.start} bytes "
                                    f"is over the worker's limit of {MAX_COMMAND_LINE}"))
            return
        if not line.data.strip():
            return
        try:
            request = decode_request(line.data)
        except BadRequest as exc:
            if exc.request_id:
                self._answer(Answer(exc.request_id, False, error_code=exc.code,
                                    error_message=str(exc)))
            return
        self._answer(self._handle(request))

    def _handle(self, request: Request) -> Answer:
        handler = self._handlers.get(request.command)
        if handler is None:
            return no_handler_answer(request, "worker")
        return answer_by_running(request, lambda: handler(request.args))

    def _answer(self, answer: Answer) -> None:
        try:
            self._outbox.deliver(answer)
        except TypeError as exc:
            self._outbox.deliver(Answer(answer.id, False, error_code="handler_error",
                                        error_message=f"the result is not JSON: {exc}"))


def ping(_args: dict[str, Any]) -> dict[str, Any]:
    return {"pid": os.getpid(), "time": time.time()}

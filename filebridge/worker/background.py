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
from filebridge.wire.logs import LogCursor
from filebridge.wire.messages import (
    Answer,
    BadRequest,
    Request,
    answer_by_running,
    decode_request,
    no_handler_answer,
)

__all__ = ["HEARTBEAT_INTERVAL", "BackgroundService", "CommandHandler"]

HEARTBEAT_INTERVAL = float(os.environ.get("FILEBRIDGE_HEARTBEAT_INTERVAL") or 2.0)
CommandHandler = Callable[[dict[str, Any]], Any]
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
        self._commands = self._command_cursor()
        self._pending = b""
        self._thread: Optional[threading.Thread] = None
        self._waiter = open_waiter(strategy)

    def _command_cursor(self, position: Optional[int] = None) -> Optional[LogCursor]:
        try:
            return LogCursor(self.layout.command_log, position)
        except OSError:
            return None

    def start(self) -> None:
        self._waiter.watch(self.layout.command_lock)
        self.beat()
        self._thread = threading.Thread(target=self._run, name="filebridge-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._waiter.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._waiter.close()
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
        while self._serve_some():
            pass

    def _serve_some(self) -> bool:
        """Serve what one read found; whether to read again at once."""
        if self._commands is None:
            self._commands = self._command_cursor(0)
            if self._commands is None:
                return False
        position = self._commands.position
        try:
            start, data = self._commands.read(16 << 20)
        except OSError:
            return False
        if not data:
            return False
        if start != position:
            self._pending = b""  # a new generation: a cut line does not go on
        data = self._pending + data
        *lines, self._pending = data.split(b"\n")
        for line in lines:
            if line.strip():
                self._serve_line(line)
        return self._commands.more

    def _serve_line(self, line: bytes) -> None:
        try:
            request = decode_request(line)
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

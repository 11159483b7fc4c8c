"""``filebridge serve --stdio``: a host driven by an editor through JSON-RPC 2.0.

One thread reads messages; requests run on a small pool (a slow worker call never holds up the
others, so answers may come out of order, as JSON-RPC allows); one writer thread sends answers
and notifications. Notifications come from the host's threads and only join a queue, so a
client that reads slowly never blocks the host: past ``max_queue`` waiting notifications the
oldest are dropped and a ``notifications/dropped`` notification says how many.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Optional

import filebridge
from filebridge.editor.events import DEFAULT_TOPICS, TOPICS, EventRelay
from filebridge.editor.framing import FramingError, Readable, frame, read_message
from filebridge.editor.methods import ERRORS, Methods, Params, RpcError
from filebridge.host import Host
from filebridge.host.variables.provider import VariablesProvider
from filebridge.host.viewers.store import ViewerStore
from filebridge.wire.codec import dumps, loads

__all__ = ["PROTOCOL_VERSION", "StdioServer"]

log = logging.getLogger("filebridge.editor")

PROTOCOL_VERSION = 1
MAX_QUEUE = 100_000
_NO_ID = object()


class Outbox:
    """Messages waiting for the writer thread; notifications may be dropped, answers never."""

    def __init__(self, stream: BinaryIO, framing: str, max_queue: int) -> None:
        self.stream = stream
        self.framing = framing
        self.max_queue = max_queue
        self._queue: deque[tuple[bool, dict[str, Any]]] = deque()
        self._notifications = 0
        self._dropped = 0
        self._ready = threading.Condition()
        self._closing = False
        self.broken = False
        self.sent_notifications = 0
        self._thread = threading.Thread(target=self._run, name="filebridge-editor-writer",
                                        daemon=True)
        self._thread.start()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        with self._ready:
            if self._closing:
                return
            if self._notifications >= self.max_queue:
                for index, (is_note, _) in enumerate(self._queue):
                    if is_note:
                        del self._queue[index]
                        self._notifications -= 1
                        self._dropped += 1
                        break
            self._queue.append((True, message))
            self._notifications += 1
            self._ready.notify()

    def answer(self, message: dict[str, Any]) -> None:
        with self._ready:
            self._queue.append((False, message))
            self._ready.notify()

    def _take(self) -> Optional[list[dict[str, Any]]]:
        with self._ready:
            while not self._queue and not self._closing:
                self._ready.wait()
            if not self._queue:
                return None
            batch = [message for _, message in self._queue]
            self._notifications = 0
            self._queue.clear()
            if self._dropped:
                batch.append({"jsonrpc": "2.0", "method": "notifications/dropped",
                              "params": {"count": self._dropped}})
                self._dropped = 0
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            data = b"".join(frame(dumps(message), self.framing) for message in batch)
            try:
                self.stream.write(data)
                self.stream.flush()
            except (OSError, ValueError):
                self.broken = True  # the editor went away; the reader sees the end next
                return
            self.sent_notifications += sum(1 for message in batch if "id" not in message)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the writer."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)


class StdioServer:
    """Serves one editor over a pair of byte streams until ``exit`` or the end of input."""

    def __init__(self, host: Host, reader: Readable | BinaryIO, writer: BinaryIO, *,
                 framing: str = "lines", store: Optional[ViewerStore] = None,
                 variables: Optional[VariablesProvider] = None,
                 notebook_temp: Optional[Path] = None, max_queue: int = MAX_QUEUE) -> None:
        self.host = host
        self.reader = reader
        self.framing = framing
        self.outbox = Outbox(writer, framing, max_queue)
        self.methods = Methods(host, store, variables, notebook_temp)
        self.relay = EventRelay(host, self.outbox.notify, store=store, variables=variables)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="filebridge-editor")
        self._initialized = False
        self._done = threading.Event()
        self._shut_down = False
        self._exit_code: Optional[int] = None

    # -- the read loop -------------------------------------------------------------------

    def watch_host(self, interval: float = 0.5) -> None:
        """Tell the editor if the host stops by itself (another host took the root)."""
        def watch() -> None:
            while self.host.running:
                self.host.join(interval)
            if not self._shut_down and self._exit_code is None:
                reason = str(self.host.failure or "the host stopped")
                self.outbox.notify("host/stopped", {"reason": reason})

        threading.Thread(target=watch, name="filebridge-editor-host-watch", daemon=True).start()

    def run(self) -> int:
        """Serve until ``exit``, the end of input or ``stop()``; the exit code (0 after
        shutdown then exit, else 1).

        Messages are read on a thread of their own, so the calling thread only waits: a signal
        handler may call ``stop()`` (a flag) without meeting a blocked read.
        """
        reader = threading.Thread(target=self._read_loop, name="filebridge-editor-reader",
                                  daemon=True)
        reader.start()
        try:
            while not self._done.wait(0.2):
                pass
        finally:
            self.stop()
            reader.join(5)
            self._finish()
        return self._exit_code if self._exit_code is not None else (0 if self._shut_down
                                                                    else 1)

    def stop(self) -> None:
        """End ``run`` as the end of input would (safe from a signal handler)."""
        self._done.set()
        stopper = getattr(self.reader, "stop", None)
        if stopper is not None:
            stopper()

    def _read_loop(self) -> None:
        try:
            while self._exit_code is None and not self._done.is_set():
                try:
                    body = read_message(self.reader, self.framing)
                except FramingError as exc:
                    log.error("cannot read from the editor any more: %s", exc)
                    self._error(None, "parse_error", str(exc))
                    break
                except (OSError, ValueError):
                    break  # standard input was closed under us
                if body is None:
                    break
                self._receive(body)
        finally:
            self._done.set()

    def _finish(self) -> None:
        self.relay.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if not self._shut_down:
            self.host.stop()
        self.outbox.close()

    def _receive(self, body: bytes) -> None:
        try:
            message = loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            self._error(None, "parse_error", f"not JSON: {exc}")
            return
        if isinstance(message, list):
            if not message:
                self._error(None, "invalid_request", "an empty batch")
            for item in message:  # answered one by one: editors match answers by id
                self._dispatch(item)
            return
        self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        if (not isinstance(message, dict) or message.get("jsonrpc") != "2.0"
                or not isinstance(message.get("method"), str)):
            rid = message.get("id") if isinstance(message, dict) else None
            self._error(rid if _valid_id(rid) else None, "invalid_request",
                        "a request is an object with jsonrpc \"2.0\" and a method")
            return
        method, params = message["method"], message.get("params")
        rid = message.get("id", _NO_ID)
        if rid is not _NO_ID and not _valid_id(rid):
            self._error(None, "invalid_request", "an id is a string, a number or null")
            return
        if rid is _NO_ID:
            self._notification(method, params)
            return
        if method in ("initialize", "subscribe", "unsubscribe", "shutdown"):
            self._respond(rid, method, params)  # in order, on this thread
        else:
            try:
                self._pool.submit(self._respond, rid, method, params)
            except RuntimeError:  # the server is stopping: the pool takes no more
                self._error(rid, "shutting_down", f"{method}: the server is stopping")

    def _notification(self, method: str, params: Any) -> None:
        if method == "exit":
            self._exit_code = 0 if self._shut_down else 1
        elif method not in ("initialized", "$/cancelRequest"):
            log.info("ignoring the editor's notification %r", method)

    # -- answering -----------------------------------------------------------------------

    def _respond(self, rid: Any, method: str, params: Any) -> None:
        try:
            result = self._handle(method, params)
        except RpcError as exc:
            self._error(rid, None, exc.message, exc.data, code=exc.code)
            return
        except Exception as exc:  # a bug must answer, not leave the editor waiting
            log.exception("%s failed", method)
            self._error(rid, "internal_error", f"{type(exc).__name__}: {exc}")
            return
        self.outbox.answer({"jsonrpc": "2.0", "id": rid, "result": result})

    def _handle(self, method: str, params: Any) -> Any:
        if method == "initialize":
            self._initialized = True
            return self._capabilities()
        if not self._initialized:
            raise RpcError("not_initialized", f"{method}: send initialize first")
        if self._shut_down:
            raise RpcError("shutting_down", f"{method}: the server is shutting down")
        if method == "subscribe":
            return {"topics": self._subscribe(Params(method, params), True)}
        if method == "unsubscribe":
            return {"topics": self._subscribe(Params(method, params), False)}
        if method == "shutdown":
            self._shut_down = True
            self.relay.close()
            self.host.stop()
            return None
        return self.methods.call(method, params)

    def _subscribe(self, params: Params, on: bool) -> list[str]:
        wanted = params.keys("topics") if "topics" in params.raw else list(DEFAULT_TOPICS)
        unknown = [topic for topic in wanted if topic not in TOPICS]
        if unknown:
            raise RpcError("invalid_params", f"no topic {unknown[0]!r}; there are: "
                                             f"{', '.join(TOPICS)}")
        if on:
            self.relay.subscribe(wanted)
        else:
            self.relay.topics.difference_update(wanted)
        return sorted(self.relay.topics)

    def _capabilities(self) -> dict[str, Any]:
        return {"server": {"name": "filebridge", "version": filebridge.__version__},
                "protocolVersion": PROTOCOL_VERSION,
                "root": str(self.host.root.root),
                "framing": self.framing,
                "methods": sorted([*self.methods.table, "initialize", "subscribe",
                                   "unsubscribe", "shutdown"]),
                "topics": {topic: list(methods) for topic, methods in TOPICS.items()}}

    def _error(self, rid: Any, kind: Optional[str], message: str, data: Any = None, *,
               code: Optional[int] = None) -> None:
        error: dict[str, Any] = {"code": code if code is not None else ERRORS[kind or
                                                                              "internal_error"],
                                 "message": message}
        if data is not None:
            error["data"] = data
        self.outbox.answer({"jsonrpc": "2.0", "id": rid, "error": error})


def _valid_id(rid: Any) -> bool:
    return rid is None or isinstance(rid, str) or (type(rid) in (int, float))

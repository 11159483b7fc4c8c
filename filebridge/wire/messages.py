"""The one place that builds and parses requests and answers (docs/protocol.md)."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import threading
import time
import traceback
from typing import Any, Callable, NamedTuple, Optional

from filebridge import PROTOCOL_VERSION
from filebridge.errors import (
    BadRequest,
    ProtocolError,
    RemoteError,
    error_from_answer,
)
from filebridge.wire.codec import dumps, loads

__all__ = [
    "Answer",
    "BadRequest",
    "Request",
    "answer_by_running",
    "decode_answer",
    "decode_request",
    "new_request",
    "no_handler_answer",
]

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
ARGS_FILE = re.compile(r"[A-Za-z0-9_-]{1,64}\.json")
_NUMBERS = (int, float)
_ID_IN_TEXT = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


class Request(NamedTuple):
    """One line of request.log or command.log (a tuple: thousands are made a second)."""

    id: str
    seq: int
    time: float
    pid: int
    command: str
    answer: bool
    args: dict[str, Any]
    v: int = PROTOCOL_VERSION
    args_file: str = ""  # args too large for a line travel in requests/<args_file>

    def encode(self) -> bytes:
        """The request as one JSON line, newline included."""
        body = {"v": self.v, "id": self.id, "seq": self.seq, "time": self.time,
                "pid": self.pid, "command": self.command, "answer": self.answer,
                "args": self.args}
        if self.args_file:
            body["args_file"] = self.args_file
        return dumps(body) + b"\n"

    def with_args_in_file(self) -> tuple[Request, bytes]:
        """This request's line without its args, and the args to write to ``args_file``."""
        return self._replace(args={}, args_file=f"{self.id}.json"), dumps(self.args)


class _Sequence:
    """Per-process sequence numbers and ids, started afresh in a forked child.

    An id is 24 random hex digits drawn once per process plus the sequence number: unique
    without a system call per request.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._prefix = ""

    def next(self) -> tuple[int, str, int]:
        with self._lock:
            pid = os.getpid()
            if pid != self._pid:
                self._pid = pid
                self._counter = itertools.count(1)
                self._prefix = secrets.token_hex(12)
            seq = next(self._counter)
            return seq, f"{self._prefix}{seq:08x}", pid


_sequence = _Sequence()


def new_request(command: str, args: dict[str, Any], *, answer: bool) -> Request:
    if not isinstance(command, str) or not command:
        raise ProtocolError("a command is a non-empty string")
    seq, rid, pid = _sequence.next()
    return Request(id=rid, seq=seq, time=time.time(), pid=pid, command=command, answer=answer,
                   args=args)


def salvage_id(line: bytes) -> Optional[str]:
    """The request id of a line too broken to parse, when one can be seen in its first bytes."""
    found = _ID_IN_TEXT.search(line[:4096])
    return found.group(1).decode() if found else None


def decode_request(line: bytes) -> Request:
    """Parse one line (without its newline); raise BadRequest saying what is wrong."""
    try:
        data = loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"not JSON: {exc}", request_id=salvage_id(line)) from None
    if not isinstance(data, dict):
        raise BadRequest(f"a request is a JSON object, got {type(data).__name__}")
    rid = data.get("id")
    if type(rid) is not str or not _ID.fullmatch(rid):
        raise BadRequest("'id' must be 1 to 64 characters of [A-Za-z0-9_-]")
    wants = data.get("answer") is True
    if data.get("v") != PROTOCOL_VERSION:
        raise BadRequest(f"protocol version {data.get('v')!r} is not supported "
                         f"(this host speaks {PROTOCOL_VERSION})", code="unsupported_version",
                         request_id=rid, wants_answer=wants)
    command, args = data.get("command"), data.get("args", {})
    seq, pid, when = data.get("seq"), data.get("pid"), data.get("time")
    if (type(command) is not str or not command or type(args) is not dict
            or type(seq) is not int or type(pid) is not int or type(when) not in _NUMBERS
            or type(data.get("answer", False)) is not bool):
        raise BadRequest(_what_is_wrong(data), request_id=rid, wants_answer=wants)
    args_file = data.get("args_file", "")
    if args_file and (type(args_file) is not str or not ARGS_FILE.fullmatch(args_file)):
        raise BadRequest("'args_file' must name a file of requests/ ([A-Za-z0-9_-].json)",
                         request_id=rid, wants_answer=wants)
    return Request(rid, seq, float(data["time"]), pid, command, wants, args,
                   args_file=args_file)


def _what_is_wrong(data: dict[str, Any]) -> str:
    problems = []
    if not isinstance(data.get("command"), str) or not data.get("command"):
        problems.append("'command' must be a non-empty string")
    if not isinstance(data.get("args", {}), dict):
        problems.append("'args' must be an object")
    for key, kinds in (("seq", (int,)), ("pid", (int,)), ("time", (int, float))):
        if type(data.get(key)) not in kinds:
            problems.append(f"'{key}' must be a number")
    if type(data.get("answer", False)) is not bool:
        problems.append("'answer' must be true or false")
    return "; ".join(problems)


class Answer(NamedTuple):
    """An answer, as one line of response.log or the content of responses/<id>.json."""

    id: str
    ok: bool
    result: Any = None
    error_code: str = ""
    error_message: str = ""
    error_details: Any = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": self.id, "ok": self.ok}
        if self.ok:
            body["result"] = self.result
        else:
            error: dict[str, Any] = {"code": self.error_code, "message": self.error_message}
            if self.error_details is not None:
                error["details"] = self.error_details
            body["error"] = error
        return dumps(body)

    def unwrap(self) -> Any:
        """The result, or the error as a RemoteError."""
        if self.ok:
            return self.result
        raise self.as_error()

    def as_error(self) -> RemoteError:
        return error_from_answer(self.error_code, self.error_message, self.error_details)


def answer_by_running(request: Request, handler: Callable[[], Any]) -> Answer:
    """The answer to ``request`` from ``handler()``, on either side of the channel: its result,
    or the error answer for what it raised. A ``RemoteError`` keeps its code, message and
    details; anything else is ``handler_error`` with the exception and its traceback, so a
    failing handler never takes down the side that runs it."""
    try:
        return Answer(request.id, True, result=handler())
    except RemoteError as exc:
        return Answer(request.id, False, error_code=exc.code, error_message=exc.remote_message,
                      error_details=exc.details)
    except Exception as exc:
        return Answer(request.id, False, error_code="handler_error",
                      error_message=f"handler for {request.command!r} failed: "
                                    f"{type(exc).__name__}: {exc}",
                      error_details=traceback.format_exc(limit=8))


def no_handler_answer(request: Request, side: str) -> Answer:
    """``side`` ("host" or "worker") has no handler for the request's command."""
    return Answer(request.id, False, error_code="no_handler",
                  error_message=f"no handler for {request.command!r} on the {side}")


def decode_answer(data: bytes) -> Answer:
    try:
        body = loads(data)
        rid = body["id"]
        if body.get("ok") is True:
            return Answer(id=rid, ok=True, result=body.get("result"))
        error = body.get("error") or {}
        return Answer(id=rid, ok=False, error_code=str(error.get("code", "error")),
                      error_message=str(error.get("message", "")),
                      error_details=error.get("details"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"unreadable answer: {exc}") from None

"""Every exception filebridge raises, in one hierarchy.

Callers catch ``FilebridgeError`` for "anything from the bridge", or one subclass for exactly
that failure. Standard library only: the worker side imports this module.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "BadRequest",
    "CallTimeout",
    "CommandFailed",
    "DemoFailure",
    "DoctorFailed",
    "FaultSpecError",
    "FilebridgeError",
    "FramingError",
    "HandlerFailed",
    "Interrupted",
    "JournalDamaged",
    "LeaseHeld",
    "LeaseLost",
    "LogDamaged",
    "NoHandler",
    "NoSnapshot",
    "NotConnected",
    "NotebookConflict",
    "NotebookError",
    "NotebookFormatError",
    "NotebookReadOnly",
    "PageError",
    "PanelError",
    "ProtocolError",
    "RecordingError",
    "Refused",
    "RemoteError",
    "RemoteImportError",
    "RemoteTimeout",
    "RequestRejected",
    "RequestTooLarge",
    "RpcError",
    "SessionError",
    "SourceConfigError",
    "UnsafeFile",
    "UnsupportedVersion",
    "WaitTimeout",
    "WorkerFailed",
    "WriteFailed",
]


class FilebridgeError(Exception):
    """Base class of every filebridge error."""


class ProtocolError(FilebridgeError):
    """A message could not be read or does not follow docs/protocol.md."""


class BadRequest(ProtocolError):
    """A line that is not a valid request, found by the side that reads it (answered with
    ``code``). ``request_id`` is set when one could be read."""

    def __init__(self, message: str, *, code: str = "bad_request",
                 request_id: Optional[str] = None, wants_answer: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id
        self.wants_answer = wants_answer


class NotConnected(FilebridgeError):
    """The worker has no session to talk through (call ``connect()`` first)."""


class CallTimeout(FilebridgeError, TimeoutError):
    """No answer arrived in time. The message says how long and whether a host looked alive."""

    def __init__(self, message: str, *, command: str, waited: float, host_alive: bool) -> None:
        super().__init__(message)
        self.command = command
        self.waited = waited
        self.host_alive = host_alive


class RemoteError(FilebridgeError):
    """The other side answered with an error. ``RemoteError(code, ...)`` makes the class of
    ``code`` (``RemoteError("refused", ...)`` is a ``Refused``), so a handler raising it and a
    caller catching it agree by code alone."""

    def __new__(cls, code: str, message: str = "", details: Any = None) -> RemoteError:
        if cls is RemoteError:
            cls = _BY_CODE.get(code, RemoteError)
        return super().__new__(cls, code, message, details)

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.remote_message = message
        self.details = details


class NoHandler(RemoteError):
    """The other side has no handler registered for the command (``no_handler``)."""


class RequestRejected(RemoteError):
    """The request was not valid: not JSON, wrong types, unreadable args (``bad_request``)."""


class UnsupportedVersion(RemoteError):
    """The other side speaks another protocol version (``unsupported_version``)."""


class HandlerFailed(RemoteError):
    """The handler raised; ``details`` holds its traceback (``handler_error``)."""


class Interrupted(RemoteError):
    """The host stopped while handling the request, which may have partly run and was not run
    again (``interrupted``)."""


class RequestTooLarge(RemoteError):
    """The request was over the host's size limit (``too_large``)."""


class Refused(RemoteError):
    """The handler would not do it: a path outside what is served, a name not allowed
    (``refused``)."""


class RemoteTimeout(RemoteError):
    """The other side gave up on something it waited for while answering (``timeout``)."""


_BY_CODE: dict[str, type[RemoteError]] = {
    "no_handler": NoHandler,
    "bad_request": RequestRejected,
    "unsupported_version": UnsupportedVersion,
    "handler_error": HandlerFailed,
    "interrupted": Interrupted,
    "too_large": RequestTooLarge,
    "refused": Refused,
    "timeout": RemoteTimeout,
}


class WriteFailed(FilebridgeError):
    """A request could not be written to the session folder (full disk, gone, read-only)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class UnsafeFile(FilebridgeError, OSError):
    """A session file that must not be used: a symbolic link, a FIFO or device, over its size
    limit, or in a folder reached through a link. An ``OSError``, so callers that handle a
    missing or unreadable file handle it too."""

    def __init__(self, message: str, errno: int) -> None:
        OSError.__init__(self, errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LeaseLost(FilebridgeError):
    """Another host took over the root this host served (or its lease file was replaced)."""


class LeaseHeld(FilebridgeError):
    """Another host already serves this root."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


class LogDamaged(FilebridgeError, OSError):
    """The log was truncated, replaced or deleted under the reader, or the generation that
    holds the reader's position was removed before it was read."""


class JournalDamaged(FilebridgeError, OSError):
    """host.offset cannot be trusted; the message says why and what to run."""


class FaultSpecError(FilebridgeError, ValueError):
    """A fault spec (``FILEBRIDGE_FAULTS``) that cannot be read; the message names the part."""


class SessionError(FilebridgeError):
    """A session could not be created, found or recovered under a root (the message says
    which and why)."""


def error_from_answer(code: str, message: str, details: Any = None) -> RemoteError:
    """The exception a caller sees for an error answer: one class per code of
    docs/protocol.md, RemoteError for codes a feature defines."""
    return _BY_CODE.get(code, RemoteError)(code, message, details)


class NotebookError(FilebridgeError):
    """A Databricks notebook could not be converted, opened or synced."""


class NotebookFormatError(NotebookError):
    """Input is not a readable notebook (not UTF-8, not notebook JSON, unknown extension)."""


class NotebookConflict(NotebookError):
    """The source changed since filebridge last read it, so it was not overwritten."""


class NotebookReadOnly(NotebookError):
    """The shadow is read-only until ``reload`` (source changed or deleted)."""


class RemoteImportError(FilebridgeError, ImportError):
    """An import through the bridge failed: no answer in time, no connection, or a host error.

    The message names the module, how long the worker waited and whether a host looked alive.
    """

    def __init__(self, message: str, *, name: str, waited: float = 0.0,
                 host_alive: bool = False) -> None:
        super().__init__(message)
        self.name = name
        self.waited = waited
        self.host_alive = host_alive


class SourceConfigError(FilebridgeError, ValueError):
    """The module sources given to the host are unusable (missing folder, duplicate NAME, ...)."""


class NoSnapshot(FilebridgeError):
    """The variables pane: the session has not published its variables (or the file is
    unreadable)."""


class DoctorFailed(FilebridgeError):
    """``filebridge doctor``: the root cannot be examined (missing, not a folder, not
    writable)."""


class DemoFailure(FilebridgeError):
    """A demo step did not do what it shows."""


class PageError(FilebridgeError):
    """A request to the local web page that gets a clean error of its own (a bad query):
    answered with HTTP ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PanelError(PageError):
    """Raised by a page panel's route for a clean error (``PageError``)."""


class CommandFailed(FilebridgeError):
    """Ends a command-line command with its message on stderr and the exit ``code``
    (docs/architecture.md, "The command line")."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class FramingError(FilebridgeError, ValueError):
    """The editor interface: the stream cannot be read as messages any more (a header that
    makes no sense)."""


# JSON-RPC error codes: the standard ones, then filebridge's (-32000 and below).
RPC_ERROR_CODES = {
    "parse_error": -32700,
    "invalid_request": -32600,
    "method_not_found": -32601,
    "invalid_params": -32602,
    "internal_error": -32603,
    "not_found": -32001,
    "timeout": -32002,
    "remote_error": -32003,
    "not_initialized": -32004,
    "shutting_down": -32005,
}


class RpcError(FilebridgeError):
    """The editor interface: a JSON-RPC error answer; ``kind`` is a key of
    ``RPC_ERROR_CODES``, ``code`` its number."""

    def __init__(self, kind: str, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = RPC_ERROR_CODES[kind]
        self.message = message
        self.data = data


class RecordingError(FilebridgeError):
    """``filebridge.testing``: a file that is not a recording this version can read; the
    message says where."""


class WorkerFailed(FilebridgeError, AssertionError):
    """``filebridge.testing``: code sent to a worker raised, or the worker died; the message
    has its output (an AssertionError, so a test fails rather than errors)."""


class WaitTimeout(FilebridgeError, AssertionError):
    """``filebridge.testing``: a wait ran out of time; the message says what was awaited and
    what arrived (an AssertionError, so a test fails rather than errors)."""

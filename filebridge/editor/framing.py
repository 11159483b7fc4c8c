"""How JSON-RPC messages are cut out of a byte stream: one a line, or LSP's Content-Length."""

from __future__ import annotations

import os
import select
import threading
from typing import BinaryIO, Optional, Protocol

from filebridge.errors import FramingError

__all__ = ["FRAMINGS", "FramingError", "InterruptibleReader", "frame", "read_message"]

FRAMINGS = ("lines", "content-length")
MAX_MESSAGE = 64 << 20


def frame(body: bytes, framing: str) -> bytes:
    """``body`` (one JSON text without newlines) ready to write."""
    if framing == "lines":
        return body + b"\n"
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class Readable(Protocol):
    def readline(self, limit: int = -1, /) -> bytes: ...

    def read(self, size: int, /) -> bytes: ...


def read_message(stream: Readable | BinaryIO, framing: str) -> Optional[bytes]:
    """The next message's body, or None at the end of the stream."""
    if framing == "lines":
        while True:
            line = stream.readline(MAX_MESSAGE + 1)
            if not line:
                return None
            if len(line) > MAX_MESSAGE:
                raise FramingError(f"a message longer than {MAX_MESSAGE} bytes")
            if line.strip():
                return line.rstrip(b"\r\n")
    length: Optional[int] = None
    while True:
        header = stream.readline(8192)
        if not header:
            return None
        header = header.rstrip(b"\r\n")
        if not header:
            if length is None:
                continue  # blank lines between messages
            break
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FramingError(f"bad Content-Length header: {header!r}") from None
            if not 0 <= length <= MAX_MESSAGE:
                raise FramingError(f"Content-Length {length} is out of range")
    body = stream.read(length)
    if len(body) < length:
        return None
    return body


class InterruptibleReader:
    """``readline`` and ``read`` over a file descriptor that ``stop()`` ends at once.

    A thread blocked in a read of standard input cannot be woken, and one still blocked there
    when the interpreter exits makes the exit abort; this reader waits with ``select`` in short
    turns and returns end of input once stopped.
    """

    def __init__(self, fd: int, turn: float = 0.1) -> None:
        self.fd = fd
        self.turn = turn
        self._buffer = b""
        self._eof = False
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def _fill(self) -> bool:
        """Read what is there; False at the end of input or once stopped."""
        while not self._stopped.is_set():
            ready, _, _ = select.select([self.fd], [], [], self.turn)
            if ready:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    self._eof = True
                    return False
                self._buffer += chunk
                return True
        return False

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 or (0 <= limit <= len(self._buffer)) or self._eof:
                cut = end + 1 if end >= 0 else len(self._buffer)
                if limit >= 0:
                    cut = min(cut, limit)
                line, self._buffer = self._buffer[:cut], self._buffer[cut:]
                return line
            if not self._fill():
                line, self._buffer = self._buffer, b""
                return line if self._eof else b""

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size and self._fill():
            pass
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

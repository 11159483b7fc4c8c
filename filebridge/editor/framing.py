"""How JSON-RPC messages are cut out of a byte stream: one a line, or LSP's Content-Length."""

from __future__ import annotations

from typing import BinaryIO, Optional

__all__ = ["FRAMINGS", "FramingError", "frame", "read_message"]

FRAMINGS = ("lines", "content-length")
MAX_MESSAGE = 64 << 20


class FramingError(ValueError):
    """The stream cannot be read as messages any more (a header that makes no sense)."""


def frame(body: bytes, framing: str) -> bytes:
    """``body`` (one JSON text without newlines) ready to write."""
    if framing == "lines":
        return body + b"\n"
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: BinaryIO, framing: str) -> Optional[bytes]:
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

"""Reading complete lines from a request log, from a byte offset on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional

__all__ = ["LineReader", "LogLine"]

CHUNK = 1 << 20


class LogLine(NamedTuple):
    """A complete line at ``[start, end)`` of the log (``end`` past its newline).

    ``data`` is None when the line was longer than the limit; ``head`` then keeps its start,
    to find its id.
    """

    start: int
    end: int
    data: Optional[bytes]
    head: bytes = b""


class LineReader:
    """Hands out complete lines only; a fragment without its newline waits for the rest.

    A line longer than ``max_line`` is skipped as it streams past, never held in memory.
    """

    def __init__(self, path: Path, offset: int, max_line: int) -> None:
        self.path = path
        self.position = offset
        self.max_line = max_line
        self._fd: Optional[int] = None
        self._pending = bytearray()
        self._pending_start = offset
        self._skipping = False
        self._head = b""

    def _open(self) -> Optional[int]:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                return None
        return self._fd

    def read(self, max_bytes: int = 64 << 20) -> list[LogLine]:
        """The complete lines that arrived since the last call (at most about ``max_bytes``)."""
        fd = self._open()
        if fd is None:
            return []
        lines: list[LogLine] = []
        budget = max_bytes
        while budget > 0:
            wanted = min(CHUNK, budget)
            chunk = os.pread(fd, wanted, self.position)
            budget -= len(chunk)
            self._take(chunk, lines)
            if len(chunk) < wanted:
                break
        return lines

    def _take(self, chunk: bytes, lines: list[LogLine]) -> None:
        base = self.position
        self.position += len(chunk)
        cursor = 0
        while cursor < len(chunk):
            newline = chunk.find(b"\n", cursor)
            if newline < 0:
                self._keep(chunk[cursor:])
                return
            piece = chunk[cursor:newline]
            end = base + newline + 1
            if self._skipping:
                lines.append(LogLine(self._pending_start, end, None, self._head))
                self._skipping = False
            elif len(self._pending) + len(piece) > self.max_line:
                lines.append(LogLine(self._pending_start, end, None,
                                     bytes(self._pending[:4096]) or piece[:4096]))
            else:
                data = bytes(self._pending) + piece if self._pending else piece
                lines.append(LogLine(self._pending_start, end, data))
            self._pending.clear()
            self._pending_start = end
            cursor = newline + 1

    def _keep(self, fragment: bytes) -> None:
        if self._skipping:
            return
        self._pending += fragment
        if len(self._pending) > self.max_line:
            self._skipping = True
            self._head = bytes(self._pending[:4096])
            self._pending.clear()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

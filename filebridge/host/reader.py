"""Reading complete lines from a request log, from a byte offset on."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import NamedTuple, Optional

from filebridge.wire.files import file_size, fresh_reads, open_file, read_counter, read_from

__all__ = ["LineReader", "LogDamaged", "LogLine"]


class LogDamaged(OSError):
    """The log was truncated, replaced or deleted under the reader."""

CHUNK = 1 << 20
SIZE_LIMIT = 10**15  # a doorbell value above this is a clock reading, not a log size


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

    A line longer than ``max_line`` is skipped as it streams past, never held in memory. On a
    network filesystem every read opens the log afresh (a kept descriptor would not see the
    other machine's appends for the attribute cache's lifetime).
    """

    def __init__(self, path: Path, offset: int, max_line: int,
                 bell: Optional[Path] = None) -> None:
        """``bell``: the log's doorbell, rung with the log's size; on a network filesystem a
        look at it (cheap) saves opening the log (dear) when nothing was appended."""
        self.path = path
        self.bell = bell
        self.position = offset
        self.max_line = max_line
        self._fd: Optional[int] = None
        self._pending = bytearray()
        self._pending_start = offset
        self._skipping = False
        self._head = b""
        self._fresh = fresh_reads(path.parent)

    def read(self, max_bytes: int = 64 << 20, rung: bool = False) -> list[LogLine]:
        """The complete lines that arrived since the last call (at most about ``max_bytes``).

        Raises OSError when the log cannot be read (gone, unsafe, a dropped mount); the next
        call tries afresh. ``rung``: the doorbell was just seen to change.
        """
        lines: list[LogLine] = []
        if self._fresh and self.bell is not None and not rung:
            try:
                if int(read_counter(self.bell)) <= self.position:
                    return lines
            except ValueError:
                pass
        budget = max_bytes
        while budget > 0:
            wanted = min(CHUNK, budget)
            chunk = self._chunk(wanted)
            budget -= len(chunk)
            self._take(chunk, lines)
            if len(chunk) < wanted:
                break
        return lines

    def _chunk(self, size: int) -> bytes:
        if self._fresh:
            return read_from(self.path, self.position, size)
        if self._fd is None:
            self._fd = open_file(self.path, os.O_RDONLY)
        try:
            return os.pread(self._fd, size, self.position)
        except OSError:
            self.close()
            raise

    def behind(self) -> bool:
        """Whether the doorbell announces more than was read: on a network filesystem a fresh
        read can still lag a moment behind the bell (a bell rung with a time, not a size,
        says nothing)."""
        if not self._fresh or self.bell is None:
            return False
        try:
            announced = int(read_counter(self.bell))
        except ValueError:
            return False
        return self.position < announced < SIZE_LIMIT

    def check(self) -> None:
        """Raise OSError saying so when the log is now shorter than what was read, or another
        file took its place: its requests can no longer be told apart from the ones served."""
        if self._fresh or self._fd is None:
            size = file_size(self.path)
        else:
            kept = os.fstat(self._fd)
            try:
                now = os.stat(self.path, follow_symlinks=False)
            except FileNotFoundError:
                raise LogDamaged(errno.ENOENT, "request.log was deleted") from None
            if (now.st_ino, now.st_dev) != (kept.st_ino, kept.st_dev):
                raise LogDamaged(errno.EINVAL, "request.log was replaced by another file")
            size = kept.st_size
        if size < self.position:
            raise LogDamaged(errno.EINVAL, f"request.log is {size} bytes, shorter than the "
                          f"{self.position} already read: it was truncated or replaced")

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
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

"""Reading complete lines from a log, from a logical offset on: the one reader of both
directions (the host's of request.log, a worker's of response.log and command.log)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

from filebridge.wire.files import fresh_reads, read_counter
from filebridge.wire.logs import LogCursor

__all__ = ["LineReader", "LogLine"]

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
    other machine's appends for the attribute cache's lifetime). Offsets are logical: they go
    on growing across the log's generations.
    """

    def __init__(self, path: Path, offset: Optional[int], max_line: int,
                 bell: Optional[Path] = None, chunk: int = CHUNK) -> None:
        """``offset``: where to start (None: at the log's end now); raises OSError when the
        log cannot be opened (a dropped mount). ``bell``: the log's doorbell, rung with the
        log's size; on a network filesystem a look at it (cheap) saves opening the log (dear)
        when nothing was appended. ``chunk``: the most one read of the log asks for (on a
        network mount each read is an open and a round trip)."""
        self.path = path
        self.bell = bell
        self.max_line = max_line
        self.chunk = chunk
        self._cursor = LogCursor(path, offset)
        self.position = self._cursor.position
        self._pending = bytearray()
        self._pending_start = self.position
        self._skipping = False
        self._head = b""
        self._fresh = fresh_reads(path.parent)
        # The last read stopped at its byte budget, not at the log's end: more may be there now.
        self.budget_spent = False

    def read(self, max_bytes: int = 64 << 20, skip_bell: bool = False) -> list[LogLine]:
        """The complete lines that arrived since the last call (at most about ``max_bytes``).

        Raises OSError when the log cannot be read (gone, unsafe, a dropped mount); the next
        call tries afresh. ``skip_bell``: read the log without looking at the doorbell first
        (it was just seen to change, or the session is busy: one open instead of two).
        """
        lines: list[LogLine] = []
        self.budget_spent = False
        if self._fresh and self.bell is not None and not skip_bell:
            try:
                if int(read_counter(self.bell)) <= self.position:
                    return lines
            except ValueError:
                pass
        budget = max_bytes
        while budget > 0:
            wanted = min(self.chunk, budget)
            start, chunk = self._cursor.read(wanted)
            budget -= len(chunk)
            self._take(start, chunk, lines)
            if len(chunk) < wanted and not self._cursor.more:
                break
        else:
            self.budget_spent = True
        return lines

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

    def check(self) -> bool:
        """Raise LogDamaged (an OSError) saying so when the log is now shorter than what was
        read, or another file took its place: its requests can no longer be told apart from
        the ones served. False when nothing is left to read now, for sure."""
        return self._cursor.check()

    def end(self) -> int:
        """The log's logical end now."""
        return self._cursor.end()

    def _take(self, start: int, chunk: bytes, lines: list[LogLine]) -> None:
        if start != self.position:
            # The reader moved on to the next generation: a fragment cut at the end of the
            # last one is dropped (writers end their lines before they rotate).
            self._pending.clear()
            self._skipping = False
            self._pending_start = start
        base = start
        self.position = start + len(chunk)
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
        self._cursor.close()

"""The host's reading position in a session's request log, kept across crashes."""

from __future__ import annotations

import os
from pathlib import Path

from filebridge.wire.files import FILE_MODE

__all__ = ["Journal"]

_RECORD = b"%020d %020d\n"
_WIDTH = 42


class Journal:
    """``host.offset``: CLAIMED and DONE byte offsets, overwritten in place.

    CLAIMED moves before a request runs and DONE after it ran, so a restart tells a request that
    was in flight (CLAIMED > DONE) from one that finished, without fsync: a killed process's
    writes stay in the page cache.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        self.claimed, self.done = self._read()

    def _read(self) -> tuple[int, int]:
        raw = os.pread(self._fd, _WIDTH, 0)
        try:
            claimed, done = (int(part) for part in raw.split())
        except ValueError:
            return 0, 0
        return max(claimed, done), done

    def claim(self, end: int) -> None:
        self.claimed = end
        os.pwrite(self._fd, _RECORD % (end, self.done), 0)

    def finish(self, end: int) -> None:
        self.done = self.claimed = max(end, self.done)
        os.pwrite(self._fd, _RECORD % (self.done, self.done), 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

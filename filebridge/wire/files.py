"""The file primitives: atomic replace, the append-only log, and the doorbell.

Every write filebridge makes to a session folder goes through this module.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Optional

__all__ = ["AppendLog", "CounterReader", "Doorbell", "SoleWriterLog", "atomic_write",
           "read_counter"]

FILE_MODE = 0o600
COUNTER_WIDTH = 20

try:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def atomic_write(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a part.

    The temporary name carries pid and thread so concurrent writers never share one.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _PerProcessFd:
    """An fd opened lazily and again after fork, so that children never share file offsets."""

    def __init__(self, path: Path, flags: int) -> None:
        self.path = path
        self._flags = flags
        self._fd: Optional[int] = None
        self._pid = 0

    def get(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, self._flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


class AppendLog:
    """An append-only JSON Lines file that several processes and threads write at once.

    A POSIX record lock (which NFS honours, unlike a bare O_APPEND) keeps lines whole; a thread
    lock does the same between threads, since record locks belong to the process.
    """

    def __init__(self, path: Path) -> None:
        self._file = _PerProcessFd(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        self._threads = threading.Lock()
        self._our_end = -1
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._threads = threading.Lock()

    def append(self, line: bytes) -> int:
        """Append one complete line; return the size of the log after it."""
        with self._threads:
            fd = self._file.get()
            _lock(fd)
            try:
                size = os.fstat(fd).st_size
                # A writer killed mid-line left a fragment: end it so it cannot swallow this line.
                # Where the log still ends with our own last line, it ends with a newline.
                if size and size != self._our_end and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line
                _write_all(fd, line)
                self._our_end = size + len(line)
                return self._our_end
            finally:
                _unlock(fd)

    def close(self) -> None:
        self._file.close()


class SoleWriterLog:
    """An append-only log with one writer (the host's answer log): no lock per line.

    A fragment left by a killed predecessor is ended once, at open.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT
                           | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        size = os.fstat(self._fd).st_size
        self._size = size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            self.append(b"\n")

    def append(self, line: bytes) -> int:
        _write_all(self._fd, line)
        self._size += len(line)
        return self._size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Doorbell:
    """A wake-up signal: 20 digits overwritten in place.

    Rewriting in place costs about 2 us and never shows readers an empty file; truncate and
    write costs about 150 us on ext4 (ANCHORS.md).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = _PerProcessFd(path, os.O_RDWR | os.O_CREAT)

    def ring(self, value: Optional[int] = None) -> None:
        if value is None:
            value = time.time_ns()
        os.pwrite(self._file.get(), b"%020d" % value, 0)

    def close(self) -> None:
        self._file.close()


class CounterReader:
    """Reads a doorbell or heartbeat through a kept descriptor: one pread per look."""

    def __init__(self, path: Path) -> None:
        self._file = _PerProcessFd(path, os.O_RDONLY)

    def read(self) -> bytes:
        try:
            return os.pread(self._file.get(), COUNTER_WIDTH, 0)
        except OSError:
            self._file.close()
            return b""

    def close(self) -> None:
        self._file.close()


def read_counter(path: Path) -> bytes:
    """The doorbell's or heartbeat's current content (empty when missing)."""
    try:
        with open(path, "rb") as f:
            return f.read(COUNTER_WIDTH)
    except OSError:
        return b""

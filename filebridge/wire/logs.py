"""Append-only logs and their generations (docs/protocol.md, "Log generations").

A log only grows, so once it passes a size limit its writer retires it: the file gets a second
name, ``<name>.<generation>``, and a fresh file takes ``<name>``, starting with a header line
that gives its generation number and its *base*, the logical offset of its first byte.
Offsets are logical across generations (``base`` plus the offset in the file), so a reader's
position, and the host's journal, only ever grow. Readers follow the generations with a
``LogCursor``; when a writer retires a generation it removes the older retired ones its
reader no longer needs, which is how the space comes back.
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from filebridge.errors import LogDamaged
from filebridge.wire import faults
from filebridge.wire.files import (
    KeptFile,
    atomic_write,
    entry_identity,
    fresh_reads,
    lock_fd,
    look_fresh,
    open_file,
    publish_by_close,
    read_at,
    read_file,
    refresh_size,
    remove_file,
    retire_file,
    unlock_fd,
    write_all,
)
from filebridge.wire.journal_record import RECORD_WIDTH, decode_record

__all__ = ["DEFAULT_ROTATE_AT", "AppendLog", "LogCursor", "SoleWriterLog",
           "log_end", "log_start", "read_by_host", "retired_path", "rotation_for", "rotation_limit"]

DEFAULT_ROTATE_AT = 64 << 20
# Retired generations a writer keeps for a reader that has not read them (the host of a request
# log that is not running): beyond this many, the oldest go, and that reader is told.
MAX_RETIRED = 8
# How long a reader waits for a next generation it cannot see before it calls it lost.
UNSEEN_GRACE = 2.0
# A reader that opens the log afresh at every look reads the header (which generation the
# name holds) only when the log's size changed, while it read the header this recently: a
# same-sized file of a later generation in its place waits at most this long to be seen.
HEADER_TRUST = 1.0
_HEADER = re.compile(rb'\{"log_generation":(\d{1,12}),"base":(\d{1,20})\}\n')
_HEADER_MAX = 64


def _header(generation: int, base: int) -> bytes:
    return b'{"log_generation":%d,"base":%d}\n' % (generation, base)


def _parse_header(first: bytes) -> tuple[int, int, int]:
    """(generation, base, header length) of a file starting with ``first``; a file without a
    header is generation 0, based at 0."""
    found = _HEADER.match(first)
    if found is None:
        return 0, 0, 0
    return int(found.group(1)), int(found.group(2)), found.end()


def retired_path(path: Path, generation: int) -> Path:
    return path.with_name(f"{path.name}.{generation}")


def rotation_limit() -> Optional[int]:
    """The size at which writers retire a log: FILEBRIDGE_ROTATE_AT bytes (0: never)."""
    raw = os.environ.get("FILEBRIDGE_ROTATE_AT", "").strip()
    try:
        limit = int(raw) if raw else DEFAULT_ROTATE_AT
    except ValueError:
        limit = DEFAULT_ROTATE_AT
    return limit if limit > 0 else None


def rotation_for(session_info: dict[str, object]) -> Optional[int]:
    """The size at which a writer retires a log of the session described by ``session_info``
    (its session.json): logs are rotated only where the worker said its readers follow
    generations."""
    return rotation_limit() if session_info.get("log_generations") == 1 else None


def read_by_host(journal: Path) -> Callable[[], int]:
    """How much of a request log its host no longer needs: up to the position its journal
    (``journal``, the session's host.offset) says it finished (0 when that is unreadable)."""

    def released() -> int:
        try:
            record = decode_record(read_file(journal, RECORD_WIDTH + 1))
        except OSError:
            return 0
        return record[1] if record else 0

    return released


def _retire(path: Path, fd: int, size: int, released: Optional[int]) -> None:
    """Retire the generation open as ``fd`` (``size`` bytes) and start the next one at ``path``;
    then remove the older retired generations that lie wholly below ``released`` (None: all
    of them). The caller holds the log's lock, or is its only writer."""
    generation, base, _ = _parse_header(os.pread(fd, _HEADER_MAX, 0))
    if size and os.pread(fd, 1, size - 1) != b"\n":
        write_all(fd, b"\n")  # a killed writer's fragment must not run into the next file
        size += 1
    retire_file(path, retired_path(path, generation).name)
    atomic_write(path, _header(generation + 1, base + size))
    end = base  # of the generation before the one just retired
    for older in range(generation - 1, -1, -1):
        older_path = retired_path(path, older)
        try:
            older_fd = open_file(older_path, os.O_RDONLY)
        except FileNotFoundError:
            return  # the ones before it went earlier
        try:
            older_base = _base_of(older_fd)
        finally:
            os.close(older_fd)
        if released is None or end <= released or generation - older >= MAX_RETIRED:
            remove_file(older_path)
        end = older_base


def _no_readahead(fd: int) -> None:
    """Reads of ``fd`` fetch only the bytes asked for. A FUSE mount drops a file's pages at
    each open, and the read of a log's header would otherwise fetch the whole log from its
    start, again at every look."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    except (AttributeError, OSError):
        pass


def _fetch_soon(fd: int, offset: int, length: int) -> None:
    """Start fetching ``length`` bytes at ``offset`` without waiting for them: two ranges
    asked for so travel to a mount's server together, one round trip instead of two."""
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
    except (AttributeError, OSError):
        pass


def _base_of(fd: int) -> int:
    return _parse_header(os.pread(fd, _HEADER_MAX, 0))[1]


def log_end(path: Path) -> int:
    """The logical end of the log ``path`` now (0 when it does not exist)."""
    return look_fresh(path, lambda fd: _base_of(fd) + os.fstat(fd).st_size, 0)


def log_start(path: Path) -> int:
    """The logical offset of the first byte still kept: the start of the one retired
    generation when it is there, else of the current one."""
    try:
        fd = open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        generation, base, length = _parse_header(os.pread(fd, _HEADER_MAX, 0))
    finally:
        os.close(fd)
    if generation == 0:
        return 0
    try:
        fd = open_file(retired_path(path, generation - 1), os.O_RDONLY)
    except FileNotFoundError:
        return base + length
    try:
        _, older_base, older_length = _parse_header(os.pread(fd, _HEADER_MAX, 0))
    finally:
        os.close(fd)
    return older_base + older_length


class _Moved(Exception):
    """The descriptor's file is no longer the log's current generation."""


class AppendLog:
    """An append-only JSON Lines file that several processes and threads write at once.

    A POSIX record lock keeps lines whole between processes of one machine and across NFS (its
    lock manager serialises clients, and unlocking sends the data); a thread lock does the same
    between threads, since record locks belong to the process. Across an sshfs mount record
    locks do not reach the other side, but an append of one SFTP write is atomic on the
    server: writers keep lines under ``MAX_LINE`` (docs/protocol.md, "Large requests").

    ``rotate_at``: the size at which this writer retires the file (None: never); every writer,
    rotating or not, checks under the lock that its descriptor is still the current file.
    ``released``: how far the log's one reader has read (``read_by_host``); retired generations
    below it are removed. Without it, one retired generation is kept for readers behind.
    """

    MAX_LINE = 16 << 10
    # Where sizes are dear (a network mount), the size is looked at after this many bytes.
    _SIZE_EVERY = 1 << 20

    def __init__(self, path: Path, rotate_at: Optional[int] = None,
                 released: Optional[Callable[[], int]] = None) -> None:
        self.path = Path(path)
        self.rotate_at = rotate_at
        self._released = released
        self._file = KeptFile(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        self._fresh = fresh_reads(self.path.parent)
        self._threads = threading.Lock()
        self._our_end = -1
        self._base: tuple[int, int] = (-1, 0)  # (inode, base) of the file last written
        self._unmeasured = 0
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._threads = threading.Lock()

    def append(self, line: bytes) -> int:
        """Append one complete line; return the log's logical end after it (where sizes are
        dear, on a network filesystem, a number that differs from the last one)."""
        with self._threads:
            for _ in range(1000):
                try:
                    return self._file.run(lambda fd: self._append(fd, line))
                except _Moved:
                    self._file.close()
                    self._our_end = -1
                    self._base = (-1, 0)  # the next file may reuse the last one's inode
            raise OSError(errno.EAGAIN, f"{self.path} keeps being replaced")

    def _append(self, fd: int, line: bytes) -> int:
        lock_fd(fd)
        try:
            self._check_current()
            if faults.ARMED: line = faults.on_write(self.path, fd, line)  # noqa: E701
            if self._fresh:
                self._rotate_when_full(fd, None, len(line) + 1)
                # Sizes are dear to learn here (a round trip): a leading newline ends whatever
                # fragment a killed writer left, and readers skip the blank line it may make.
                write_all(fd, b"\n" + line)
                return time.time_ns()
            size = os.fstat(fd).st_size
            self._rotate_when_full(fd, size, len(line))
            # A writer killed mid-line left a fragment: end it so it cannot swallow this line.
            # Where the log still ends with our own last line, it ends with a newline.
            if size and size != self._our_end and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            write_all(fd, line)
            self._our_end = size + len(line)
            return self._logical_base(fd, self._file.identity()[1]) + self._our_end
        finally:
            unlock_fd(fd)

    def _check_current(self) -> None:
        """Raise _Moved unless the descriptor's file still has the log's name."""
        for _ in range(200):
            now = entry_identity(self.path)
            if now is not None:
                if now != self._file.identity():
                    raise _Moved
                return
            time.sleep(0.005)  # between the two steps of a rotation by rename
        raise _Moved  # the log was removed: the next open creates it

    def _rotate_when_full(self, fd: int, size: Optional[int], adding: int) -> None:
        if self.rotate_at is None:
            return
        if size is None:
            self._unmeasured += adding
            if self._unmeasured < min(self._SIZE_EVERY, self.rotate_at):
                return
            self._unmeasured = 0
            refresh_size(fd)
            size = os.fstat(fd).st_size
        if size >= self.rotate_at:
            _retire(self.path, fd, size, self._released() if self._released else None)
            raise _Moved

    def _logical_base(self, fd: int, inode: int) -> int:
        if self._base[0] != inode:
            self._base = (inode, _base_of(fd))
        return self._base[1]

    def close(self) -> None:
        self._file.close()


class SoleWriterLog:
    """An append-only log with one writer (the host's answer log): no lock per line.

    A fragment left by a killed predecessor is ended once, at open. On a network filesystem the
    descriptor is closed after every append, which is what makes the data visible to a reader
    on another machine (close-to-open consistency).
    """

    def __init__(self, path: Path, rotate_at: Optional[int] = None) -> None:
        self.path = Path(path)
        self.rotate_at = rotate_at
        self._file = KeptFile(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        self._publish = publish_by_close(self.path.parent)
        self._size, self._base = self._file.run(self._end_fragment)
        if self._publish:
            self._file.close()

    def _end_fragment(self, fd: int) -> tuple[int, int]:
        refresh_size(fd)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            write_all(fd, b"\n")
            size += 1
        return size, _base_of(fd)

    def append(self, line: bytes) -> int:
        """Append one line; return the log's logical end after it."""
        if faults.ARMED: line = faults.on_write(self.path, None, line)  # noqa: E701
        if self.rotate_at is not None and self._size >= self.rotate_at:
            self._file.run(lambda fd: _retire(self.path, fd, self._size, None))
            self._file.close()
            self._size, self._base = self._file.run(self._end_fragment)
        self._file.run(lambda fd: write_all(fd, line))
        self._size += len(line)
        if self._publish:
            self._file.close()
        return self._base + self._size

    def close(self) -> None:
        self._file.close()


class LogCursor:
    """Reads a log from a logical position on, following its generations.

    Where the filesystem can be trusted a descriptor is kept, and the file it reads is known to
    be retired when the log's name points elsewhere; on a network mount every look opens the
    log afresh and reads its header to learn which generation the name holds now.
    """

    def __init__(self, path: Path, position: Optional[int] = None, *,
                 unseen_grace: float = UNSEEN_GRACE, header_trust: float = HEADER_TRUST) -> None:
        """``position``: where to start (None: at the log's end now); ``unseen_grace`` and
        ``header_trust``: as UNSEEN_GRACE and HEADER_TRUST say."""
        self.path = Path(path)
        self.unseen_grace = unseen_grace
        self.header_trust = header_trust
        self._fresh = fresh_reads(self.path.parent)
        self._fd: Optional[int] = None
        self._retired = False
        self._missing = False
        self._unseen_since = 0.0
        self._header_seen = 0.0
        self.more = False
        generation, base, length, size = self._current()
        if position is None:
            position = base + max(size, length)
        self.position = position
        self.generation, self.base = generation, base
        while self.position < self.base:
            length = self._step_back()
        self.position = max(self.position, self.base + length)
        if not self._fresh:
            # Held from now on, the file outlives its removal: a reader that keeps a
            # descriptor never loses a generation, however far behind it falls.
            self._fd = self._open_generation(self.generation)

    def _current(self) -> tuple[int, int, int, int]:
        """(generation, base, header length, size) of the file that has the log's name."""
        return look_fresh(self.path, lambda fd: (
            *_parse_header(os.pread(fd, _HEADER_MAX, 0)), os.fstat(fd).st_size), (0, 0, 0, 0))

    def _step_back(self) -> int:
        """Move to the generation before; return its header's length."""
        if self.generation == 0:
            raise LogDamaged(errno.EINVAL, f"{self.path.name}: position {self.position} is "
                             "before the log's first byte")
        older = retired_path(self.path, self.generation - 1)
        try:
            fd = open_file(older, os.O_RDONLY)
        except FileNotFoundError:
            raise self._lost(None) from None
        try:
            generation, base, length = _parse_header(os.pread(fd, _HEADER_MAX, 0))
        finally:
            os.close(fd)
        self.generation, self.base = generation, base
        return length

    def _lost(self, generation: Optional[int]) -> LogDamaged:
        which = f"generation {generation}" if generation is not None else "its generation"
        return LogDamaged(errno.ENOENT, f"{self.path.name}: byte {self.position} is in {which}, "
                          "which was rotated away before it was read (or deleted)")

    def read(self, limit: int) -> tuple[int, bytes]:
        """(start, data): up to ``limit`` bytes from the position on, and the logical offset
        they start at. ``start`` is past the position when the reader moved on to the next
        generation (its header is skipped): a line cut at a generation's end does not go on
        in the next one. Less than ``limit`` bytes means nothing more is there now, unless
        ``more`` says the data reached the end of a generation: the next one may have more."""
        self.more = False
        for _ in range(64):
            start = self.position
            data, finished = self._read_generation(limit)
            if data:
                self.position += len(data)
                self.more = finished
                return start, data
            if not finished or not self._next_generation():
                return start, b""
        return self.position, b""

    def _read_generation(self, limit: int) -> tuple[bytes, bool]:
        """Bytes of the reader's generation, and whether that generation is finished with
        them (read to the end of a retired file)."""
        if self._fresh:
            return self._read_fresh(limit)
        if self._fd is None:
            self._fd = self._open_generation(self.generation)
        try:
            data = read_at(self._fd, self.position - self.base, limit)
            if data or self._retired:
                return data, self._retired and len(data) < limit
            if self._still_named(self._fd):
                return b"", False
            self._retired = True  # nothing more will be written to it: read what is left
            data = read_at(self._fd, self.position - self.base, limit)
            return data, len(data) < limit
        except OSError:
            self.close()
            raise

    def _still_named(self, fd: int) -> bool:
        now = entry_identity(self.path)
        kept = os.fstat(fd)
        return now == (kept.st_dev, kept.st_ino)

    def _read_fresh(self, limit: int) -> tuple[bytes, bool]:
        try:
            fd = open_file(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b"", False  # a writer between the two steps of a rotation; check() judges
        try:
            refresh_size(fd)
            now = time.monotonic()
            size, offset = os.fstat(fd).st_size, self.position - self.base
            if size == offset and now - self._header_seen < self.header_trust:
                return b"", False
            _no_readahead(fd)
            if size > offset:  # the header and the new bytes are fetched at the same time
                _fetch_soon(fd, offset, min(size - offset, limit))
                _fetch_soon(fd, 0, _HEADER_MAX)
            generation, _, _ = _parse_header(os.pread(fd, _HEADER_MAX, 0))
            if generation == self.generation:
                self._header_seen = now
                return read_at(fd, self.position - self.base, limit), False
        finally:
            os.close(fd)
        if generation < self.generation:
            raise LogDamaged(errno.EINVAL, f"{self.path.name} was replaced by an older file")
        try:
            fd = open_file(retired_path(self.path, self.generation), os.O_RDONLY)
        except FileNotFoundError:
            return b"", True  # removed once read: the next generation says whether it all was
        try:
            refresh_size(fd)
            _no_readahead(fd)
            data = read_at(fd, self.position - self.base, limit)
        finally:
            os.close(fd)
        return data, len(data) < limit

    def _open_generation(self, generation: int) -> int:
        """A descriptor of ``generation``'s file: its retired name, else the log's name."""
        for path in (retired_path(self.path, generation), self.path):
            try:
                fd = open_file(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            found, _, _ = _parse_header(os.pread(fd, _HEADER_MAX, 0))
            if found == generation:
                self._retired = path != self.path
                return fd
            os.close(fd)
        raise self._lost(generation)

    def _next_generation(self) -> bool:
        """Move on to the next generation; False when its file is not there yet (a writer is
        between the two steps of a rotation: the log's name is missing a moment)."""
        try:
            fd = self._open_generation(self.generation + 1)
        except LogDamaged:
            # The log's name missing is a rotation in progress; a next generation not seen
            # is taken for lost only once it stays unseen (a mount may show a new name late).
            now = time.monotonic()
            if self._unseen_since == 0.0:
                self._unseen_since = now
            if entry_identity(self.path) is None or now - self._unseen_since < self.unseen_grace:
                return False
            raise
        self._unseen_since = 0.0
        retired = self._retired
        self.close()
        self._retired = retired
        try:
            generation, base, length = _parse_header(os.pread(fd, _HEADER_MAX, 0))
        finally:
            if self._fresh:
                os.close(fd)
            else:
                self._fd = fd
        if base < self.position:
            raise LogDamaged(errno.EINVAL, f"{self.path.name}: generation {generation} starts "
                             f"at {base}, before the {self.position} bytes already read")
        if base > self.position:
            raise self._lost(generation - 1)
        self.generation, self.base = generation, base
        self.position = base + length
        return True

    def end(self) -> int:
        """The log's logical end now."""
        _, base, length, size = self._current()
        return base + max(size, length)

    def check(self) -> bool:
        """Raise LogDamaged when the log is now shorter than what was read, or an older or
        foreign file took its name, or its name stayed missing since the last check (missing
        once may be a rotation in progress). Returns False when it is sure nothing is left
        to read now (the file this reader holds still has the name, read to its end)."""
        named = entry_identity(self.path)
        if named is None:
            if self._missing:
                raise LogDamaged(errno.ENOENT, f"{self.path.name} was deleted")
            self._missing = True
            return True
        self._missing = False
        if not self._fresh and self._fd is not None and not self._retired:
            kept = os.fstat(self._fd)
            if named == (kept.st_dev, kept.st_ino):  # still the file this reader holds
                self._check_size(self.base + kept.st_size)
                return self.base + kept.st_size != self.position
        generation, base, _, size = self._current()
        if generation < self.generation:
            raise LogDamaged(errno.EINVAL, f"{self.path.name} was replaced by another file "
                             f"(generation {generation}, after {self.generation})")
        if generation == self.generation:
            if not self._fresh and self._fd is not None and not self._retired:
                # another file of the same generation under the name this reader holds
                raise LogDamaged(errno.EINVAL, f"{self.path.name} was replaced by another file")
            self._check_size(base + size)
        return True

    def _check_size(self, end: int) -> None:
        if end < self.position:
            raise LogDamaged(errno.EINVAL, f"{self.path.name} is {end} bytes, shorter than "
                             f"the {self.position} already read: it was truncated or replaced")

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        self._retired = False


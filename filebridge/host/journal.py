"""The host's reading position in a session's request log, kept across crashes.

The position lives in the session folder (``host.offset``), which the worker can write, so it
defends itself: each record carries a checksum, and the host keeps a copy of every position it
reached in a folder of its own (``<root>/host-state/``). A damaged record, or one behind what
the host knows it reached, is never trusted: the session is refused with the reason until
``filebridge recover`` says where to resume. Old requests are never replayed silently.
"""

from __future__ import annotations

import os
from pathlib import Path

from filebridge.errors import JournalDamaged
from filebridge.wire.files import KeptFile, atomic_write, fresh_reads, read_file
from filebridge.wire.journal_record import RECORD_WIDTH, decode_record, encode_record

__all__ = ["Journal", "recover"]


class Journal:
    """``host.offset``: CLAIMED and DONE byte offsets and a checksum, overwritten in place.

    CLAIMED moves before a request runs and DONE after it ran, so a restart tells a request that
    was in flight (CLAIMED > DONE) from one that finished, without fsync: a killed process's
    writes stay in the page cache.
    """

    def __init__(self, path: Path, mirror: Path, log_size: int) -> None:
        self.path = path
        self.mirror = mirror
        self._file = KeptFile(path, os.O_RDWR | os.O_CREAT)
        self.claimed, self.done = self._start(log_size)
        self._mirrored = self.done
        self._unwritten = False
        self.lazy = fresh_reads(path.parent)

    def _start(self, log_size: int) -> tuple[int, int]:
        raw = self._file.run(lambda fd: os.pread(fd, RECORD_WIDTH + 1, 0))
        known = self._mirrored_position()
        if not raw:
            if known:
                raise JournalDamaged(
                    "host.offset is missing but this host served the session before "
                    f"(up to byte {known}); run `filebridge recover` to resume")
            return 0, 0
        record = decode_record(raw)
        if record is None:
            raise JournalDamaged("host.offset is damaged (its checksum does not match); "
                                 "run `filebridge recover` to choose where to resume")
        claimed, done = record
        if done < known:
            raise JournalDamaged(
                f"host.offset says byte {done} but this host had served up to byte {known}: "
                "an old copy was put back; run `filebridge recover` to resume")
        if claimed > log_size:
            raise JournalDamaged(
                f"request.log is {log_size} bytes, shorter than the {claimed} the host "
                "already read: it was truncated or replaced; run `filebridge recover`")
        return claimed, done

    def _mirrored_position(self) -> int:
        try:
            record = decode_record(read_file(self.mirror, RECORD_WIDTH + 1))
        except OSError:
            return 0
        return record[1] if record else 0

    def claim(self, end: int) -> None:
        self.claimed = end
        self._write(encode_record(end, self.done))

    def finish(self, end: int, *, lazily: bool = False) -> None:
        """DONE moves to ``end``. ``lazily``: the request was idempotent, so losing this
        record to a crash only runs it again; it is written with the next claim or ``flush``
        (a write saved on every call where each write is a network round trip)."""
        self.done = self.claimed = max(end, self.done)
        if lazily:
            self._unwritten = True
            return
        self._write(encode_record(self.done, self.done))

    def flush(self) -> None:
        if self._unwritten:
            self._write(encode_record(self.done, self.done))

    def _write(self, record: bytes) -> None:
        self._file.run(lambda fd: os.pwrite(fd, record, 0))
        self._unwritten = False

    def save_mirror(self) -> None:
        """Copy the position to the host's own folder (each tick, and when it stops)."""
        self.flush()
        if self.done != self._mirrored:
            atomic_write(self.mirror, encode_record(self.done, self.done))
            self._mirrored = self.done

    def close(self) -> None:
        try:
            self.save_mirror()
        except OSError:
            pass
        self._file.close()


def recover(path: Path, mirror: Path, position: int) -> None:
    """Make the host resume a session at byte ``position`` of its request log."""
    record = encode_record(position, position)
    atomic_write(path, record)
    atomic_write(mirror, record)

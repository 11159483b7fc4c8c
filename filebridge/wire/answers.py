"""How answers travel: a file per answer, or one answer log; the reading and writing ends.

``AnswerFiles``: the answerer renames ``<id>.json`` into a folder; simple to implement in any
language. ``AnswerLog``: the answerer appends a line to one log and rings its doorbell; an append
costs microseconds where creating and renaming a file costs about a hundred, so the Python
worker asks for it (``"answers": "log"`` in session.json).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional

from filebridge.wire.deferred import defer
from filebridge.wire.files import (
    Doorbell,
    atomic_write,
    file_exists,
    file_size,
    fresh_reads,
    read_file,
    read_from,
    remove_file,
)
from filebridge.wire.logs import LogCursor, SoleWriterLog
from filebridge.wire.messages import Answer, decode_answer
from filebridge.wire.waiting import Waiter

__all__ = ["AnswerFiles", "AnswerLog", "FileOutbox", "Inbox", "LogOutbox", "Outbox",
           "outbox_for"]


class Inbox(ABC):
    @abstractmethod
    def watch_with(self, waiter: Waiter) -> None:
        """Point ``waiter`` at what changes when an answer arrives."""

    def expect(self, request_id: str) -> None:
        """Called before the request is posted, so its answer cannot slip past."""

    @abstractmethod
    def take(self, request_id: str) -> Optional[Answer]:
        """The answer when it has arrived (removing it), else None."""

    def forget(self, request_id: str) -> None:
        """The caller gave up waiting."""

    def close(self) -> None: ...


MAX_ANSWER_BYTES = 64 << 20


class AnswerFiles(Inbox):
    """Answers as files: looked up by name, which every filesystem shows at once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._remove_later = fresh_reads(folder)

    def watch_with(self, waiter: Waiter) -> None:
        waiter.watch(self.folder, renames_only=True)

    def take(self, request_id: str) -> Optional[Answer]:
        path = self.folder / f"{request_id}.json"
        try:
            data = read_file(path, MAX_ANSWER_BYTES)
        except FileNotFoundError:
            return None
        if self._remove_later:
            defer(lambda: remove_file(path))  # a round trip on a mount: not the caller's
        else:
            remove_file(path)
        return decode_answer(data)


class AnswerLog(Inbox):
    """Reads the answer log from where this process started, keeping answers it waits for.

    Every process reads the whole log once; answers for requests it did not send are skipped
    by looking at their id, without parsing them. On a network filesystem each look opens the
    log afresh (not the doorbell first: that would be two opens where one does) and reads only
    when its size moved (``LogCursor``).
    """

    def __init__(self, log: Path, bell: Path) -> None:
        self.log = log
        self.bell = bell
        self._lock = threading.Lock()
        self._cursor = self._start()
        self._partial = b""
        self._waiting: set[str] = set()
        self._arrived: dict[str, Answer] = {}

    def _start(self, position: Optional[int] = None) -> Optional[LogCursor]:
        try:
            return LogCursor(self.log, position)
        except OSError:
            return None  # a dropped mount: the next look starts at the log's end

    def watch_with(self, waiter: Waiter) -> None:
        waiter.watch(self.bell)

    def expect(self, request_id: str) -> None:
        with self._lock:
            self._waiting.add(request_id)

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._waiting.discard(request_id)
            self._arrived.pop(request_id, None)

    def take(self, request_id: str) -> Optional[Answer]:
        with self._lock:
            if request_id not in self._arrived:
                self._collect()
            answer = self._arrived.pop(request_id, None)
            if answer is not None:
                self._waiting.discard(request_id)
            return answer

    _READ = 1 << 22

    def _more(self) -> tuple[int, bytes, bool]:
        """(start, data, whether more may be there now)."""
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = LogCursor(self.log)
        start, data = cursor.read(self._READ)
        return start, data, len(data) == self._READ or cursor.more

    def _collect(self) -> None:
        more = True
        while more:
            position = self._cursor.position if self._cursor else -1
            # A read that came back short reached the end: on a mount, reading again to make
            # sure would be one more open, a round trip to the server.
            start, data, more = self._more()
            if not data:
                return
            if start != position:
                self._partial = b""  # a new generation: a cut line does not go on
            *lines, self._partial = (self._partial + data).split(b"\n")
            wanted = [rid.encode() for rid in self._waiting]
            for line in lines:
                # Answers to other processes' requests are skipped unparsed.
                if any(rid in line for rid in wanted):
                    answer = decode_answer(line)
                    if answer.id in self._waiting:
                        self._arrived[answer.id] = answer

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()


class Outbox(ABC):
    """The answering end."""

    @abstractmethod
    def deliver(self, answer: Answer) -> None: ...

    @abstractmethod
    def delivered(self, request_id: str) -> bool:
        """Whether an answer to ``request_id`` was written (checked after a crash)."""

    def close(self) -> None: ...


class FileOutbox(Outbox):
    def __init__(self, folder: Path, bell: Path) -> None:
        self.folder = folder
        self._bell = Doorbell(bell)

    def deliver(self, answer: Answer) -> None:
        atomic_write(self.folder / f"{answer.id}.json", answer.encode())
        self._bell.ring()

    def delivered(self, request_id: str) -> bool:
        return file_exists(self.folder / f"{request_id}.json")

    def close(self) -> None:
        self._bell.close()


class LogOutbox(Outbox):
    """Only the host answers through a session's response.log."""

    _TAIL = 1 << 22

    def __init__(self, log: Path, bell: Path, rotate_at: Optional[int] = None) -> None:
        self.log_path = log
        self._log = SoleWriterLog(log, rotate_at)
        self._bell = Doorbell(bell)

    def deliver(self, answer: Answer) -> None:
        self._bell.ring(self._log.append(answer.encode() + b"\n"))

    def delivered(self, request_id: str) -> bool:
        try:
            tail = max(0, file_size(self.log_path) - self._TAIL)
            return request_id.encode() in read_from(self.log_path, tail, self._TAIL)
        except OSError:
            return False

    def close(self) -> None:
        self._log.close()
        self._bell.close()


def outbox_for(mode: object, folder: Path, log: Path, bell: Path,
               rotate_at: Optional[int] = None) -> Outbox:
    """The outbox a session asked for in session.json's "answers" (files unless "log")."""
    return LogOutbox(log, bell, rotate_at) if mode == "log" else FileOutbox(folder, bell)

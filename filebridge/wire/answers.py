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
from filebridge.wire.log_reader import LineReader
from filebridge.wire.logs import SoleWriterLog
from filebridge.wire.messages import Answer, decode_answer, salvage_id
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
    when its size moved (``LogCursor``, through the ``LineReader`` both directions share).
    """

    _CHUNK = 1 << 22

    def __init__(self, log: Path, bell: Path, max_line: int = MAX_ANSWER_BYTES) -> None:
        """``max_line``: a longer answer is taken as a ``too_large`` error, never held."""
        self.log = log
        self.bell = bell
        self.max_line = max_line
        self._lock = threading.Lock()
        self._reader = self._start()
        self._waiting: set[str] = set()
        self._arrived: dict[str, Answer] = {}

    def _start(self) -> Optional[LineReader]:
        try:
            return LineReader(self.log, None, self.max_line, chunk=self._CHUNK)
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

    def _collect(self) -> None:
        reader = self._reader
        if reader is None:
            reader = self._reader = LineReader(self.log, None, self.max_line,
                                               chunk=self._CHUNK)
        wanted = [rid.encode() for rid in self._waiting]
        for line in reader.read(1 << 62):
            # Answers to other processes' requests are skipped unparsed.
            text = line.head if line.data is None else line.data
            if not any(rid in text for rid in wanted):
                continue
            if line.data is not None:
                answer = decode_answer(line.data)
            else:
                rid = salvage_id(line.head) or ""
                answer = Answer(rid, False, error_code="too_large",
                                error_message=f"the answer of {line.end - line.start} bytes "
                                f"is over the limit of {self.max_line}")
            if answer.id in self._waiting:
                self._arrived[answer.id] = answer

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


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

"""A session's journal as a file: every request, its answer and its timing, to replay later.

A recording is JSON Lines. The first line describes it::

    {"format": "filebridge-recording", "version": 1, "session": "abc", "info": {...},
     "recorded": 1765000000.0, "source": "host" | "folder"}

and each next line is one request the worker made, in the order the host finished them::

    {"t": 0.0132, "id": "...", "command": "echo", "args": {...}, "answer": true,
     "outcome": {"ok": true, "result": ...} | {"ok": false, "error": {...}} | null,
     "answered_after": 0.0004}

``t`` is seconds since the session's first request. ``outcome`` is what the host answered,
also for requests that wanted no answer (the worker never saw it), or null when not known;
``answered_after`` is null when the time is not known. ``files`` (only where there are some)
carries the files under the session folder that the request named by ``<key>_in_session``,
base64-encoded, so a table or page written into the session folder travels with it.

Three ways to make one: ``LiveRecorder`` on a host (``filebridge serve --record DIR``) writes
each session's file as its requests finish; ``from_session_log`` saves what a test's
``SessionLog`` saw; ``from_session_folder`` (``filebridge record``) reads the session folder's
own logs, where answers that travelled as files (the R worker's) are gone once read.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Optional

from filebridge.errors import (
    FilebridgeError,
    RecordingError,
)
from filebridge.host import Host, HostEvent
from filebridge.wire.codec import dumps, loads
from filebridge.wire.layout import SessionLayout, make_private_dir
from filebridge.wire.messages import Answer, BadRequest, Request, decode_answer, decode_request

__all__ = ["FORMAT", "LiveRecorder", "RecordedRequest", "Recording", "RecordingError",
           "from_session_folder", "from_session_log", "outcome_of"]

FORMAT = "filebridge-recording"
VERSION = 1
MAX_FILES_BYTES = 64 << 20  # session files carried by one request, at most


def outcome_of(answer: Optional[Answer]) -> Optional[dict[str, Any]]:
    if answer is None:
        return None
    if answer.ok:
        return {"ok": True, "result": answer.result}
    error: dict[str, Any] = {"code": answer.error_code, "message": answer.error_message}
    if answer.error_details is not None:
        error["details"] = answer.error_details
    return {"ok": False, "error": error}


@dataclass
class RecordedRequest:
    t: float
    id: str
    command: str
    args: dict[str, Any]
    answer: bool
    outcome: Optional[dict[str, Any]] = None
    answered_after: Optional[float] = None
    files: dict[str, str] = field(default_factory=dict)  # session-relative path -> base64

    def as_json(self) -> dict[str, Any]:
        data = {"t": round(self.t, 6), "id": self.id, "command": self.command,
                "args": self.args, "answer": self.answer, "outcome": self.outcome,
                "answered_after": (None if self.answered_after is None
                                   else round(self.answered_after, 6))}
        if self.files:
            data["files"] = self.files
        return data

    def write_files(self, folder: Path) -> None:
        """Put the session files this request named into ``folder`` (a session folder)."""
        for relative, encoded in self.files.items():
            target = folder.joinpath(*PurePosixPath(relative).parts)
            make_private_dir(target.parent)
            target.write_bytes(base64.b64decode(encoded))

    @classmethod
    def from_json(cls, data: Any, where: str) -> RecordedRequest:
        if not isinstance(data, dict):
            raise RecordingError(f"{where}: a request is a JSON object")
        try:
            t, rid, command = float(data["t"]), str(data["id"]), data["command"]
            args, answer = data.get("args", {}), data.get("answer", False)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"{where}: a request needs t, id and command ({exc})") from None
        if not isinstance(command, str) or not command or not isinstance(args, dict):
            raise RecordingError(f"{where}: command must be a non-empty string, args an object")
        outcome = data.get("outcome")
        if outcome is not None and not (isinstance(outcome, dict)
                                        and isinstance(outcome.get("ok"), bool)):
            raise RecordingError(f"{where}: outcome must be null or an object with 'ok'")
        after = data.get("answered_after")
        files = data.get("files") or {}
        if not isinstance(files, dict) or not all(
                isinstance(k, str) and _inside(k) and isinstance(v, str)
                for k, v in files.items()):
            raise RecordingError(f"{where}: files must map relative paths inside the session "
                                 "folder to base64 text")
        return cls(t, rid, command, args, bool(answer), outcome,
                   float(after) if isinstance(after, (int, float)) else None, files)


@dataclass
class Recording:
    session: str
    info: dict[str, Any] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    recorded: float = field(default_factory=time.time)
    source: str = "host"

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "session": self.session,
                "info": self.info, "recorded": self.recorded, "source": self.source}

    def save(self, path: Path | str) -> Path:
        target = Path(path)
        lines = [dumps(self.header())] + [dumps(r.as_json()) for r in self.requests]
        target.write_bytes(b"\n".join(lines) + b"\n")
        return target

    @classmethod
    def load(cls, path: Path | str) -> Recording:
        source = Path(path)
        try:
            raw = source.read_bytes()
        except OSError as exc:
            raise RecordingError(f"cannot read {source}: {exc.strerror or exc}") from None
        lines = [line for line in raw.split(b"\n") if line.strip()]
        if not lines:
            raise RecordingError(f"{source} is empty, not a filebridge recording")
        try:
            head = loads(lines[0])
        except ValueError:
            raise RecordingError(f"{source}:1: not JSON, not a filebridge recording") from None
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise RecordingError(f"{source}:1: not a filebridge recording (no format "
                                 f"{FORMAT!r})")
        if head.get("version") != VERSION:
            raise RecordingError(f"{source}: recording version {head.get('version')!r} is not "
                                 f"supported (this filebridge reads {VERSION})")
        recording = cls(str(head.get("session", "")), dict(head.get("info") or {}),
                        recorded=float(head.get("recorded") or 0.0),
                        source=str(head.get("source", "host")))
        for number, line in enumerate(lines[1:], start=2):
            where = f"{source}:{number}"
            try:
                data = loads(line)
            except ValueError:
                if number == len(lines):  # a recorder stopped in the middle of its last line
                    break
                raise RecordingError(f"{where}: not JSON") from None
            recording.requests.append(RecordedRequest.from_json(data, where))
        return recording


# Folders of a session that belong to the protocol or the host: a recording never writes there.
RESERVED = frozenset({"responses", "command_responses", "requests", "bootstrap", "host-views"})


def _inside(relative: str) -> bool:
    """A path a recording may carry: inside a folder of the session folder that is not the
    protocol's own (a recording is untrusted input: it must not rewrite session files)."""
    parts = PurePosixPath(relative).parts
    return (len(parts) >= 2 and not relative.startswith("/") and ".." not in parts
            and "." not in parts and parts[0] not in RESERVED and "\0" not in relative)


def session_files(folder: Optional[Path], args: dict[str, Any]) -> dict[str, str]:
    """The files under the session folder a request names by ``<key>_in_session`` (a table's
    folder, a page written there), so a replay into another folder finds them."""
    if folder is None:
        return {}
    found: dict[str, str] = {}
    budget = MAX_FILES_BYTES
    for key, value in args.items():
        if not (key.endswith("_in_session") and isinstance(value, str) and _inside(value)):
            continue
        base = folder.joinpath(*PurePosixPath(value).parts)
        paths = sorted(base.rglob("*")) if base.is_dir() else [base]
        for path in paths:
            if path.is_symlink() or not path.is_file():
                continue
            if not _inside(path.relative_to(folder).as_posix()):
                continue
            size = path.stat().st_size
            if size > budget:
                continue
            budget -= size
            found[path.relative_to(folder).as_posix()] = base64.b64encode(
                path.read_bytes()).decode("ascii")
    return found


def _entry(request: Request, answer: Optional[Answer], start: float,
           done_at: Optional[float], folder: Optional[Path] = None) -> RecordedRequest:
    return RecordedRequest(request.time - start, request.id, request.command,
                           dict(request.args), request.answer, outcome_of(answer),
                           None if done_at is None else max(0.0, done_at - request.time),
                           session_files(folder, request.args))


def from_session_log(log: Any) -> Recording:
    """What a ``filebridge.testing.session_log.SessionLog`` saw, as a recording."""
    entries = log.requests()
    try:
        served = log.host.session(log.session_id)
        info, folder = dict(served.info), served.folder
    except FilebridgeError:
        info, folder = {}, None
    info.pop("token", None)
    start = entries[0].request.time if entries else 0.0
    return Recording(log.session_id, info,
                     [_entry(e.request, e.answer, start, e.done_at, folder) for e in entries])


def _read_lines(path: Path) -> list[bytes]:
    try:
        return [line for line in path.read_bytes().split(b"\n") if line.strip()]
    except FileNotFoundError:
        return []


def from_session_folder(folder: Path | str) -> Recording:
    """The journal kept in a session folder: request.log, and the answers in response.log."""
    layout = SessionLayout(Path(folder))
    try:
        info = loads(layout.session_json.read_bytes())
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{layout.folder} is not a readable session folder "
                             f"(session.json: {exc})") from None
    answers: dict[str, Answer] = {}
    for line in _read_lines(layout.response_log):
        try:
            answer = decode_answer(line)
        except FilebridgeError:
            continue
        answers[answer.id] = answer
    requests: list[Request] = []
    for line in _read_lines(layout.request_log):
        try:
            request = decode_request(line.strip())
        except BadRequest:
            continue  # padding, or a line the host refused too
        if request.args_file:
            try:
                args = loads((layout.folder / "requests" / request.args_file).read_bytes())
                request = request._replace(args=args, args_file="")
            except (OSError, ValueError):
                request = request._replace(args={"args_file_missing": request.args_file})
        requests.append(request)
    start = requests[0].time if requests else 0.0
    info = {k: v for k, v in info.items() if k != "token"} if isinstance(info, dict) else {}
    return Recording(layout.id, info,
                     [_entry(r, answers.get(r.id), start, None, layout.folder)
                      for r in requests],
                     source="folder")


class LiveRecorder:
    """Writes every session's recording into ``folder`` as the host finishes its requests."""

    def __init__(self, host: Host, folder: Path | str) -> None:
        self.host = host
        self.folder = Path(folder).expanduser()
        make_private_dir(self.folder)
        self._files: dict[str, tuple[IO[bytes], float, Optional[Path]]] = {}
        self._lock = threading.Lock()
        host.subscribe(self._on_event)
        host.on_stop(self.close)

    def path(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.fbrec"

    def _on_event(self, event: HostEvent) -> None:
        if event.kind != "request" or event.request is None:
            return
        done_at = time.time()
        with self._lock:
            opened = self._files.get(event.session_id)
            if opened is None:
                opened = self._open(event.session_id, event.request.time)
            stream, start, folder = opened
            entry = _entry(event.request, event.answer, start, done_at, folder)
            stream.write(dumps(entry.as_json()) + b"\n")
            stream.flush()

    def _open(self, session_id: str, start: float
              ) -> tuple[IO[bytes], float, Optional[Path]]:
        try:
            served = self.host.session(session_id)
            info, folder = dict(served.info), served.folder
        except FilebridgeError:
            info, folder = {}, None
        info.pop("token", None)
        stream = open(self.path(session_id), "wb")  # noqa: SIM115 - open while recording
        stream.write(dumps(Recording(session_id, info).header()) + b"\n")
        self._files[session_id] = (stream, start, folder)
        return stream, start, folder

    def close(self) -> None:
        with self._lock:
            for stream, _start, _folder in self._files.values():
                stream.close()
            self._files.clear()

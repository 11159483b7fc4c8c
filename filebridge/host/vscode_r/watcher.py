"""Serve R sessions set up by vscode-R 2.8 and earlier (its legacy "session watcher" files).

Those sessions write one request at a time into a watcher folder shared by every R session
(``request.log``, overwritten per request, and ``request.lock``, a timestamp) and keep their own
files in ``<R tempdir>/vscode-R/``. This adapter gives each such session a normal filebridge
session folder (a *mirror*) and translates into it: each legacy request becomes a request line
in the mirror's ``request.log``, the legacy ``workspace.json`` becomes a variables snapshot and
``plot.png`` a published plot. The rest of the host sees an ordinary session. ``rstudioapi``
calls are answered back through the legacy ``response.log`` + ``response.lock``, help pages
are rendered by R on this machine, and the variables pane's ``inspect`` is answered from the
legacy ``workspace.json``.

The format is documented in docs/r.md, built from vscode-R's documented behaviour.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from filebridge import PROTOCOL_VERSION
from filebridge.errors import RemoteError
from filebridge.host.viewers.files import write_inside
from filebridge.host.vscode_r.answers import (
    builtin_rstudioapi,
    legacy_children,
    not_available_body,
)
from filebridge.host.vscode_r.discovery import LegacyFinder
from filebridge.host.vscode_r.help import render_help
from filebridge.wire.answers import FileOutbox
from filebridge.wire.channel import open_waiter
from filebridge.wire.codec import dumps, loads
from filebridge.wire.files import (
    Doorbell,
    atomic_write,
    open_file,
    read_file,
)
from filebridge.wire.layout import SessionLayout, is_valid_session_id, make_private_dir
from filebridge.wire.log_reader import LineReader
from filebridge.wire.logs import AppendLog
from filebridge.wire.messages import Answer, BadRequest, Request, decode_answer, decode_request
from filebridge.wire.processes import pid_alive
from filebridge.wire.waiting import choose_strategy

if TYPE_CHECKING:
    from filebridge.host.server import Host

__all__ = [
    "LegacyWatcher",
    "default_watcher_dir",
    "legacy_variables",
]

log = logging.getLogger("filebridge.vscode_r")
# Whatever a legacy R session leaves in the watcher folder is read with this cap, without
# following links and never blocking on a FIFO (docs/security.md).
LEGACY_LIMIT = 64 << 20
LEGACY_VIEW_LIMIT = 256 << 20  # a View() payload, as large as the host imports

ENVELOPE = ("time", "pid", "wd", "command")
HEARTBEAT_INTERVAL = 2.0
SAFETY_POLL = 0.5
DISCOVERY_INTERVAL = 5.0  # seconds between looks for legacy sessions that sent nothing
RSTUDIOAPI_TIMEOUT = 4.0  # legacy R gives up after 5 s: answer before that, even if with an error


def default_watcher_dir() -> Path:
    """``$VSCODE_WATCHER_DIR``, else ``~/.vscode-R``: where legacy sessions write requests."""
    return Path(os.environ.get("VSCODE_WATCHER_DIR") or os.path.expanduser("~/.vscode-R"))


@dataclass
class _Mirror:
    """One legacy R session and the filebridge session folder that stands for it."""

    pid: int
    legacy_dir: Path
    layout: SessionLayout
    log: AppendLog
    bell: Doorbell
    heartbeat: Doorbell
    outbox: FileOutbox
    cwd: Optional[str] = None
    commands: Optional[LineReader] = None
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    workspace_seen: bytes = b""
    plot_seen: bytes = b""
    plots: int = 0
    variables_version: int = 0
    beats: int = 0
    detached: bool = False
    watched: set[str] = field(default_factory=set)
    last_view_file: str = ""

    def post(self, command: str, args: dict[str, Any], *, answer: bool = False,
             sent: Optional[float] = None) -> Request:
        request = Request(id=secrets.token_hex(16), seq=next(self.seq),
                          time=float(sent if sent is not None else time.time()), pid=self.pid,
                          command=command, answer=answer, args=args)
        size = self.log.append(request.encode())
        self.bell.ring(size)
        return request

    @property
    def files_known(self) -> bool:
        """Whether R's own folder is known (a session adopted without an attach may not be)."""
        return str(self.legacy_dir) not in ("", ".")

    def beat(self) -> None:
        self.beats += 1
        self.heartbeat.ring(self.beats)

    def close(self) -> None:
        for closable in (self.log, self.bell, self.heartbeat, self.outbox, self.commands):
            if closable is not None:
                closable.close()

    def new_commands(self) -> list[bytes]:
        """Host -> worker request lines appended to the mirror's command.log since last time
        (a line over the limit is dropped: legacy R answers nothing anyway)."""
        try:
            if self.commands is None:
                self.commands = _command_reader(self.layout, 0)
            lines = self.commands.read(_COMMAND_READ)
        except OSError:
            return []
        return [line.data for line in lines if line.data and line.data.strip()]


_COMMAND_READ = 16 << 20


def _command_reader(layout: SessionLayout, position: Optional[int]) -> LineReader:
    return LineReader(layout.command_log, position, _COMMAND_READ, chunk=_COMMAND_READ)


def _read_text_counter(path: Path) -> bytes:
    try:
        return read_file(path, 1 << 16)[:64]
    except OSError:
        return b""


def _lock_value(content: bytes) -> Optional[float]:
    """A lock's number read as the extension read it (``parseFloat``: the leading number)."""
    text = content.decode("ascii", "replace").strip()
    end = 0
    while end < len(text) and (text[end].isdigit() or text[end] in ".+-eE"):
        end += 1
    while end:
        try:
            return float(text[:end])
        except ValueError:
            end -= 1
    return None


def _process_start(pid: int) -> str:
    """The pid's start time in clock ticks (Linux), so that a reused pid is another session."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _tempdir_from(args: dict[str, Any]) -> str:
    """R's temporary folder as far as a request other than ``attach`` shows it."""
    sd = args.get("sd")
    if isinstance(sd, str) and sd.rstrip("/").endswith("/vscode-R"):
        return sd.rstrip("/")[: -len("/vscode-R")]
    for key in ("file", "url"):
        value = args.get(key)
        if not isinstance(value, str):
            continue
        path = Path(value[7:] if value.startswith("file://") else value)
        for folder in path.parents:
            if folder.name.startswith("Rtmp") and (folder / "vscode-R").is_dir():
                return str(folder)
    return ""


class LegacyWatcher:
    """Reads a vscode-R watcher folder and mirrors its sessions into a filebridge root."""

    def __init__(self, host: Host, watcher_dir: Optional[Path] = None, *,
                 force_poll: Optional[bool] = None,
                 discover_every: float = DISCOVERY_INTERVAL) -> None:
        """``discover_every``: seconds between looks for R sessions that sent nothing."""
        self.host = host
        self.discover_every = discover_every
        self.watcher_dir = Path(watcher_dir or default_watcher_dir()).expanduser()
        self.request_log = self.watcher_dir / "request.log"
        self.request_lock = self.watcher_dir / "request.lock"
        make_private_dir(self.watcher_dir)
        # polling where the system refuses another inotify instance, as a session's calls do
        self._waiter = open_waiter(choose_strategy(self.watcher_dir, force_poll))
        self._mirrors: dict[str, _Mirror] = {}
        self._lock_seen = _lock_value(_read_text_counter(self.request_lock))
        self._response_stamps: dict[Path, int] = {}
        self._stamps_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._finder = LegacyFinder(self.watcher_dir)
        self._next_discovery = 0.0

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        # Waiters report writes only for watched files (folders report entries coming and
        # going), and legacy R rewrites its locks in place: watch the lock files themselves.
        _touch(self.request_lock, b"")
        self._waiter.watch(self.watcher_dir, probe=["request.lock"])
        self._waiter.watch(self.request_lock)
        self._adopt_on_disk()
        self._thread = threading.Thread(target=self._run, name="filebridge-vscode-r",
                                        daemon=True)
        self._thread.start()
        log.info("serving legacy vscode-R sessions from %s", self.watcher_dir)

    def stop(self) -> None:
        self._stop.set()
        self._waiter.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._waiter.close()
        for mirror in self._mirrors.values():
            mirror.close()

    def sessions(self) -> list[str]:
        """Ids of the filebridge sessions that mirror legacy ones."""
        return sorted(self._mirrors)

    def _run(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            # a short safety net: a lock file replaced by rename loses its watch
            self._waiter.wait(min(SAFETY_POLL, max(0.0, next_tick - time.monotonic())))
            if self._stop.is_set():
                return
            try:
                self.poll()
                if time.monotonic() >= next_tick:
                    self._tick()
                    next_tick = time.monotonic() + HEARTBEAT_INTERVAL
            except Exception:  # one bad file must not end the adapter
                log.exception("legacy vscode-R adapter failed; going on")

    def poll(self) -> None:
        """Handle a new legacy request, new workspace or plot files and host requests."""
        # As the extension did: a request is new when the lock's number is; the request itself
        # may repeat the last one byte for byte (R stamps ``time`` to the second). A late look
        # finds the slot already holding R's next request, and reads it again at that
        # request's own lock: what must not happen twice is told apart where it is handled.
        lock = _lock_value(_read_text_counter(self.request_lock))
        if lock is not None and lock != self._lock_seen:
            self._lock_seen = lock
            self._take_request()
        for mirror in list(self._mirrors.values()):
            self._sync_files(mirror)
            self._serve_commands(mirror)

    def _tick(self) -> None:
        if time.monotonic() >= self._next_discovery:
            self._next_discovery = time.monotonic() + self.discover_every
            self.discover()
        # Legacy sessions have no heartbeat: beat for them while their pid lives. A pid is
        # only meaningful on this machine, which is where the watcher folder's writers run.
        for mirror in list(self._mirrors.values()):
            if mirror.detached:
                continue
            if pid_alive(mirror.pid) and (not mirror.files_known
                                           or mirror.legacy_dir.exists()):
                mirror.beat()

    # -- requests --------------------------------------------------------------------------

    def _take_request(self) -> None:
        try:
            raw = read_file(self.request_log, LEGACY_LIMIT)
        except OSError:
            return
        if not raw.strip():
            return
        try:
            request = loads(raw.strip().splitlines()[0])
        except (ValueError, IndexError) as exc:
            log.error("legacy vscode-R request is not JSON (%s): %r", exc, raw[:200])
            return
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            log.error("legacy vscode-R request has no command: %r", raw[:200])
            return
        self.handle(request)

    def handle(self, request: dict[str, Any]) -> None:
        """Translate one legacy request (a dict as written by the legacy R session code)."""
        command = str(request["command"])
        pid = request.get("pid")
        if not isinstance(pid, int):
            log.error("legacy vscode-R %r request has no pid", command)
            return
        args = {k: v for k, v in request.items() if k not in ENVELOPE}
        sent = request.get("time") if isinstance(request.get("time"), (int, float)) else None
        if command == "attach":
            self._attach(pid, request, args, sent)
            return
        mirror = self._mirror_of(pid)
        if mirror is None and command == "detach":
            return
        if mirror is None:
            # R attached before this adapter ran (or before the host restarted): the extension
            # served such requests without an attach, and so does the adapter.
            mirror = self._adopt(pid, _tempdir_from(args), request.get("wd"))
        if isinstance(request.get("wd"), str):
            mirror.cwd = request["wd"]
        if not mirror.files_known and _tempdir_from(args):
            mirror.legacy_dir = Path(self.host.map_path(_tempdir_from(args))) / "vscode-R"
        if command == "rstudioapi":
            threading.Thread(target=self._rstudioapi, args=(mirror, args, sent),
                             name="filebridge-rstudioapi", daemon=True).start()
            return
        if command == "help" and "requestPath" in args and "file" not in args:
            threading.Thread(target=self._help, args=(mirror, args, sent),
                             name="filebridge-legacy-help", daemon=True).start()
            return
        if command == "dataview" and isinstance(args.get("file"), str):
            if args["file"] == mirror.last_view_file:
                # the slot read again (see poll): each View() writes a new temporary file
                return
            mirror.last_view_file = args["file"]
            threading.Thread(target=self._dataview, args=(mirror, args, sent),
                             name="filebridge-legacy-view", daemon=True).start()
            return
        if command == "detach":
            mirror.detached = True
            mirror.post("detach", {}, sent=sent)
            return
        mirror.post(command, args, sent=sent)

    def _adopt(self, pid: int, tempdir: str, wd: Any) -> _Mirror:
        log.info("legacy vscode-R session pid %d adopted without an attach", pid)
        return self._attach(pid, {"wd": wd}, {"tempdir": tempdir}, None)

    def _adopt_on_disk(self) -> None:
        """Take over the legacy sessions that were served before this adapter started."""
        try:
            folders = sorted(self.host.root.sessions.glob("vscode-r-*"))
        except OSError:
            folders = []
        for folder in folders:
            try:
                info = loads(read_file(folder / "session.json", LEGACY_LIMIT))
            except (OSError, ValueError):
                continue
            legacy = info.get("legacy") if isinstance(info, dict) else None
            pid = info.get("pid") if isinstance(info, dict) else None
            if (not isinstance(legacy, dict) or legacy.get("dialect") != "vscode-r"
                    or not isinstance(pid, int) or not is_valid_session_id(folder.name)):
                continue
            session_dir = str(legacy.get("session_dir") or "")
            if not pid_alive(pid) or (session_dir not in ("", ".")
                                       and not Path(session_dir).is_dir()):
                continue
            if info.get("process_start") not in (None, _process_start(pid)):
                continue
            self._open_mirror(folder.name, pid, Path(session_dir),
                              info.get("cwd") if isinstance(info.get("cwd"), str) else None)
            log.info("legacy vscode-R session pid %d taken over as %s", pid, folder.name)
        # The last request in the slot shows a session that may never have been mirrored.
        try:
            raw = read_file(self.request_log, LEGACY_LIMIT)
            last = loads(raw.strip().splitlines()[0]) if raw.strip() else None
        except (OSError, ValueError, IndexError):
            last = None
        if isinstance(last, dict) and isinstance(last.get("pid"), int):
            pid = last["pid"]
            if pid_alive(pid) and self._mirror_of(pid) is None:
                args = {k: v for k, v in last.items() if k not in ENVELOPE}
                if last.get("command") == "attach":
                    self._attach(pid, last, args, None)
                elif last.get("command") != "detach":
                    self._adopt(pid, _tempdir_from(args), last.get("wd"))
        self.discover()
        self._next_discovery = time.monotonic() + self.discover_every

    def discover(self) -> None:
        """Mirror the live legacy sessions whose requests the adapter never saw, found from
        their files and processes (R started before any adapter ran, its attach lost)."""
        mirrors = list(self._mirrors.values())
        known_pids = {m.pid for m in mirrors if m.files_known or m.detached}
        known_dirs = [m.legacy_dir for m in mirrors if m.files_known]
        for found in self._finder.find(known_pids, known_dirs):
            mirror = self._mirror_of(found.pid)
            if mirror is not None:  # adopted from a request that did not show its folder
                mirror.legacy_dir = found.tempdir / "vscode-R"
                self._watch_legacy_files(mirror)
                continue
            log.info("legacy vscode-R session pid %d found from its folder %s", found.pid,
                     found.tempdir)
            self._attach(found.pid, {"wd": found.cwd},
                         {"tempdir": str(found.tempdir), "info": {"start_time": found.started}},
                         None)

    def _mirror_of(self, pid: int) -> Optional[_Mirror]:
        found = [m for m in self._mirrors.values() if m.pid == pid and not m.detached]
        return found[-1] if found else None

    def _attach(self, pid: int, request: dict[str, Any], args: dict[str, Any],
                sent: Optional[float]) -> _Mirror:
        tempdir = str(args.get("tempdir") or "")
        legacy_dir = Path(self.host.map_path(tempdir)) / "vscode-R" if tempdir else Path("")
        started = _process_start(pid)
        digest = hashlib.sha256(f"{pid}:{started or tempdir}".encode()).hexdigest()[:6]
        session_id = f"vscode-r-{pid}-{digest}"
        layout = self.host.root.session(session_id)
        given = args.get("info")
        info: dict[str, Any] = given if isinstance(given, dict) else {}
        version = str(args.get("version") or info.get("version") or "")
        _create_mirror_folder(layout, {
            "protocol": PROTOCOL_VERSION, "id": session_id, "pid": pid,
            "machine": socket.gethostname(), "language": "r",
            "versions": {"r": version} if version else {},
            "started": _start_time(info, request), "token": secrets.token_hex(16),
            "cwd": request.get("wd"), "tempdir": tempdir, "process_start": started or None,
            "legacy": {"dialect": "vscode-r", "session_dir": str(legacy_dir),
                       "watcher_dir": str(self.watcher_dir)},
        })
        mirror = self._open_mirror(session_id, pid, legacy_dir,
                                   request.get("wd") if isinstance(request.get("wd"), str)
                                   else None)
        attach_args = {"language": "r", "versions": {"r": version} if version else {},
                       "cwd": request.get("wd"), "tempdir": tempdir, "legacy": args}
        mirror.post("attach", attach_args, sent=sent)
        log.info("legacy vscode-R session pid %d attached as %s", pid, session_id)
        return mirror

    def _open_mirror(self, session_id: str, pid: int, legacy_dir: Path,
                     cwd: Optional[str]) -> _Mirror:
        layout = self.host.root.session(session_id)
        old = self._mirrors.pop(session_id, None)
        if old is not None:
            old.close()
        mirror = _Mirror(pid=pid, legacy_dir=legacy_dir, layout=layout,
                         log=AppendLog(layout.request_log), bell=Doorbell(layout.request_lock),
                         heartbeat=Doorbell(layout.heartbeat),
                         outbox=FileOutbox(layout.command_responses,
                                           layout.command_response_lock), cwd=cwd)
        try:
            mirror.commands = _command_reader(layout, None)
        except OSError:
            pass
        self._mirrors[session_id] = mirror
        mirror.beat()
        self._waiter.watch(layout.command_lock)
        self._watch_legacy_files(mirror)
        return mirror

    # -- host -> worker requests: answered here, since legacy R answers none -----------------

    def _serve_commands(self, mirror: _Mirror) -> None:
        for line in mirror.new_commands():
            try:
                request = decode_request(line)
            except BadRequest as exc:
                if exc.request_id:
                    mirror.outbox.deliver(Answer(exc.request_id, False, error_code=exc.code,
                                                 error_message=str(exc)))
                continue
            mirror.outbox.deliver(self._command_answer(mirror, request))

    def _command_answer(self, mirror: _Mirror, request: Request) -> Answer:
        try:
            if request.command == "ping":
                return Answer(request.id, True, result={"pid": mirror.pid, "time": time.time()})
            if request.command == "inspect":
                workspace = None
                if mirror.files_known:
                    try:
                        workspace = loads(read_file(mirror.legacy_dir / "workspace.json",
                                                  LEGACY_LIMIT))
                    except (OSError, ValueError):
                        pass
                return Answer(request.id, True, result=legacy_children(workspace, request.args))
            raise RemoteError("no_handler", f"a legacy vscode-R session cannot answer "
                              f"{request.command!r}")
        except RemoteError as exc:
            return Answer(request.id, False, error_code=exc.code,
                          error_message=exc.remote_message)

    # -- help: rendered by R on this machine -------------------------------------------------

    def _help(self, mirror: _Mirror, args: dict[str, Any], sent: Optional[float]) -> None:
        request_path = str(args.get("requestPath"))
        folder = mirror.layout.folder / "views" / "legacy-help"
        try:
            page = render_help(request_path, folder)
        except RemoteError as exc:
            log.warning("legacy help %r: %s", request_path, exc.remote_message)
            mirror.post("help", args, sent=sent)  # the viewer says what it cannot show
            return
        file = folder / str(page["page"])
        mirror.post("help", {"file": str(file), "dir": str(folder),
                             "file_in_session": file.relative_to(mirror.layout.folder).as_posix(),
                             "title": page.get("title"), "topic": page.get("topic"),
                             "package": page.get("package"), "requestPath": request_path,
                             "viewer": args.get("viewer")}, sent=sent)

    # -- dataview: the payload R left in its temporary folder, copied into the mirror -------

    def _dataview(self, mirror: _Mirror, args: dict[str, Any], sent: Optional[float]) -> None:
        """Copy the file a legacy View() wrote (a table, a tree or text, in R's temporary
        folder, which the host does not serve) into the mirror's views/, so the host reads it
        as a file of the session: a table becomes a snapshot there and gets the grid."""
        copied = self._copy_payload(mirror, str(args["file"]))
        if copied is None:
            mirror.post("dataview", args, sent=sent)  # the viewer says what it cannot read
            return
        mirror.post("dataview", {**args, "file": str(mirror.layout.folder / copied),
                                 "file_in_session": copied}, sent=sent)

    def _copy_payload(self, mirror: _Mirror, file: str) -> Optional[str]:
        if not mirror.files_known:
            return None
        source = Path(self.host.map_path(file))
        try:
            if not source.resolve().is_relative_to(mirror.legacy_dir.parent.resolve()):
                return None
            data = read_file(source, LEGACY_VIEW_LIMIT)
        except (OSError, ValueError) as exc:
            log.warning("legacy dataview %s: %s", file, exc)
            return None
        suffix = source.suffix if source.suffix in (".json", ".txt", ".R") else ""
        name = f"legacy-{secrets.token_hex(8)}{suffix}"
        write_inside(mirror.layout.folder, ("views", name), data)
        return f"views/{name}"

    # -- rstudioapi: a synchronous call answered through response.log ----------------------

    def _rstudioapi(self, mirror: _Mirror, args: dict[str, Any], sent: Optional[float]) -> None:
        action = str(args.get("action"))
        # a prompt on the web page must be given up before the adapter answers R
        forwarded = {"action": action, "args": args.get("args"),
                     "timeout": RSTUDIOAPI_TIMEOUT - 0.5}
        request = mirror.post("rstudioapi", forwarded, answer=True, sent=sent)
        answer_file = mirror.layout.response_file(request.id)
        waiter = open_waiter(choose_strategy(mirror.layout.folder))
        try:
            waiter.watch(mirror.layout.responses, renames_only=True)
            arrived = waiter.wait_until(answer_file.exists, RSTUDIOAPI_TIMEOUT)
        finally:
            waiter.close()
        if not arrived:
            self._answer_legacy(args, None, f"got no answer in filebridge within "
                                            f"{RSTUDIOAPI_TIMEOUT:g} s")
            return
        try:
            answer = decode_answer(read_file(answer_file, LEGACY_LIMIT))
        finally:
            answer_file.unlink(missing_ok=True)
        if answer.ok:
            self._answer_legacy(args, answer.result, None)
        elif answer.error_code == "no_handler":
            builtin = builtin_rstudioapi(action, args.get("args"), mirror.cwd)
            if builtin is not None:
                self._answer_legacy(args, builtin, None)
            else:
                self._answer_legacy(args, None, "not available in filebridge: it needs an "
                                                "editor, and no editor integration is connected")
        else:
            self._answer_legacy(args, None, f"failed in filebridge: {answer.error_message}")

    def _answer_legacy(self, args: dict[str, Any], result: Any, error: Optional[str]) -> None:
        sd = args.get("sd")
        if not isinstance(sd, str) or not sd:
            log.error("legacy rstudioapi request names no session folder (sd)")
            return
        folder = Path(self.host.map_path(sd))
        action = str(args.get("action"))
        if error is None:
            body = dumps(result)
        else:
            log.warning("rstudioapi %r %s", action, error)
            body = not_available_body(action, error)
        # As the extension wrote them: the answer (JSON, no newline), then the lock, the time
        # in milliseconds and a newline (R reads it with readLines(), which warns without one).
        # R waits for the lock's text to change, so two answers within a millisecond must not
        # carry the same number.
        with self._stamps_lock:
            stamp = max(int(time.time() * 1000), self._response_stamps.get(folder, 0) + 1)
            self._response_stamps[folder] = stamp
        atomic_write(folder / "response.log", body)
        atomic_write(folder / "response.lock", b"%d\n" % stamp)

    # -- workspace and plot files ----------------------------------------------------------

    def _watch_legacy_files(self, mirror: _Mirror) -> None:
        if not mirror.files_known or not mirror.legacy_dir.is_dir():
            return
        if not mirror.watched:
            self._waiter.watch(mirror.legacy_dir, probe=["workspace.lock", "plot.lock"])
            mirror.watched.add("")
        for name in ("workspace.lock", "plot.lock"):
            if name not in mirror.watched and (mirror.legacy_dir / name).exists():
                self._waiter.watch(mirror.legacy_dir / name)
                mirror.watched.add(name)

    def _sync_files(self, mirror: _Mirror) -> None:
        if not mirror.files_known or not mirror.legacy_dir.is_dir():
            return
        if len(mirror.watched) < 3:
            self._watch_legacy_files(mirror)
        stamp = _read_text_counter(mirror.legacy_dir / "workspace.lock")
        if stamp and stamp != mirror.workspace_seen:
            mirror.workspace_seen = stamp
            self._publish_workspace(mirror)
        stamp = _read_text_counter(mirror.legacy_dir / "plot.lock")
        if stamp and stamp != mirror.plot_seen:
            mirror.plot_seen = stamp
            self._publish_plot(mirror)

    def _publish_workspace(self, mirror: _Mirror) -> None:
        try:
            legacy = loads(read_file(mirror.legacy_dir / "workspace.json", LEGACY_LIMIT))
        except (OSError, ValueError) as exc:
            log.warning("legacy workspace.json of pid %d unreadable: %s", mirror.pid, exc)
            return
        mirror.variables_version += 1
        snapshot = legacy_variables(legacy, mirror.variables_version, mirror.pid)
        atomic_write(mirror.layout.workspace_json, dumps(snapshot))
        Doorbell(mirror.layout.workspace_lock).ring(mirror.variables_version)
        mirror.beat()

    def _publish_plot(self, mirror: _Mirror) -> None:
        source = mirror.legacy_dir / "plot.png"
        tmp = mirror.layout.folder / f".plot.png.{os.getpid()}.tmp"
        try:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, mirror.layout.plot_png)
        except OSError as exc:
            log.warning("legacy plot.png of pid %d unreadable: %s", mirror.pid, exc)
            tmp.unlink(missing_ok=True)
            return
        mirror.plots += 1
        Doorbell(mirror.layout.plot_lock).ring(mirror.plots)
        mirror.post("plot", {"file": str(mirror.layout.plot_png), "format": "png",
                             "number": mirror.plots})
        mirror.beat()


def _start_time(info: dict[str, Any], request: dict[str, Any]) -> float:
    for value in (info.get("start_time"), request.get("time")):
        if isinstance(value, (int, float)):
            return float(value)
    return time.time()


def _create_mirror_folder(layout: SessionLayout, info: dict[str, Any]) -> None:
    make_private_dir(layout.folder)
    make_private_dir(layout.responses)
    make_private_dir(layout.command_responses)
    for log_file in (layout.request_log, layout.command_log):
        _touch(log_file, b"")
    for bell in (layout.request_lock, layout.response_lock, layout.command_lock,
                 layout.command_response_lock, layout.heartbeat, layout.workspace_lock,
                 layout.plot_lock):
        _touch(bell, b"0" * 20)
    atomic_write(layout.session_json, dumps(info))


def _touch(path: Path, content: bytes) -> None:
    fd = open_file(path, os.O_WRONLY | os.O_CREAT)
    try:
        if content and os.fstat(fd).st_size == 0:
            os.write(fd, content)
    finally:
        os.close(fd)


_KIND_BY_TYPE = {"logical": "boolean", "integer": "number", "double": "number",
                 "complex": "number", "character": "string", "raw": "bytes",
                 "closure": "function", "builtin": "function", "special": "function",
                 "environment": "map", "NULL": "empty"}


def _legacy_kind(classes: list[str], rtype: str, length: int) -> str:
    if "data.frame" in classes or "matrix" in classes:
        return "table"
    if rtype == "list":
        return "collection"
    kind = _KIND_BY_TYPE.get(rtype, "other")
    if kind in ("boolean", "number", "string") and length != 1:
        return "collection"
    if kind == "other" and rtype == "S4":
        return "class"
    return kind


def legacy_variables(legacy: Any, version: int, pid: int) -> dict[str, Any]:
    """A filebridge variables snapshot from a legacy vscode-R workspace.json.

    Legacy entries carry ``class``, ``type``, ``length``, ``str`` and optionally ``size``,
    ``names``, ``slots`` and ``dim``; the fields filebridge adds are derived from those.
    """
    env = legacy.get("globalenv") if isinstance(legacy, dict) else None
    now = int(time.time() * 1000)
    variables = []
    for name, entry in sorted((env or {}).items()):
        if not isinstance(entry, dict):
            continue
        classes = entry.get("class") or []
        classes = [str(c) for c in (classes if isinstance(classes, list) else [classes])]
        rtype = str(entry.get("type", ""))
        given_length = entry.get("length")
        length = given_length if isinstance(given_length, int) else 0
        dim = entry.get("dim") if isinstance(entry.get("dim"), list) else None
        shape = dim if dim else [length]
        first = classes[0] if classes else rtype
        display_type = f"{first} [{' x '.join(str(d) for d in shape)}]"
        text = str(entry.get("str", "")).strip().replace("\n", " ")
        size = entry.get("size")
        has_children = bool(entry.get("names")) or rtype in ("list", "environment")
        variables.append({
            "access_key": name, "display_name": name, "display_value": text,
            "display_type": display_type, "type_info": ", ".join(classes), "kind":
            _legacy_kind(classes, rtype, length), "length": length, "shape": shape,
            "size": size if isinstance(size, (int, float)) else None,
            "has_children": has_children,
            "children_kind": ("named" if entry.get("names") or rtype == "environment"
                              else "indexed") if has_children else None,
            "has_viewer": bool({"data.frame", "matrix", "list", "function"} & set(classes)),
            "is_truncated": False, "updated_time": now,
            "evaluate_name": name if name.isidentifier() else f"`{name}`",
        })
    return {"format": 1, "version": version, "time": now / 1000, "pid": pid,
            "language": "r", "length": len(variables), "variables": variables,
            "assigned": [v["access_key"] for v in variables], "removed": [], "unevaluated": [],
            "elapsed_ms": 0, "errors": [], "legacy": "vscode-r"}

"""Serve R sessions set up by vscode-R 2.8 and earlier (its legacy "session watcher" files).

Those sessions write one request at a time into a watcher folder shared by every R session
(``request.log``, overwritten per request, and ``request.lock``, a timestamp) and keep their own
files in ``<R tempdir>/vscode-R/``. This adapter gives each such session a normal filebridge
session folder (a *mirror*) and translates into it: each legacy request becomes a request line
in the mirror's ``request.log``, the legacy ``workspace.json`` becomes a variables snapshot and
``plot.png`` a published plot. The rest of the host sees an ordinary session. ``rstudioapi``
calls are answered back through the legacy ``response.log`` + ``response.lock``.

The format is documented in docs/r.md, built from vscode-R's documented behaviour.
"""

from __future__ import annotations

import argparse
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
from filebridge.wire.codec import dumps, loads
from filebridge.wire.files import AppendLog, Doorbell, atomic_write
from filebridge.wire.layout import SessionLayout, make_private_dir
from filebridge.wire.messages import Request, decode_answer
from filebridge.wire.waiting import choose_strategy, make_waiter

if TYPE_CHECKING:
    from filebridge.host.server import Host

__all__ = [
    "LegacyWatcher",
    "add_serve_arguments",
    "default_watcher_dir",
    "install",
    "legacy_variables",
]

log = logging.getLogger("filebridge.vscode_r")

ENVELOPE = ("time", "pid", "wd", "command")
HEARTBEAT_INTERVAL = 2.0
SAFETY_POLL = 0.5
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
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    workspace_seen: bytes = b""
    plot_seen: bytes = b""
    plots: int = 0
    variables_version: int = 0
    beats: int = 0
    detached: bool = False
    watched: set[str] = field(default_factory=set)

    def post(self, command: str, args: dict[str, Any], *, answer: bool = False,
             sent: Optional[float] = None) -> Request:
        request = Request(id=secrets.token_hex(16), seq=next(self.seq),
                          time=float(sent if sent is not None else time.time()), pid=self.pid,
                          command=command, answer=answer, args=args)
        size = self.log.append(request.encode())
        self.bell.ring(size)
        return request

    def beat(self) -> None:
        self.beats += 1
        self.heartbeat.ring(self.beats)

    def close(self) -> None:
        for closable in (self.log, self.bell, self.heartbeat):
            closable.close()


def _read_text_counter(path: Path) -> bytes:
    try:
        return path.read_bytes()[:64]
    except OSError:
        return b""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class LegacyWatcher:
    """Reads a vscode-R watcher folder and mirrors its sessions into a filebridge root."""

    def __init__(self, host: Host, watcher_dir: Optional[Path] = None, *,
                 force_poll: Optional[bool] = None) -> None:
        self.host = host
        self.watcher_dir = Path(watcher_dir or default_watcher_dir()).expanduser()
        self.request_log = self.watcher_dir / "request.log"
        self.request_lock = self.watcher_dir / "request.lock"
        make_private_dir(self.watcher_dir)
        self._waiter = make_waiter(choose_strategy(self.watcher_dir, force_poll))
        self._mirrors: dict[str, _Mirror] = {}
        self._lock_seen = _read_text_counter(self.request_lock)
        self._last_request: bytes = b""
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        # Waiters report writes only for watched files (folders report entries coming and
        # going), and legacy R rewrites its locks in place: watch the lock files themselves.
        _touch(self.request_lock, b"")
        self._waiter.watch(self.watcher_dir, probe=["request.lock"])
        self._waiter.watch(self.request_lock)
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
        """Handle a new legacy request and new workspace or plot files, if any."""
        lock = _read_text_counter(self.request_lock)
        if lock and lock != self._lock_seen:
            self._lock_seen = lock
            self._take_request()
        for mirror in list(self._mirrors.values()):
            self._sync_files(mirror)

    def _tick(self) -> None:
        # Legacy sessions have no heartbeat: beat for them while their pid lives. A pid is
        # only meaningful on this machine, which is where the watcher folder's writers run.
        for mirror in list(self._mirrors.values()):
            if mirror.detached:
                continue
            if _pid_alive(mirror.pid) and mirror.legacy_dir.exists():
                mirror.beat()

    # -- requests --------------------------------------------------------------------------

    def _take_request(self) -> None:
        try:
            raw = self.request_log.read_bytes()
        except OSError:
            return
        if not raw.strip() or raw == self._last_request:
            return
        self._last_request = raw
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
        if mirror is None:
            log.warning("legacy vscode-R %r from pid %d, which never attached", command, pid)
            if command == "rstudioapi":
                self._answer_legacy(args, None, ("no_session", "this R session did not "
                                                 "attach to filebridge"))
            return
        if command == "rstudioapi":
            threading.Thread(target=self._rstudioapi, args=(mirror, args, sent),
                             name="filebridge-rstudioapi", daemon=True).start()
            return
        if command == "detach":
            mirror.detached = True
            mirror.post("detach", {}, sent=sent)
            return
        mirror.post(command, args, sent=sent)

    def _mirror_of(self, pid: int) -> Optional[_Mirror]:
        found = [m for m in self._mirrors.values() if m.pid == pid and not m.detached]
        return found[-1] if found else None

    def _attach(self, pid: int, request: dict[str, Any], args: dict[str, Any],
                sent: Optional[float]) -> _Mirror:
        tempdir = str(args.get("tempdir") or "")
        legacy_dir = Path(self.host.map_path(tempdir)) / "vscode-R" if tempdir else Path()
        digest = hashlib.sha256(f"{pid}:{tempdir}".encode()).hexdigest()[:6]
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
            "cwd": request.get("wd"), "tempdir": tempdir,
            "legacy": {"dialect": "vscode-r", "session_dir": str(legacy_dir),
                       "watcher_dir": str(self.watcher_dir)},
        })
        old = self._mirrors.pop(session_id, None)
        if old is not None:
            old.close()
        mirror = _Mirror(pid=pid, legacy_dir=legacy_dir, layout=layout,
                         log=AppendLog(layout.request_log), bell=Doorbell(layout.request_lock),
                         heartbeat=Doorbell(layout.heartbeat))
        self._mirrors[session_id] = mirror
        mirror.beat()
        self._watch_legacy_files(mirror)
        attach_args = {"language": "r", "versions": {"r": version} if version else {},
                       "cwd": request.get("wd"), "tempdir": tempdir, "legacy": args}
        mirror.post("attach", attach_args, sent=sent)
        log.info("legacy vscode-R session pid %d attached as %s", pid, session_id)
        return mirror

    # -- rstudioapi: a synchronous call answered through response.log ----------------------

    def _rstudioapi(self, mirror: _Mirror, args: dict[str, Any], sent: Optional[float]) -> None:
        action = args.get("action")
        forwarded = {"action": action, "args": args.get("args")}
        request = mirror.post("rstudioapi", forwarded, answer=True, sent=sent)
        answer_file = mirror.layout.response_file(request.id)
        waiter = make_waiter(choose_strategy(mirror.layout.folder))
        try:
            waiter.watch(mirror.layout.responses, renames_only=True)
            arrived = waiter.wait_until(answer_file.exists, RSTUDIOAPI_TIMEOUT)
        finally:
            waiter.close()
        if not arrived:
            self._answer_legacy(args, None, ("timeout", f"filebridge got no answer to "
                                             f"rstudioapi action {action!r} within "
                                             f"{RSTUDIOAPI_TIMEOUT:g} s"))
            return
        try:
            answer = decode_answer(answer_file.read_bytes())
        finally:
            answer_file.unlink(missing_ok=True)
        if answer.ok:
            self._answer_legacy(args, answer.result, None)
        elif answer.error_code == "no_handler":
            self._answer_legacy(args, None, (
                "unsupported", f"filebridge cannot perform rstudioapi action {action!r}: no "
                "integration registered an 'rstudioapi' handler on this host"))
        else:
            self._answer_legacy(args, None, (answer.error_code, answer.error_message))

    def _answer_legacy(self, args: dict[str, Any], result: Any,
                       error: Optional[tuple[str, str]]) -> None:
        sd = args.get("sd")
        if not isinstance(sd, str) or not sd:
            log.error("legacy rstudioapi request names no session folder (sd)")
            return
        folder = Path(self.host.map_path(sd))
        body = result if error is None else {"error": {"code": error[0], "message": error[1]}}
        if error is not None:
            log.warning("rstudioapi %r: %s", args.get("action"), error[1])
        # The legacy reader takes the first line of response.log, then watches the lock for a
        # new timestamp; so the answer goes first, whole, and the lock after it.
        atomic_write(folder / "response.log", dumps(body) + b"\n")
        atomic_write(folder / "response.lock", b"%.6f" % time.time())

    # -- workspace and plot files ----------------------------------------------------------

    def _watch_legacy_files(self, mirror: _Mirror) -> None:
        if not mirror.legacy_dir.is_dir():
            return
        if not mirror.watched:
            self._waiter.watch(mirror.legacy_dir, probe=["workspace.lock", "plot.lock"])
            mirror.watched.add("")
        for name in ("workspace.lock", "plot.lock"):
            if name not in mirror.watched and (mirror.legacy_dir / name).exists():
                self._waiter.watch(mirror.legacy_dir / name)
                mirror.watched.add(name)

    def _sync_files(self, mirror: _Mirror) -> None:
        if not mirror.legacy_dir.is_dir():
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
            legacy = loads((mirror.legacy_dir / "workspace.json").read_bytes())
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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
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


# -- the serve feature: `filebridge serve --vscode-r [--watcher-dir DIR]` -------------------

def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("legacy vscode-R sessions")
    group.add_argument("--vscode-r", action="store_true",
                       help="also serve R sessions started with vscode-R 2.8's session code")
    group.add_argument("--watcher-dir", metavar="DIR", type=Path, default=None,
                       help="their watcher folder (default: $VSCODE_WATCHER_DIR or ~/.vscode-R)")


def install(host: Host, args: argparse.Namespace) -> Optional[LegacyWatcher]:
    """Start the adapter when ``--vscode-r`` was given; returns it (stop it with the host)."""
    if not getattr(args, "vscode_r", False):
        return None
    watcher = LegacyWatcher(host, getattr(args, "watcher_dir", None),
                            force_poll=getattr(args, "poll", None) or None)
    watcher.start()
    host.on_stop(watcher.stop)
    return watcher

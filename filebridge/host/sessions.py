"""The sessions under a root, as the local side manages them: create one for a worker, see
which are alive, remove the dead ones, recover a broken one. ``filebridge new-session``,
``sessions``, ``prune`` and ``recover`` print what these return.

    from filebridge.host.sessions import new_session, observe_sessions

    created = new_session("~/.filebridge")          # {"id", "folder", "bootstrap", "token"}
    for session in observe_sessions("~/.filebridge"):
        print(session["id"], session["status"])
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import filebridge
from filebridge.errors import SessionError
from filebridge.host.bootstrap_copy import copy_bootstrap
from filebridge.host.journal import recover
from filebridge.wire.codec import dumps, loads
from filebridge.wire.files import atomic_write, read_counter, read_file
from filebridge.wire.host_status import holder_is_running, read_holder
from filebridge.wire.journal_record import decode_record
from filebridge.wire.layout import RootLayout, is_valid_session_id, make_private_dir, new_session_id
from filebridge.wire.logs import log_end, log_start
from filebridge.wire.waiting import choose_strategy, filesystem_type
from filebridge.worker.background import HEARTBEAT_INTERVAL

__all__ = ["LOOK_SECONDS", "Pruned", "existing_root", "host_side", "new_session",
           "observe_sessions", "prune_sessions", "recover_session"]

# Long enough to see a live worker's heartbeat move at least once.
LOOK_SECONDS = HEARTBEAT_INTERVAL + 0.5

PathLike = Union[str, Path]


def existing_root(root: PathLike) -> Path:
    """``root`` expanded; it must already hold a ``sessions/`` folder."""
    folder = Path(root).expanduser()
    if not (folder / "sessions").is_dir():
        raise SessionError(f"no filebridge root at {folder} (no sessions/ folder in it)")
    return folder


def new_session(root: PathLike, session_id: str = "") -> dict[str, Any]:
    """A new session folder (0700) under ``root`` with a bootstrap copy of the worker side:
    ``{"id", "folder", "bootstrap", "token"}``."""
    layout = RootLayout(Path(root).expanduser())
    make_private_dir(layout.sessions)
    session_id = session_id or new_session_id()
    if not is_valid_session_id(session_id):
        raise SessionError(f"{session_id!r} is not a valid session id ([A-Za-z0-9_.-])")
    session = layout.session(session_id)
    if session.folder.exists():
        raise SessionError(f"session {session_id} exists already: {session.folder}")
    make_private_dir(session.folder)
    token = secrets.token_hex(16)
    atomic_write(session.session_json, dumps({"protocol": filebridge.PROTOCOL_VERSION,
                                              "id": session_id, "token": token,
                                              "created": time.time()}))
    _issue(layout, token)
    bootstrap = copy_bootstrap(session.folder / "bootstrap")
    return {"id": session_id, "folder": str(session.folder), "bootstrap": str(bootstrap),
            "token": token}


def _issue(layout: RootLayout, token: str) -> None:
    try:
        tokens = loads(layout.issued_tokens.read_bytes())
    except (OSError, ValueError):
        tokens = []
    atomic_write(layout.issued_tokens, dumps([*tokens, token]))


def host_side(root: PathLike) -> dict[str, str]:
    """The host's filesystem and waiting strategy: as host.json says, else as seen from this
    process (which is on the host's side of the folder)."""
    layout = RootLayout(Path(root).expanduser())
    holder = read_holder(layout)
    looked_at = layout.sessions if layout.sessions.exists() else layout.root
    return {"filesystem": str(holder.get("filesystem") or filesystem_type(looked_at) or "-"),
            "strategy": str(holder.get("strategy") or choose_strategy(looked_at))}


def _with_sides(sessions: list[dict[str, Any]], root: Path) -> list[dict[str, Any]]:
    """Each session with the worker's filesystem and strategy (from its session.json) and the
    host's."""
    host = host_side(root)
    for session in sessions:
        try:
            info = loads(read_file(Path(session["folder"]) / "session.json", 1 << 16))
        except (OSError, ValueError, KeyError, TypeError):
            info = {}
        if not isinstance(info, dict):
            info = {}
        session["worker_filesystem"] = str(info.get("filesystem") or "")
        session["worker_strategy"] = str(info.get("strategy") or "")
        session["host_filesystem"] = host["filesystem"]
        session["host_strategy"] = host["strategy"]
    return sessions


def observe_sessions(root: PathLike, watch_seconds: float = LOOK_SECONDS) -> list[dict[str, Any]]:
    """Each session's status (alive, waiting, stale, detached; refused or broken as a serving
    host says): from the serving host when one runs, else by watching heartbeats for
    ``watch_seconds``; with the filesystem and waiting strategy of both sides."""
    folder = Path(root).expanduser()
    return _with_sides(_observe_status(folder, watch_seconds), folder)


def _observe_status(root: Path, watch_seconds: float) -> list[dict[str, Any]]:
    layout = RootLayout(root)
    if holder_is_running(layout):
        try:
            shown = loads((layout.root / "host-sessions.json").read_bytes())
            if isinstance(shown, list):
                return [s for s in shown if isinstance(s, dict)]
        except (OSError, ValueError):
            pass
    try:
        folders = sorted(p for p in layout.sessions.iterdir() if p.is_dir())
    except OSError:
        return []
    before = {f: read_counter(f / "heartbeat") for f in folders}
    if watch_seconds > 0 and folders:
        time.sleep(watch_seconds)
    sessions = []
    for folder in folders:
        try:
            info = loads((folder / "session.json").read_bytes())
        except (OSError, ValueError):
            info = {}
        if (folder / "detached").exists():
            status = "detached"
        elif read_counter(folder / "heartbeat") not in (b"", before[folder]):
            status = "alive"
        elif not (folder / "heartbeat").exists():
            status = "waiting"  # made by new_session; its worker has not started yet
        else:
            status = "stale"
        sessions.append({"id": folder.name, "folder": str(folder), "status": status,
                         "language": info.get("language", ""), "pid": info.get("pid"),
                         "machine": info.get("machine", ""), "started": info.get("started")})
    return sessions


@dataclass
class Pruned:
    removed: list[str] = field(default_factory=list)
    kept_alive: list[str] = field(default_factory=list)  # their heartbeat moved while we looked


def prune_sessions(root: PathLike, *, refused: bool = False, dry_run: bool = False,
                   watch_seconds: float = LOOK_SECONDS) -> Pruned:
    """Delete the folders of detached and stale sessions (and refused and broken ones with
    ``refused``). A session whose heartbeat moves while this looks is kept, whatever a host
    or a first look said."""
    folder = existing_root(root)
    layout = RootLayout(folder)
    wanted = {"detached", "stale"} | ({"refused", "broken"} if refused else set())
    candidates = [s for s in observe_sessions(folder, watch_seconds) if s["status"] in wanted]
    beats = {s["id"]: read_counter(Path(s["folder"]) / "heartbeat") for s in candidates}
    if candidates:
        time.sleep(watch_seconds)
    pruned = Pruned()
    for session in candidates:
        if read_counter(Path(session["folder"]) / "heartbeat") != beats[session["id"]]:
            pruned.kept_alive.append(session["id"])
            continue
        if not dry_run:
            shutil.rmtree(session["folder"], ignore_errors=True)
            layout.journal_mirror(session["id"]).unlink(missing_ok=True)
        pruned.removed.append(session["id"])
    return pruned


def recover_session(root: PathLike, session_id: str, *,
                    skip_unserved: bool = False) -> dict[str, Any]:
    """Write a fresh ``host.offset`` for a broken session: where this host last knew it had
    served (its own copy), or with ``skip_unserved`` the end of request.log. Returns
    ``{"session", "position", "unserved_bytes", "lost_bytes"}``; lost bytes were rotated away
    before the host read them."""
    layout = RootLayout(Path(root).expanduser())
    if not is_valid_session_id(session_id) or not layout.session(session_id).folder.is_dir():
        raise SessionError(f"no session {session_id!r} under {layout.root}")
    session = layout.session(session_id)
    size = log_end(session.request_log)
    first = log_start(session.request_log)
    mirror = layout.journal_mirror(session_id)
    known = 0
    try:
        record = decode_record(read_file(mirror, 64))
        known = record[1] if record else 0
    except OSError:
        pass
    position = size if skip_unserved or known > size else max(known, first)
    recover(session.host_offset, mirror, position)
    lost = max(0, first - known) if position == first else 0
    return {"session": session_id, "position": position, "unserved_bytes": size - position,
            "lost_bytes": lost}

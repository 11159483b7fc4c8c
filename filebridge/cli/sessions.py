"""``filebridge new-session``, ``sessions`` and ``prune``."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import filebridge
from filebridge.cli.output import CommandFailed, emit
from filebridge.cli.template import render_template
from filebridge.host.bootstrap_copy import copy_bootstrap
from filebridge.host.journal import recover
from filebridge.host.session import STALE_AFTER
from filebridge.wire.codec import dumps, loads
from filebridge.wire.files import atomic_write, read_counter, read_file
from filebridge.wire.host_status import holder_is_running, read_holder
from filebridge.wire.journal_record import decode_record
from filebridge.wire.layout import RootLayout, is_valid_session_id, make_private_dir, new_session_id
from filebridge.wire.logs import log_end, log_start
from filebridge.wire.waiting import choose_strategy, filesystem_type
from filebridge.worker.background import HEARTBEAT_INTERVAL

__all__ = ["register"]

def create_session(root: Path, session_id: str = "") -> dict[str, Any]:
    layout = RootLayout(root)
    make_private_dir(layout.sessions)
    session_id = session_id or new_session_id()
    if not is_valid_session_id(session_id):
        raise CommandFailed(f"{session_id!r} is not a valid session id ([A-Za-z0-9_.-])")
    session = layout.session(session_id)
    if session.folder.exists():
        raise CommandFailed(f"session {session_id} exists already: {session.folder}")
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


def _new_session(args: argparse.Namespace) -> int:
    created = create_session(Path(args.root).expanduser(), args.id or "")
    snippet = render_template("python", Path(created["folder"]))
    created["snippet"] = snippet
    emit(created, args.json, f"session {created['id']}: {created['folder']}\n"
                             f"start a Python worker in it with:\n{snippet}")
    return 0


def host_side(root: Path) -> dict[str, str]:
    """The host's filesystem and waiting strategy: as host.json says, else as seen from here
    (this command runs on the host's side of the folder)."""
    holder = read_holder(RootLayout(root))
    sessions = RootLayout(root).sessions
    looked_at = sessions if sessions.exists() else root
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


def observe_sessions(root: Path, watch_seconds: float) -> list[dict[str, Any]]:
    """Each session's status: from the serving host when one runs, else by watching beats;
    with the filesystem and waiting strategy of both sides."""
    return _with_sides(_observe_status(root, watch_seconds), root)


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
            status = "waiting"  # made by new-session; its worker has not started yet
        else:
            status = "stale"
        sessions.append({"id": folder.name, "folder": str(folder), "status": status,
                         "language": info.get("language", ""), "pid": info.get("pid"),
                         "machine": info.get("machine", ""), "started": info.get("started")})
    return sessions


def _format(sessions: list[dict[str, Any]]) -> str:
    if not sessions:
        return "no sessions"
    lines = [f"{'ID':<14} {'STATUS':<9} {'LANGUAGE':<9} {'PID':>7}  {'MACHINE':<16} "
             f"{'STARTED':<19}  {'WORKER FS / WAIT':<24} HOST FS / WAIT"]
    for s in sessions:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["started"])) \
            if s.get("started") else "-"
        worker = f"{s.get('worker_filesystem') or '-'} / {s.get('worker_strategy') or '-'}"
        host = f"{s.get('host_filesystem') or '-'} / {s.get('host_strategy') or '-'}"
        lines.append(f"{s['id']:<14} {s['status']:<9} {s.get('language') or '-':<9} "
                     f"{s.get('pid') or '-':>7}  {s.get('machine') or '-':<16} {started:<19}  "
                     f"{worker:<24} {host}")
    return "\n".join(lines)


def existing_root(args: argparse.Namespace) -> Path:
    """The --root a command reads, which must already exist."""
    root = Path(args.root).expanduser()
    if not (root / "sessions").is_dir():
        raise CommandFailed(f"no filebridge root at {root} (no sessions/ folder in it)")
    return root


def _sessions(args: argparse.Namespace) -> int:
    sessions = observe_sessions(existing_root(args), HEARTBEAT_INTERVAL + 0.5)
    emit(sessions, args.json, _format(sessions))
    return 0


def _prune(args: argparse.Namespace) -> int:
    root = existing_root(args)
    layout = RootLayout(root)
    wanted = {"detached", "stale"} | ({"refused", "broken"} if args.refused else set())
    sessions = observe_sessions(root, HEARTBEAT_INTERVAL + 0.5)
    candidates = [s for s in sessions if s["status"] in wanted]
    # Whatever the host or a first look said, a heartbeat that moves now means a live worker.
    beats = {s["id"]: read_counter(Path(s["folder"]) / "heartbeat") for s in candidates}
    if candidates:
        time.sleep(HEARTBEAT_INTERVAL + 0.5)
    removed, kept = [], []
    for session in candidates:
        if read_counter(Path(session["folder"]) / "heartbeat") != beats[session["id"]]:
            kept.append(session["id"])
            continue
        if not args.dry_run:
            shutil.rmtree(session["folder"], ignore_errors=True)
            layout.journal_mirror(session["id"]).unlink(missing_ok=True)
        removed.append(session["id"])
    verb = "would remove" if args.dry_run else "removed"
    text = f"{verb} {len(removed)} session(s)" + (": " + ", ".join(removed) if removed else "")
    if kept:
        text += f"; kept {', '.join(kept)}: its heartbeat moved while prune looked"
    emit({"removed": removed, "kept_alive": kept, "dry_run": args.dry_run}, args.json, text)
    return 0


def _recover(args: argparse.Namespace) -> int:
    layout = RootLayout(Path(args.root).expanduser())
    if not is_valid_session_id(args.session) or not layout.session(args.session).folder.is_dir():
        raise CommandFailed(f"no session {args.session!r} under {layout.root}")
    session = layout.session(args.session)
    size = log_end(session.request_log)
    first = log_start(session.request_log)
    mirror = layout.journal_mirror(args.session)
    known = 0
    try:
        record = decode_record(read_file(mirror, 64))
        known = record[1] if record else 0
    except OSError:
        pass
    position = size if args.skip_unserved or known > size else max(known, first)
    recover(session.host_offset, mirror, position)
    unserved = size - position
    lost = max(0, first - known) if position == first else 0
    text = (f"session {args.session}: the host resumes at byte {position} of request.log "
            f"({unserved} bytes after it will be served)")
    if lost:
        text += f"; {lost} bytes before it were rotated away unread"
    emit({"session": args.session, "position": position, "unserved_bytes": unserved,
          "lost_bytes": lost}, args.json, text)
    return 0


def add_root_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=os.environ.get("FILEBRIDGE_ROOT") or "~/.filebridge",
                        help="the filebridge root (FILEBRIDGE_ROOT, default ~/.filebridge)")


def register(subparsers: Any) -> None:
    new = subparsers.add_parser("new-session", help="create a session folder for a worker",
                                description="Create a session folder (0700) under the root, "
                                "with a bootstrap copy of the worker side, and print the line "
                                "that connects a Python worker to it.")
    add_root_argument(new)
    new.add_argument("--id", help="the session id (default: random)")
    new.add_argument("--json", action="store_true", help="print the result as JSON")
    new.set_defaults(func=_new_session)

    listing = subparsers.add_parser("sessions", help="list sessions and whether they are alive",
                                    description="List the root's sessions: alive, stale, "
                                    "detached or refused. Without a running host this watches "
                                    f"heartbeats for {HEARTBEAT_INTERVAL + 0.5:g} s.")
    add_root_argument(listing)
    listing.add_argument("--json", action="store_true", help="print the sessions as JSON")
    listing.set_defaults(func=_sessions)

    prune = subparsers.add_parser("prune", help="delete detached and stale session folders",
                                  description="Delete the folders of detached and stale "
                                  f"sessions (no heartbeat for {STALE_AFTER:g} s). Nothing is "
                                  "ever deleted without this command.")
    add_root_argument(prune)
    prune.add_argument("--refused", action="store_true", help="also refused and broken sessions")
    prune.add_argument("--dry-run", action="store_true", help="only say what would go")
    prune.add_argument("--json", action="store_true", help="print the result as JSON")
    prune.set_defaults(func=_prune)

    again = subparsers.add_parser(
        "recover", help="say where the host resumes a broken session",
        description="A session whose host.offset was damaged, deleted or put back shows as "
        "broken and is not served, so that no request runs twice. This writes a fresh "
        "position: where this host last knew it had served (its own copy), or with "
        "--skip-unserved the end of request.log. The host serves the session again within "
        "three seconds.")
    add_root_argument(again)
    again.add_argument("session", help="the session id")
    again.add_argument("--skip-unserved", action="store_true",
                       help="resume at the end of request.log: requests not yet served are "
                            "dropped")
    again.add_argument("--json", action="store_true", help="print the result as JSON")
    again.set_defaults(func=_recover)

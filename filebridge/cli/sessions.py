"""``filebridge new-session``, ``sessions`` and ``prune``."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from filebridge.cli.output import emit
from filebridge.cli.template import render_template
from filebridge.host.session import STALE_AFTER
from filebridge.host.sessions import (
    LOOK_SECONDS,
    existing_root,
    new_session,
    observe_sessions,
    prune_sessions,
    recover_session,
)

__all__ = ["register"]

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


def _new_session(args: argparse.Namespace) -> int:
    created = new_session(args.root, args.id or "")
    snippet = render_template("python", Path(created["folder"]))
    created["snippet"] = snippet
    emit(created, args.json, f"session {created['id']}: {created['folder']}\n"
                             f"start a Python worker in it with:\n{snippet}")
    return 0


def _sessions(args: argparse.Namespace) -> int:
    sessions = observe_sessions(existing_root(args.root))
    emit(sessions, args.json, _format(sessions))
    return 0


def _prune(args: argparse.Namespace) -> int:
    pruned = prune_sessions(args.root, refused=args.refused, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    text = f"{verb} {len(pruned.removed)} session(s)" + (
        ": " + ", ".join(pruned.removed) if pruned.removed else "")
    if pruned.kept_alive:
        text += f"; kept {', '.join(pruned.kept_alive)}: its heartbeat moved while prune looked"
    emit({"removed": pruned.removed, "kept_alive": pruned.kept_alive, "dry_run": args.dry_run},
         args.json, text)
    return 0


def _recover(args: argparse.Namespace) -> int:
    result = recover_session(args.root, args.session, skip_unserved=args.skip_unserved)
    text = (f"session {args.session}: the host resumes at byte {result['position']} of "
            f"request.log ({result['unserved_bytes']} bytes after it will be served)")
    if result["lost_bytes"]:
        text += f"; {result['lost_bytes']} bytes before it were rotated away unread"
    emit(result, args.json, text)
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
                                    f"heartbeats for {LOOK_SECONDS:g} s.")
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

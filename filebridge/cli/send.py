"""``filebridge send``: put a request into a session from a shell script or a test."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from filebridge.cli.output import EXIT_ERROR_ANSWER, EXIT_NO_ANSWER, CommandFailed, emit
from filebridge.cli.sessions import add_root_argument
from filebridge.errors import CallTimeout, RemoteError
from filebridge.wire.layout import RootLayout, SessionLayout
from filebridge.worker.channel import session_channel

__all__ = ["parse_fields", "register"]


def parse_fields(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON is taken as JSON, else as text."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandFailed(f"fields are key=value, got {pair!r}")
        try:
            fields[key] = json.loads(value)
        except ValueError:
            fields[key] = value
    return fields


def find_session(root: Path, session: str) -> SessionLayout:
    """A session by id under the root, or by folder path."""
    chosen = session or os.environ.get("FILEBRIDGE_SESSION", "")
    if not chosen:
        raise CommandFailed("say which session: --session ID (or set FILEBRIDGE_SESSION)")
    candidate = Path(chosen).expanduser()
    layout = SessionLayout(candidate) if candidate.is_dir() else RootLayout(root).session(chosen)
    if not layout.session_json.exists():
        raise CommandFailed(f"no session {chosen!r} (looked for {layout.session_json})")
    return layout


def _send(args: argparse.Namespace) -> int:
    layout = find_session(Path(args.root).expanduser(), args.session)
    fields = parse_fields(args.fields)
    channel = session_channel(layout)
    try:
        if not args.wait:
            request = channel.post(args.command, fields)
            emit({"id": request.id, "session": layout.id}, args.json, request.id)
            return 0
        try:
            request, answer, _waited = channel.call(args.command, fields, args.timeout)
        except RemoteError as exc:
            raise CommandFailed(str(exc), code=EXIT_ERROR_ANSWER) from None
        if answer is None:
            raise CommandFailed(f"no answer to {args.command!r} within {args.timeout:g} s "
                                "(is `filebridge serve` running on this root?)",
                                code=EXIT_NO_ANSWER)
        if not answer.ok:
            emit({"id": request.id, "ok": False, "error": {"code": answer.error_code,
                  "message": answer.error_message}}, args.json)
            raise CommandFailed(f"{answer.error_message} [{answer.error_code}]",
                                code=EXIT_ERROR_ANSWER)
        emit({"id": request.id, "ok": True, "result": answer.result}, args.json,
             json.dumps(answer.result, indent=1, default=str))
        return 0
    except CallTimeout as exc:
        raise CommandFailed(str(exc), code=EXIT_NO_ANSWER) from None
    finally:
        channel.close()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "send", help="send a request into a session, as its worker would",
        description="Append a request to a session's request.log, as the worker would, and "
                    "with --wait print the host's answer. Exit 2 for an error answer, 3 when "
                    "no answer came in time.")
    parser.add_argument("command", help="the command, e.g. echo")
    parser.add_argument("fields", nargs="*", help="key=value (JSON values are parsed)")
    add_root_argument(parser)
    parser.add_argument("--session", default="", help="session id or folder "
                        "(FILEBRIDGE_SESSION)")
    parser.add_argument("--wait", action="store_true", help="wait for the answer and print it")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (10)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_send)

"""``filebridge record`` and ``filebridge replay``: a session's journal as a file, and back."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from filebridge.cli.output import CommandFailed, emit
from filebridge.cli.sessions import add_root_argument
from filebridge.wire.layout import RootLayout, is_valid_session_id

__all__ = ["register"]


def register(subparsers: Any) -> None:
    record = subparsers.add_parser(
        "record", help="export a session's requests and answers as a recording file",
        description="Read a session folder's request log and answer log and write them as a "
                    "recording (JSON Lines, docs/testing.md). Answers that travelled as files "
                    "(the R worker's) are gone once read: record those live with "
                    "`filebridge serve --record DIR`.")
    add_root_argument(record)
    record.add_argument("session", metavar="SESSION", help="a session id, or a session folder")
    record.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="where to write the recording (- for standard output)")
    record.set_defaults(func=_record)

    replay = subparsers.add_parser(
        "replay", help="play a recording's worker side against the host of a root",
        description="Send a recording's requests, in order and with their timing, from a new "
                    "session under the root, and compare each answer with the recorded one. "
                    "Exit code 0 when every answer is the same, 1 when any differs.")
    add_root_argument(replay)
    replay.add_argument("file", metavar="FILE", help="a recording")
    replay.add_argument("--session", metavar="ID", help="the new session's id (default: random)")
    replay.add_argument("--speed", type=float, default=1.0, metavar="X",
                        help="2 plays twice as fast, 0 sends without waiting (default 1)")
    replay.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="seconds to wait for each answer (default 30)")
    replay.add_argument("--poll", action="store_true", help="poll (network filesystems)")
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    replay.set_defaults(func=_replay)


def _record(args: argparse.Namespace) -> int:
    from filebridge.testing.recording import from_session_folder

    given = Path(args.session).expanduser()
    if is_valid_session_id(args.session) and not given.is_dir():
        folder = RootLayout(Path(args.root).expanduser()).session(args.session).folder
    else:
        folder = given
    if not folder.is_dir():
        raise CommandFailed(f"no session folder {folder}")
    recording = from_session_folder(folder)
    if args.output == "-":
        import sys

        from filebridge.wire.codec import dumps

        for line in [recording.header()] + [r.as_json() for r in recording.requests]:
            sys.stdout.write(dumps(line).decode() + "\n")
        return 0
    path = recording.save(Path(args.output).expanduser())
    answered = sum(1 for r in recording.requests if r.outcome is not None)
    print(f"recorded {len(recording.requests)} request(s) of session {recording.session} "
          f"({answered} with their answer) into {path}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from filebridge.testing.recording import Recording
    from filebridge.testing.replay import replay

    if args.session and not is_valid_session_id(args.session):
        raise CommandFailed(f"{args.session!r} is not a session id", code=2)
    if args.speed < 0:
        raise CommandFailed("--speed must be 0 or more", code=2)
    recording = Recording.load(Path(args.file).expanduser())
    report = replay(recording, Path(args.root).expanduser(), session_id=args.session,
                    speed=args.speed, timeout=args.timeout, force_poll=True if args.poll else None)
    lines = [report.summary()]
    for difference in report.differences:
        lines.append(f"  #{difference.index} {difference.command}: recorded "
                     f"{difference.recorded!r}, replayed {difference.replayed!r}")
    emit(report.as_json(), args.json, "\n".join(lines))
    return 0 if not report.differences else 1

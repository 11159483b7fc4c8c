"""``filebridge notebook``: convert Databricks notebooks and keep shadow ``.ipynb`` files in sync.

A thin layer over ``filebridge.notebooks``: every subcommand calls one library function and
prints what it returned. The session is ``$FILEBRIDGE_NOTEBOOK_SESSION`` or the user name, so
``open``, ``status`` and ``reload`` run as separate commands share their state.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import orjson

from filebridge.errors import FilebridgeError
from filebridge.notebooks.convert import convert_text
from filebridge.notebooks.files import atomic_write
from filebridge.notebooks.shadow import LOCATIONS, ShadowSession, SyncEvent
from filebridge.notebooks.watch import watch_session

__all__ = ["main", "register"]

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``notebook`` command and its subcommands; each sets ``func``."""
    parser = subparsers.add_parser(
        "notebook",
        help="Databricks source notebooks as .ipynb: convert, open a shadow, sync",
        description="Convert Databricks source notebooks (.py, .sql, .scala, .r) to .ipynb and "
        "back, byte exact, or open one as a shadow .ipynb kept in sync with the source.",
    )
    commands = parser.add_subparsers(dest="notebook_command", metavar="COMMAND")
    commands.required = True

    convert = commands.add_parser("convert", help="convert IN to OUT, direction by extension")
    convert.add_argument("input", metavar="IN", help="a .ipynb or a source notebook")
    convert.add_argument("output", metavar="OUT", help="the other format, or - for stdout")
    convert.set_defaults(func=_convert)

    open_ = commands.add_parser("open", help="create (or reuse) the shadow .ipynb of SRC")
    open_.add_argument("source", metavar="SRC", help="a source notebook")
    open_.add_argument("--workspace", metavar="DIR",
                       help="workspace root (default: the current folder if it holds SRC, "
                       "else SRC's folder)")
    open_.add_argument("--location", choices=LOCATIONS, default="temp",
                       help="temp: the session folder (default); workspace: DIR/.databricks/")
    open_.add_argument("--watch", action="store_true",
                       help="keep shadow and source in sync until interrupted")
    open_.add_argument("--auto-reload", action="store_true",
                       help="regenerate the shadow when the source changes, instead of making "
                       "it read-only")
    open_.add_argument("--poll", action="store_true",
                       help="poll instead of file events (network filesystems)")
    open_.add_argument("--json", action="store_true", help="print JSON (one object a line)")
    open_.set_defaults(func=_open)

    status = commands.add_parser("status", help="list this session's shadows and their state")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_status)

    reload = commands.add_parser("reload", help="regenerate SRC's shadow, ending read-only")
    reload.add_argument("source", metavar="SRC", help="a source notebook with a shadow")
    reload.set_defaults(func=_reload)


def main(argv: Optional[list[str]] = None) -> int:
    """Run ``notebook`` alone (``python -m filebridge.cli.notebook ...``)."""
    parser = argparse.ArgumentParser(prog="filebridge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["notebook", *(sys.argv[1:] if argv is None else argv)])
    handler: Handler = args.func
    return handler(args)


def _errors_to_exit_code(handler: Handler) -> Handler:
    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (FilebridgeError, OSError) as exc:
            message = str(exc).replace("\n", " ")
            print(f"filebridge notebook {args.notebook_command}: error: {message}",
                  file=sys.stderr)
            return 1

    return run


@_errors_to_exit_code
def _convert(args: argparse.Namespace) -> int:
    data = Path(args.input).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FilebridgeError(f"{args.input}: not UTF-8 text") from None
    out_text, warnings = convert_text(text, args.input, args.output)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output == "-":
        sys.stdout.write(out_text)
        sys.stdout.flush()
    else:
        atomic_write(Path(args.output), out_text.encode("utf-8"))
    return 0


@_errors_to_exit_code
def _open(args: argparse.Namespace) -> int:
    session = ShadowSession()
    event = session.open(
        args.source, workspace=args.workspace, location=args.location,
        auto_reload=args.auto_reload,
    )
    if args.json:
        _print_json({**event.to_dict(), "session": session.session_id})
    else:
        print(event.shadow, flush=True)
        for warning in event.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if not args.watch:
        return 0
    report = _json_reporter if args.json else _text_reporter
    report(SyncEvent("watching", event.source, event.shadow,
                     f"watching; press Ctrl+C to stop (session {session.session_id})"))
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        watch_session(session, report, force_polling=args.poll, stop_event=stop)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    report(SyncEvent("stopped", event.source, event.shadow, "stopped watching"))
    return 0


@_errors_to_exit_code
def _status(args: argparse.Namespace) -> int:
    session = ShadowSession()
    items = session.status()
    if args.json:
        _print_json({"session": session.session_id, "folder": str(session.folder),
                     "shadows": items})
        return 0
    if not items:
        print(f"no shadows in session {session.session_id}")
        return 0
    for item in items:
        flags = [item["status"].upper() if item["read_only"] else item["status"]]
        if item["source_changed"]:
            flags.append("source changed")
        if item["shadow_changed"]:
            flags.append("shadow has unsynced edits")
        if item["reason"]:
            flags.append(item["reason"])
        print(f"{item['source']}\n  shadow: {item['shadow']}\n  state:  {', '.join(flags)}")
    return 0


@_errors_to_exit_code
def _reload(args: argparse.Namespace) -> int:
    for event in ShadowSession().reload(args.source):
        print(event.shadow)
    return 0


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()


def _json_reporter(event: SyncEvent) -> None:
    _print_json({"time": time.time(), **event.to_dict()})


def _text_reporter(event: SyncEvent) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} {event.kind:<9} {event.source}: {event.message}", file=sys.stderr,
          flush=True)
    for warning in event.warnings:
        print(f"{stamp} warning   {warning}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())

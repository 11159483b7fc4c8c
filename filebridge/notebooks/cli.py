"""``filebridge notebook``: convert Databricks notebooks and keep shadow ``.ipynb`` files in sync.

A thin layer over ``filebridge.notebooks``: every subcommand calls one library function and
prints what it returned. ``open`` starts a new session with a random id unless ``--session`` or
``$FILEBRIDGE_NOTEBOOK_SESSION`` names one; ``status``, ``reload`` and ``close`` without a session
act on every session of the user that holds the file.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import orjson

from filebridge.errors import FilebridgeError
from filebridge.notebooks.convert import convert_text
from filebridge.notebooks.files import replace_user_file
from filebridge.notebooks.runs import runs_of_source
from filebridge.notebooks.shadow import (
    LOCATIONS,
    SESSION_ENV,
    ShadowSession,
    SyncEvent,
    default_workspace,
)
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
    convert.add_argument("--quiet", action="store_true", help="no progress for large files")
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
    open_.add_argument("--keep", action="store_true",
                       help="with --watch: keep the shadows when the watcher stops")
    open_.add_argument("--json", action="store_true", help="print JSON (one object a line)")
    _session_option(open_, "the session to open in (default: a new one with a random id)")
    open_.set_defaults(func=_open)

    status = commands.add_parser("status", help="list the shadows and their state")
    status.add_argument("--json", action="store_true", help="print JSON")
    _session_option(status, "only this session (default: every session of this user)")
    status.set_defaults(func=_status)

    reload = commands.add_parser("reload", help="regenerate SRC's shadow, ending read-only")
    reload.add_argument("source", metavar="SRC", help="a source notebook with a shadow")
    _session_option(reload, "only this session (default: every session holding SRC)")
    reload.set_defaults(func=_reload)

    close = commands.add_parser("close", help="save SRC's shadow back, then remove it")
    close.add_argument("source", metavar="SRC", help="a source notebook with a shadow")
    _session_option(close, "only this session (default: every session holding SRC)")
    close.set_defaults(func=_close)

    runs = commands.add_parser("runs", help="the notebooks SRC's %%run cells run, found locally")
    runs.add_argument("source", metavar="SRC", help="a source notebook")
    runs.add_argument("--workspace", metavar="DIR",
                      help="workspace root (default: as for open)")
    runs.add_argument("--json", action="store_true", help="print JSON")
    runs.set_defaults(func=_runs)

    prune = commands.add_parser(
        "prune", help="remove shadows of ended sessions and of deleted sources"
    )
    prune.add_argument("--json", action="store_true", help="print JSON (one object a line)")
    prune.set_defaults(func=_prune)

    lab = commands.add_parser(
        "jupyterlab", help="install (or remove) double-click opening in JupyterLab",
        description="Without an action: show what is installed. --install makes JupyterLab "
        "open Databricks source notebooks as notebooks on double-click (and through Open "
        "With), saving byte exact; --uninstall removes exactly what --install wrote.")
    action = lab.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true", help="install or update")
    action.add_argument("--uninstall", action="store_true", help="remove the installed files")
    scope = lab.add_mutually_exclusive_group()
    scope.add_argument("--sys-prefix", dest="scope", action="store_const", const="sys-prefix",
                       help="this Python environment's Jupyter folders (default)")
    scope.add_argument("--user", dest="scope", action="store_const", const="user",
                       help="the user's Jupyter folders (jupyter --config-dir, --data-dir)")
    lab.add_argument("--double-click", metavar="TYPES", default="py,sql,scala,r",
                     help="with --install: the file types a double-click opens as notebooks "
                     "(default py,sql,scala,r; none: only Open With > Notebook)")
    lab.add_argument("--json", action="store_true", help="print JSON")
    lab.set_defaults(func=_jupyterlab, scope="sys-prefix")


def _session_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--session", metavar="ID",
                        help=f"{help_text}; also $FILEBRIDGE_NOTEBOOK_SESSION")


def _named_session(args: argparse.Namespace) -> Optional[str]:
    value: Optional[str] = args.session or os.environ.get(SESSION_ENV) or None
    return value


def _sessions_holding(args: argparse.Namespace) -> list[ShadowSession]:
    named = _named_session(args)
    if named:
        return [ShadowSession(named)]
    return ShadowSession.existing()


def main(argv: Optional[list[str]] = None) -> int:
    """Run ``notebook`` alone (``python -m filebridge.notebooks.cli ...``)."""
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
    progress = None if args.quiet else _progress_printer(Path(args.input).name)
    out_text, warnings = convert_text(text, args.input, args.output, progress)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output == "-":
        sys.stdout.write(out_text)
        sys.stdout.flush()
    else:
        replace_user_file(Path(args.output), out_text.encode("utf-8"))
    return 0


@_errors_to_exit_code
def _open(args: argparse.Namespace) -> int:
    session = ShadowSession(_named_session(args))
    report = _json_reporter if args.json else _text_reporter
    if args.json:
        progress: Callable[[SyncEvent], None] = report
    else:
        printer = _progress_printer(Path(args.source).name)
        progress = lambda event: printer(event.progress or 0.0)  # noqa: E731
    if args.watch:
        session.claim()
    try:
        event = session.open(
            args.source, workspace=args.workspace, location=args.location,
            auto_reload=args.auto_reload, progress=progress,
        )
    except FilebridgeError:
        if args.watch and not session.entries():
            session.end()  # nothing was opened: leave no owned, empty session behind
        raise
    if args.json:
        _print_json({**event.to_dict(), "session": session.session_id})
    else:
        print(event.shadow, flush=True)
        if not _named_session(args):
            print(f"session {session.session_id} (pass --session {session.session_id} to "
                  "reuse it)", file=sys.stderr)
        for warning in event.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if not args.watch:
        return 0
    stop = threading.Event()
    # Installed before "watching" is reported: a SIGTERM sent on that line must stop cleanly.
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    report(SyncEvent("watching", event.source, event.shadow,
                     f"watching; press Ctrl+C to stop (session {session.session_id})"))
    try:
        watch_session(session, report, force_polling=args.poll, stop_event=stop)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not args.keep:
            for ended in session.end():
                report(ended)
    report(SyncEvent("stopped", event.source, event.shadow, "stopped watching"))
    return 0


@_errors_to_exit_code
def _status(args: argparse.Namespace) -> int:
    sessions = _sessions_holding(args)
    items = [item for session in sessions for item in session.status()]
    if args.json:
        _print_json({"sessions": [{"session": s.session_id, "folder": str(s.folder),
                                   "owner_alive": s.owner_alive()} for s in sessions],
                     "shadows": items})
        return 0
    if not items:
        named = _named_session(args)
        print(f"no shadows in session {named}" if named else "no shadows")
        return 0
    for item in items:
        flags = [item["status"].upper() if item["read_only"] else item["status"]]
        if item["source_changed"]:
            flags.append("source changed")
        if item["shadow_changed"]:
            flags.append("shadow has unsynced edits")
        if item["reason"]:
            flags.append(item["reason"])
        print(f"{item['source']}\n  shadow: {item['shadow']}\n  state:  {', '.join(flags)}"
              f"\n  session: {item['session']}")
    return 0


def _for_each_session(
    args: argparse.Namespace, action: Callable[[ShadowSession], list[SyncEvent]]
) -> list[SyncEvent]:
    events: list[SyncEvent] = []
    sessions = _sessions_holding(args)
    for session in sessions:
        if any(entry.source == os.path.realpath(args.source) for entry in session.entries()):
            events.extend(action(session))
    if not events:
        where = f"session {sessions[0].session_id}" if _named_session(args) else "any session"
        raise FilebridgeError(f"{args.source} has no shadow in {where}")
    return events


@_errors_to_exit_code
def _reload(args: argparse.Namespace) -> int:
    for event in _for_each_session(args, lambda session: session.reload(args.source)):
        print(event.shadow)
    return 0


@_errors_to_exit_code
def _close(args: argparse.Namespace) -> int:
    for event in _for_each_session(args, lambda session: session.close(args.source)):
        if event.kind == "closed":
            print(event.shadow)
        else:
            _text_reporter(event)
    return 0


@_errors_to_exit_code
def _prune(args: argparse.Namespace) -> int:
    report = _json_reporter if args.json else _text_reporter
    for session in ShadowSession.existing():
        ended = session.owner_alive() is False
        events = session.end() if ended else session.prune()
        for event in events:
            report(event)
        if not ended and not session.entries():
            session.end()
    return 0


@_errors_to_exit_code
def _jupyterlab(args: argparse.Namespace) -> int:
    from filebridge.notebooks import jupyterlab_setup as setup

    if args.install:
        report = setup.install(args.scope, setup.parse_double_click(args.double_click))
    elif args.uninstall:
        report = setup.uninstall(args.scope)
    else:
        report = setup.status(args.scope)
    if args.json:
        _print_json(report)
        return 0
    for path in report.get("written", []):
        print(f"wrote {path}")
    for path in report.get("removed", []):
        print(f"removed {path}")
    if args.uninstall:
        if not report["removed"]:
            print(f"nothing installed for {args.scope}")
        return 0
    if not report["installed"]:
        print(f"not installed for {args.scope} (filebridge notebook jupyterlab --install)")
        return 0
    types = ", ".join(f".{ext}" for ext in report["double_click"]) or "none"
    print(f"installed for {args.scope}: double-click opens {types} as notebooks; "
          "restart JupyterLab to apply")
    for note in report["notes"]:
        print(f"note: {note}")
    return 0


@_errors_to_exit_code
def _runs(args: argparse.Namespace) -> int:
    source = Path(os.path.realpath(args.source))
    if not source.is_file():
        raise FilebridgeError(f"{args.source}: no such source notebook")
    workspace = Path(args.workspace) if args.workspace else default_workspace(source)
    targets = runs_of_source(source, workspace)
    if args.json:
        _print_json({"source": str(source), "runs": [target.to_dict() for target in targets]})
        return 0
    for target in targets:
        found = target.path or f"not found: {target.reason}"
        print(f"cell {target.cell + 1}: %run {target.target} -> {found}")
    return 0


def _progress_printer(name: str) -> Callable[[float], None]:
    """Shows ``converting NAME: 45%`` on stderr: one updating line on a terminal."""
    tty = sys.stderr.isatty()

    def show(fraction: float) -> None:
        end = "\n" if fraction >= 1.0 or not tty else ""
        print(f"\rconverting {name}: {fraction:.0%}" if tty else
              f"converting {name}: {fraction:.0%}", end=end, file=sys.stderr, flush=True)

    return show


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

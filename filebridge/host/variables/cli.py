"""``filebridge vars``: a session's variables, children page by page, from the command line.

It needs no running host: the top level is read from the session's ``workspace.json``, and
children are asked of the worker through the session's command channel.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

from filebridge.cli.sessions import add_root_argument
from filebridge.errors import FilebridgeError
from filebridge.host.variables.provider import VariablesProvider, read_snapshot
from filebridge.wire.codec import dumps
from filebridge.wire.layout import RootLayout, default_root

__all__ = ["register", "run_vars"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``vars`` command; it sets ``func``."""
    parser = subparsers.add_parser(
        "vars",
        help="list a session's variables, or a page of one variable's children",
        description="Without PATH: the latest top-level snapshot (no round trip). With PATH: "
        "the children of that variable, asked of the worker. PATH is display names joined "
        "by '/' (cfg/servers/0), or a JSON list of access keys as inspect returns them.",
    )
    parser.add_argument("path", metavar="PATH", nargs="?", help="the variable to expand")
    parser.add_argument("--session", metavar="ID",
                        help="session id (default: $FILEBRIDGE_SESSION, else the session "
                        "that published variables last)")
    add_root_argument(parser)
    parser.add_argument("--start", type=int, default=0, metavar="N", help="first child shown")
    parser.add_argument("--count", type=int, default=100, metavar="N",
                        help="children shown (default 100, at most 1000 a page)")
    parser.add_argument("--sort", choices=("name", "size", "type"))
    parser.add_argument("--filter", metavar="TEXT", help="names containing TEXT (any case)")
    parser.add_argument("--view", action="store_true",
                        help="print PATH as a data-view table (DataFrames, arrays, lists)")
    parser.add_argument("--refresh", action="store_true",
                        help="ask the worker for a fresh snapshot first")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="seconds to wait for the worker (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_vars)


def _root(args: argparse.Namespace) -> RootLayout:
    chosen = getattr(args, "root", None)
    return RootLayout(Path(chosen).expanduser() if chosen else default_root())


def _choose_session(root: RootLayout, wanted: Optional[str]) -> str:
    if wanted:
        return wanted
    env = os.environ.get("FILEBRIDGE_SESSION")
    if env:
        return Path(env).name
    newest: tuple[float, str] = (-1.0, "")
    try:
        folders = list(root.sessions.iterdir())
    except OSError:
        folders = []
    for folder in folders:
        try:
            newest = max(newest, ((folder / "workspace.json").stat().st_mtime, folder.name))
        except OSError:
            continue
    if not newest[1]:
        raise FilebridgeError(f"no session under {root.root} has published variables; "
                              "pass --session ID")
    return newest[1]


def _parse_path(text: str) -> tuple[str, list[str]]:
    """("keys" | "names", the path)."""
    if text.startswith("["):
        try:
            keys = json.loads(text)
        except ValueError as exc:
            raise FilebridgeError(f"PATH looks like JSON but is not: {exc}") from None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or not keys:
            raise FilebridgeError("a JSON PATH is a non-empty list of access keys (strings)")
        return "keys", keys
    names = [part for part in text.split("/") if part]
    if not names:
        raise FilebridgeError("PATH names no variable")
    return "names", names


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def _table(entries: list[dict[str, Any]]) -> str:
    width = shutil.get_terminal_size((120, 20)).columns
    rows = [("NAME", "TYPE", "SHAPE", "SIZE", "VALUE")]
    for e in entries:
        shape = "x".join(str(n) for n in e.get("shape") or [])
        marker = "+" if e.get("has_children") else " "
        rows.append((marker + str(e.get("display_name", "")), str(e.get("display_type", "")),
                     shape, _size(e.get("size")), str(e.get("display_value", ""))))
    widths = [min(max(len(r[i]) for r in rows), 32) for i in range(4)]
    lines = []
    for r in rows:
        cells = [r[i][:widths[i]].ljust(widths[i]) for i in range(4)]
        line = "  ".join([*cells, r[4].replace("\n", " ")])
        lines.append(line[:width])
    return "\n".join(lines)


def _view_table(payload: dict[str, Any]) -> str:
    columns = payload.get("columns", [])
    fields = [c["field"] for c in columns]
    rows = [[str(c.get("headerName", "")) for c in columns]]
    rows += [["" if r.get(f) is None else str(r.get(f)) for f in fields]
             for r in payload.get("data", [])]
    widths = [min(max(len(row[i]) for row in rows), 24) for i in range(len(fields))]
    lines = [str(payload.get("title", ""))]
    lines += ["  ".join(cell[:w].ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def run_vars(args: argparse.Namespace) -> int:
    provider: Optional[VariablesProvider] = None
    try:
        root = _root(args)
        session = _choose_session(root, args.session)
        if not root.session(session).folder.is_dir():
            raise FilebridgeError(f"no session {session!r} under {root.root}")
        if args.count < 0 or args.start < 0:
            raise FilebridgeError("--start and --count must not be negative")
        provider = VariablesProvider.direct(root.root, timeout=args.timeout)
        if args.refresh:
            provider.refresh(session)
        elif not args.path:
            # The worker snapshots only while watched: a short-lived look, else the file.
            provider.freshen(session, min(args.timeout, 2.0))
        result = _query(provider, session, args)
    except (FilebridgeError, ValueError, OSError) as exc:
        print(f"filebridge vars: {exc}", file=sys.stderr)
        return 1
    finally:
        if provider is not None:
            provider.close()
    result["session"] = session
    if args.json:
        sys.stdout.write(dumps(result).decode() + "\n")
    elif args.view:
        print(_view_table(result))
    else:
        print(_table(result["children"]))
        shown = len(result["children"])
        first = result["start"] + 1 if shown else result["start"]
        version = f", snapshot version {result['version']}" if "version" in result else ""
        print(f"-- {first}-{result['start'] + shown} of {result['length']} "
              f"(session {session}{version}); '+' has children")
    return 0


def _query(provider: VariablesProvider, session: str,
           args: argparse.Namespace) -> dict[str, Any]:
    if not args.path:
        if args.view:
            raise FilebridgeError("--view needs a PATH")
        read_snapshot(provider.root.session(session))
        return provider.list(session, start=args.start, count=args.count, sort=args.sort,
                             filter=args.filter)
    how, path = _parse_path(args.path)
    if args.view:
        if how == "names":
            path = provider.inspect_names(session, path, count=0)["path"]
        return provider.view(session, path)
    if how == "names":
        return provider.inspect_names(session, path, start=args.start, count=args.count,
                                      sort=args.sort, filter=args.filter)
    return provider.inspect(session, path, start=args.start, count=args.count, sort=args.sort,
                            filter=args.filter)


def main(argv: Optional[list[str]] = None) -> int:
    """Run ``filebridge vars`` on its own (tests, and before the main CLI wires it)."""
    parser = argparse.ArgumentParser(prog="filebridge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["vars", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""``filebridge events``: serve a root and print what happens, as the editor interface says it."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from filebridge.cli.host_run import start_host, stop_on_sigterm
from filebridge.cli.output import EXIT_LEASE, CommandFailed
from filebridge.wire.codec import dumps

__all__ = ["register"]

_DESCRIPTION = ("Serve the root like `filebridge serve` and print every notification the "
                "editor interface sends (docs/editor-protocol.md): sessions attached, "
                "detached and stale, views and plots, variables changes, and with --topics "
                "requests each finished request. --json prints JSON Lines for scripts.")


def register(subparsers: Any) -> None:
    from filebridge.cli.serve import _add_arguments

    parser = subparsers.add_parser("events", help="serve a root and stream its events",
                                   description=_DESCRIPTION)
    _add_arguments(parser)
    parser.add_argument("--json", action="store_true",
                        help='one JSON object a line: {"method": ..., "params": ...}')
    parser.add_argument("--topics", default="sessions,views,variables", metavar="LIST",
                        help="comma-separated topics: sessions, views, variables, requests "
                             "(default: all but requests)")
    parser.set_defaults(func=_events)


def _line(method: str, params: dict[str, Any]) -> str:
    session = params.get("session")
    sid = session.get("id") if isinstance(session, dict) else session
    rest = {k: v for k, v in params.items() if k != "session"}
    if isinstance(session, dict):
        rest = {"status": session.get("status"), **rest}
    details = " ".join(f"{k}={dumps(v).decode()}" for k, v in rest.items())
    return f"{method} {sid} {details}".rstrip()


def _events(args: argparse.Namespace) -> int:
    from filebridge.cli.serve import build_host, configure_logging
    from filebridge.editor.events import TOPICS, EventRelay
    from filebridge.host.variables.service import provider_for
    from filebridge.host.viewers.service import viewers_of

    topics = [t.strip() for t in args.topics.split(",") if t.strip()]
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise CommandFailed(f"no topic {unknown[0]!r}; there are: {', '.join(TOPICS)}", code=2)
    configure_logging("warning" if args.log_level == "info" else args.log_level)
    host = build_host(args)
    lock = threading.Lock()
    out = sys.stdout
    stop_asked = stop_on_sigterm()  # set by SIGTERM, or when the pipe's reader is gone

    def print_event(method: str, params: dict[str, Any]) -> None:
        text = (dumps({"method": method, "params": params}).decode() if args.json
                else _line(method, params))
        with lock:
            try:
                out.write(text + "\n")
                out.flush()
            except (BrokenPipeError, ValueError):
                stop_asked.set()  # the reader of the pipe is gone (`| head`)

    viewers = viewers_of(host)
    relay = EventRelay(host, print_event, store=viewers.store if viewers else None,
                       variables=provider_for(host))
    relay.subscribe(topics)

    start_host(host, args)
    try:
        while host.running and not stop_asked.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        relay.close()
        host.stop()
    if host.failure is not None:
        raise CommandFailed(str(host.failure), code=EXIT_LEASE)
    return 0

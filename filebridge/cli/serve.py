"""``filebridge serve``: run the host with readable logs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from filebridge.cli.host_run import start_host, stop_on_sigterm
from filebridge.cli.output import EXIT_LEASE, CommandFailed
from filebridge.cli.request_log import RequestLogger
from filebridge.cli.sessions import add_root_argument
from filebridge.features import features, install_features
from filebridge.host import Host
from filebridge.host.pathmap import parse_mapping

__all__ = ["build_host", "build_parser_for_serve", "register"]


def configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")


def build_host(args: argparse.Namespace) -> Host:
    """A host configured from parsed ``serve`` arguments, with every feature installed."""
    try:
        mapping = [parse_mapping(text) for text in args.map]
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    host = Host(Path(args.root).expanduser(), force_poll=True if args.poll else None,
                path_map=mapping)
    install_features(host, args)
    return host


def _serve(args: argparse.Namespace) -> int:
    if args.stdio:
        from filebridge.cli.stdio import serve_stdio

        configure_logging("warning" if args.log_level == "info" else args.log_level)
        return serve_stdio(args, build_host)
    configure_logging(args.log_level)
    host = build_host(args)
    host.subscribe(RequestLogger())
    stop_asked = stop_on_sigterm()
    start_host(host, args)
    try:
        while host.running and not stop_asked.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()
    if host.failure is not None:
        raise CommandFailed(str(host.failure), code=EXIT_LEASE)
    return 0


_DESCRIPTION = ("Watch the root for sessions, answer their requests and log what they ask. "
                "One host per root: a second one says who holds the root and exits, or waits "
                "with --wait-for-lease.")


def build_parser_for_serve() -> argparse.ArgumentParser:
    """The serve options alone, for the demo and tests that build a host like serve does."""
    parser = argparse.ArgumentParser(prog="filebridge serve", description=_DESCRIPTION)
    _add_arguments(parser)
    return parser


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="serve every worker session under a root",
                                   description=_DESCRIPTION)
    _add_arguments(parser)
    parser.set_defaults(func=_serve)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_root_argument(parser)
    parser.add_argument("--poll", action="store_true",
                        help="poll instead of waiting for events (network filesystems; also "
                             "FILEBRIDGE_POLL=1)")
    parser.add_argument("--map", action="append", default=[], metavar="REMOTE=LOCAL",
                        help="rewrite paths the worker reports under REMOTE to LOCAL "
                             "(repeatable)")
    parser.add_argument("--wait-for-lease", nargs="?", const="forever", default="0",
                        metavar="SECONDS",
                        help="if another host serves the root, wait for it to stop "
                             "(for ever, or SECONDS)")
    parser.add_argument("--stdio", action="store_true",
                        help="speak JSON-RPC 2.0 with an editor on standard input and output "
                             "(docs/editor-protocol.md); logs go to standard error")
    parser.add_argument("--framing", choices=["lines", "content-length"], default="lines",
                        help="with --stdio: one message a line (default), or LSP's "
                             "Content-Length headers")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"],
                        help="how much to log (info)")
    for feature in features():
        feature.add_serve_arguments(parser)

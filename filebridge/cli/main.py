"""The ``filebridge`` entry point."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

import filebridge
from filebridge.cli import (
    bench,
    demo,
    doctor,
    editor_config,
    events,
    send,
    serve,
    sessions,
    template,
)
from filebridge.cli.output import EXIT_FAILED, EXIT_FILES, CommandFailed
from filebridge.errors import FilebridgeError
from filebridge.features import features

__all__ = ["build_parser", "main"]

# The core's commands; each feature adds its own (filebridge.features).
COMMANDS = (serve, events, sessions, send, template, editor_config, demo, doctor, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filebridge",
        description="Connect running interpreter sessions to this machine through a shared "
                    "folder. Every command has --help.")
    parser.add_argument("--version", action="version", version=filebridge.__version__)
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    for feature in features():
        for register in feature.commands:
            register(subparsers)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    name = f"filebridge {args.subcommand}"
    try:
        return int(args.func(args))
    except CommandFailed as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.code
    except FilebridgeError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{name}: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FILES
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

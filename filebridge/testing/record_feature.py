"""``filebridge serve --record DIR``: keep every session's recording while serving."""

from __future__ import annotations

import argparse
import sys

from filebridge.features import Feature
from filebridge.host import Host
from filebridge.testing.recording import LiveRecorder
from filebridge.testing.recording_cli import register as register_command

__all__ = ["FEATURE", "add_serve_arguments", "install"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--record", metavar="DIR",
                        help="write each session's requests, answers and timing to "
                             "DIR/<session>.fbrec as they happen (play one back with "
                             "`filebridge replay`)")


def install(host: Host, args: argparse.Namespace) -> None:
    folder = getattr(args, "record", None)
    if folder:
        recorder = LiveRecorder(host, folder)
        print(f"filebridge: recording sessions into {recorder.folder}", file=sys.stderr,
              flush=True)


FEATURE = Feature(
    name="recording",
    summary="recordings of sessions (requests, answers, timing) and their playback",
    install=install,
    add_serve_arguments=add_serve_arguments,
    commands=(register_command,),
)

"""``filebridge doctor [ROOT]``: what to expect from a root's filesystem, measured here."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from filebridge.cli.output import CommandFailed, emit
from filebridge.host.doctor import DoctorFailed, diagnose, format_diagnosis

__all__ = ["register"]


def _doctor(args: argparse.Namespace) -> int:
    try:
        found = diagnose(Path(args.root), samples=args.samples)
    except DoctorFailed as exc:
        raise CommandFailed(str(exc)) from None
    emit(found, args.json, format_diagnosis(found))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="say which filesystem a root is on and what latency to expect",
        description="Tell which filesystem holds ROOT, how this side waits for the other "
                    "(inotify, native events or polling), what a fresh open + read, a "
                    "create + rename and an append + fresh read cost here, whether a host "
                    "serves the root and on which machine, and what latency to expect.")
    parser.add_argument("root", nargs="?",
                        default=os.environ.get("FILEBRIDGE_ROOT") or "~/.filebridge",
                        help="the filebridge root (FILEBRIDGE_ROOT, default ~/.filebridge)")
    parser.add_argument("--samples", type=int, default=30, help="measurements of each (30)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(func=_doctor)

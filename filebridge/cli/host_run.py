"""Running a host from the command line: started as ``--wait-for-lease`` says, stopped by
SIGTERM (``serve``, ``serve --stdio``, ``events``)."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Optional

from filebridge.cli.output import EXIT_LEASE, CommandFailed
from filebridge.errors import LeaseHeld
from filebridge.host import Host

__all__ = ["start_host", "stop_on_sigterm"]


def stop_on_sigterm() -> threading.Event:
    """An event SIGTERM sets. Only a flag: the handler runs in the main thread, maybe inside a
    join of the host's thread, and stopping the host from there would join it twice."""
    asked = threading.Event()

    def handler(_signum: int, _frame: Optional[FrameType]) -> None:
        asked.set()

    signal.signal(signal.SIGTERM, handler)
    return asked


def start_host(host: Host, args: argparse.Namespace) -> None:
    """Start ``host`` as ``--wait-for-lease`` says; a root another host serves ends the
    command with exit code 3 and who holds it."""
    wait = None if args.wait_for_lease == "forever" else float(args.wait_for_lease or 0)
    try:
        host.start(wait_for_lease=wait)
    except LeaseHeld as exc:
        raise CommandFailed(f"{exc}; stop it first or pass --wait-for-lease",
                            code=EXIT_LEASE) from None

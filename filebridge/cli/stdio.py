"""``filebridge serve --stdio``: the host for one editor, speaking JSON-RPC on stdin/stdout."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType
from typing import BinaryIO, Callable, Optional

from filebridge.cli.host_run import start_host
from filebridge.cli.output import EXIT_LEASE, CommandFailed
from filebridge.editor.framing import InterruptibleReader
from filebridge.host import Host

__all__ = ["protocol_streams", "serve_stdio"]


def protocol_streams() -> tuple[InterruptibleReader, BinaryIO]:
    """Standard input and a private copy of standard output for the protocol; file
    descriptor 1 then points at standard error, so a stray print cannot corrupt a message."""
    writer = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return InterruptibleReader(sys.stdin.fileno()), writer


def serve_stdio(args: argparse.Namespace, build_host: Callable[[argparse.Namespace], Host]
                ) -> int:
    """Serve one editor with the host ``build_host`` makes from ``serve``'s arguments."""
    from filebridge.editor.server import StdioServer
    from filebridge.host.variables.service import provider_for
    from filebridge.host.viewers.service import viewers_of

    reader, writer = protocol_streams()
    host = build_host(args)
    viewers = viewers_of(host)
    server = StdioServer(host, reader, writer, framing=args.framing,
                         store=viewers.store if viewers else None,
                         variables=provider_for(host))

    signalled: list[int] = []

    def stop(signum: int, _frame: Optional[FrameType]) -> None:
        signalled.append(signum)
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    start_host(host, args)
    server.watch_host()
    try:
        code = server.run()
    except KeyboardInterrupt:  # run() stopped the host on its way out
        code = 0
    if signalled:  # SIGTERM is how a client may end the server too
        code = 0
    if host.failure is not None:
        raise CommandFailed(str(host.failure), code=EXIT_LEASE)
    return code

"""Creating a session folder and its files from the worker side."""

from __future__ import annotations

import os
import platform
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

from filebridge import PROTOCOL_VERSION
from filebridge.wire.codec import dumps, loads
from filebridge.wire.files import FILE_MODE, atomic_write
from filebridge.wire.layout import SessionLayout, make_private_dir
from filebridge.wire.waiting.filesystems import filesystem_type

__all__ = ["prepare_session", "python_identity"]


def python_identity() -> dict[str, Any]:
    return {"language": "python",
            "versions": {"python": platform.python_version(),
                         "implementation": sys.implementation.name}}


def _touch(path: Path, content: bytes = b"") -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        if content and os.fstat(fd).st_size == 0:
            os.write(fd, content)
    finally:
        os.close(fd)


def prepare_session(layout: SessionLayout, identity: dict[str, Any], strategy: str = "",
                    before_announcing: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Create the folder and every file of docs/protocol.md; write session.json last.

    The host ignores a folder until session.json exists, so it never sees half a session.
    ``before_announcing()`` runs once every file exists and before session.json does.
    An existing session.json (from ``filebridge new-session``) keeps its id and token.
    ``strategy`` (how this worker waits) is recorded with the folder's filesystem type, so
    ``filebridge sessions`` can show both sides.
    """
    make_private_dir(layout.folder)
    make_private_dir(layout.responses)
    make_private_dir(layout.command_responses)
    zero = b"0" * 20
    for log in (layout.request_log, layout.response_log, layout.command_log):
        _touch(log)
    for bell in (layout.request_lock, layout.response_lock, layout.command_lock,
                 layout.command_response_lock, layout.heartbeat):
        _touch(bell, zero)
    existing: dict[str, Any] = {}
    try:
        existing = loads(layout.session_json.read_bytes())
    except (OSError, ValueError):
        pass
    info = {
        "protocol": PROTOCOL_VERSION,
        "id": layout.id,
        "pid": os.getpid(),
        "machine": socket.gethostname(),
        "started": time.time(),
        "token": existing.get("token") or secrets.token_hex(16),
        "cwd": os.getcwd(),
        # Also on a mount: a look at the log is one open where nothing arrived, and an open
        # and one read where an answer did; an answer file is a lookup, an open and a read.
        "answers": "log",
        # This worker's readers follow log generations, so the host may rotate the logs it
        # writes (docs/protocol.md, "Log generations").
        "log_generations": 1,
        # It rings the root's wake bell after a silence: a host that polls may look at its
        # doorbell seldom while it is idle.
        "wake_bell": 1,
        "filesystem": filesystem_type(layout.folder),
        **({"strategy": strategy} if strategy else {}),
        **identity,
    }
    before_announcing()
    atomic_write(layout.session_json, dumps(info))
    return info

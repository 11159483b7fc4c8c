"""The worker side: connect a running interpreter to its session folder.

Standard library only at import (orjson when present), so a host can copy this package into a
session folder and start it with one line (``filebridge template python``).

    import filebridge.worker as fb
    fb.connect()                      # FILEBRIDGE_SESSION, or a new session under FILEBRIDGE_ROOT
    fb.send("browser", url="https://example.org")
    fb.call("echo", text="hi", timeout=5)
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from filebridge.errors import NotConnected
from filebridge.worker.background import CommandHandler
from filebridge.worker.connection import DEFAULT_TIMEOUT, Connection, open_connection

__all__ = ["DEFAULT_TIMEOUT", "Connection", "call", "connect", "current", "disconnect",
           "on_command", "send", "start"]

_current: Optional[Connection] = None
_lock = threading.Lock()


def connect(session_dir: Optional[str | Path] = None, *, force_poll: Optional[bool] = None,
            identity: Optional[dict[str, Any]] = None) -> Connection:
    """Attach this process to a session (once; later calls return the same connection)."""
    global _current
    with _lock:
        wanted = Path(session_dir).expanduser() if session_dir else None
        if _current is not None and not _current._closed:
            if wanted is None or wanted == _current.session_dir:
                return _current
            _current.close()
        _current = open_connection(session_dir, force_poll=force_poll, identity=identity)
        return _current


def current() -> Connection:
    if _current is None or _current._closed:
        raise NotConnected("filebridge is not connected: call filebridge.worker.connect() first")
    return _current


def disconnect() -> None:
    """Detach now rather than at interpreter exit."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
            _current = None


def send(command: str, **args: Any) -> str:
    return current().send(command, **args)


def call(command: str, timeout: Optional[float] = None, **args: Any) -> Any:
    return current().call(command, timeout=timeout, **args)


def on_command(name: str, handler: CommandHandler) -> None:
    current().on_command(name, handler)


def start(session_dir: Optional[str | Path] = None, **features: Any) -> Connection:
    """``connect`` plus remote imports, viewers and the variables pane (see bootstrap.start)."""
    from filebridge.worker.bootstrap import start as start_all

    return start_all(session_dir, **features)

"""The process's one connection, and the functions that use it (``filebridge.worker``
re-exports them; feature modules import them from here)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from filebridge.errors import NotConnected
from filebridge.worker.background import CommandHandler
from filebridge.worker.connection import Connection, open_connection

__all__ = ["call", "connect", "current", "disconnect", "on_command", "send"]

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

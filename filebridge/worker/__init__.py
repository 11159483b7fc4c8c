"""The worker side: connect a running interpreter to its session folder.

Standard library only at import (orjson when present), so a host can copy this package into a
session folder and start it with one line (``filebridge template python --session DIR``).

    import filebridge.worker as fb
    fb.connect()                      # FILEBRIDGE_SESSION, or a new session under FILEBRIDGE_ROOT
    fb.send("browser", url="https://example.org")
    fb.call("echo", text="hi", timeout=5)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from filebridge.worker.connection import DEFAULT_TIMEOUT, Connection
from filebridge.worker.current import call, connect, current, disconnect, on_command, send

__all__ = ["DEFAULT_TIMEOUT", "Connection", "call", "connect", "current", "disconnect",
           "on_command", "send", "start"]

def start(session_dir: Optional[str | Path] = None, **features: Any) -> Connection:
    """``connect`` plus remote imports, viewers and the variables pane (see bootstrap.start)."""
    from filebridge.worker.bootstrap import start as start_all

    return start_all(session_dir, **features)

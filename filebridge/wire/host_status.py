"""Whether a host serves a root, as anyone can tell from its files (standard library only)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from filebridge.wire.codec import loads
from filebridge.wire.layout import RootLayout

__all__ = ["holder_is_running", "read_holder"]


def read_holder(root: RootLayout) -> dict[str, Any]:
    try:
        holder = loads(root.host_json.read_bytes())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def holder_is_running(root: RootLayout) -> bool:
    """Whether the host named in host.json still serves: by its pid on this machine, else by
    a heartbeat touched in the last few seconds (a host killed outright leaves host.json)."""
    holder = read_holder(root)
    if not holder:
        return False
    pid = holder.get("pid")
    if holder.get("machine") == socket.gethostname() and isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return time.time() - root.host_heartbeat.stat().st_mtime < 5.0
    except OSError:
        return False

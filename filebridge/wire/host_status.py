"""Whether a host serves a root, as anyone can tell from its files (standard library only)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from filebridge.wire.codec import loads
from filebridge.wire.files import read_counter, read_file
from filebridge.wire.layout import RootLayout

__all__ = ["holder_is_running", "pid_alive", "read_holder"]


def read_holder(root: RootLayout) -> dict[str, Any]:
    try:
        holder = loads(read_file(root.host_json, 1 << 16))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def pid_alive(pid: object) -> bool:
    """Whether a process of this machine has the id ``pid``."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_is_running(root: RootLayout, watch: float = 1.5) -> bool:
    """Whether the host named in host.json still serves: by its pid on this machine, else by
    its heartbeat changing within ``watch`` seconds (a host killed outright leaves host.json;
    a file's mtime is not trusted, since network filesystems cache it)."""
    holder = read_holder(root)
    if not holder:
        return False
    if holder.get("machine") == socket.gethostname():
        return pid_alive(holder.get("pid"))
    first = read_counter(root.host_heartbeat)
    deadline = time.monotonic() + watch
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if read_counter(root.host_heartbeat) != first:
            return True
    return False

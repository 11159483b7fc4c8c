"""Whether a host serves a root, as anyone can tell from its files (standard library only)."""

from __future__ import annotations

import socket
import time
from typing import Any, Optional

from filebridge.wire.codec import loads
from filebridge.wire.files import read_counter, read_file
from filebridge.wire.layout import RootLayout
from filebridge.wire.processes import pid_alive

__all__ = ["HostWatch", "holder_is_running", "read_holder"]


def read_holder(root: RootLayout) -> dict[str, Any]:
    try:
        holder = loads(read_file(root.host_json, 1 << 16))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


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


class HostWatch:
    """Asked again and again while a call waits: whether the host that served the root when
    the watch first looked has gone since (its pid ended on this machine, its heartbeat stood
    still for REMOTE_SILENCE seconds on another, or it stopped and removed host.json). Where
    no host served at the first look it never says gone: one may be starting."""

    REMOTE_SILENCE = 4.0

    def __init__(self, root: RootLayout) -> None:
        self.root = root
        self._had_holder: Optional[bool] = None
        self._beat = b""
        self._beat_since = 0.0

    def gone(self) -> bool:
        holder = read_holder(self.root)
        if self._had_holder is None:
            self._had_holder = bool(holder)
        if not holder:
            return self._had_holder
        if holder.get("machine") == socket.gethostname():
            return not pid_alive(holder.get("pid"))
        beat, now = read_counter(self.root.host_heartbeat), time.monotonic()
        if beat != self._beat or not self._beat_since:
            self._beat, self._beat_since = beat, now
            return False
        return now - self._beat_since > self.REMOTE_SILENCE

"""One serving host per root: a file lock held for the host's life.

The kernel drops the lock when the holder dies, however it dies, so a crashed host never
blocks the next one.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Optional

from filelock import FileLock, Timeout

from filebridge.errors import LeaseHeld
from filebridge.wire.codec import dumps
from filebridge.wire.files import atomic_write
from filebridge.wire.host_status import read_holder
from filebridge.wire.layout import RootLayout

__all__ = ["HostLease", "describe"]


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another host (it has not written host.json yet)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid')} on {holder.get('machine')}, serving since {since}"


class HostLease:
    def __init__(self, root: RootLayout) -> None:
        self.root = root
        self._lock = FileLock(str(root.host_lease), mode=0o600, thread_local=False)

    def acquire(self, wait: Optional[float] = 0) -> None:
        """Take the lease; LeaseHeld names the holder when ``wait`` seconds pass first.

        ``wait=None`` waits for as long as it takes.
        """
        try:
            self._lock.acquire(timeout=-1 if wait is None else wait, poll_interval=0.1)
        except Timeout:
            holder = read_holder(self.root)
            raise LeaseHeld(f"{self.root.root} is already served by {describe(holder)}",
                            holder) from None
        atomic_write(self.root.host_json, dumps({
            "pid": os.getpid(), "machine": socket.gethostname(), "since": time.time()}))

    def release(self) -> None:
        if self._lock.is_locked:
            self.root.host_json.unlink(missing_ok=True)
            self._lock.release()

"""One serving host per root, on one machine and across a network mount.

Two locks, because neither suffices alone:
- a kernel file lock on ``host.lease``, which the kernel drops when the holder dies however it
  dies, so a crashed host never blocks the next one on the same machine;
- an ownership record in ``host.json`` (pid, machine, a random nonce, a beat counter and the
  commands the host answers, so workers do not ask for what it cannot serve), rewritten by
  the holder every second. Kernel locks do not cross sshfs, and a deleted lock file fools
  them; the record does neither. A host that finds a record of another live host
  refuses to serve; one that finds its own nonce replaced stops serving (LeaseLost).

Liveness of a record on another machine is judged by whether its beat changes while we watch,
by our own clock: clocks of two machines are never compared.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Optional

from filelock import FileLock, Timeout

from filebridge.errors import LeaseHeld, LeaseLost
from filebridge.wire.codec import dumps
from filebridge.wire.files import atomic_write, fresh_reads, remove_file
from filebridge.wire.host_status import read_holder
from filebridge.wire.layout import RootLayout
from filebridge.wire.processes import pid_alive

__all__ = ["EXPIRE_AFTER", "HostLease", "describe"]

# A record whose beat has not moved for this long belongs to a host that is gone.
EXPIRE_AFTER = 4.0
# After writing its record on a network filesystem, a host waits this long and reads it back
# before serving: a contender that wrote at the same moment is then seen by one of the two.
SETTLE = 2.5


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another host (it has not written host.json yet)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid')} on {holder.get('machine')}, serving since {since}"


class HostLease:
    def __init__(self, root: RootLayout, commands: Callable[[], Iterable[str]] = tuple,
                 settle: float = SETTLE) -> None:
        """``commands``: the names the host answers, written into host.json; ``settle``:
        seconds a host on a network filesystem waits after writing its record before reading
        it back to see whether another host wrote one at the same time."""
        self.root = root
        self._commands = commands
        self.settle = settle
        self._writing = threading.Lock()
        self._lock = FileLock(str(root.host_lease), mode=0o600, thread_local=False)
        self.nonce = secrets.token_hex(16)
        self.machine = socket.gethostname()
        self._beat = 0
        self._since = 0.0
        self.held = False

    def acquire(self, wait: Optional[float] = 0) -> None:
        """Take the lease; LeaseHeld names the holder when ``wait`` seconds pass first.

        ``wait=None`` waits for as long as it takes.
        """
        deadline = None if wait is None else time.monotonic() + wait
        try:
            self._lock.acquire(timeout=-1 if wait is None else wait, poll_interval=0.1)
        except Timeout:
            raise self._held(read_holder(self.root)) from None
        try:
            while True:
                holder = self._live_holder(deadline)
                if holder is None:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._held(holder)
                time.sleep(0.2)
            self._since = time.time()
            self._write()
            if fresh_reads(self.root.root):
                time.sleep(self.settle)
                holder = read_holder(self.root)
                if holder.get("nonce") != self.nonce:
                    raise self._held(holder)
        except BaseException:
            self._lock.release()
            raise
        self.held = True

    def _held(self, holder: dict[str, Any]) -> LeaseHeld:
        return LeaseHeld(f"{self.root.root} is already served by {describe(holder)}", holder)

    def _live_holder(self, deadline: Optional[float]) -> Optional[dict[str, Any]]:
        """The record of another host that still serves, or None."""
        holder = read_holder(self.root)
        if not holder or holder.get("nonce") == self.nonce:
            return None
        if holder.get("machine") == self.machine:
            return holder if holder.get("pid") != os.getpid() and pid_alive(
                holder.get("pid")) else None
        watched_until = time.monotonic() + EXPIRE_AFTER
        while time.monotonic() < watched_until:
            time.sleep(0.1)
            now = read_holder(self.root)
            if now != holder:
                return now or None
            if deadline is not None and time.monotonic() >= deadline + EXPIRE_AFTER:
                break
        return None  # its beat stood still: that host is gone

    def _write(self) -> None:
        with self._writing:
            self._beat += 1
            atomic_write(self.root.host_json, dumps({
                "pid": os.getpid(), "machine": self.machine, "since": self._since,
                "nonce": self.nonce, "beat": self._beat,
                "commands": sorted(self._commands())}))

    def advertise(self) -> None:
        """Write the record now (a command was registered): workers read what it serves."""
        if self.held:
            self._write()

    def renew(self) -> None:
        """Called every second: raise LeaseLost when another host's record replaced ours."""
        holder = read_holder(self.root)
        if holder and holder.get("nonce") != self.nonce:
            self.held = False
            raise LeaseLost(f"{self.root.root} was taken over by {describe(holder)}; "
                            "this host stopped serving it")
        self._write()

    def release(self) -> None:
        if self._lock.is_locked:
            if self.held and read_holder(self.root).get("nonce") == self.nonce:
                remove_file(self.root.host_json)
            self.held = False
            self._lock.release()

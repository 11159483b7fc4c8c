"""Polling with an adaptive back-off, for filesystems that deliver no change events.

NFS, SMB, SSHFS and 9p report nothing to a watcher when another machine writes. Reading a few
probe files costs microseconds, so we poll fast right after activity (latency about a millisecond)
and back off to ``max_interval`` when quiet (about 1% of a core at most).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional, Sequence

from filebridge.wire.files import read_counter
from filebridge.wire.waiting.base import Change, Waiter

__all__ = ["PollingWaiter"]

Signature = tuple[bytes, int, int]


def _signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return (b"", -1, -1)
    return (read_counter(path), st.st_mtime_ns, st.st_size)


class PollingWaiter(Waiter):
    name = "polling"

    def __init__(self, min_interval: float = 0.0002, max_interval: float = 0.02,
                 growth: float = 1.3) -> None:
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.growth = growth
        self._interval = min_interval
        self._probes: dict[Path, dict[str, Signature]] = {}
        self._woken = threading.Event()

    def watch(self, folder: Path, probe: Sequence[str] = (), *,
              renames_only: bool = False) -> None:
        # A watched file is its own probe; a folder's probes are files in it.
        names = probe if folder.is_dir() else (probe or ("",))
        self._probes[folder] = {name: _signature(folder / name) for name in names}

    def unwatch(self, folder: Path) -> None:
        self._probes.pop(folder, None)

    def reset(self) -> None:
        self._interval = self.min_interval

    def wait(self, timeout: Optional[float]) -> list[Change]:
        pause = self._interval if timeout is None else min(self._interval, timeout)
        if self._woken.wait(pause):
            self._woken.clear()
            self._interval = self.min_interval
            return []
        changes = self._scan()
        if changes:
            self._interval = self.min_interval
        else:
            self._interval = min(self._interval * self.growth, self.max_interval)
        return changes

    def _scan(self) -> list[Change]:
        changes = []
        for folder, probes in list(self._probes.items()):
            for name, before in probes.items():
                now = _signature(folder / name)
                if now != before:
                    probes[name] = now
                    changes.append(Change(folder, name or None))
        return changes

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._probes.clear()

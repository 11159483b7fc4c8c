"""Polling with an adaptive back-off, for filesystems that deliver no change events.

NFS, SMB, SSHFS and 9p report nothing to a watcher when another machine writes, and they
cache attributes and listings for 20-60 s. What they do not cache is a fresh open followed by
a read, so that is the only look this strategy takes: each probe is a doorbell whose content
is read afresh (docs/protocol.md, "What each side may trust"). Never ``stat``: a size or mtime
seen through the attribute cache stays the same for the cache's lifetime.

Each watched file has its own pace: right after it changed it is read every ``min_interval``,
then less and less often, up to ``brisk_interval`` for ``brisk_for`` seconds (the next request
of a short sequence, such as the two of a cold import, or an answer that takes a while, is seen
within about 2 ms), then up to ``max_interval``, and after ``cool_after`` seconds without a
change at its idle interval, so a hundred idle sessions cost a few reads a second.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Optional, Sequence

from filebridge.wire.files import read_counter
from filebridge.wire.waiting.base import Change, Pace, Waiter

__all__ = ["PollingWaiter"]


class _Probe:
    __slots__ = ("changed", "due", "files", "idle_interval", "interval", "signature", "steady")

    def __init__(self, files: list[Path], idle_interval: float, pace: Pace) -> None:
        self.files = files
        self.idle_interval = idle_interval
        self.steady = pace == "steady"
        self.signature = self.look()
        self.interval = 0.0
        self.due = 0.0
        # "eager": as if it had just changed; otherwise as if quiet for long.
        self.changed = time.monotonic() if pace == "eager" else float("-inf")

    def look(self) -> bytes:
        return b"\0".join(read_counter(f) for f in self.files)


class PollingWaiter(Waiter):
    name = "polling"

    def __init__(self, min_interval: float = 0.0002, max_interval: float = 0.02,
                 growth: float = 1.3, cool_after: float = 1.0, brisk_for: float = 0.25,
                 brisk_interval: float = 0.002) -> None:
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.brisk_for = brisk_for
        self.brisk_interval = brisk_interval
        self.growth = growth
        self.cool_after = cool_after
        self._probes: dict[Path, _Probe] = {}
        self._woken = threading.Event()
        # The earliest due time of any probe, kept so that a wait does not scan them all.
        self._next_due = 0.0

    def watch(self, folder: Path, probe: Sequence[str] = (), *, renames_only: bool = False,
              idle_interval: Optional[float] = None, pace: Pace = "eager") -> None:
        # A watched file is its own probe; a folder's probes are files in it. A folder
        # without probes (answer files arriving by rename) is looked into by its caller.
        files = [folder / name for name in probe]
        if not probe and not folder.is_dir():
            files = [folder]
        self._probes[folder] = _Probe(files, max(idle_interval or 0.0, self.max_interval),
                                      pace)
        self._next_due = 0.0

    def unwatch(self, folder: Path) -> None:
        self._probes.pop(folder, None)

    def hurry(self, folder: Path) -> None:
        probe = self._probes.get(folder)
        if probe is not None:
            probe.interval = self.min_interval
            probe.due = 0.0
            probe.changed = time.monotonic()
            self._next_due = 0.0

    def reset(self) -> None:
        now = time.monotonic()
        for probe in self._probes.values():
            probe.interval = self.min_interval
            probe.due = 0.0
            probe.changed = now
        self._next_due = 0.0

    def wait(self, timeout: Optional[float]) -> list[Change]:
        now = time.monotonic()
        due = self._next_due if self._probes else now + self.max_interval
        pause = max(0.0, due - now)
        if timeout is not None:
            pause = min(pause, timeout)
        if self._woken.wait(pause):
            self._woken.clear()
            return []
        return self._look()

    def _look(self) -> list[Change]:
        changes = []
        now = time.monotonic()
        next_due = float("inf")
        for folder, probe in list(self._probes.items()):
            if probe.due > now:
                next_due = min(next_due, probe.due)
                continue
            signature = probe.look()
            now = time.monotonic()
            if signature != probe.signature:
                probe.signature = signature
                probe.changed = now
                changes.append(Change(folder, None))
            probe.interval = self._next_interval(probe, now)
            probe.due = now + probe.interval
            next_due = min(next_due, probe.due)
        self._next_due = next_due
        return changes

    def _next_interval(self, probe: _Probe, now: float) -> float:
        if probe.steady:
            return probe.idle_interval
        if probe.changed == now:
            return self.min_interval
        quiet = now - probe.changed
        if quiet >= self.cool_after:
            return probe.idle_interval  # quiet for a while: straight to idle
        ceiling = self.brisk_interval if quiet < self.brisk_for else self.max_interval
        return min(max(probe.interval, self.min_interval) * self.growth, ceiling)

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._probes.clear()

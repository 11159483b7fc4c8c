"""The waiting interface every strategy implements."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Literal, NamedTuple, Optional, Sequence

__all__ = ["SPIN_SECONDS", "Change", "Pace", "Waiter", "yield_cpu"]

# An answer that comes within this long is picked up by looking again rather than by sleeping:
# waking a sleeping process costs tens of microseconds on a VM, several looks cost fewer.
# The spin only happens while a caller waits for an answer or right after the host served one.
SPIN_SECONDS = float(os.environ.get("FILEBRIDGE_SPIN_US") or 100) / 1e6
# A spinner gives its core away at every look: when the process it waits for shares that core,
# it runs at once instead of after the spin (measured in docs/decisions.md).
yield_cpu: Callable[[], None] = getattr(os, "sched_yield", lambda: None)


Pace = Literal["eager", "on_change", "steady"]


class Change(NamedTuple):
    """Something in ``folder`` may have changed; ``name`` is the entry, when known."""

    folder: Path
    name: Optional[str]


class Waiter(ABC):
    """Blocks until something in the watched folders may have changed.

    A change is only a hint to look again: callers re-read the log or look for the answer file,
    so a spurious wake costs a read and a missed name costs nothing.
    """

    name = "abstract"

    @abstractmethod
    def watch(self, folder: Path, probe: Sequence[str] = (), *, renames_only: bool = False,
              idle_interval: Optional[float] = None, pace: Pace = "eager") -> None:
        """Watch a folder or a file.

        For a folder, ``probe`` names files whose content signals a change there (strategies
        without events read them); ``renames_only`` reports only entries renamed into it, as
        atomic writes arrive. A file is watched for writes to it. ``idle_interval``: how
        seldom a strategy without events may look once the file has been quiet a while.
        ``pace``, for that strategy: "eager" looks often right away and after each change
        (a new session's doorbell: its first request comes soon); "on_change" looks every
        ``idle_interval`` until the file changes, often after each change (a worker's command
        doorbell); "steady" looks every ``idle_interval`` even right after a change (a file
        many ring, such as the root's wake bell, whose ringer is then looked at itself).
        """

    @abstractmethod
    def unwatch(self, folder: Path) -> None: ...

    @abstractmethod
    def wait(self, timeout: Optional[float]) -> list[Change]:
        """Return the changes seen, or [] after ``timeout`` seconds or a ``wake()``."""

    @abstractmethod
    def wake(self) -> None:
        """Make a blocked ``wait()`` return at once; safe from any thread."""

    @abstractmethod
    def close(self) -> None: ...

    def reset(self) -> None:
        """Something is expected soon: strategies that back off start fast again."""

    def hurry(self, folder: Path) -> None:
        """``folder`` (a watched path) is about to change: look at it soon and often."""

    _spin_useful = True
    _spin_skipped = 0

    def wait_until(self, ready: Callable[[], bool], timeout: Optional[float]) -> bool:
        """Wait until ``ready()`` is true; False when ``timeout`` seconds passed first.

        It first looks again and again for up to SPIN_SECONDS, but only while that pays: when
        answers stop coming that fast (a busy host, many callers on few cores) it sleeps at
        once, trying the spin again every 32nd wait.
        """
        started = time.perf_counter()
        self.reset()
        spin = self._spin_useful or self._spin_skipped >= 32
        self._spin_skipped = 0 if spin else self._spin_skipped + 1
        if spin:
            spin_until = started + SPIN_SECONDS
            while time.perf_counter() < spin_until:
                if ready():
                    self._spin_useful = True
                    return True
                yield_cpu()
        deadline = None if timeout is None else time.monotonic() + timeout - (
            time.perf_counter() - started)
        while not ready():
            if deadline is None:
                self.wait(None)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ready()
            self.wait(remaining)
        self._spin_useful = time.perf_counter() - started <= 2 * SPIN_SECONDS
        return True

    def __enter__(self) -> Waiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

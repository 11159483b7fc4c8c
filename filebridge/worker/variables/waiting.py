"""Whether a value over its time limit waited by itself or was slowed down by a busy machine.

A thread's wall time splits into running (its CPU time), waiting for a CPU (the machine's
doing) and blocking by itself (sleeping, a lock, a socket, a pipe). Linux gives the first two
per thread in ``/proc/thread-self/schedstat``; elsewhere only the CPU time is known and waiting
for a CPU counts as blocking.
"""

from __future__ import annotations

import os
import time
from typing import Union

__all__ = ["ThreadClock"]

Mark = Union[bytes, float]


class ThreadClock:
    """Marks of the opening thread's time running and waiting for a CPU.

    Open and read it on the thread it measures. A mark is the raw reading (a bytes read or a
    float): it is parsed only when a value went over its limit.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        try:
            fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            return
        try:
            self._parse(os.pread(fd, 64, 0))
        except (OSError, ValueError, IndexError):
            os.close(fd)
            return
        self._fd = fd

    def mark(self) -> Mark:
        if self._fd is None:
            return time.thread_time()
        return os.pread(self._fd, 64, 0)

    def split_s(self, start: Mark, end: Mark) -> tuple[float, float]:
        """Seconds the thread ran, and seconds it waited for a CPU, between two marks."""
        if isinstance(start, bytes) and isinstance(end, bytes):
            ran_end, queued_end = self._parse(end)
            ran_start, queued_start = self._parse(start)
            return ran_end - ran_start, queued_end - queued_start
        if isinstance(start, float) and isinstance(end, float):
            return end - start, 0.0
        return 0.0, 0.0  # marks of two kinds (read after ``close``): nothing known

    @staticmethod
    def _parse(reading: bytes) -> tuple[float, float]:
        running_ns, runnable_ns = reading.split()[:2]
        return int(running_ns) / 1e9, int(runnable_ns) / 1e9

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

"""Progress of a command that runs for more than a moment (``bench``), on standard error."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Optional, TextIO

__all__ = ["Elapsed"]


class Elapsed:
    """Says that a long command is at work: a line as it starts, a line every ``every``
    seconds while it runs, and one with the total at the end; whole lines only, since the
    command may print its result on the same terminal meanwhile."""

    def __init__(self, label: str, doing: str, stream: Optional[TextIO] = None,
                 every: float = 5.0) -> None:
        self.label = label
        self.doing = doing
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="filebridge-progress",
                                        daemon=True)
        self._started = 0.0

    def _say(self, text: str) -> None:
        try:
            self.stream.write(f"{self.label}: {text}\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream: the command itself goes on

    def _tick(self) -> None:
        while not self._done.wait(self.every):
            self._say(f"{self.doing}, {time.monotonic() - self._started:.0f} s so far")

    def __enter__(self) -> Elapsed:
        self._started = time.monotonic()
        self._say(f"{self.doing}...")
        self._thread.start()
        return self

    def __exit__(self, kind: Optional[type[BaseException]], value: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        self._done.set()
        self._thread.join()
        ended = "done" if kind is None else "stopped"
        self._say(f"{ended} after {time.monotonic() - self._started:.1f} s")

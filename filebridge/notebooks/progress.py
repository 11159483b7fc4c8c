"""Progress of converting a large notebook: a fraction reported at most every few percent."""

from __future__ import annotations

from typing import Callable, Optional

__all__ = ["PROGRESS_MIN_BYTES", "ProgressCallback", "Steps"]

# Files below this convert in well under a second: no progress is shown for them.
PROGRESS_MIN_BYTES = 1_000_000

ProgressCallback = Callable[[float], None]
"""Called with the fraction done, from 0.0 to 1.0."""


class Steps:
    """Forwards ``fraction`` to ``callback`` only when it moved by ``step`` since the last call.

    ``start`` and ``end`` map this phase onto a part of the whole job, so parsing can report
    0-80 % and writing the rest.
    """

    def __init__(self, callback: Optional[ProgressCallback], start: float = 0.0,
                 end: float = 1.0, step: float = 0.05):
        self._callback = callback
        self._start, self._span, self._step = start, end - start, step
        self._last = -1.0

    def __call__(self, fraction: float) -> None:
        if self._callback is None:
            return
        value = self._start + self._span * min(max(fraction, 0.0), 1.0)
        if value - self._last >= self._step or (fraction >= 1.0 and value > self._last):
            self._last = value
            self._callback(value)

"""Whether the host behind the page still serves, in words the page can show as they are.

The page's server runs in the host's process, so it can answer while the host itself has
stopped (its lease was taken over, its root vanished) or stalls (a dropped mount blocks its
loop): session states it reports are then the last ones known, not the truth. The page tells
its own server going away apart by its requests failing.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from filebridge.host import Host

__all__ = ["STALL_AFTER", "health_of", "host_health"]

# The host beats every second; this many seconds without a beat means it is stuck.
STALL_AFTER = 5.0


def host_health(*, running: bool, stopping: bool, failure: Optional[BaseException],
                beat_age: Optional[float], stall_after: float = STALL_AFTER) -> dict[str, Any]:
    """``state`` is serving, stalled (no beat for ``stall_after`` seconds) or stopped;
    ``message`` says so for a person."""
    age = None if beat_age is None else round(beat_age, 1)
    if stopping or not running:
        reason = f": {failure}" if failure is not None else ""
        return {"state": "stopped", "beat_age": age,
                "message": f"The host stopped serving{reason}. Session states below are the "
                           "last ones known; restart `filebridge serve` to see them live."}
    if beat_age is not None and beat_age > stall_after:
        return {"state": "stalled", "beat_age": age,
                "message": f"The host has not beaten for {beat_age:.0f} s (busy, or its folder "
                           "is unreachable). Session states may be out of date."}
    return {"state": "serving", "beat_age": age, "message": "The host is serving."}


def health_of(host: Host, stall_after: float = STALL_AFTER) -> dict[str, Any]:
    beat = host.last_beat
    # serve_forever() runs the loop in the caller's thread: its beats say it runs
    return host_health(running=host.running or beat > 0, stopping=host.stopping,
                       failure=host.failure, beat_age=time.monotonic() - beat if beat else None,
                       stall_after=stall_after)

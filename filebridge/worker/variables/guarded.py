"""Describing a value under the hard time limit, with the memory of values that went over it."""

from __future__ import annotations

from typing import Any, Optional

from filebridge.worker.variables.describe import cheap_description, describe
from filebridge.worker.variables.timelimit import Limiter, Overtime, SlowMemory

__all__ = ["RUNS_NO_USER_CODE", "describe_guarded", "over_limit_text"]

# Describing exact instances of these runs none of the user's code: no limit needed.
RUNS_NO_USER_CODE = frozenset({int, float, complex, bool, type(None), str, bytes})


def over_limit_text(took_ms: float) -> str:
    return f"not described: took over {max(1, round(took_ms))} ms"


def describe_guarded(value: Any, limiter: Limiter, slow: SlowMemory, *, name: str,
                     access_key: str, evaluate_name: Optional[str], top_level: bool,
                     width: Optional[int] = None, now_ms: Optional[int] = None,
                     track: bool = True) -> dict[str, Any]:
    """``describe`` under ``limiter``; a value that went over it (or was interrupted by any
    BaseException, which is then re-raised) is remembered and shown as not described.

    ``track``: note the value as running on this thread, for a caller that may abandon the
    thread (``SlowMemory.abandoned``); a snapshot tracks its own current value instead."""
    if type(value) in RUNS_NO_USER_CODE:
        return describe(value, name=name, access_key=access_key, evaluate_name=evaluate_name,
                        top_level=top_level, width=width, now_ms=now_ms)
    took = slow.slow_ms(value)
    if took is None:
        if track:
            slow.running(value)
        try:
            return limiter.run(lambda: describe(
                value, name=name, access_key=access_key, evaluate_name=evaluate_name,
                top_level=top_level, width=width, now_ms=now_ms))
        except Overtime:
            took = limiter.seconds * 1000
            # A wait over the limit is the value's own doing, not a busy machine's.
            slow.remember(value, took, at_once=limiter.waited())
        except BaseException:
            # KeyboardInterrupt and the like: the user stopped this value's code; never run
            # it again unasked, whatever happens next.
            slow.remember(value, limiter.elapsed_ms(), at_once=True)
            raise
        finally:
            if track:
                slow.done()
    return cheap_description(value, name=name, access_key=access_key,
                             evaluate_name=evaluate_name, text=over_limit_text(took),
                             reason="over_limit")

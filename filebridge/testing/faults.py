"""Faults for integration tests: drop a doorbell, delay answers, tear a write, fill the disk,
kill the host at a named point (docs/testing.md, "Faults").

In this process::

    from filebridge.testing import faults
    with faults.injected("delay_answer:2:echo"):
        ...                                   # this process's host answers echo 2 s late

In a worker or host process: pass ``faults.env("tear_write*2")`` in its environment (the
plugin's ``fb_worker_factory(kind, env=...)`` does), or arm it from inside with
``filebridge.testing.faults.inject`` run in the worker. The grammar is in
``filebridge.wire.faults``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from filebridge.errors import FaultSpecError
from filebridge.wire import faults as _core
from filebridge.wire.faults import ENV, Fault

__all__ = ["ENV", "Fault", "FaultSpecError", "clear", "env", "fired", "inject", "injected"]


def inject(spec: str) -> list[Fault]:
    """Arm ``spec`` in this process (replacing what was armed); FaultSpecError if unreadable."""
    return _core.arm(spec)


def clear() -> None:
    _core.disarm()


def fired() -> list[str]:
    """The faults that fired in this process since they were armed."""
    return _core.spent()


def env(spec: str) -> dict[str, str]:
    """The environment that arms ``spec`` in a process started with it (checked here first)."""
    _core.parse(spec)
    return {ENV: spec}


@contextmanager
def injected(spec: str) -> Iterator[list[Fault]]:
    """Armed for the ``with`` block, disarmed after it whatever happens."""
    armed = inject(spec)
    try:
        yield armed
    finally:
        clear()

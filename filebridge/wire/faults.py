"""Faults injected at named points, for tests of recovery paths (docs/testing.md, "Faults").

Armed by ``FILEBRIDGE_FAULTS`` when this module is first imported, or later by
``filebridge.testing.faults.inject``. Each point in the code reads ``ARMED`` once and does
nothing more when it is false, so unused faults cost one global lookup. A spec is a list
separated by ``;``, each fault ``name[:arg[:arg]][*times]``:

    drop_doorbell[:FILE]        a ring of doorbell FILE (default request.lock) is skipped
    delay_answer:S[:COMMAND]    the host waits S seconds before writing an answer (to COMMAND)
    tear_write[:FILE]           an append to FILE (default request.log) writes half its line,
                                then fails (ECANCELED), leaving what a writer killed mid-line
                                leaves
    disk_full[:FILE]            a write to FILE (default: any session file) fails with ENOSPC
    kill_host:POINT[:COMMAND]   the host process kills itself (SIGKILL) at POINT: claimed
                                (before the handler runs), handled (before the answer is
                                written) or answered (before its journal records it done)

``*times`` fires that many times, then the fault is spent; ``*all`` fires every time; without
it a fault fires once. Counts are per process. Standard library only: workers import this.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from filebridge.errors import FaultSpecError

__all__ = ["ARMED", "ENV", "Fault", "arm", "at_host_point", "disarm",
           "drop_ring", "on_write", "parse", "spent"]

ENV = "FILEBRIDGE_FAULTS"
NAMES = ("drop_doorbell", "delay_answer", "tear_write", "disk_full", "kill_host")
HOST_POINTS = ("claimed", "handled", "answered")
EVERY = -1


@dataclass
class Fault:
    name: str
    args: tuple[str, ...]
    times: int  # how many more times it fires; EVERY for ever

    def describe(self) -> str:
        times = "*all" if self.times == EVERY else f"*{self.times}"
        return ":".join((self.name, *self.args)) + times


ARMED = False
_faults: list[Fault] = []
_fired: list[str] = []
_lock = threading.Lock()


def parse(spec: str) -> list[Fault]:
    faults = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        body, _, count = part.partition("*")
        if not count:
            times = 1
        elif count == "all":
            times = EVERY
        elif count.isdigit() and int(count) > 0:
            times = int(count)
        else:
            raise FaultSpecError(f"fault {part!r}: *times must be a positive number or *all")
        name, *args = body.split(":")
        if name not in NAMES:
            raise FaultSpecError(f"no fault {name!r}; there are: {', '.join(NAMES)}")
        if name == "delay_answer":
            try:
                if not args or float(args[0]) < 0:
                    raise ValueError
            except ValueError:
                raise FaultSpecError(f"fault {part!r}: delay_answer:SECONDS[:COMMAND]") from None
        if name == "kill_host" and (not args or args[0] not in HOST_POINTS):
            raise FaultSpecError(f"fault {part!r}: kill_host:POINT with POINT one of "
                                 f"{', '.join(HOST_POINTS)}")
        faults.append(Fault(name, tuple(args), times))
    return faults


def arm(spec: str) -> list[Fault]:
    """Replace the armed faults with ``spec`` (an empty spec disarms)."""
    global ARMED
    faults = parse(spec)
    with _lock:
        _faults[:] = faults
        _fired.clear()
        ARMED = bool(faults)
    return faults


def disarm() -> None:
    arm("")


def spent() -> list[str]:
    """The faults that fired in this process, oldest first, as ``name:args``."""
    with _lock:
        return list(_fired)


def _take(name: str, matches: object = None) -> Optional[Fault]:
    """The first armed fault ``name`` whose arguments ``matches(args)`` accepts, counted."""
    global ARMED
    with _lock:
        for fault in _faults:
            if fault.name != name or (callable(matches) and not matches(fault.args)):
                continue
            if fault.times != EVERY:
                fault.times -= 1
                if fault.times == 0:
                    _faults.remove(fault)
                    ARMED = bool(_faults)
            _fired.append(":".join((fault.name, *fault.args)))
            return fault
    return None


def drop_ring(path: Path) -> bool:
    """At a doorbell's ring: True when this ring is to be skipped."""
    wanted = path.name
    return _take("drop_doorbell",
                 lambda args: (args[0] if args else "request.lock") == wanted) is not None


def on_write(path: Path, fd: Optional[int], data: bytes) -> bytes:
    """Before a write of ``data`` to ``path`` (``fd`` given for appends that can be torn)."""
    name = path.name
    if _take("disk_full", lambda args: not args or args[0] == name or
             path.name.startswith(f".{args[0]}.")):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    if fd is not None and _take("tear_write",
                                lambda args: (args[0] if args else "request.log") == name):
        os.write(fd, data[:max(1, len(data) // 2)])
        # Not an error a network mount gives, which writers retry: this write is over.
        raise OSError(errno.ECANCELED, "write torn by an injected fault", str(path))
    return data


def at_host_point(point: str, command: str) -> None:
    """The host reached ``point`` for a request of ``command``."""
    if point == "handled":
        delay = _take("delay_answer", lambda args: len(args) < 2 or args[1] == command)
        if delay is not None:
            time.sleep(float(delay.args[0]))
    if _take("kill_host", lambda args: args[0] == point and (len(args) < 2
                                                             or args[1] == command)):
        os.kill(os.getpid(), signal.SIGKILL)


if os.environ.get(ENV):
    try:
        arm(os.environ[ENV])
    except FaultSpecError as exc:  # a worker must start all the same; say why nothing fires
        import sys

        print(f"filebridge: {ENV} ignored: {exc}", file=sys.stderr)

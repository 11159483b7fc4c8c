"""``filebridge doctor``: what a root's filesystem means for filebridge, measured from this side.

Tells which filesystem holds the root, how this side will wait for the other (the strategy), what
the operations filebridge relies on cost here (a fresh open + read of a small file, creating a
file and renaming it over another, an append followed by a fresh read), whether a host serves
the root and where, and what latency to expect.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable

from filebridge.errors import (
    DoctorFailed,
    )
from filebridge.wire.files import atomic_write
from filebridge.wire.host_status import holder_is_running, read_holder
from filebridge.wire.layout import RootLayout
from filebridge.wire.waiting import choose_strategy, filesystem_type
from filebridge.wire.waiting.filesystems import is_remote

__all__ = ["DoctorFailed", "diagnose", "format_diagnosis"]


def _timed(action: Callable[[int], None], samples: int) -> dict[str, float]:
    times = []
    for n in range(samples):
        start = time.perf_counter_ns()
        action(n)
        times.append((time.perf_counter_ns() - start) / 1e6)
    times.sort()
    return {"p50_ms": times[len(times) // 2], "max_ms": times[-1]}


def _measure(scratch: Path, samples: int) -> dict[str, dict[str, float]]:
    small = scratch / "small"
    small.write_bytes(b"0" * 20)

    def fresh_read(_n: int) -> None:
        with open(small, "rb") as f:
            f.read()

    def create_rename(n: int) -> None:
        atomic_write(scratch / "renamed", b"%020d" % n)

    log = scratch / "log"
    log.write_bytes(b"")

    def append_then_read(n: int) -> None:
        line = b'{"n": %d}\n' % n
        with open(log, "ab") as f:
            f.write(line)
        with open(log, "rb") as f:
            got = f.read()
        if not got.endswith(line):
            raise DoctorFailed(f"an append to {log} was not read back: the folder loses writes")

    return {"open_read": _timed(fresh_read, samples),
            "create_rename": _timed(create_rename, samples),
            "append_read": _timed(append_then_read, samples)}


def _latency_class(remote: bool, strategy: str, open_read_ms: float) -> tuple[str, str]:
    if not remote and strategy in ("inotify", "native"):
        return "local", ("events: calls answer in well under a millisecond, new sessions are "
                         "seen at once")
    expected = max(3 * open_read_ms, 0.5)
    if open_read_ms < 2:
        label = "fast mount"
    elif open_read_ms < 20:
        label = "mount"
    else:
        label = "slow mount"
    return label, (f"polling with fresh opens: expect calls of about {expected:.1f} ms when "
                   "active (three fresh reads through this folder), a new session within a "
                   "second, and slower first answers after a session was idle")


def diagnose(root: Path, samples: int = 30) -> dict[str, Any]:
    """Examine ``root`` from this side; raise DoctorFailed when it cannot be used."""
    root = root.expanduser()
    if not root.exists():
        raise DoctorFailed(f"no folder {root} (a host creates it on its first start)")
    if not root.is_dir():
        raise DoctorFailed(f"{root} is not a folder")
    layout = RootLayout(root)
    kind = filesystem_type(root) or "unknown"
    remote = is_remote(root)
    strategy = choose_strategy(layout.sessions if layout.sessions.exists() else root)
    scratch = root / f".doctor-{secrets.token_hex(6)}"
    try:
        scratch.mkdir(mode=0o700)
    except OSError as exc:
        raise DoctorFailed(f"cannot write in {root}: {exc.strerror}") from None
    try:
        costs = _measure(scratch, max(3, samples))
    except OSError as exc:
        raise DoctorFailed(f"the folder failed while measuring: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    holder = read_holder(layout)
    serving = holder_is_running(layout) if holder else False
    label, expect = _latency_class(remote, strategy, costs["open_read"]["p50_ms"])
    advice = []
    if remote:
        advice.append(f"{kind} shows another machine's writes to a fresh open + read; cached "
                      "attributes, kept descriptors and folder listings may stay stale for "
                      "seconds, so filebridge does not rely on them here")
    if holder and not serving:
        advice.append("the host named in host.json is gone: start one with `filebridge serve`")
    if not holder:
        advice.append("no host serves this root yet: start one with `filebridge serve`")
    return {
        "root": str(root), "filesystem": kind, "remote": remote, "strategy": strategy,
        "machine": socket.gethostname(), "pid": os.getpid(),
        "costs_ms": costs, "samples": max(3, samples),
        "host": {"serving": serving, "pid": holder.get("pid"), "machine": holder.get("machine"),
                 "since": holder.get("since"),
                 "same_machine": holder.get("machine") == socket.gethostname()} if holder
        else {"serving": False},
        "latency_class": label, "expect": expect, "advice": advice,
    }


def format_diagnosis(found: dict[str, Any]) -> str:
    costs = found["costs_ms"]
    host = found["host"]
    if host.get("pid") is not None:
        where = "this machine" if host["same_machine"] else f"machine {host['machine']}"
        state = "serves" if host["serving"] else "last served (now gone)"
        host_line = f"pid {host['pid']} on {where} {state} this root"
    else:
        host_line = "no host serves this root"
    lines = [
        f"root        {found['root']}",
        f"filesystem  {found['filesystem']}" + (" (network or FUSE)" if found["remote"] else ""),
        f"waiting     {found['strategy']}",
        f"host        {host_line}",
        f"measured here ({found['samples']} each, p50 / max in ms):",
        "  fresh open + read of a small file  "
        f"{costs['open_read']['p50_ms']:.3f} / {costs['open_read']['max_ms']:.3f}",
        "  create + rename over a file        "
        f"{costs['create_rename']['p50_ms']:.3f} / {costs['create_rename']['max_ms']:.3f}",
        "  append + fresh read                "
        f"{costs['append_read']['p50_ms']:.3f} / {costs['append_read']['max_ms']:.3f}",
        f"expect      {found['latency_class']}: {found['expect']}",
    ]
    lines += [f"note        {text}" for text in found["advice"]]
    return "\n".join(lines)

"""The one place that waits for the other side: pick the fastest strategy the filesystem allows.

Strategies, one class each: ``InotifyWaiter`` (Linux local filesystems), ``NativeWaiter``
(watchfiles' backends on macOS and Windows) and ``PollingWaiter`` (network and FUSE filesystems,
or whenever ``FILEBRIDGE_POLL=1``). ``FILEBRIDGE_WAIT=inotify|native|polling`` names one outright.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from filebridge.wire.waiting.base import Change, Waiter
from filebridge.wire.waiting.filesystems import filesystem_type, is_remote
from filebridge.wire.waiting.inotify import InotifyWaiter, inotify_available
from filebridge.wire.waiting.native import NativeWaiter, native_available
from filebridge.wire.waiting.polling import PollingWaiter

__all__ = [
    "Change",
    "InotifyWaiter",
    "NativeWaiter",
    "PollingWaiter",
    "Waiter",
    "choose_strategy",
    "filesystem_type",
    "make_waiter",
]

STRATEGIES = ("inotify", "native", "polling")


def choose_strategy(path: Path, force_poll: Optional[bool] = None) -> str:
    """The strategy for waiting on ``path``, and why, for logs."""
    named = os.environ.get("FILEBRIDGE_WAIT", "").strip().lower()
    if named in STRATEGIES:
        return named
    if force_poll or (force_poll is None and os.environ.get("FILEBRIDGE_POLL") == "1"):
        return "polling"
    if is_remote(path):
        return "polling"
    if sys.platform.startswith("linux") and inotify_available():
        return "inotify"
    if native_available():
        return "native"
    return "polling"


def make_waiter(strategy: str) -> Waiter:
    if strategy == "inotify":
        return InotifyWaiter()
    if strategy == "native":
        return NativeWaiter()
    if strategy == "polling":
        return PollingWaiter()
    raise ValueError(f"unknown waiting strategy {strategy!r}; expected one of {STRATEGIES}")

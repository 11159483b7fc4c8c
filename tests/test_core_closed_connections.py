"""A closed connection and a stopped host give back what they held, though the thread that
used them lives on.

The system allows each user a few inotify instances (fs.inotify.max_user_instances, often 128,
shared by all of that user's processes). Connections that kept theirs after close used them up
over a long run in one process: then whatever had no polling fallback, such as the legacy
vscode-R adapter, failed to start.
"""

from __future__ import annotations

import gc
import os
import sys
import weakref
from pathlib import Path

import pytest

from filebridge.host import Host
from filebridge.wire.waiting import choose_strategy
from filebridge.worker.connection import Connection, open_connection

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="counts inotify instances in /proc/self/fd")


def inotify_instances() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                count += 1
        except OSError:  # the descriptor of the listing itself, closed by now
            continue
    return count


def call_and_close(host: Host, name: str) -> Connection:
    connection = open_connection(host.root.sessions / name)
    try:
        assert connection.call("echo", timeout=10, name=name) == {"name": name}
    finally:
        connection.close()
    return connection


def test_closed_connections_the_caller_still_holds_keep_no_inotify_instance(
        host: Host) -> None:
    if choose_strategy(host.root.sessions) != "inotify":
        pytest.skip("the sessions folder is not watched with inotify here")
    host.register("echo", lambda call: call.args)
    held = [call_and_close(host, "first")]  # whatever the host itself opens, once
    before = inotify_instances()
    held.extend(call_and_close(host, f"s{n}") for n in range(5))
    assert inotify_instances() == before


def test_a_closed_connection_is_not_kept_until_exit(host: Host) -> None:
    host.register("echo", lambda call: call.args)
    closed = weakref.ref(call_and_close(host, "once"))
    gc.collect()
    assert closed() is None


def descriptors_under(folder: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{folder}{os.sep}"):
            found.append(target)
    return found


def test_a_stopped_host_and_a_closed_connection_keep_no_file_of_the_root_open(
        tmp_path: Path) -> None:
    host = Host(tmp_path / "root")
    host.start()
    try:
        host.register("echo", lambda call: call.args)
        held = call_and_close(host, "once")  # still referenced: closing is what must free
    finally:
        host.stop()
    assert descriptors_under(tmp_path) == [], held

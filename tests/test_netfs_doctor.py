"""``filebridge doctor`` and the filesystem columns of ``filebridge sessions``, on a local folder
and on a real sshfs mount (the mount's tests are marked netfs)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from netfs_support import (  # noqa: F401 - sshfs is a fixture
    InteractiveWorker,
    MountedFolder,
    python_env,
    sshfs,
    status_of,
    wait_until,
)

from filebridge.host import Host
from filebridge.wire.waiting import filesystem_type


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "filebridge", *args], env=python_env(),
                          capture_output=True, text=True, timeout=120)


def _doctor(root: Path) -> dict[str, Any]:
    done = _cli("doctor", str(root), "--json", "--samples", "5")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _measured(found: dict[str, Any]) -> None:
    for name in ("open_read", "create_rename", "append_read"):
        cost = found["costs_ms"][name]
        assert 0 < cost["p50_ms"] <= cost["max_ms"], name


def test_doctor_on_a_local_folder_without_and_with_a_host(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    alone = _doctor(root)
    assert alone["filesystem"] == filesystem_type(root) and alone["remote"] is False
    assert alone["strategy"] == "inotify" and alone["latency_class"] == "local"
    assert alone["host"] == {"serving": False}
    assert any("no host serves this root" in note for note in alone["advice"])
    _measured(alone)
    assert [p.name for p in root.iterdir()] == [], "doctor left its scratch files behind"

    host = Host(root)
    host.start()
    try:
        served = _doctor(root)
        text = _cli("doctor", str(root), "--samples", "3").stdout
    finally:
        host.stop()
    assert served["host"]["serving"] is True and served["host"]["pid"] == os.getpid()
    assert served["host"]["same_machine"] is True
    assert f"pid {os.getpid()} on this machine serves this root" in text
    assert f"filesystem  {filesystem_type(root)}" in text


def test_doctor_refuses_a_missing_root_in_one_line(tmp_path: Path) -> None:
    done = _cli("doctor", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "no folder" in done.stderr and "nowhere" in done.stderr


def test_sessions_show_the_filesystem_and_strategy_of_both_sides_locally(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    host = Host(root)
    host.start()
    worker = InteractiveWorker(root / "sessions" / "local")
    try:
        wait_until(lambda: status_of(host, "local") == "alive", "the session")
        (shown,) = wait_until(lambda: json.loads(_cli("sessions", "--root", str(root),
                                                      "--json").stdout), "the listing")
    finally:
        worker.stop()
        host.stop()
    local = filesystem_type(root)
    assert (shown["worker_filesystem"], shown["worker_strategy"]) == (local, "inotify")
    assert (shown["host_filesystem"], shown["host_strategy"]) == (local, "inotify")


@pytest.mark.netfs
def test_doctor_on_the_sshfs_mount_names_it_and_finds_the_host_across_it(
        sshfs: MountedFolder) -> None:  # noqa: F811
    real, mounted = sshfs.fresh("doctor")
    host = Host(real)
    host.start()
    try:
        found = _doctor(mounted)
        text = _cli("doctor", str(mounted), "--samples", "3").stdout
    finally:
        host.stop()
    assert found["filesystem"] == "fuse.sshfs" and found["remote"] is True
    assert found["strategy"] == "polling"
    assert found["latency_class"] in ("fast mount", "mount", "slow mount")
    assert found["host"]["serving"] is True and found["host"]["pid"] == os.getpid()
    assert found["host"]["machine"] == socket.gethostname()
    _measured(found)
    assert "filesystem  fuse.sshfs (network or FUSE)" in text
    assert "waiting     polling" in text


@pytest.mark.netfs
def test_sessions_show_a_worker_on_the_mount_and_a_host_on_the_disk(
        sshfs: MountedFolder) -> None:  # noqa: F811
    real, mounted = sshfs.fresh("sessions")
    host = Host(real)
    host.start()
    worker = InteractiveWorker(mounted / "sessions" / "remote")
    try:
        wait_until(lambda: status_of(host, "remote") == "alive", "the session", timeout=10)
        (shown,) = wait_until(lambda: json.loads(_cli("sessions", "--root", str(real),
                                                      "--json").stdout), "the listing")
        table = _cli("sessions", "--root", str(real)).stdout
    finally:
        worker.kill()
        host.stop()
    assert (shown["worker_filesystem"], shown["worker_strategy"]) == ("fuse.sshfs", "polling")
    assert shown["host_filesystem"] == filesystem_type(real)
    assert shown["host_strategy"] == "inotify"
    assert "fuse.sshfs / polling" in table and f"{filesystem_type(real)} / inotify" in table

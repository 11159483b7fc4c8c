"""The core checks over a second FUSE filesystem, bindfs with default options, both directions.

bindfs keeps FUSE's one-second attribute cache: what works only on sshfs's timings fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from netfs_checks import check_burst, check_calls, check_discovery, check_heartbeat_and_detach
from netfs_support import DIRECTIONS, MountedFolder, Sides, bindfs, python_env  # noqa: F401

from filebridge.testing.loopback_mount import sweep_abandoned_mounts

pytestmark = [pytest.mark.netfs, pytest.mark.timeout(240)]


@pytest.fixture(params=DIRECTIONS)
def sides(request: pytest.FixtureRequest, bindfs: MountedFolder) -> Sides:  # noqa: F811
    return Sides.of(bindfs, request.param, request.node.originalname)


def test_calls_answer_within_two_seconds(sides: Sides) -> None:
    check_calls(sides)


def test_a_burst_from_two_processes_runs_each_request_once(sides: Sides) -> None:
    check_burst(sides)


def test_new_sessions_are_served_at_their_first_call(sides: Sides) -> None:
    check_discovery(sides)


def test_heartbeats_keep_a_session_alive_and_a_detach_is_seen(sides: Sides) -> None:
    check_heartbeat_and_detach(sides)


LEAVE_A_MOUNT_BEHIND = """
import os
from filebridge.testing.loopback_mount import BindfsMount, scratch_dir
work = scratch_dir("filebridge-bindfs-")
(work / "real").mkdir()
BindfsMount(work / "real", work / "mnt").mount()
print(work, flush=True)
os._exit(0)  # as a test killed by its timeout: nothing unmounted
"""


def test_a_mount_left_by_a_killed_process_is_swept_and_a_live_ones_kept(
        bindfs: MountedFolder) -> None:  # noqa: F811
    left = subprocess.run([sys.executable, "-c", LEAVE_A_MOUNT_BEHIND], capture_output=True,
                          text=True, timeout=60, env=python_env())
    assert left.returncode == 0, left.stderr
    work = Path(left.stdout.strip())
    assert os.path.ismount(work / "mnt")
    swept = sweep_abandoned_mounts()
    assert work in swept
    assert not os.path.ismount(work / "mnt") and not work.exists()
    assert os.path.ismount(bindfs.mounted)  # this process's own mount is alive: kept

"""The core checks over a second FUSE filesystem, bindfs with default options, both directions.

bindfs keeps FUSE's one-second attribute cache: what works only on sshfs's timings fails here.
"""

from __future__ import annotations

import pytest
from netfs_checks import check_burst, check_calls, check_discovery, check_heartbeat_and_detach
from netfs_support import DIRECTIONS, MountedFolder, Sides, bindfs  # noqa: F401 - a fixture

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

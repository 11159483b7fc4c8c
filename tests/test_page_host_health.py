"""Whether the page tells a serving host from one that stopped or stalls (no browser)."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from pathlib import Path
from typing import Any

from viewers_support import http_get, wait_for

from filebridge.errors import LeaseLost
from filebridge.host import Host
from filebridge.host.viewers.store import ViewerStore, install_viewer_handlers
from filebridge.ui.host_health import STALL_AFTER, health_of, host_health
from filebridge.ui.server import UIServer


def test_a_host_that_beats_serves_one_that_is_silent_stalls_one_that_stopped_is_gone() -> None:
    assert host_health(running=True, stopping=False, failure=None, beat_age=0.4)["state"] \
        == "serving"
    stalled = host_health(running=True, stopping=False, failure=None,
                          beat_age=STALL_AFTER + 7)
    assert stalled["state"] == "stalled"
    assert f"{STALL_AFTER + 7:.0f} s" in stalled["message"]
    stopped = host_health(running=False, stopping=True,
                          failure=LeaseLost("the root was taken over by pid 7"), beat_age=3.0)
    assert stopped["state"] == "stopped"
    assert "taken over by pid 7" in stopped["message"]
    # a host that has not beaten yet (starting) is not called stalled
    assert host_health(running=True, stopping=False, failure=None, beat_age=None)["state"] \
        == "serving"


def test_a_real_host_is_serving_while_it_runs_and_stopped_after(tmp_path: Path) -> None:
    host = Host(tmp_path / "root")
    host.start()
    try:
        wait_for(lambda: host.last_beat > 0, what="the first heartbeat")
        health = health_of(host)
        assert health["state"] == "serving"
        assert health["beat_age"] is not None and health["beat_age"] < STALL_AFTER
    finally:
        host.stop()
    assert health_of(host)["state"] == "stopped"


def test_the_page_state_carries_the_health_and_a_long_poll_ends_when_it_changes(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    host = Host(root)
    store = ViewerStore()
    install_viewer_handlers(host, store)
    # not stopped with the host: the page's server goes on; it looks at the host's health
    # every 0.2 s instead of 2 s
    ui = UIServer(host, store, health_look=0.2)
    host.start()
    ui.start()
    try:
        def state(**params: object) -> dict[str, Any]:
            query = urllib.parse.urlencode(params)
            status, _, body = http_get(f"{ui.url}api/state?{query}")
            assert status == 200
            return dict(json.loads(body))

        now = state()
        assert now["host"]["state"] == "serving"
        assert now["root"] == str(root)
        host.stop()
        started = time.monotonic()
        later = state(since=now["version"] + 1000, wait=30, host=now["host"]["state"])
        assert later["host"]["state"] == "stopped"
        assert "stopped serving" in later["host"]["message"]
        # the long poll ended when the host's state changed, not after its 30 s
        assert time.monotonic() - started < 25
    finally:
        ui.stop()
        host.stop()


def test_a_long_poll_whose_page_was_closed_ends_and_no_page_counts_as_open(
        tmp_path: Path) -> None:
    """A closed page's long poll ends at its next look instead of after its wait, so a prompt
    learns that no page is open soon after the close (20 s later before)."""
    host = Host(tmp_path / "root")
    store = ViewerStore()
    install_viewer_handlers(host, store)
    ui = UIServer(host, store, health_look=0.1, page_gone_after=0.2)
    host.start()
    ui.start()
    try:
        address = urllib.parse.urlsplit(ui.url)
        assert address.hostname is not None and address.port is not None
        request = (f"GET {address.path}api/state?since=1000000&wait=30 HTTP/1.1\r\n"
                   f"Host: {address.netloc}\r\n\r\n").encode()
        with socket.create_connection((address.hostname, address.port)) as page:
            page.sendall(request)
            time.sleep(0.5)  # longer than page_gone_after: only the waiting poll keeps it open
            assert ui.prompts.page_open()
        wait_for(lambda: not ui.prompts.page_open(), timeout=5,
                 what="the closed page to count as gone")
    finally:
        ui.stop()
        host.stop()

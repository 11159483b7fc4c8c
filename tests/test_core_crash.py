"""Exactly once across crashes: a host killed mid-burst loses nothing and runs nothing twice."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from core_support import HostProcess, lines, start_worker, wait_until

BURST = """
import sys, time
import filebridge.worker as fb
fb.connect()
for i in range(2500):
    fb.send({command!r}, sink={sink!r}, i=i)
fb.disconnect()
"""


def _burst(root: Path, sink: Path, command: str) -> list:
    return [start_worker(BURST.format(command=command, sink=str(sink)),
                         root / "sessions" / f"burst{n}") for n in range(4)]


def _kill_mid_burst(root: Path, sink: Path, command: str) -> tuple[HostProcess, str]:
    first = HostProcess(root)
    writers = _burst(root, sink, command)
    wait_until(lambda: len(lines(sink)) > 1500, "the burst to be under way")
    first.kill()
    killed_at = len(lines(sink))
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read() if writer.stderr else ""
    assert killed_at < 10_000, "the host finished before it was killed"
    second = HostProcess(root)
    # Each of the 4 sessions may have had one request in flight when the host died.
    wait_until(lambda: len(lines(sink)) >= 9_996, "the restarted host to catch up", 120)
    time.sleep(1.0)  # anything run twice, or late, would land now
    return second, first.log() + second.log()


def test_burst_of_10000_survives_host_sigkill_exactly_once(tmp_path: Path) -> None:
    """An idempotent handler: the request in flight at the kill is run again, safely."""
    root, sink = tmp_path / "root", tmp_path / "sink.txt"
    second, _log = _kill_mid_burst(root, sink, "sink_once")
    try:
        wait_until(lambda: len(lines(sink)) == 10_000, "all 10,000 requests")
        ids = lines(sink)
        assert len(set(ids)) == 10_000
    finally:
        second.kill()


def test_a_non_idempotent_request_in_flight_is_reported_never_run_twice(tmp_path: Path) -> None:
    root, sink = tmp_path / "root", tmp_path / "sink.txt"
    second, log = _kill_mid_burst(root, sink, "sink")
    try:
        ids = lines(sink)
        assert len(ids) == len(set(ids)), "a request ran twice"
        interrupted = re.findall(r"'sink' \((\w+)\) was running when the last host stopped", log)
        assert len(interrupted) <= 4, "more than one request in flight per session"
        # Missing are only requests the kill cut short, and the log names each of them.
        assert 10_000 - len(ids) == len([i for i in interrupted if i not in ids])
    finally:
        second.kill()


def test_restarted_host_does_not_answer_old_requests_again(tmp_path: Path) -> None:
    root, sink = tmp_path / "root", tmp_path / "sink.txt"
    first = HostProcess(root)
    worker = start_worker(f"""
        import filebridge.worker as fb
        fb.connect()
        for i in range(20):
            fb.call("sink", sink={str(sink)!r})
        print("done", flush=True)
        import sys; sys.stdin.read()
    """, root / "sessions" / "calm")
    assert worker.stdout is not None and worker.stdout.readline().strip() == "done"
    first.stop()
    second = HostProcess(root)
    try:
        time.sleep(1.0)
        assert len(lines(sink)) == 20
    finally:
        worker.kill()
        second.kill()


WAITING_CALL = """
import json, time
import filebridge.worker as fb
from filebridge.errors import CallTimeout
fb.connect()
print("connected", flush=True)
started = time.monotonic()
try:
    fb.call("slow", timeout=60, seconds=50)
    print(json.dumps({"answered": True}))
except CallTimeout as exc:
    print(json.dumps({"waited": time.monotonic() - started, "alive": exc.host_alive,
                      "message": str(exc)}))
"""


@pytest.mark.parametrize("poll", ["0", "1"])
def test_a_call_whose_host_is_killed_mid_wait_fails_long_before_its_timeout(
        tmp_path: Path, poll: str) -> None:
    """Also with a worker that reads afresh, as on a mount: it looks for the answer itself."""
    root = tmp_path / "root"
    host = HostProcess(root)
    worker = start_worker(WAITING_CALL, root / "sessions" / "waiting",
                          env={"FILEBRIDGE_POLL": poll})
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "connected"
    time.sleep(1.0)  # the call is waiting in the host's handler
    host.kill()
    out, _ = worker.communicate(timeout=30)
    told = json.loads(out.strip().splitlines()[-1])
    assert told.get("answered") is None, told
    assert told["alive"] is False
    assert "is gone while this call waited" in told["message"]
    assert "filebridge serve" in told["message"]
    assert told["waited"] < 10, f"the 60 s timeout was not waited out: {told}"

"""The checks every mount kind runs in both directions (tests/test_netfs_*.py call them).

Each asserts behaviour; the only clocks are generous deadlines for visibility (a call answers
within 2 s where a look through stale attributes took about 21 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from netfs_support import (
    InteractiveWorker,
    Sides,
    python_env,
    run_worker,
    serving,
    status_of,
    wait_until,
    worker_json,
)

# Seconds without a seen heartbeat change before the host calls a session stale, in these tests.
STALE_AFTER = 2.0

CALLS = """
import json
import filebridge.worker as fb
fb.connect()
print(json.dumps([fb.call("echo", timeout=2, n=n) for n in range(20)]))
"""

BURST = """
import json, sys, time
import filebridge.worker as fb
fb.connect()
start_at, count = float(sys.argv[1]), int(sys.argv[2])
while time.time() < start_at:
    time.sleep(0.001)
print(json.dumps([fb.send("record", i=i) for i in range(count)]))
"""

FIRST_CALL = """
import json
import filebridge.worker as fb
fb.connect()
print(json.dumps(fb.call("echo", timeout=1.0, first=True)))
"""


def check_calls(sides: Sides) -> None:
    """Twenty calls from a worker process, each answered within 2 s."""
    with serving(sides):
        got = worker_json(CALLS, sides.worker_session("calls"))
    assert got == [{"n": n} for n in range(20)]


def check_burst(sides: Sides, total: int = 2000) -> None:
    """Two worker processes send ``total`` requests at once into one session: each runs once."""
    with serving(sides) as served:
        start_at = str(time.time() + 1.5)
        session = sides.worker_session("burst")
        senders = [subprocess.Popen([sys.executable, "-c", BURST, start_at, str(total // 2)],
                                    env=python_env(FILEBRIDGE_SESSION=str(session)),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        sent: list[str] = []
        for sender in senders:
            out, err = sender.communicate(timeout=120)
            assert sender.returncode == 0, f"a sender failed:\n{err}"
            sent += json.loads(out)
        wait_until(lambda: len(served.seen) >= total, f"the host to run all {total} requests",
                   timeout=30)
        time.sleep(0.5)  # a duplicate would show up in this time
        seen = list(served.seen)
    assert len(set(sent)) == total
    assert sorted(seen) == sorted(sent), (
        f"lost {len(set(sent) - set(seen))}, duplicated {len(seen) - len(set(seen))}")


def check_discovery(sides: Sides) -> None:
    """Sessions that appear while the host runs are served at their first call (1 s)."""
    with serving(sides) as served:
        for name in ("first", "second", "third"):
            got = worker_json(FIRST_CALL, sides.worker_session(name))
            assert got == {"first": True}, name
            shown = status_of(served.host, name)
            assert shown in ("alive", "detached"), f"{name} answered but shows {shown!r}"


def check_heartbeat_and_detach(sides: Sides) -> None:
    """A beating worker stays alive for the host, a detach is seen, a killed worker goes stale.

    Beats every 0.2 s against a 2 s stale limit: the host may look less often while a session
    is idle, but a look through a stale cache (20 s on sshfs) shows the session stale."""
    beating = {"FILEBRIDGE_HEARTBEAT_INTERVAL": "0.2"}
    with serving(sides, stale_after=STALE_AFTER) as served:
        host = served.host
        beater = InteractiveWorker(sides.worker_session("beating"), **beating)
        try:
            assert beater.call("echo", n=1) == {"ok": True, "result": {"n": 1}}
            wait_until(lambda: status_of(host, "beating") == "alive", "the session alive")
            end = time.monotonic() + STALE_AFTER + 1
            while time.monotonic() < end:
                shown = status_of(host, "beating")
                assert shown == "alive", f"a beating session shows {shown or 'nothing'!r}"
                time.sleep(0.1)
            run_worker("import filebridge.worker as fb; fb.connect(); fb.disconnect()",
                       sides.worker_session("polite"), **beating)
            wait_until(lambda: status_of(host, "polite") == "detached", "the detach",
                       timeout=3)
        finally:
            beater.kill()
        wait_until(lambda: status_of(host, "beating") == "stale",
                   "a killed worker's session to go stale", timeout=STALE_AFTER + 3)


# 5 s a call: room for a busy machine, a quarter of the 20 s a stale attribute cache would
# hide an answer for.
ROTATING_CALLS = """
import json
import filebridge.worker as fb
fb.connect()
print(json.dumps([fb.call("echo", timeout=5, n=n, pad="p" * 200)["n"] for n in range(100)]))
"""


def check_rotation(sides: Sides, limit: int = 32 << 10) -> None:
    """Two processes send while their request log rotates every few dozen requests, then a
    worker calls while the answer log rotates too: each request runs once, every call is
    answered, and the retired generations go once read."""
    previous = os.environ.get("FILEBRIDGE_ROTATE_AT")
    os.environ["FILEBRIDGE_ROTATE_AT"] = str(limit)  # the host's logs rotate as well
    try:
        with serving(sides) as served:
            start_at = str(time.time() + 1.5)
            session = sides.worker_session("rotating")
            senders = [subprocess.Popen(
                [sys.executable, "-c", BURST, start_at, "600"],
                env=python_env(FILEBRIDGE_SESSION=str(session),
                               FILEBRIDGE_ROTATE_AT=str(limit)),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
            sent: list[str] = []
            for sender in senders:
                out, err = sender.communicate(timeout=120)
                assert sender.returncode == 0, f"a sender failed:\n{err}"
                sent += json.loads(out)
            wait_until(lambda: len(served.seen) >= 1200, "the host to run all 1200 requests",
                       timeout=30)
            got = worker_json(ROTATING_CALLS, session, FILEBRIDGE_ROTATE_AT=str(limit))
            time.sleep(0.5)  # a duplicate would show up in this time
            seen = list(served.seen)
    finally:
        if previous is None:
            del os.environ["FILEBRIDGE_ROTATE_AT"]
        else:
            os.environ["FILEBRIDGE_ROTATE_AT"] = previous
    assert sorted(seen) == sorted(sent), (
        f"lost {len(set(sent) - set(seen))}, duplicated {len(seen) - len(set(seen))}")
    assert got == list(range(100))
    folder = sides.host_path(session)
    header = (folder / "request.log").read_bytes()[:40]
    assert header.startswith(b'{"log_generation":'), "request.log was rotated"
    assert int(header.split(b":")[1].split(b",")[0]) >= 3
    retired = sorted(p.name for p in folder.iterdir() if p.name.startswith("request.log."))
    assert len(retired) <= 2, f"generations the host had read are removed: {retired}"

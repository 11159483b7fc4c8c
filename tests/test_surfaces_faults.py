"""Each injected fault, through real processes, and the recovery path it exercises."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

import filebridge
from filebridge.errors import FaultSpecError
from filebridge.host import Host
from filebridge.testing.pytest_plugin import WorkerFactory
from filebridge.testing.workers import Worker, WorkerFailed

CHECKOUT = Path(filebridge.__file__).resolve().parents[1]


def test_a_dropped_doorbell_is_caught_up_by_the_hosts_safety_read(
        fb_python_worker: Worker, fb_host: Host) -> None:
    bell = fb_host.root.sessions / fb_python_worker.session_id / "request.lock"
    before = bell.read_bytes()
    out = fb_python_worker.run(
        "from filebridge.testing import faults\n"
        "faults.inject('drop_doorbell:request.lock')\n"
        "print(fb.call('echo', late=True, timeout=10))\n"
        "print(faults.fired())")
    assert out == "{'late': True}\n['drop_doorbell:request.lock']\n"
    assert bell.read_bytes() == before  # the request was found without its ring
    assert fb_python_worker.log.wait_for_request("echo").result == {"late": True}


def test_a_delayed_answer_times_out_the_caller_and_the_next_one_arrives(
        fb_python_worker: Worker, fb_faults: ModuleType) -> None:
    fb_faults.inject("delay_answer:1.5:echo")
    out = fb_python_worker.run(
        "from filebridge.errors import CallTimeout\n"
        "try:\n    fb.call('echo', n=1, timeout=0.3)\n"
        "except CallTimeout as exc:\n    print('timeout', exc.host_alive)\n"
        "print(fb.call('echo', n=2, timeout=10))")
    assert out == "timeout True\n{'n': 2}\n"
    assert fb_faults.fired() == ["delay_answer:1.5:echo"]


def test_a_torn_write_fails_the_send_and_the_next_request_goes_through(
        fb_python_worker: Worker, fb_host: Host) -> None:
    out = fb_python_worker.run(
        "from filebridge.testing import faults\n"
        "from filebridge.errors import WriteFailed\n"
        "faults.inject('tear_write:request.log')\n"
        "try:\n    fb.send('echo', torn=True)\n"
        "except WriteFailed as exc:\n    print('failed:', exc)\n"
        "print(fb.call('echo', whole=True, timeout=10))")
    lines = out.splitlines()
    assert lines[0].startswith("failed: 'echo' was not sent") and "torn" in lines[0]
    assert lines[1] == "{'whole': True}"
    log = (fb_host.root.sessions / fb_python_worker.session_id / "request.log").read_bytes()
    fragments = [line for line in log.split(b"\n")
                 if line.strip(b" \0") and not line.rstrip().endswith(b"}")]
    assert len(fragments) == 1 and fragments[0].startswith(b'{"v":1,"id":')
    fb_python_worker.log.wait_for_request("echo")  # logged once the host has finished it
    assert [e.args for e in fb_python_worker.log.requests(command="echo")] == [{"whole": True}]
    assert fb_host.session(fb_python_worker.session_id).status == "alive"


def test_a_worker_started_on_a_full_disk_says_so(fb_worker_factory: WorkerFactory,
                                                  fb_faults: ModuleType) -> None:
    with pytest.raises(WorkerFailed, match=r"'attach' was not sent: .*No space left on device"):
        fb_worker_factory("python", env=fb_faults.env("disk_full:request.log"))


def test_a_full_disk_fails_writes_until_it_has_room_again(fb_python_worker: Worker) -> None:
    out = fb_python_worker.run(
        "from filebridge.testing import faults\n"
        "from filebridge.errors import WriteFailed\n"
        "faults.inject('disk_full:request.log*2')\n"
        "for n in range(3):\n"
        "    try:\n        print(fb.call('echo', n=n, timeout=10))\n"
        "    except WriteFailed as exc:\n        print(exc.errno, exc)")
    first, second, third = out.splitlines()
    assert first.startswith("28 'echo' was not sent") and "No space left" in first
    assert second.startswith("28 'echo' was not sent")
    assert third == "{'n': 2}"
    fb_python_worker.log.wait_for_request("echo")
    assert [e.args for e in fb_python_worker.log.requests(command="echo")] == [{"n": 2}]


def test_a_full_disk_on_the_host_side_leaves_the_request_answered_later(
        fb_python_worker: Worker, fb_faults: ModuleType) -> None:
    fb_faults.inject("disk_full:response.log")
    out = fb_python_worker.run("print(fb.call('echo', n=3, timeout=15))")
    assert out == "{'n': 3}\n"  # the host kept the answer and delivered it when it could
    assert fb_faults.fired() == ["disk_full:response.log"]


def _serve(root: Path, spec: str = "") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH")) if p)
    if spec:
        env["FILEBRIDGE_FAULTS"] = spec
    return subprocess.Popen([sys.executable, "-m", "filebridge", "serve", "--root", str(root),
                             "--wait-for-lease", "30", "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize(("point", "first_answer"), [
    ("claimed", "CallTimeout"),  # killed before the handler ran
    ("handled", "CallTimeout"),  # killed with the answer in hand
    ("answered", "{'n': 1}"),          # killed after answering, before recording it done
])
def test_a_host_killed_at_a_named_point_and_a_new_host_resumes(
        tmp_path: Path, point: str, first_answer: str) -> None:
    from filebridge.testing.workers import PythonWorker

    root = tmp_path / "root"
    first = _serve(root, f"kill_host:{point}:echo")
    worker = PythonWorker(root / "sessions" / "w1")
    second = None
    try:
        out = worker.run("from filebridge.errors import CallTimeout\n"
                         "try:\n    print(fb.call('echo', n=1, timeout=3))\n"
                         "except CallTimeout as exc:\n"
                         "    print('CallTimeout')")
        assert first.wait(10) == -signal.SIGKILL
        assert out == first_answer + "\n"
        second = _serve(root)
        deadline = time.monotonic() + 30
        answer = ""
        while time.monotonic() < deadline and answer != "{'n': 2}\n":
            try:
                answer = worker.run("print(fb.call('echo', n=2, timeout=5))")
            except WorkerFailed:
                time.sleep(0.2)
        assert answer == "{'n': 2}\n"
    finally:
        worker.stop()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)


def test_bad_fault_specs_are_refused_saying_why(fb_faults: ModuleType) -> None:
    for spec, message in (("melt", "no fault 'melt'"),
                          ("delay_answer", "delay_answer:SECONDS"),
                          ("kill_host:later", "kill_host:POINT"),
                          ("disk_full*0", "positive number")):
        with pytest.raises(FaultSpecError, match=message):
            fb_faults.inject(spec)
    with fb_faults.injected("disk_full:x.json*all") as armed:
        assert [f.describe() for f in armed] == ["disk_full:x.json*all"]
    assert fb_faults.fired() == []

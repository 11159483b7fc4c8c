"""The channel between a worker process and a host: answers, errors, bad input, many writers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from core_support import HostProcess, lines, run_worker, wait_until

from filebridge.wire.codec import loads
from filebridge.wire.files import Doorbell
from filebridge.wire.layout import SessionLayout
from filebridge.wire.logs import AppendLog
from filebridge.worker.session_files import prepare_session

pytestmark = pytest.mark.integration  # a host process and worker processes, each test


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture(scope="module")
def served_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served") / "root"


@pytest.fixture(scope="module")
def host(served_root: Path):
    """One host process for the tests that only need one serving: each uses sessions of its
    own and looks only at what the host logged about them. Heartbeats every 0.2 s: a call's
    timeout sees the host's beat change sooner."""
    process = HostProcess(served_root, tick=0.2)
    yield process
    process.kill()


def test_call_returns_the_answer_to_that_very_request(host: HostProcess,
                                                      served_root: Path) -> None:
    out = run_worker("""
        import filebridge.worker as fb
        fb.connect()
        answers = [fb.call("echo", n=i)["n"] for i in range(50)]
        print(answers == list(range(50)))
    """, served_root / "sessions" / "w1")
    assert out.strip() == "True"


def test_error_answers_name_what_happened(host: HostProcess, served_root: Path) -> None:
    out = run_worker("""
        import filebridge.worker as fb
        from filebridge.errors import NoHandler, RemoteError
        fb.connect()
        try:
            fb.call("frobnicate")
        except NoHandler as exc:
            print("no handler:", exc.code, exc.remote_message)
        try:
            fb.call("fail")
        except RemoteError as exc:
            print("failed:", exc.code, exc.remote_message)
        print("still served:", fb.call("echo", ok=1))
    """, served_root / "sessions" / "w2")
    assert "no handler: no_handler no handler for 'frobnicate'" in out
    assert "failed: handler_error" in out and "this handler always fails" in out
    assert "still served: {'ok': 1}" in out


def test_timeout_says_how_long_and_that_no_host_is_serving(root: Path) -> None:
    out = run_worker("""
        import filebridge.worker as fb
        from filebridge.errors import CallTimeout
        fb.connect()
        try:
            fb.call("echo", timeout=0.3)
        except CallTimeout as exc:
            print(exc.host_alive, exc.waited >= 0.3, exc)
    """, root / "sessions" / "lonely")
    alive, waited, message = out.strip().split(" ", 2)
    assert (alive, waited) == ("False", "True")
    assert "no answer to 'echo'" in message and "no host serves this root" in message


@pytest.mark.parametrize("timeout", [0.6, 0.3])
@pytest.mark.parametrize("poll", ["", "1"])
def test_timeout_with_a_busy_host_says_the_host_is_alive(host: HostProcess, served_root: Path,
                                                         poll: str, timeout: float) -> None:
    """A worker that polls (as on a mount) reads the host's heartbeat only once its call has
    waited a while, or not at all before a short timeout: it still tells a busy host."""
    out = run_worker(f"""
        import filebridge.worker as fb
        from filebridge.errors import CallTimeout
        fb.connect()
        try:
            fb.call("slow", seconds=3, timeout={timeout})
        except CallTimeout as exc:
            print(exc.host_alive, exc)
    """, served_root / "sessions" / f"w{poll}{timeout}", env={"FILEBRIDGE_POLL": poll})
    assert out.startswith("True") and "did not answer in time" in out


def test_a_polling_host_answers_a_session_that_went_quiet_and_came_back(root: Path) -> None:
    """FILEBRIDGE_POLL=1 makes host and worker poll. A host that polls reads a busy session's
    log itself and goes back to its doorbell after a quiet spell (``busy_for``, a second by
    default, a tenth of one here): calls before, after and across that are all answered."""
    process = HostProcess(root, env={"FILEBRIDGE_POLL": "1"}, lease_settle=0.05,
                          busy_for=0.1)
    try:
        out = run_worker("""
            import time
            import filebridge.worker as fb
            strategy = fb.connect().strategy
            answers, slowest = [], 0.0
            for pause in (0, 0, 0, 0.15, 0, 0, 0.09, 0.03, 0.12, 0):
                time.sleep(pause)
                started = time.monotonic()
                answers.append(fb.call("echo", x=len(answers), timeout=10)["x"])
                slowest = max(slowest, time.monotonic() - started)
            print(strategy, answers == list(range(10)), slowest < 2)
        """, root / "sessions" / "quiet", env={"FILEBRIDGE_POLL": "1"})
        assert out.strip() == "polling True True"
        assert "waiting by polling" in process.log()
    finally:
        process.kill()


@pytest.mark.parametrize("strategy", ["polling", "native"])
def test_every_waiting_strategy_serves_calls(root: Path, strategy: str) -> None:
    """polling: what network filesystems get; native: watchfiles, as on macOS and Windows."""
    chosen = {"FILEBRIDGE_WAIT": strategy}
    # A polling host waits for its lease to settle as on a network filesystem: briefly here.
    process = HostProcess(root, env=chosen, lease_settle=0.05)
    try:
        out = run_worker("""
            import filebridge.worker as fb
            c = fb.connect()
            print(c.strategy, [fb.call("echo", x=i)["x"] for i in range(20)] == list(range(20)))
        """, root / "sessions" / "p1", env=chosen)
        assert out.strip() == f"{strategy} True"
        assert f"waiting by {strategy}" in process.log()
    finally:
        process.kill()


def test_lines_from_processes_and_threads_never_interleave(host: HostProcess,
                                                           served_root: Path) -> None:
    """4 forked processes x 4 threads, each request bigger than an atomic pipe write."""
    sink = served_root.parent / "sink.txt"
    run_worker(f"""
        import os, threading
        import filebridge.worker as fb
        fb.connect()
        payload = "x" * 9000
        def send_many():
            for _ in range(100):
                fb.send("sink", sink={str(sink)!r}, payload=payload)
        children = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                threads = [threading.Thread(target=send_many) for _ in range(4)]
                [t.start() for t in threads]
                [t.join() for t in threads]
                os._exit(0)
            children.append(pid)
        threads = [threading.Thread(target=send_many) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        for pid in children:
            os.waitpid(pid, 0)
    """, served_root / "sessions" / "many")
    wait_until(lambda: len(lines(sink)) >= 1600, "1600 requests to arrive")
    ids = lines(sink)
    assert len(ids) == len(set(ids)) == 1600
    assert "session many: bad request" not in host.log()


def _raw_session(root: Path, name: str) -> SessionLayout:
    """A session answered through responses/<id>.json, fed raw lines by the test."""
    layout = SessionLayout(root / "sessions" / name)
    prepare_session(layout, {"language": "test", "answers": "files"})
    return layout


def _feed(layout: SessionLayout, data: bytes) -> None:
    log = AppendLog(layout.request_log)
    Doorbell(layout.request_lock).ring(log.append(data))
    log.close()


def _request(rid: str, command: str = "echo", **extra: object) -> dict[str, object]:
    return {"v": 1, "id": rid, "seq": 1, "time": 1.0, "pid": 1, "command": command,
            "answer": True, "args": {}, **extra}


def _answer(layout: SessionLayout, rid: str) -> dict[str, object]:
    path = layout.response_file(rid)
    wait_until(path.exists, f"an answer to {rid}")
    answer: dict[str, object] = loads(path.read_bytes())
    return answer


def test_malformed_requests_get_error_answers_and_the_host_goes_on(host: HostProcess,
                                                                     served_root: Path) -> None:
    layout = _raw_session(served_root, "raw")
    bad_lines = [
        b'{"v":1,"id":"notjson1", this is not json\n',
        json.dumps(_request("types1", seq="seven", args=[1])).encode() + b"\n",
        json.dumps(_request("unknown1", command="does_not_exist")).encode() + b"\n",
        json.dumps(_request("future1", v=99)).encode() + b"\n",
        b"\x00\xff\xfe garbage \x89PNG\r\n",
        b"[1, 2, 3]\n",
        json.dumps(_request("after1", args={"still": "here"})).encode() + b"\n",
    ]
    for line in bad_lines:
        _feed(layout, line)
    assert _answer(layout, "notjson1")["error"]["code"] == "bad_request"  # type: ignore[index]
    types = _answer(layout, "types1")["error"]
    assert types["code"] == "bad_request" and "'seq' must be a number" in types["message"]  # type: ignore[index]
    assert _answer(layout, "unknown1")["error"]["code"] == "no_handler"  # type: ignore[index]
    future = _answer(layout, "future1")["error"]
    assert future["code"] == "unsupported_version" and "99" in future["message"]  # type: ignore[index]
    assert _answer(layout, "after1")["result"] == {"still": "here"}
    log = host.log()
    assert "session raw: bad request at offset" in log and "not JSON" in log


@pytest.mark.peers  # writes 100 MB through a host process: seconds, not milliseconds
def test_a_100_mb_line_is_refused_without_holding_it(root: Path) -> None:
    host = HostProcess(root)  # its own: the peak of its memory is what the test reads
    try:
        layout = _raw_session(root, "huge")
        request = _request("huge1", args={"blob": ""})
        head = json.dumps(request).encode()[:-3]  # up to the blob's opening quote
        _feed(layout, head + b"y" * (100 << 20) + b'"}}\n')
        _feed(layout, json.dumps(_request("next1")).encode() + b"\n")
        assert _answer(layout, "huge1")["error"]["code"] == "too_large"  # type: ignore[index]
        assert _answer(layout, "next1")["ok"] is True
        rss_kb = int(Path(f"/proc/{host.process.pid}/status").read_text()
                     .split("VmHWM:")[1].split()[0])
    finally:
        host.kill()
    assert rss_kb < 90 * 1024, "the host held the whole line in memory"


def test_a_worker_killed_mid_line_blocks_nothing(host: HostProcess, served_root: Path) -> None:
    layout = _raw_session(served_root, "killed")
    # What a writer killed half-way leaves: a fragment with no newline.
    fd = os.open(layout.request_log, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b'{"v":1,"id":"cut1","seq":1,"time":1.0,"pid":1,"command":"ec')
    os.close(fd)
    Doorbell(layout.request_lock).ring(12345)
    out = run_worker("""
        import filebridge.worker as fb
        fb.connect()
        print(fb.call("echo", after="the fragment"))
    """, layout.folder)
    assert "{'after': 'the fragment'}" in out
    wait_until(lambda: "session killed: bad request" in host.log(), "the fragment to be logged")
    assert "session killed: bad request at offset 0" in host.log()


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A 512 KiB tmpfs: a disk that fills up (needs the right to mount; skipped without it)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_send_clearly_and_serving_resumes_after(tiny_disk: Path) -> None:
    root = tiny_disk / "root"
    host = HostProcess(root)
    filler = tiny_disk / "filler"
    try:
        out = run_worker(f"""
            import filebridge.worker as fb
            from filebridge.errors import WriteFailed
            fb.connect()
            print("before:", fb.call("echo", n=1))
            with open({str(filler)!r}, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"x" * 4096)
                except OSError:
                    pass
            try:
                fb.send("echo", payload="y" * 100_000)
            except WriteFailed as exc:
                print("full:", exc)
            import os
            os.remove({str(filler)!r})
            print("after:", fb.call("echo", n=2))
        """, root / "sessions" / "full")
    finally:
        host.kill()
    assert "before: {'n': 1}" in out
    assert "full: 'echo' was not sent: cannot write to" in out
    assert "No space left on device" in out
    assert "after: {'n': 2}" in out

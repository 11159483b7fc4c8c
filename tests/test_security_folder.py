"""A session folder is untrusted input: whatever a worker puts there, the host never writes,
reads or hangs outside it, never dies, and keeps serving every other session.

Each case builds a hostile session next to a healthy one served by the same real host, lets the
host meet it, then checks that nothing outside the hostile folder changed and that the healthy
session's calls kept working.
"""

from __future__ import annotations

import logging
import os
import resource
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import pytest

from filebridge.host import Host
from filebridge.worker.connection import Connection, open_connection

PROTOCOL_FILES = ["session.json", "request.log", "request.lock", "response.log", "response.lock",
                  "command.log", "command.lock", "command_response.lock", "heartbeat",
                  "host.offset", "detached", "workspace.json", "workspace.lock", "plot.png",
                  "plot.lock", "modules.json"]
PROTOCOL_FOLDERS = ["responses", "command_responses", "requests", "host-views"]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A folder outside the root with files an attacker would like to reach."""
    folder = tmp_path / "victim"
    folder.mkdir()
    for name in ["rc", *PROTOCOL_FILES]:
        (folder / name).write_bytes(b"precious\n")
    for name in PROTOCOL_FOLDERS:
        (folder / name).mkdir()
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry below ``folder``: mode, mtime and content."""
    seen = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        seen[str(path.relative_to(folder))] = (st.st_mode, st.st_mtime_ns, data)
    return seen


@contextmanager
def serving(root: Path, **options: Any) -> Iterator[tuple[Host, Connection]]:
    """A host on ``root`` (``options`` for ``Host``) serving a healthy session; it ticks ten
    times a second, so it meets what a test planted within ``settle``'s tick and a half."""
    host = Host(root, stale_after=60, **{"tick": 0.1, **options})
    host.start()
    healthy = open_connection(host.root.sessions / "healthy")
    try:
        host.wait_for_session("healthy", timeout=10)
        yield host, healthy
    finally:
        healthy.close()
        host.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Host, Connection]]:
    with serving(tmp_path / "root") as pair:
        yield pair


def hostile_session(host: Host, name: str) -> Path:
    """A session folder with every file a worker makes, as a worker would make it."""
    folder = host.root.sessions / name
    folder.mkdir(mode=0o700)
    for sub in ("responses", "command_responses"):
        (folder / sub).mkdir(mode=0o700)
    for log in ("request.log", "response.log", "command.log"):
        (folder / log).write_bytes(b"")
    for bell in ("request.lock", "response.lock", "command.lock", "command_response.lock",
                 "heartbeat"):
        (folder / bell).write_bytes(b"0" * 20)
    for path in folder.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)
    return folder


def post(folder: Path, line: bytes) -> None:
    """Append and ring as a worker does (never through a link the test planted itself)."""
    with open(folder / "request.log", "ab") as f:
        f.write(line)
    if not (folder / "request.lock").is_symlink():
        with open(folder / "request.lock", "r+b") as f:
            f.write(b"%020d" % time.time_ns())


def request(rid: str, command: str = "echo", **args: object) -> bytes:
    import json

    return json.dumps({"v": 1, "id": rid, "seq": 1, "time": time.time(), "pid": 1,
                       "command": command, "answer": True, "args": args}).encode() + b"\n"


def ready(folder: Path) -> None:
    """Write session.json last and whole (a temporary file renamed), as a worker does."""
    temporary = folder / ".session.json.tmp"
    temporary.write_bytes(b'{"id": "%s", "answers": "log"}' % folder.name.encode())
    temporary.chmod(0o600)
    if not (folder / "session.json").is_symlink():
        temporary.rename(folder / "session.json")
    else:
        temporary.unlink()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def healthy_calls_work(healthy: Connection, count: int = 5) -> None:
    for i in range(count):
        assert healthy.call("echo", timeout=10, n=i) == {"n": i}


def answered(folder: Path, rid: str) -> bool:
    """Whether the answer to ``rid`` is in the session's own response.log (never a link)."""
    log = folder / "response.log"
    return (log.exists() and not log.is_symlink() and log.is_file()
            and rid.encode() in log.read_bytes())


def settle(host: Host, folder: Path | None = None, rid: str = "") -> None:
    """Wait until the host met what was planted: it answered ``rid``, or shows the session
    broken or refused; a session it cannot serve at all gets a tick and a half."""
    deadline = time.monotonic() + (10.0 if rid else 1.5 * host.tick)
    while time.monotonic() < deadline:
        if folder is not None:
            info = {s.id: s for s in host.sessions()}.get(folder.name)
            if info is not None and info.status in ("broken", "refused"):
                break
            if rid and info is not None and answered(folder, rid):
                break
        time.sleep(0.02)
    assert host.running


@pytest.mark.parametrize("name", PROTOCOL_FILES + PROTOCOL_FOLDERS)
def test_a_link_planted_for_any_protocol_name_is_never_followed(
        served: tuple[Host, Connection], victim: Path, name: str) -> None:
    host, healthy = served
    before = snapshot(victim)
    folder = hostile_session(host, f"links-{name.replace('.', '-')}")
    target = folder / name
    if target.is_dir():
        target.rmdir()
    else:
        target.unlink(missing_ok=True)
    target.symlink_to(victim / name)
    if name != "session.json":
        ready(folder)
    if name != "request.log":
        post(folder, request("a1b2c3d4"))
    settle(host, folder, "a1b2c3d4")
    healthy_calls_work(healthy)
    # A detach makes the host write the `detached` mark; an answer goes to response.log.
    if name != "request.log":
        post(folder, request("e5f6a7b8", "detach"))
        settle(host, folder, "e5f6a7b8")
    assert snapshot(victim) == before
    info = {s.id: s for s in host.sessions()}.get(folder.name)
    if info is not None and info.status in ("broken", "refused"):
        assert info.refused_reason, "a broken or refused session says why"


def test_a_retired_log_generation_planted_as_a_link_is_never_followed_nor_removed(
        served: tuple[Host, Connection], victim: Path) -> None:
    """The log says it was rotated (a generation-1 header) while the host is still in
    generation 0, whose retired name is a link: reading it, or removing it once read, must
    not reach the link's target."""
    host, healthy = served
    before = snapshot(victim)
    folder = hostile_session(host, "rotated")
    (folder / "request.log").write_bytes(b'{"log_generation":1,"base":40}\n' + request("c0ffee01"))
    (folder / "request.log.0").symlink_to(victim / "request.log")
    ready(folder)
    settle(host, folder)
    healthy_calls_work(healthy)
    assert snapshot(victim) == before
    assert (victim / "request.log").read_bytes() == b"precious\n"
    info = host.session("rotated")
    assert info.status == "broken" and "link" in info.refused_reason, info.refused_reason


def test_the_session_folder_itself_replaced_by_a_link_is_refused(
        served: tuple[Host, Connection], victim: Path) -> None:
    host, healthy = served
    before = snapshot(victim)
    outside = hostile_session(host, "real-one")
    ready(outside)
    (host.root.sessions / "linked").symlink_to(victim)
    settle(host, host.root.sessions / "linked")
    healthy_calls_work(healthy)
    assert snapshot(victim) == before
    assert "linked" not in {s.id for s in host.sessions() if s.status == "alive"}


@pytest.mark.parametrize("name", ["request.log", "request.lock", "session.json", "response.log",
                                  "heartbeat", "host.offset"])
def test_a_fifo_in_place_of_a_session_file_never_hangs_the_host(
        served: tuple[Host, Connection], name: str) -> None:
    host, healthy = served
    folder = hostile_session(host, f"fifo-{name.replace('.', '-')}")
    (folder / name).unlink(missing_ok=True)
    os.mkfifo(folder / name, 0o600)
    if name != "session.json":
        ready(folder)
    if name not in ("request.log", "request.lock"):
        post(folder, request("0a0b0c0d"))
    settle(host, folder, "0a0b0c0d")
    healthy_calls_work(healthy)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_in_place_of_the_log_is_refused_not_read(
        served: tuple[Host, Connection]) -> None:
    host, healthy = served
    folder = hostile_session(host, "device")
    (folder / "request.log").unlink()
    os.mknod(folder / "request.log", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
    ready(folder)
    post_bell = folder / "request.lock"
    post_bell.write_bytes(b"%020d" % 99)
    settle(host, folder, "never")
    healthy_calls_work(healthy)
    info = host.session("device")
    assert info.status == "broken"
    assert "not a regular file" in info.refused_reason
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2 << 20  # KiB: under 2 GiB


def test_a_huge_session_json_is_not_read_whole(served: tuple[Host, Connection]) -> None:
    host, healthy = served
    folder = hostile_session(host, "huge")
    with open(folder / "session.json", "wb") as f:
        f.truncate(1 << 30)  # sparse: a gigabyte that costs no disk
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    settle(host, folder)
    healthy_calls_work(healthy)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 200 << 10  # KiB
    info = host.session("huge")
    assert info.info == {}


def test_malformed_lines_and_oversized_requests_get_answers_and_the_host_lives(
        tmp_path: Path) -> None:
    # A limit of 1 MiB and a 2 MiB request: the same refusal as the default 16 MiB limit and
    # a 20 MiB request, read in one slice instead of five.
    limit = 1 << 20
    with serving(tmp_path / "root", max_request_bytes=limit) as (host, healthy):
        folder = hostile_session(host, "garbage")
        ready(folder)
        post(folder, b"\x00\xff not json at all\n" * 1000 + request("ffff0001"))
        post(folder, b'{"v":1,"id":"ffff0002","answer":true,"command":"echo","args":"x' +
             b"y" * (2 * limit) + b'"}\n')
        deadline = time.monotonic() + 20
        log = folder / "response.log"
        while time.monotonic() < deadline and b"ffff0002" not in log.read_bytes():
            time.sleep(0.02)
        answers = log.read_bytes()
        assert b'"id":"ffff0001","ok":true' in answers
        assert b'"id":"ffff0002","ok":false' in answers and b"too_large" in answers
        healthy_calls_work(healthy)


@pytest.mark.peers
def test_a_damaged_journal_is_never_replayed_and_recover_resumes(
        served: tuple[Host, Connection], tmp_path: Path) -> None:
    host, _healthy = served
    folder = hostile_session(host, "journal")
    runs: list[str] = []
    host.register("count", lambda call: runs.append(call.request.id))
    ready(folder)
    post(folder, request("00000001", "count"))
    deadline = time.monotonic() + 10
    while not runs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runs == ["00000001"]
    mirror = host.root.journal_mirror("journal")
    deadline = time.monotonic() + 15  # the host copies its position each tick
    while not (mirror.exists() and mirror.read_bytes().startswith(b"%020d" % (
            folder / "request.log").stat().st_size)):
        assert time.monotonic() < deadline, "the host keeps its own copy of the position"
        time.sleep(0.05)
    (folder / "host.offset").write_bytes(b"garbage that is not a record")
    # The host meets the damage when it next opens the session: make it forget and find it.
    host.stop()
    again = Host(host.root.root, stale_after=60)
    again.start()
    try:
        again.register("count", lambda call: runs.append(call.request.id))
        settle(again, folder, "never")
        info = again.session("journal")
        assert info.status == "broken"
        assert "filebridge recover" in info.refused_reason
        assert runs == ["00000001"], "nothing ran twice"
        subprocess.run([sys.executable, "-m", "filebridge", "recover", "journal",
                        "--root", str(host.root.root)], check=True, capture_output=True)
        post(folder, request("00000002", "count"))
        deadline = time.monotonic() + 20
        while runs != ["00000001", "00000002"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runs == ["00000001", "00000002"]
    finally:
        again.stop()


def test_a_truncated_log_breaks_only_its_session(served: tuple[Host, Connection]) -> None:
    host, healthy = served
    folder = hostile_session(host, "truncated")
    ready(folder)
    post(folder, request("0000aaaa"))
    deadline = time.monotonic() + 10
    while b"0000aaaa" not in (folder / "response.log").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with open(folder / "request.log", "r+b") as f:
        f.truncate(3)
    deadline = time.monotonic() + 10
    while host.session("truncated").status != "broken":
        assert time.monotonic() < deadline, "a truncated log is reported"
        time.sleep(0.1)
    assert "truncated" in host.session("truncated").refused_reason
    healthy_calls_work(healthy)


@pytest.mark.peers
def test_a_deleted_lease_does_not_let_a_second_host_serve(tmp_path: Path) -> None:
    first = Host(tmp_path / "root")
    first.start()
    try:
        (tmp_path / "root" / "host.lease").unlink()
        (tmp_path / "root" / "host.json").unlink()
        time.sleep(1.5)  # the first host renews its record
        second = subprocess.run([sys.executable, "-m", "filebridge", "serve", "--root",
                                 str(tmp_path / "root")], capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0
        assert "already served by pid" in second.stderr
        assert first.running
    finally:
        first.stop()


@pytest.mark.peers
def test_prune_keeps_a_live_session_whatever_the_host_last_said(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = {**os.environ, "FILEBRIDGE_HEARTBEAT_INTERVAL": "0.5"}
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time, filebridge.worker as fb; "
         f"fb.connect({str(root / 'sessions' / 'live')!r}); time.sleep(60)"], env=env)
    try:
        deadline = time.monotonic() + 10
        while not (root / "sessions" / "live" / "session.json").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # An old status file claims the session is stale: prune must look for itself.
        (root / "host-sessions.json").write_text(
            '[{"id": "live", "folder": "%s", "status": "stale"}]' % (root / "sessions" / "live"))
        done = subprocess.run([sys.executable, "-m", "filebridge", "prune", "--root", str(root),
                               "--json"], capture_output=True, text=True, env=env, check=True)
        assert '"removed": []' in done.stdout.replace(" ", "").replace('"removed":[]',
                                                                         '"removed": []')
        assert (root / "sessions" / "live").is_dir()
    finally:
        worker.kill()
        worker.wait()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that can really fill up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs",
                    str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_delays_answers_and_loses_none(
        small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    import threading

    # Retries every 10 ms instead of backing off to 5 s: the same retries, sooner.
    host = Host(small_disk / "root", stale_after=60, write_retry_delays=(0.01,))
    running = threading.Event()
    release = threading.Event()
    host.register("slow", lambda call: (running.set(), release.wait(30),
                                        {"n": call.args["n"], "pad": "x" * 65536})[2])
    caplog.set_level(logging.ERROR, logger="filebridge.host")
    host.start()
    worker = open_connection(small_disk / "root" / "sessions" / "full")
    results: dict[int, object] = {}

    def ask(n: int) -> None:
        results[n] = worker.call("slow", timeout=60, n=n)

    try:
        host.wait_for_session("full", timeout=10)
        callers = [threading.Thread(target=ask, args=(n,)) for n in range(5)]
        for caller in callers:
            caller.start()
        log = small_disk / "root" / "sessions" / "full" / "request.log"
        wait_until(lambda: running.is_set() and log.read_bytes().count(b'"slow"') == 5,
                   "every request in the log, the first one running")
        filler = fill(small_disk)
        release.set()

        def failed_writes() -> int:
            return sum("still cannot write" in r.getMessage() for r in caplog.records)

        # The host logs a failed write on its first try and every 20th after: two lines mean
        # it kept the answer and tried again at least 20 times while the disk stayed full.
        wait_until(lambda: failed_writes() >= 2, "the host retrying the answer")
        assert results == {}
        assert host.running
        filler.unlink()
        for caller in callers:
            caller.join(30)
        assert sorted(results) == [0, 1, 2, 3, 4]
        assert all(results[n] == {"n": n, "pad": "x" * 65536} for n in range(5))
        assert worker.call("echo", timeout=10, after="space") == {"after": "space"}
    finally:
        release.set()
        worker.close()
        host.stop()


def test_a_handler_past_its_deadline_is_answered_and_the_session_carries_on(
        tmp_path: Path) -> None:
    import threading

    from filebridge.errors import RemoteTimeout

    # The host answers an overdue handler on its next tick: both a tenth of a second here.
    host = Host(tmp_path / "root", handler_deadline=0.1, tick=0.1)
    never = threading.Event()
    host.register("stuck", lambda call: never.wait(60))
    host.start()
    worker = open_connection(tmp_path / "root" / "sessions" / "slow")
    other = open_connection(tmp_path / "root" / "sessions" / "other")
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(RemoteTimeout, match=r"did not finish within 0\.1 s"):
                worker.call("stuck", timeout=30)
            assert time.monotonic() - started < 10
            assert worker.call("echo", timeout=10, after="deadline") == {"after": "deadline"}
        # Two handlers of this session still hold threads: a third is not even started.
        with pytest.raises(RemoteTimeout, match="not run: 2 handlers"):
            worker.call("stuck", timeout=10)
        assert other.call("echo", timeout=10, n=1) == {"n": 1}
    finally:
        never.set()
        worker.close()
        other.close()
        host.stop()


def test_a_compiled_module_another_user_left_in_the_shared_cache_never_runs(
        tmp_path: Path) -> None:
    from filebridge.worker.imports.codecache import CodeCache

    cache = CodeCache(tmp_path / "import-cache" / "tag")
    code = compile("x = 1", "/proj/mod.py", "exec")
    cache.store("hash", "/proj/mod.py", "x = 1", code)
    assert cache.load("hash", "/proj/mod.py") == ("x = 1", code)
    entry = Path(cache.path_of("hash", "/proj/mod.py") or "")
    entry.chmod(0o666)
    assert cache.load("hash", "/proj/mod.py") is None, "writable by others: not trusted"
    entry.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(entry, 65534, 65534)
        assert cache.load("hash", "/proj/mod.py") is None, "another user's entry: not trusted"
    entry.unlink()
    entry.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_bytes(b"anything")
    assert cache.load("hash", "/proj/mod.py") is None, "a link: not followed"

"""A host and real workers on the two sides of an sshfs mount with default options.

Each test runs twice: host on the mount with the workers on the real folder, and workers on the
mount with the host on the real folder. The mount is made by tests/netfs_support.py over a
private loopback sshd; without sshfs or FUSE the tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netfs_checks import (
    STALE_AFTER,
    check_burst,
    check_calls,
    check_discovery,
    check_heartbeat_and_detach,
    check_rotation,
)
from netfs_support import (  # noqa: F401 - sshfs is a fixture
    DIRECTIONS,
    InteractiveWorker,
    MountedFolder,
    Sides,
    python_env,
    serving,
    sshfs,
    sshfs_folder,
    status_of,
    wait_until,
    worker_json,
)

from filebridge.host.viewers.service import install_viewers
from filebridge.testing.loopback_mount import SshfsMount

pytestmark = [pytest.mark.netfs, pytest.mark.timeout(240)]


@pytest.fixture(params=DIRECTIONS)
def sides(request: pytest.FixtureRequest, sshfs: MountedFolder) -> Sides:  # noqa: F811
    return Sides.of(sshfs, request.param, request.node.originalname)


def test_calls_answer_within_two_seconds(sides: Sides) -> None:
    check_calls(sides)


def test_a_burst_from_two_processes_runs_each_request_once(sides: Sides) -> None:
    check_burst(sides)


def test_new_sessions_are_served_at_their_first_call(sides: Sides) -> None:
    check_discovery(sides)


def test_heartbeats_keep_a_session_alive_and_a_detach_is_seen(sides: Sides) -> None:
    check_heartbeat_and_detach(sides)


def test_requests_and_answers_carry_on_while_the_logs_rotate(sides: Sides) -> None:
    check_rotation(sides)


PROJECT_MODULE = 'def greet(name):\n    return f"hello {name} from the host"\n'


def test_remote_imports_through_filebridge_serve_source(sides: Sides, tmp_path: Path) -> None:
    project = tmp_path / "netproj"
    project.mkdir()
    (project / "__init__.py").write_text(PROJECT_MODULE)
    log = tmp_path / "serve.log"
    with open(log, "w") as errors:
        server = subprocess.Popen(
            [sys.executable, "-m", "filebridge", "serve", "--root", str(sides.host_root),
             "--source", str(project)], env=python_env(), stderr=errors)
    try:
        wait_until(lambda: (sides.host_root / "host.json").exists(), "the host to start")
        got = worker_json("""
            import json
            import filebridge.worker as fb
            fb.start(variables=False, viewers=False)
            import netproj
            print(json.dumps([netproj.greet("you"), netproj.__file__]))
        """, sides.worker_session("importer"), timeout=60)
        assert got == ["hello you from the host", str(project / "__init__.py")]
        assert server.poll() is None, log.read_text()
    finally:
        server.terminate()
        server.wait(20)


def test_a_webview_sent_by_the_worker_is_kept_by_the_host(sides: Sides) -> None:
    viewers = []
    with serving(sides, setup=lambda host: viewers.append(install_viewers(host, ui=False))):
        view_id = worker_json("""
            import json
            import filebridge.worker as fb
            from filebridge.worker import viewers
            fb.connect()
            view = viewers.webview(html="<p>seen across the mount</p>", title="netfs")
            fb.call("echo", timeout=2)
            print(json.dumps(view))
        """, sides.worker_session("viewer"))
        store = viewers[0].store
        (view,) = wait_until(lambda: store.views("viewer"), "the view", timeout=2)
        assert view.id == view_id and view.title == "netfs"
        assert (Path(view.folder) / view.page).read_text() == "<p>seen across the mount</p>"


SENDER = """
import json, sys
import filebridge.worker as fb
fb.connect()
print(json.dumps([fb.send("record", i=i, pad="w" * 2000) for i in range(int(sys.argv[1]))]))
"""


def test_send_from_the_hosts_side_while_the_worker_writes(sides: Sides) -> None:
    """Two writers on the two sides of the mount append to one log: nothing torn, nothing lost,
    a 100 KB argument arrives whole."""
    session = sides.worker_session("shared")
    with serving(sides) as served:
        worker_json("import json, filebridge.worker as fb; fb.connect(); "
                    "print(json.dumps(fb.call('echo', timeout=2)))", session)
        worker = subprocess.Popen([sys.executable, "-c", SENDER, "400"],
                                  env=python_env(FILEBRIDGE_SESSION=str(session)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sizes = {}
        for n in range(6):
            pad = "h" * (100_000 if n % 2 == 0 else 40_000)
            done = subprocess.run(
                [sys.executable, "-m", "filebridge", "send", "--root", str(sides.host_root),
                 "--session", "shared", "record", f"pad={pad}"],
                env=python_env(), capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            sizes[done.stdout.strip()] = len(pad)
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        sent = json.loads(out) + list(sizes)
        wait_until(lambda: len(served.seen) >= len(sent), "every request to run", timeout=30)
        time.sleep(0.5)
        assert sorted(served.seen) == sorted(sent)
        for request_id, size in sizes.items():
            assert served.sizes[request_id] == size, "a long argument arrived cut"
    request_log = sides.worker_session("shared") / "request.log"
    for line in request_log.read_bytes().splitlines():
        if line.strip():  # an empty line is harmless; a piece of a request is not
            assert isinstance(json.loads(line), dict), f"a torn line: {line[:80]!r}"


def test_a_second_host_across_the_mount_does_not_take_the_root(sides: Sides,
                                                               tmp_path: Path) -> None:
    """`filebridge serve` on the other side of the mount says who serves the root and exits;
    the first host keeps serving."""
    with serving(sides) as served:
        log = tmp_path / "second.log"
        with open(log, "w") as errors:
            second = subprocess.Popen(
                [sys.executable, "-m", "filebridge", "serve", "--root", str(sides.worker_root)],
                env=python_env(), stderr=errors)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
            pytest.fail("a second host across the mount took the root:\n" + log.read_text())
        told = log.read_text()
        assert second.returncode != 0, told
        assert "already served by" in told and f"pid {os.getpid()}" in told
        time.sleep(1.5)  # the first host's lease renewal would notice a takeover
        assert served.host.running, "the first host lost the root"


@pytest.fixture(params=DIRECTIONS)
def droppable(request: pytest.FixtureRequest) -> Iterator[tuple[Sides, SshfsMount]]:
    """A mount of its own (dropping kills every sftp server of its sshd)."""
    with sshfs_folder("filebridge-drop-") as (folder, mount):
        yield Sides.of(folder, request.param, "drop"), mount


def test_host_and_worker_survive_a_dropped_and_remounted_mount(
        droppable: tuple[Sides, SshfsMount]) -> None:
    sides, mount = droppable
    with serving(sides, stale_after=STALE_AFTER) as served:
        worker = InteractiveWorker(sides.worker_session("survivor"),
                                   FILEBRIDGE_HEARTBEAT_INTERVAL="0.2")
        try:
            assert worker.call("echo", n=0) == {"ok": True, "result": {"n": 0}}
            mount.drop()
            time.sleep(0.5)
            worker.call("echo", timeout=1, n=1)  # fails or not; the worker must live on
            time.sleep(1.0)
            assert served.host.running, "the host stopped when the mount dropped"
            mount.remount()
            back = wait_until(lambda: worker.call("echo", timeout=1, n=2)["ok"],
                              "a call to work after the remount", timeout=3)
            assert back
            for n in range(3, 8):
                assert worker.call("echo", n=n) == {"ok": True, "result": {"n": n}}
            wait_until(lambda: status_of(served.host, "survivor") == "alive",
                       "the heartbeat to be seen again", timeout=STALE_AFTER + 2)
            end = time.monotonic() + STALE_AFTER + 1
            while time.monotonic() < end:
                shown = status_of(served.host, "survivor")
                assert shown == "alive", f"after the remount the session shows {shown!r}"
                time.sleep(0.1)
            assert served.host.running and worker.alive()
        finally:
            worker.stop()

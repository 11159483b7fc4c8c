"""The host: refusals, the lease, liveness, path mapping, isolation between sessions, scale."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from core_support import HostProcess, run_worker, start_worker, wait_until

from filebridge.errors import LeaseHeld
from filebridge.host import Call, Host
from filebridge.wire.answers import AnswerLog
from filebridge.wire.channel import Channel
from filebridge.wire.codec import dumps, loads
from filebridge.wire.layout import SessionLayout
from filebridge.worker.connection import open_connection
from filebridge.worker.session_files import prepare_session, python_identity


@pytest.fixture()
def host(tmp_path: Path):
    serving = Host(tmp_path / "root", stale_after=1.5)
    serving.register("where", lambda call: call.args, inline=True)
    serving.start()
    yield serving
    serving.stop()


def _session(host: Host, name: str, spoil: Callable[[SessionLayout], None]) -> SessionLayout:
    """A session folder made elsewhere, spoiled, then moved in whole, as the host will find it."""
    staged = SessionLayout(host.root.root / "staging" / name)
    prepare_session(staged, python_identity())
    spoil(staged)
    os.rename(staged.folder, host.root.session(name).folder)
    return host.root.session(name)


def _give_away(layout: SessionLayout) -> None:
    for path in (layout.folder, layout.request_log):
        os.chown(path, 65534, 65534)


def test_group_writable_and_foreign_sessions_are_refused_with_a_reason(host: Host) -> None:
    _session(host, "loose", lambda layout: os.chmod(layout.folder, 0o777))
    _session(host, "foreign", _give_away)
    good = open_connection(host.root.session("good").folder)
    try:
        assert good.call("echo", fine=True, timeout=10) == {"fine": True}
        wait_until(lambda: len(host.sessions()) == 3, "the host to see all three")
        status = {s.id: s for s in host.sessions()}
        assert status["loose"].status == "refused"
        assert "writable by group or others" in status["loose"].refused_reason
        assert "chmod go-w" in status["loose"].refused_reason
        assert status["foreign"].status == "refused"
        assert "belongs to uid 65534" in status["foreign"].refused_reason
        assert status["good"].status == "alive"
    finally:
        good.close()


def test_a_foreign_session_with_an_issued_token_is_served(host: Host) -> None:
    def issue_and_give_away(layout: SessionLayout) -> None:
        token = loads(layout.session_json.read_bytes())["token"]
        host.root.issued_tokens.write_bytes(dumps([token]))
        _give_away(layout)

    shared = _session(host, "shared", issue_and_give_away)
    channel = Channel(shared.request_log, shared.request_lock,
                      AnswerLog(shared.response_log, shared.response_lock), "inotify")
    _request, answer, _ = channel.call("echo", {"via": "token"}, 10)
    assert answer is not None and answer.result == {"via": "token"}


def test_second_host_names_the_holder_and_waits_for_the_lease(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = Host(root)
    first.start()
    second = Host(root)
    with pytest.raises(LeaseHeld) as refused:
        second.start()
    assert f"pid {os.getpid()}" in str(refused.value) and "serving since" in str(refused.value)
    waiting = threading.Thread(target=second.start, kwargs={"wait_for_lease": None})
    waiting.start()
    time.sleep(0.3)
    assert waiting.is_alive(), "the second host did not wait"
    first.stop()
    waiting.join(10)
    assert second.running
    second.stop()


@pytest.mark.integration
def test_a_killed_host_releases_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    dead = HostProcess(root)
    dead.kill()
    alive = Host(root)
    alive.start()
    alive.stop()


@pytest.mark.integration
def test_a_worker_reads_a_command_the_host_sends_the_moment_the_session_appears(
        host: Host) -> None:
    # The worker made slow where a loaded machine makes it slow: each open of its command log
    # takes 0.3 s. A worker that finds where that log ends after writing session.json misses a
    # command the host appended in between.
    folder = host.root.sessions / "eager"
    answers: dict[str, object] = {}

    def ask() -> None:
        host.wait_for_session("eager", timeout=30)
        answers["ping"] = host.command("eager", "ping", timeout=10)

    asker = threading.Thread(target=ask)
    asker.start()
    worker = start_worker("""
        import os, sys, time
        plain_open = os.open
        def slow_open(path, *args, **kwargs):
            if os.fspath(path).endswith("command.log"):
                time.sleep(0.3)
            return plain_open(path, *args, **kwargs)
        os.open = slow_open
        import filebridge.worker as fb
        fb.connect()
        sys.stdin.read()
    """, folder)
    try:
        asker.join(30)
    finally:
        worker.communicate("", timeout=30)
    assert isinstance(answers.get("ping"), dict) and "pid" in answers["ping"], answers


@pytest.mark.integration
def test_sessions_go_stale_when_beats_stop_and_detached_on_detach(tmp_path: Path) -> None:
    # Beats every 0.1 s, stale after 0.4 s without one, looked at 20 times a second.
    host = Host(tmp_path / "root", stale_after=0.4, tick=0.05)
    host.start()
    try:
        _go_stale_and_detach(host)
    finally:
        host.stop()


def _go_stale_and_detach(host: Host) -> None:
    beating = {"FILEBRIDGE_HEARTBEAT_INTERVAL": "0.1"}
    killed = start_worker("""
        import sys, filebridge.worker as fb
        fb.connect(); print("up", flush=True); sys.stdin.read()
    """, host.root.session("killed").folder, env=beating)
    assert killed.stdout is not None and killed.stdout.readline().strip() == "up"
    run_worker("import filebridge.worker as fb; fb.connect(); fb.disconnect()",
               host.root.session("polite").folder, env=beating)
    wait_until(lambda: {s.id: s.status for s in host.sessions()}.get("killed") == "alive",
               "the killed worker's session to show alive")
    killed.kill()
    wait_until(lambda: host.session("killed").status == "stale", "the session to go stale")
    wait_until(lambda: host.session("polite").status == "detached", "the detach")
    assert host.root.session("killed").folder.exists(), "a stale folder was deleted"


def test_paths_from_a_mounted_worker_are_mapped(tmp_path: Path) -> None:
    serving = Host(tmp_path / "root", path_map=[("/home/u/proj", "/mnt/box/proj")])
    serving.register("where", lambda call: call.args, inline=True)
    serving.start()
    try:
        worker = open_connection(serving.root.session("mounted").folder)
        got = worker.call("where", file="/home/u/proj/a/b.html", title="/home/u/proj",
                          nested={"origin": "/home/u/project/x.py"},
                          submodule_search_locations=["/home/u/proj/pkg"])
        worker.close()
    finally:
        serving.stop()
    assert got == {"file": "/mnt/box/proj/a/b.html", "title": "/home/u/proj",
                   "nested": {"origin": "/home/u/project/x.py"},
                   "submodule_search_locations": ["/mnt/box/proj/pkg"]}


def test_a_slow_handler_in_one_session_does_not_hold_up_another(host: Host) -> None:
    release = threading.Event()

    def slow(call: Call) -> str:
        release.wait(20)
        return "late"

    host.register("slow", slow)
    stuck = open_connection(host.root.session("stuck").folder)
    quick = open_connection(host.root.session("quick").folder)
    finished: list[str] = []
    waiting = threading.Thread(target=lambda: finished.append(stuck.call("slow", timeout=30)))
    waiting.start()
    try:
        assert quick.call("echo", n=1, timeout=10) == {"n": 1}
        assert finished == [], "the slow call finished before the quick one"
    finally:
        release.set()
        waiting.join(30)
        stuck.close()
        quick.close()
    assert finished == ["late"]


def test_one_host_serves_100_sessions_at_once(host: Host) -> None:
    channels: list[Channel] = []
    try:
        for n in range(100):
            layout = host.root.session(f"s{n:03d}")
            prepare_session(layout, python_identity())
            channels.append(Channel(layout.request_log, layout.request_lock,
                                    AnswerLog(layout.response_log, layout.response_lock),
                                    "polling"))
        results: dict[int, object] = {}

        def ask(n: int) -> None:
            _request, answer, _ = channels[n].call("echo", {"n": n}, 30)
            results[n] = answer.result if answer else None

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(100)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        assert results == {n: {"n": n} for n in range(100)}
        assert len(host.sessions()) == 100
        watches = sum(line.startswith("inotify wd:")
                      for fd in Path("/proc/self/fdinfo").iterdir() for line in _fdinfo(fd))
        assert watches < 400, "more than a few inotify watches per session"
    finally:
        host.stop()  # its own files opened and closed meanwhile would blur the count
        open_before = len(os.listdir("/proc/self/fd"))
        for channel in channels:
            channel.close()
    # Each worker's end holds its request log, its bell and the answer log.
    released = open_before - len(os.listdir("/proc/self/fd"))
    assert released >= 3 * len(channels), f"closing 100 channels released {released} files"


def _fdinfo(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def test_a_host_built_as_serve_builds_it_leaves_nothing_running_after_stop(
        tmp_path: Path) -> None:
    import socket

    from filebridge.cli.serve import build_host, build_parser_for_serve
    from filebridge.host.viewers.service import viewers_of

    source = tmp_path / "proj"
    source.mkdir()
    (source / "__init__.py").write_text("")
    before = {t.ident for t in threading.enumerate()}
    args = build_parser_for_serve().parse_args(
        ["--root", str(tmp_path / "root"), "--ui", "--source", str(source)])
    host = build_host(args)
    host.start()
    viewers = viewers_of(host)
    assert viewers is not None and viewers.ui is not None
    ports = [int(url.rsplit(":", 1)[1].split("/")[0])
             for url in (viewers.ui.url, viewers.ui.view_base)]
    host.stop()
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert left == [], f"threads still running after stop: {left}"
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_a_polling_host_finds_a_request_whose_wake_ring_another_covered(tmp_path: Path) -> None:
    """Two workers that ring the root's wake bell at once leave one id there: the host reads
    the other session in the sweep that follows, within a second even when it swept just
    before, not at the idle doorbell's look (30 s for a worker that rings the wake bell).
    A session goes idle after ``busy_for`` and sweeps come ``sweep_every`` apart: a second
    each by default, a quarter of one here."""
    from filebridge.wire.logs import AppendLog
    from filebridge.wire.messages import new_request

    seen: list[str] = []
    host = Host(tmp_path / "root", force_poll=True, lease_settle=0.05, busy_for=0.25,
                sweep_every=0.25)
    host.register("rec", lambda call: seen.append(call.args["who"]), inline=True)
    host.start()
    connections = {name: open_connection(host.root.session(name).folder, force_poll=True)
                   for name in ("a", "b", "c")}
    try:
        wait_until(lambda: len(host.sessions()) == 3, "the host to serve three sessions")
        time.sleep(0.4)  # every session idle: the host watches their doorbells, seldom
        connections["c"].send("rec", who="c")  # its ring makes the host sweep now
        wait_until(lambda: "c" in seen, "c's request", timeout=5)
        time.sleep(0.05)  # the sweep after c's ring is over; the next may come in 0.2 s
        # a's request is in its log, its ring covered by b's (here: never rung at all)
        AppendLog(host.root.session("a").request_log).append(
            new_request("rec", {"who": "a"}, answer=False).encode())
        connections["b"].send("rec", who="b")
        wait_until(lambda: "b" in seen, "b's request", timeout=5)
        wait_until(lambda: "a" in seen, "a's request, found by the sweep put off", timeout=3)
    finally:
        for connection in connections.values():
            connection.close()
        host.stop()

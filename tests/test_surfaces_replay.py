"""Record a session and replay it against a fresh host: the same answers come back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import filebridge
from filebridge.host import Call
from filebridge.testing.pytest_plugin import HostFactory, InProcessSession, WorkerFactory
from filebridge.testing.recording import Recording
from filebridge.testing.replay import replay

CHECKOUT = Path(filebridge.__file__).resolve().parents[1]

# What the recorded worker does: answered calls of several kinds, an error, fire-and-forget
# requests, a table and a page whose answers name the request, and a pause.
SCRIPT = """
import time
import filebridge.worker.viewers as v
fb.call('echo', text='hello', n=[1, 2.5, None])
v.dataview([{'a': i, 'b': str(i)} for i in range(50)], 'fifty')
page = PAGE
fb.call('webview', file=page, title='report')
try:
    fb.call('no_such_command', x=1)
except Exception as exc:
    print(type(exc).__name__)
fb.send('echo', fire='and forget')
time.sleep(0.4)
fb.call('echo', after='pause')
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "filebridge", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def record_a_session(fb_host_factory: HostFactory, tmp_path: Path) -> tuple[Path, Path]:
    """A host with --record serves a worker running SCRIPT; the recording and session folder."""
    page = tmp_path / "report.html"
    page.write_text("<h1>report</h1>")
    recordings = tmp_path / "recordings"
    host = fb_host_factory("--record", str(recordings), "--view-folder", str(tmp_path))
    factory = WorkerFactory(host, fb_host_factory.log(host), lambda log: None)
    worker = factory("python", session_id="orig")
    try:
        assert worker.run(SCRIPT.replace("PAGE", repr(str(page)))) == "NoHandler\n"
        worker.log.wait_for_request("echo", count=3)
    finally:
        factory.stop_all()
    worker.log.wait_for_request("detach")
    return recordings / "orig.fbrec", host.root.sessions / "orig"


def test_a_live_recording_replays_against_a_fresh_host_with_the_same_answers(
        fb_host_factory: HostFactory, tmp_path: Path) -> None:
    path, _folder = record_a_session(fb_host_factory, tmp_path)
    recording = Recording.load(path)
    commands = [r.command for r in recording.requests]
    assert commands == ["attach", "echo", "dataview", "webview", "no_such_command", "echo",
                        "echo", "detach"]
    assert recording.info["language"] == "python" and "token" not in recording.info
    assert recording.requests[4].outcome is not None
    assert recording.requests[4].outcome["error"]["code"] == "no_handler"
    assert recording.requests[5].answer is False  # its outcome is recorded all the same
    assert recording.requests[5].outcome == {"ok": True, "result": {"fire": "and forget"}}
    table = recording.requests[2]
    assert table.answer is False and any(p.endswith("meta.json") for p in table.files)
    assert recording.requests[6].t - recording.requests[5].t >= 0.4
    assert all(r.answered_after is not None for r in recording.requests)

    fresh = fb_host_factory("--view-folder", str(tmp_path))
    report = replay(recording, fresh.root.root, session_id="again", speed=0)
    assert report.differences == []
    assert (report.requests, report.compared, report.same, report.unanswered) == (6, 6, 6, 0)
    assert report.fidelity == 1.0
    log = fb_host_factory.log(fresh).session("again")
    log.wait_for_request("detach")
    assert log.commands() == commands
    view = fresh.session("again")
    assert view.status == "detached"

    timed = replay(recording, fresh.root.root, session_id="timed", speed=1)
    assert timed.fidelity == 1.0
    assert timed.seconds >= 0.4  # the recorded pause is kept


def test_record_and_replay_commands(fb_host_factory: HostFactory, tmp_path: Path) -> None:
    _path, folder = record_a_session(fb_host_factory, tmp_path)
    exported = tmp_path / "exported.fbrec"
    done = cli("record", str(folder), "-o", str(exported))
    assert done.returncode == 0, done.stderr
    # From the folder, only the answers the worker asked for are there.
    assert "recorded 8 request(s) of session orig (4 with their answer)" in done.stdout
    fresh = fb_host_factory("--view-folder", str(tmp_path))
    done = cli("replay", str(exported), "--root", str(fresh.root.root), "--speed", "0",
               "--session", "cli1", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["compared"], report["same"], report["fidelity"]) == (4, 4, 1.0)

    @fresh.handler("echo")
    def changed(call: Call) -> dict[str, str]:
        return {"changed": "yes"}

    done = cli("replay", str(exported), "--root", str(fresh.root.root), "--speed", "0")
    assert done.returncode == 1
    assert "2 of 4 answer(s) the same" in done.stdout
    assert "#0 echo: recorded {'ok': True, 'result': {'text': 'hello'" in done.stdout


def test_a_test_saves_its_session_as_a_recording(fb_session: InProcessSession,
                                                 fb_worker_factory: WorkerFactory,
                                                 tmp_path: Path) -> None:
    fb_session.connection.call("echo", k=1)
    fb_session.connection.call("echo", k=2)
    fb_session.wait_for_request("echo", count=2)
    path = fb_session.save(tmp_path / "mine.fbrec")
    report = replay(Recording.load(path), fb_session.host.root.root, speed=0)
    assert (report.compared, report.same) == (2, 2)


def test_bad_recordings_are_refused_with_one_line(tmp_path: Path) -> None:
    for name, content, message in (
            ("empty.fbrec", "", "is empty, not a filebridge recording"),
            ("other.json", '{"a": 1}\n', "not a filebridge recording"),
            ("newer.fbrec", '{"format": "filebridge-recording", "version": 9}\n',
             "recording version 9 is not supported"),
            ("broken.fbrec", '{"format": "filebridge-recording", "version": 1}\n'
                             '{"t": 0, "id": "x"}\n{"t": 1}\n', "needs t, id and command"),
            ("escape.fbrec", '{"format": "filebridge-recording", "version": 1}\n'
                             '{"t": 0, "id": "x", "command": "echo", '
                             '"files": {"request.log": "eA=="}}\n', "files must map"),
            ("climb.fbrec", '{"format": "filebridge-recording", "version": 1}\n'
                            '{"t": 0, "id": "x", "command": "echo", '
                            '"files": {"views/../../x": "eA=="}}\n', "files must map")):
        path = tmp_path / name
        path.write_text(content)
        done = cli("replay", str(path), "--root", str(tmp_path / "root"))
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    done = cli("record", "nosuch", "--root", str(tmp_path / "root"), "-o", "x")
    assert done.returncode == 1 and "no session folder" in done.stderr


def test_an_r_session_recorded_live_replays_with_the_same_answers(
        fb_host_factory: HostFactory, tmp_path: Path) -> None:
    from filebridge.testing.workers import missing

    if missing("r"):
        pytest.skip(str(missing("r")))
    recordings = tmp_path / "recordings"
    host = fb_host_factory("--record", str(recordings))
    factory = WorkerFactory(host, fb_host_factory.log(host), lambda log: None)
    try:
        worker = factory("r", session_id="r1")
        worker.run('filebridge_call("echo", x = 1L, v = c(1.5, 2), s = "caf\\u00e9")\n'
                   'r <- tryCatch(filebridge_call("nope"), error = function(e) "refused")\n'
                   'filebridge_call("echo", l = list(k = "v"))')
        worker.log.wait_for_request("echo", count=2)
    finally:
        factory.stop_all()
    recording = Recording.load(recordings / "r1.fbrec")
    assert recording.info["language"] == "r"
    assert [r.command for r in recording.requests][:4] == ["attach", "echo", "nope", "echo"]
    fresh = fb_host_factory()
    report = replay(recording, fresh.root.root, speed=0)
    assert report.differences == []
    assert report.compared >= 3 and report.fidelity == 1.0

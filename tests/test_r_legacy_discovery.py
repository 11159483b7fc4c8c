"""Legacy vscode-R sessions that never sent a request the adapter saw, found from their files.

The R side is tests/legacy_vscode_r.R: sourcing it does what the legacy session code does as R
starts (its folder ``<tempdir>/vscode-R/`` with response.lock and response.log); the tests then
publish the workspace and a plot as the legacy task callback does, and send nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from r_support import Recorder, needs_r
from test_r_legacy import WAIT_FOR, legacy_script

from filebridge.host import Host
from filebridge.host.vscode_r.discovery import BIRTH_WINDOW, LegacyFinder, birth_time
from filebridge.host.vscode_r.watcher import LegacyWatcher

pytestmark = [needs_r, pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                          reason="finding legacy sessions reads /proc")]

SILENT_SESSION = WAIT_FOR + r'''
x <- c(1, 2, 3)
legacy$publish_workspace("x")
legacy$publish_plot()
cat("ready\n"); flush(stdout())
wait_for("go")
legacy$view(data.frame(a = 1:2))
wait_for("done")
'''


@pytest.fixture
def r_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary root of this test's R processes and of its adapter (as on a machine where
    both see one ``TMPDIR``): R processes of tests running beside this one, in the machine's
    temporary folder, start and make their folders at the same moments, and the pairing goes
    by those moments."""
    folder = tmp_path / "rtmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@contextmanager
def silent_r(watcher_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """A legacy R session of ``watcher_dir`` that has written its files and sent nothing (its
    temporary root is this process's ``TMPDIR``)."""
    watcher_dir.mkdir(exist_ok=True)
    env = {**os.environ, "VSCODE_WATCHER_DIR": str(watcher_dir)}
    r = subprocess.Popen(["Rscript", "--vanilla", "-e", legacy_script(SILENT_SESSION)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert r.stdout is not None and r.stdout.readline() == "ready\n"
        yield r
    finally:
        (watcher_dir / "go").touch()
        (watcher_dir / "done").touch()
        try:
            r.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            r.kill()
            r.communicate()


def wait_until(ready: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_a_silent_legacy_session_is_found_at_start_with_its_variables_and_plot(
        host: Host, recorder: Recorder, tmp_path: Path, r_temp: Path) -> None:
    recorder.record("dataview", {"shown": True})
    recorder.record("plot", {"shown": True})
    watcher_dir = tmp_path / "watcher"
    with silent_r(watcher_dir) as r, silent_r(tmp_path / "another-watcher") as other:
        assert not (watcher_dir / "request.log").exists()   # R sent nothing
        adapter = LegacyWatcher(host, watcher_dir)
        adapter.start()
        try:
            (session_id,) = adapter.sessions()   # the other watcher's R is not ours
            assert other.pid != r.pid
            wait_until(lambda: any(s.id == session_id for s in host.sessions()))
            info = host.session(session_id)
            assert (info.pid, info.language) == (r.pid, "r")
            layout = host.root.session(session_id)
            wait_until(layout.workspace_json.exists)
            snapshot = json.loads(layout.workspace_json.read_bytes())
            assert [v["display_name"] for v in snapshot["variables"]] == ["x"]
            recorder.wait_for(lambda: bool(recorder.received("plot")))
            assert recorder.received("plot")[0].session.id == session_id
            (watcher_dir / "go").touch()   # its first request goes to the same session
            recorder.wait_for(lambda: bool(recorder.received("dataview")))
            assert recorder.received("dataview")[0].session.id == session_id
            assert adapter.sessions() == [session_id]
        finally:
            adapter.stop()


def test_a_legacy_session_whose_attach_was_lost_is_found_while_the_adapter_runs(
        host: Host, tmp_path: Path, r_temp: Path) -> None:
    watcher_dir = tmp_path / "watcher"
    watcher_dir.mkdir()
    adapter = LegacyWatcher(host, watcher_dir, discover_every=0.5)
    adapter.start()
    try:
        assert adapter.sessions() == []
        with silent_r(watcher_dir) as r:
            wait_until(lambda: bool(adapter.sessions()), timeout=30)
            (session_id,) = adapter.sessions()
            wait_until(lambda: any(s.id == session_id for s in host.sessions()))
            assert host.session(session_id).pid == r.pid
            assert host.session(session_id).status == "alive"
    finally:
        adapter.stop()


def test_a_folder_belongs_to_the_process_that_started_last_before_it_was_made(
        tmp_path: Path) -> None:
    older = tmp_path / "RtmpOLDER"
    older.mkdir()
    born = birth_time(older)
    if born is None:
        pytest.skip("this file system keeps no birth times")
    time.sleep(1.5)
    newer = tmp_path / "RtmpNEWER"
    newer.mkdir()
    newer_born = birth_time(newer)
    assert newer_born is not None and newer_born > born
    # pids that do not exist: the pairing looks only at the start times given
    processes = [(born - 30.0, 4_000_001), (born - 0.2, 4_000_002), (newer_born - 0.1, 4_000_003)]
    found = {f.pid: f.tempdir for f in LegacyFinder._pair(processes, [older, newer])}
    assert found == {4_000_002: older, 4_000_003: newer}
    # a folder made long after every start belongs to none of them
    assert LegacyFinder._pair([(born - BIRTH_WINDOW - 5, 4_000_001)], [older]) == []

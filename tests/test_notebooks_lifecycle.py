"""Shadows at scale and over time: routed syncs, complete-document reads, Python-written JSON,
versions of the source a save was based on, close / prune / the end of a session."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from filebridge.notebooks import ShadowSession
from filebridge.notebooks.shadow import sessions_folder

REPO = Path(__file__).resolve().parents[1]
WAIT = 60.0  # generous upper bound on a slow shared machine; never a timing assertion
SOURCE = (
    "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Report\n\n# COMMAND ----------\n\n"
    "df = spark.table('t')\n"
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.py").write_text(SOURCE.replace("# Report", f"# {name}"))
    return folder


@pytest.fixture
def session(tmp_path: Path) -> ShadowSession:
    return ShadowSession("life", temp_dir=tmp_path / "tmp")


def open_shadow(session: ShadowSession, workspace: Path, name: str, **options: Any) -> Path:
    return Path(session.open(workspace / f"{name}.py", workspace=workspace, **options).shadow)


def edit(shadow: Path, text: str, *, dumps: Any = None) -> dict[str, Any]:
    """Change the code cell and save by rename, as an editor does."""
    notebook: dict[str, Any] = json.loads(shadow.read_text())
    notebook["cells"][1]["source"] = [text]
    write(shadow, notebook, dumps=dumps)
    return notebook


def write(shadow: Path, notebook: dict[str, Any], *, dumps: Any = None) -> None:
    temporary = shadow.with_name(shadow.name + ".tmp~")
    temporary.write_text((dumps or (lambda nb: json.dumps(nb, indent=1)))(notebook))
    os.replace(temporary, shadow)


def test_a_file_event_syncs_only_the_shadows_of_that_file(
    session: ShadowSession, workspace: Path
) -> None:
    shadow_a = open_shadow(session, workspace, "a")
    open_shadow(session, workspace, "b")
    # b's source changes too, but the event is about a's shadow only: b is left for its own event.
    (workspace / "b.py").write_text(SOURCE + "\n# COMMAND ----------\n\nfrom_git = 1\n")
    edit(shadow_a, "df = spark.table('edited')")
    events = session.sync_paths([shadow_a])
    assert [(event.kind, Path(event.source).name) for event in events] == [("saved", "a.py")]
    assert "edited" in (workspace / "a.py").read_text()
    assert {Path(e.source).name: e.status for e in session.entries()}["b.py"] == "synced"
    assert [event.kind for event in session.sync_paths([workspace / "b.py"])] == ["read-only"]


def test_a_half_written_shadow_is_read_once_the_editor_finishes(
    session: ShadowSession, workspace: Path
) -> None:
    shadow = open_shadow(session, workspace, "a")
    notebook = json.loads(shadow.read_text())
    notebook["cells"][1]["source"] = ["df = spark.table('slow save')"]
    text = json.dumps(notebook, indent=1)
    with open(shadow, "w", encoding="utf-8") as handle:
        handle.write(text[:40])  # the editor's first write; the sync starts now

    def finish() -> None:
        time.sleep(0.1)
        with open(shadow, "a", encoding="utf-8") as handle:
            handle.write(text[40:])

    writer = threading.Thread(target=finish)
    writer.start()
    events = session.sync_paths([shadow])
    writer.join()
    assert [event.kind for event in events] == ["saved"]
    assert "slow save" in (workspace / "a.py").read_text()


def test_a_shadow_written_by_python_tools_with_nan_is_saved_back(
    session: ShadowSession, workspace: Path
) -> None:
    shadow = open_shadow(session, workspace, "a")
    notebook = json.loads(shadow.read_text())
    notebook["cells"][1]["source"] = ["df = spark.table('papermill')"]
    notebook["cells"][1]["outputs"] = [{"output_type": "execute_result", "execution_count": 1,
                                        "metadata": {}, "data": {"text/plain": "nan"}}]
    notebook["metadata"]["papermill"] = {"duration": math.nan, "limit": math.inf}
    text = json.dumps(notebook, indent=1)  # what nbformat / papermill / nbclient write
    assert "NaN" in text and "Infinity" in text
    write(shadow, notebook, dumps=lambda _: text)
    assert [event.kind for event in session.sync()] == ["saved"]
    assert "papermill" in (workspace / "a.py").read_text()


def test_a_save_based_on_an_older_version_is_refused_as_a_conflict(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "a.py"
    shadow = open_shadow(session, workspace, "a", auto_reload=True)
    stale_buffer = json.loads(shadow.read_text())  # an editor holds this in memory
    source.write_text(SOURCE.replace("spark.table('t')", "spark.table('from_git')"))
    assert [event.kind for event in session.sync()] == ["reloaded"]

    stale_buffer["cells"][0]["source"] = ["# Edited in the old buffer"]
    write(shadow, stale_buffer)
    events = session.sync()
    assert [event.kind for event in events] == ["conflict"]
    assert "older version of the source" in events[0].message
    assert "from_git" in source.read_text() and "old buffer" not in source.read_text()
    status = session.status()[0]
    assert status["read_only"] and "older version" in status["reason"]
    assert list(shadow.parent.glob("a.conflict-*.ipynb"))
    assert session.sync() == []  # no "ignored" for the bytes the conflict already reported


def test_saves_after_a_save_back_are_not_taken_for_older_versions(
    session: ShadowSession, workspace: Path
) -> None:
    shadow = open_shadow(session, workspace, "a")
    for n in range(3):
        edit(shadow, f"df = spark.table('t{n}')")
        assert [event.kind for event in session.sync()] == ["saved"]
    assert "t2" in (workspace / "a.py").read_text()


def test_a_both_sides_conflict_is_reported_once(
    session: ShadowSession, workspace: Path
) -> None:
    shadow = open_shadow(session, workspace, "a")
    (workspace / "a.py").write_text(SOURCE + "\n# COMMAND ----------\n\nx = 1\n")
    edit(shadow, "df = 2")
    assert [event.kind for event in session.sync()] == ["conflict"]
    assert session.sync() == []


def test_an_edit_to_the_shadow_of_a_deleted_source_is_reported(
    session: ShadowSession, workspace: Path
) -> None:
    shadow = open_shadow(session, workspace, "a")
    (workspace / "a.py").unlink()
    assert [event.kind for event in session.sync()] == ["deleted"]
    shadow.chmod(0o600)
    edit(shadow, "df = 'edited after delete'")
    events = session.sync()
    assert [event.kind for event in events] == ["ignored"]
    assert "source is deleted" in events[0].message
    assert session.sync() == []
    assert not (workspace / "a.py").exists()


def test_close_saves_pending_edits_then_removes_the_shadow(
    session: ShadowSession, workspace: Path
) -> None:
    shadow = open_shadow(session, workspace, "a")
    other = open_shadow(session, workspace, "b")
    edit(shadow, "df = 'last edit'")
    kinds = [event.kind for event in session.close(workspace / "a.py")]
    assert kinds == ["saved", "closed"]
    assert "last edit" in (workspace / "a.py").read_text()
    assert not shadow.exists() and not shadow.parent.exists()
    assert [Path(entry.source).name for entry in session.entries()] == ["b.py"]
    assert other.exists()


def test_close_keeps_edits_it_could_not_save(session: ShadowSession, workspace: Path) -> None:
    shadow = open_shadow(session, workspace, "a")
    (workspace / "a.py").write_text(SOURCE + "\n# COMMAND ----------\n\nx = 1\n")
    assert [event.kind for event in session.sync()] == ["read-only"]
    shadow.chmod(0o600)
    edit(shadow, "df = 'made while read-only'")
    kinds = [event.kind for event in session.close(workspace / "a.py")]
    assert kinds == ["ignored", "kept", "closed"]
    copies = list(shadow.parent.glob("a.conflict-*.ipynb"))
    assert copies and "made while read-only" in copies[0].read_text()


def test_end_removes_the_session_folder(session: ShadowSession, workspace: Path) -> None:
    for name in ("a", "b", "c"):
        open_shadow(session, workspace, name)
    assert len(session.end()) == 3
    assert not session.folder.exists()
    assert "life" not in [s.session_id for s in ShadowSession.existing(session.temp_dir)]


def cli(*args: str, tmp: Path, cwd: Path, session: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)}
    env.pop("FILEBRIDGE_NOTEBOOK_SESSION", None)
    if session:
        env["FILEBRIDGE_NOTEBOOK_SESSION"] = session
    return subprocess.run([sys.executable, "-m", "filebridge.notebooks.cli", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=WAIT)


@pytest.mark.peers
def test_prune_ends_sessions_whose_process_is_gone_and_drops_deleted_sources(
    tmp_path: Path, workspace: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = (
        "import sys; from pathlib import Path; from filebridge.notebooks import ShadowSession\n"
        "s = ShadowSession('gone', temp_dir=Path(sys.argv[1])); s.claim()\n"
        "print(s.open(sys.argv[2], workspace=sys.argv[3]).shadow)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp), str(workspace / "a.py"),
                           str(workspace)], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=WAIT, check=True)
    gone_shadow = Path(done.stdout.strip())
    assert gone_shadow.exists()

    kept = ShadowSession("kept", temp_dir=tmp)
    kept.claim()  # this test process: alive
    live_shadow = open_shadow(kept, workspace, "b")
    deleted_shadow = open_shadow(kept, workspace, "c")
    (workspace / "c.py").unlink()

    pruned = cli("prune", tmp=tmp, cwd=workspace)
    assert pruned.returncode == 0, pruned.stderr
    assert not gone_shadow.exists() and not (sessions_folder(tmp) / "gone").exists()
    assert not deleted_shadow.exists()
    assert live_shadow.exists()
    assert [Path(entry.source).name for entry in kept.entries()] == ["b.py"]


@pytest.mark.peers
def test_cli_sessions_are_per_window_and_close_finds_the_shadow(
    tmp_path: Path, workspace: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    first = cli("open", "a.py", tmp=tmp, cwd=workspace)
    second = cli("open", "a.py", tmp=tmp, cwd=workspace)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout != second.stdout  # two windows, two shadows
    assert "session " in first.stderr
    namespace = sessions_folder(tmp)
    assert Path(first.stdout.strip()).is_relative_to(namespace)
    status = json.loads(cli("status", "--json", tmp=tmp, cwd=workspace).stdout)
    assert len(status["shadows"]) == 2 and len(status["sessions"]) == 2

    closed = cli("close", "a.py", tmp=tmp, cwd=workspace)
    assert closed.returncode == 0, closed.stderr
    assert sorted(closed.stdout.split()) == sorted([first.stdout.strip(), second.stdout.strip()])
    assert not Path(first.stdout.strip()).exists()
    again = cli("close", "a.py", tmp=tmp, cwd=workspace)
    assert again.returncode == 1 and "has no shadow" in again.stderr


@pytest.mark.peers
def test_a_watcher_removes_its_shadows_when_it_stops(tmp_path: Path, workspace: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)}
    env.pop("FILEBRIDGE_NOTEBOOK_SESSION", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "filebridge.notebooks.cli", "open", "a.py", "--watch", "--json"],
        env=env, cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        opened = json.loads(process.stdout.readline())
        shadow = Path(opened["shadow"])
        assert shadow.exists() and len(opened["session"]) == 12
        assert json.loads(process.stdout.readline())["kind"] == "watching"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 0
        kinds = [json.loads(line)["kind"] for line in process.stdout]
        assert kinds == ["closed", "stopped"]
        assert not shadow.exists()
        assert not (sessions_folder(tmp) / opened["session"]).exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

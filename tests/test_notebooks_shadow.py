"""Shadow notebooks: paths, save-back, conflicts, read-only states, reloads, editor save styles."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from filebridge.errors import NotebookError
from filebridge.notebooks import ShadowSession
from filebridge.notebooks.shadow import sessions_folder

SOURCE = (
    "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Report\n\n# COMMAND ----------\n\n"
    "# DBTITLE 1,Load\ndf = spark.table('t')\n\n# COMMAND ----------\n\n"
    "# MAGIC %sql\n# MAGIC SELECT 1\n"
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    (folder / "jobs").mkdir(parents=True)
    (folder / "jobs" / "report.py").write_text(SOURCE, encoding="utf-8")
    return folder


@pytest.fixture
def session(tmp_path: Path) -> ShadowSession:
    return ShadowSession("tester", temp_dir=tmp_path / "tmp")


def read_shadow(path: Path) -> dict[str, Any]:
    import nbformat
    text = path.read_text(encoding="utf-8")
    nbformat.validate(nbformat.reads(text, as_version=4))
    notebook: dict[str, Any] = json.loads(text)
    return notebook


def save_by_rename(path: Path, notebook: dict[str, Any]) -> None:
    """How VS Code and many editors save: write a temporary file, rename it over the target."""
    temporary = path.with_name(path.name + ".tmp~")
    temporary.write_text(json.dumps(notebook, sort_keys=True, indent=2), encoding="utf-8")
    os.replace(temporary, path)


def save_in_place(path: Path, notebook: dict[str, Any]) -> None:
    """How vim-like editors save: truncate the file and write it again."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(notebook, indent=1))


def open_shadow(session: ShadowSession, workspace: Path, **options: Any) -> Path:
    event = session.open(workspace / "jobs" / "report.py", workspace=workspace, **options)
    return Path(event.shadow)


def test_shadow_path_follows_the_scheme_and_keeps_py_and_sql_apart(
    session: ShadowSession, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "jobs" / "report.sql").write_text("-- Databricks notebook source\nSELECT 1\n")
    py_shadow = open_shadow(session, workspace)
    sql_shadow = Path(session.open(workspace / "jobs" / "report.sql", workspace=workspace).shadow)
    digest = hashlib.sha256(os.path.realpath(workspace).encode()).hexdigest()[:8]
    session_folder = sessions_folder(tmp_path / "tmp") / "tester"
    assert py_shadow == session_folder / digest / "jobs" / "report.py" / "report.ipynb"
    assert sql_shadow == session_folder / digest / "jobs" / "report.sql" / "report.ipynb"
    assert stat.S_IMODE(session_folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(py_shadow.parent.stat().st_mode) == 0o700
    read_shadow(py_shadow)
    assert read_shadow(sql_shadow)["metadata"]["language_info"]["name"] == "sql"


def test_workspace_location_puts_the_shadow_under_dot_databricks(
    session: ShadowSession, workspace: Path
) -> None:
    shadow = open_shadow(session, workspace, location="workspace")
    assert shadow == (Path(os.path.realpath(workspace)) / ".databricks" / "filebridge-notebooks"
                      / "jobs" / "report.py" / "report.ipynb")
    read_shadow(shadow)


def test_opening_twice_in_one_session_reuses_the_shadow(
    session: ShadowSession, workspace: Path
) -> None:
    first = session.open(workspace / "jobs" / "report.py", workspace=workspace)
    again = ShadowSession("tester", temp_dir=session.temp_dir).open(
        workspace / "jobs" / "report.py", workspace=workspace
    )
    assert (first.kind, again.kind) == ("opened", "reused")
    assert first.shadow == again.shadow
    assert len(session.entries()) == 1


def test_a_source_outside_the_workspace_is_refused(
    session: ShadowSession, workspace: Path, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere.py"
    other.write_text(SOURCE)
    with pytest.raises(NotebookError, match="not inside the workspace"):
        session.open(other, workspace=workspace)


def test_a_session_folder_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    if not hasattr(os, "getuid") or os.getuid() != 0:
        pytest.skip("needs root to create a folder owned by another user")
    folder = sessions_folder(tmp_path / "tmp") / "victim"
    folder.mkdir(parents=True)
    os.chown(folder, 54321, -1)
    source = tmp_path / "a.py"
    source.write_text(SOURCE)
    with pytest.raises(NotebookError, match="not a folder owned by this user"):
        ShadowSession("victim", temp_dir=tmp_path / "tmp").open(source, workspace=tmp_path)


def test_editing_the_shadow_writes_the_source_and_keeps_its_mode(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "jobs" / "report.py"
    source.chmod(0o640)
    shadow = open_shadow(session, workspace)
    notebook = read_shadow(shadow)
    notebook["cells"][1]["source"] = "df = spark.table('u')"
    notebook["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    save_by_rename(shadow, notebook)

    events = session.sync()
    assert [event.kind for event in events] == ["saved"]
    assert source.read_text() == SOURCE.replace("spark.table('t')", "spark.table('u')")
    assert stat.S_IMODE(source.stat().st_mode) == 0o640
    assert session.sync() == []  # our own write is recognised
    assert not list(source.parent.glob(".*.tmp"))


def test_truncate_and_write_saves_are_caught(session: ShadowSession, workspace: Path) -> None:
    shadow = open_shadow(session, workspace)
    notebook = read_shadow(shadow)
    with open(shadow, "w", encoding="utf-8") as handle:
        handle.write('{"cells": [')  # the sync runs while the editor is half way through
    assert [event.kind for event in session.sync()] == ["waiting"]
    assert (workspace / "jobs" / "report.py").read_text() == SOURCE
    notebook["cells"][2]["source"] = "%sql\nSELECT 2"
    save_in_place(shadow, notebook)
    assert [event.kind for event in session.sync()] == ["saved"]
    assert (workspace / "jobs" / "report.py").read_text().endswith("# MAGIC SELECT 2\n")


def test_three_saves_within_one_second_are_all_caught(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "jobs" / "report.py"
    shadow = open_shadow(session, workspace)
    stamp = shadow.stat().st_mtime
    for n in range(3):
        notebook = read_shadow(shadow)
        notebook["cells"][1]["source"] = f"df = spark.table('t{n}')"
        save_in_place(shadow, notebook)
        os.utime(shadow, (stamp, stamp))  # same mtime every time: only content tells them apart
        assert [event.kind for event in session.sync()] == ["saved"]
        assert f"spark.table('t{n}')" in source.read_text()


def test_output_only_changes_do_not_touch_the_source(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "jobs" / "report.py"
    before = source.stat()
    shadow = open_shadow(session, workspace)
    notebook = read_shadow(shadow)
    notebook["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1"}]
    notebook["cells"][1]["execution_count"] = 1
    save_by_rename(shadow, notebook)
    assert session.sync() == []
    assert source.stat().st_mtime_ns == before.st_mtime_ns
    assert source.read_text() == SOURCE


def test_external_change_makes_the_shadow_read_only_until_reload(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "jobs" / "report.py"
    shadow = open_shadow(session, workspace)
    source.write_text(SOURCE + "\n# COMMAND ----------\n\nprint('from git pull')\n")

    assert [event.kind for event in session.sync()] == ["read-only"]
    assert stat.S_IMODE(shadow.stat().st_mode) == 0o444
    assert shadow.with_name("report.ipynb.readonly").read_text().startswith("stale:")
    assert session.status()[0]["read_only"] is True

    # Edits to a read-only shadow are reported once and never written.
    shadow.chmod(0o644)
    notebook = read_shadow(shadow)
    notebook["cells"][0]["source"] = "overwritten?"
    save_by_rename(shadow, notebook)
    assert [event.kind for event in session.sync()] == ["ignored"]
    assert session.sync() == []
    assert "from git pull" in source.read_text()

    assert [event.kind for event in session.reload(source)] == ["reloaded"]
    assert stat.S_IMODE(shadow.stat().st_mode) == 0o600
    assert not shadow.with_name("report.ipynb.readonly").exists()
    assert "from git pull" in "".join(read_shadow(shadow)["cells"][-1]["source"])
    assert session.status()[0]["status"] == "synced"


def test_auto_reload_regenerates_and_keeps_outputs_of_unchanged_cells(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "jobs" / "report.py"
    shadow = open_shadow(session, workspace, auto_reload=True)
    notebook = read_shadow(shadow)
    output = {"output_type": "stream", "name": "stdout", "text": "kept"}
    notebook["cells"][1]["outputs"] = [output]
    notebook["cells"][2]["outputs"] = [output]
    notebook["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    save_by_rename(shadow, notebook)
    assert session.sync() == []

    source.write_text(SOURCE.replace("SELECT 1", "SELECT 42"))
    assert [event.kind for event in session.sync()] == ["reloaded"]
    fresh = read_shadow(shadow)
    assert fresh["cells"][1]["outputs"] == [output]
    assert fresh["cells"][2]["outputs"] == []
    assert "".join(fresh["cells"][2]["source"]) == "%sql\nSELECT 42"
    assert fresh["metadata"]["kernelspec"]["name"] == "python3"


def test_source_and_shadow_both_changed_is_a_conflict_and_nothing_is_lost(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "jobs" / "report.py"
    shadow = open_shadow(session, workspace)
    notebook = read_shadow(shadow)
    notebook["cells"][1]["source"] = "mine = 1"
    save_by_rename(shadow, notebook)
    theirs = SOURCE.replace("spark.table('t')", "spark.table('theirs')")
    source.write_text(theirs)

    events = session.sync()
    assert [event.kind for event in events] == ["conflict"]
    assert source.read_text() == theirs
    copies = list(shadow.parent.glob("report.conflict-*.ipynb"))
    assert len(copies) == 1
    assert "mine = 1" in "".join(json.loads(copies[0].read_text())["cells"][1]["source"])
    assert session.status()[0]["status"] == "conflict"
    session.reload(source)
    assert "theirs" in "".join(read_shadow(shadow)["cells"][1]["source"])


def test_a_deleted_source_makes_the_shadow_read_only(
    session: ShadowSession, workspace: Path
) -> None:
    source = workspace / "jobs" / "report.py"
    shadow = open_shadow(session, workspace)
    source.unlink()
    assert [event.kind for event in session.sync()] == ["deleted"]
    assert stat.S_IMODE(shadow.stat().st_mode) == 0o444
    assert session.status()[0]["status"] == "deleted"
    with pytest.raises(NotebookError, match="deleted"):
        session.reload(source)
    source.write_text(SOURCE)  # the same content back (a git checkout): writable again
    assert [event.kind for event in session.sync()] == ["restored"]
    assert session.status()[0]["read_only"] is False
    assert stat.S_IMODE(shadow.stat().st_mode) == 0o600
    source.unlink()
    session.sync()
    source.write_text(SOURCE + "x = 1\n")  # other content back: read-only until reload
    assert [event.kind for event in session.sync()] == ["read-only"]
    session.reload(source)
    assert session.status()[0]["read_only"] is False


def test_a_symlinked_source_stays_a_symlink(session: ShadowSession, workspace: Path) -> None:
    link = workspace / "jobs" / "link.py"
    link.symlink_to("report.py")
    shadow = Path(session.open(link, workspace=workspace).shadow)
    notebook = read_shadow(shadow)
    notebook["cells"][1]["source"] = "via_link = 1"
    save_by_rename(shadow, notebook)
    assert [event.kind for event in session.sync()] == ["saved"]
    assert link.is_symlink()
    assert "via_link = 1" in (workspace / "jobs" / "report.py").read_text()

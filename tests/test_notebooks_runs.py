"""``%run`` cells resolved against the local tree, in the shadow's metadata and on the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from filebridge.notebooks import ShadowSession, runs_of_source
from filebridge.notebooks.runs import parse_run_line

REPO = Path(__file__).resolve().parents[1]
HEADER = "# Databricks notebook source\n"
SEP = "\n\n# COMMAND ----------\n\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout: jobs/main.py runs helpers by every kind of path Databricks accepts."""
    root = tmp_path / "checkout"
    (root / "jobs" / "lib").mkdir(parents=True)
    (root / "common").mkdir()
    (root / "jobs" / "lib" / "setup.py").write_text(HEADER + "x = 1\n")
    (root / "jobs" / "lib" / "queries.sql").write_text("-- Databricks notebook source\nSELECT 1\n")
    (root / "common" / "config.py").write_text(HEADER + "conf = {}\n")
    (root / "common" / "plain.py").write_text("print('not a notebook')\n")
    (root / "jobs" / "lib" / "old.ipynb").write_text("{}")
    cells = [
        "# MAGIC %run ./lib/setup",
        "# MAGIC %run ../common/config $env=\"dev\"",
        "# MAGIC %run \"./lib/queries\"",
        "# MAGIC %run /Repos/someone@example.com/checkout/common/config",
        "# MAGIC %run /Workspace/Shared/elsewhere/missing",
        "# MAGIC %run ./lib/$name",
        "# MAGIC %run ../common/plain",
        "# MAGIC %run ./lib/old",
        "print('not a run cell')",
    ]
    (root / "jobs" / "main.py").write_text(HEADER + SEP.join(cells) + "\n")
    return root


def test_run_lines_are_parsed_with_quotes_and_arguments() -> None:
    assert parse_run_line("%run ./a/b") == ("./a/b", "")
    assert parse_run_line('%run ./a $x="1" $y=2') == ("./a", '$x="1" $y=2')
    assert parse_run_line("%run \"./my notebook\" $x=1") == ("./my notebook", "$x=1")
    assert parse_run_line("%running") is None
    assert parse_run_line("%run") is None
    assert parse_run_line("x = 1\n%run ./a") is None


def test_relative_absolute_and_unresolvable_targets(repo: Path) -> None:
    targets = runs_of_source(repo / "jobs" / "main.py", repo)
    real = Path(os.path.realpath(repo))
    found = {target.target: target.path for target in targets}
    assert found["./lib/setup"] == str(real / "jobs" / "lib" / "setup.py")
    assert found["../common/config"] == str(real / "common" / "config.py")
    assert found["./lib/queries"] == str(real / "jobs" / "lib" / "queries.sql")
    assert found["/Repos/someone@example.com/checkout/common/config"] == str(
        real / "common" / "config.py")
    assert found["./lib/old"] == str(real / "jobs" / "lib" / "old.ipynb")
    reasons = {target.target: target.reason for target in targets if target.path is None}
    assert set(reasons) == {"/Workspace/Shared/elsewhere/missing", "./lib/$name",
                            "../common/plain"}
    assert "computed when the notebook runs" in reasons["./lib/$name"]
    assert [target.cell for target in targets] == list(range(8))
    assert targets[1].arguments == '$env="dev"'


def test_a_target_outside_the_workspace_is_not_resolved(repo: Path) -> None:
    targets = runs_of_source(repo / "jobs" / "main.py", repo / "jobs")
    by_target = {target.target: target for target in targets}
    assert by_target["./lib/setup"].path is not None
    assert by_target["../common/config"].path is None
    assert "outside the workspace" in by_target["../common/config"].reason


def test_the_shadow_lists_its_runs_in_metadata(repo: Path, tmp_path: Path) -> None:
    session = ShadowSession("runs", temp_dir=tmp_path / "tmp")
    shadow = Path(session.open(repo / "jobs" / "main.py", workspace=repo).shadow)
    notebook = json.loads(shadow.read_text())
    runs = notebook["metadata"]["filebridge"]["runs"]
    assert runs[0]["target"] == "./lib/setup"
    assert runs[0]["cell_id"] == notebook["cells"][0]["id"]
    assert runs[0]["path"].endswith(os.path.join("jobs", "lib", "setup.py"))
    # The list is the shadow's own: converting it back leaves the source untouched.
    before = (repo / "jobs" / "main.py").read_bytes()
    notebook["cells"][-1]["source"] = ["print('edited')"]
    shadow.write_text(json.dumps(notebook))
    assert [event.kind for event in session.sync()] == ["saved"]
    assert (repo / "jobs" / "main.py").read_bytes() == before.replace(
        b"not a run cell", b"edited")


@pytest.mark.peers
def test_cli_runs_lists_targets(repo: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "filebridge.notebooks.cli", "runs", "jobs/main.py", "--json"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert len(runs) == 8 and runs[0]["path"].endswith("setup.py")
    text = subprocess.run(
        [sys.executable, "-m", "filebridge.notebooks.cli", "runs", "jobs/main.py"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=60,
    ).stdout
    assert "cell 6: %run ./lib/$name -> not found: the path is computed" in text


def test_run_stub_lists_every_kind_of_target_with_the_reason_for_those_it_cannot_import(
    tmp_path: Path,
) -> None:
    from filebridge.notebooks.run_stub import STUB_NAME

    root = tmp_path / "ws"
    (root / "my-utils").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "lib" / "a.py").write_text(
        HEADER + "# MAGIC %run ./b\n\n# COMMAND ----------\n\n"
        "__all__ = ['shown']\nshown = hidden = 1\n_private = 2\n"
        "if True:\n    from os import sep as _sep\n")
    (root / "lib" / "b.py").write_text(HEADER + "# MAGIC %run ./a" + SEP + "b = 1\n")
    (root / "lib" / "q.sql").write_text("-- Databricks notebook source\nSELECT 1\n")
    (root / "my-utils" / "u.py").write_text(HEADER + "u = 1\n")
    source = root / "main.py"
    source.write_text(HEADER + SEP.join([
        "# MAGIC %run ./lib/a", "# MAGIC %run ./lib/q", "# MAGIC %run ./my-utils/u",
        "# MAGIC %run ./lib/a", "print(shown)"]))
    session = ShadowSession("stub", temp_dir=tmp_path / "tmp")
    shadow = Path(session.open(source, workspace=root, location="workspace").shadow)
    lines = (shadow.parent / STUB_NAME).read_text().splitlines()
    assert lines[2:] == [
        "from lib.b import *  # %run ./b",  # a runs b first; b's run of a is a cycle, cut
        "from lib.a import *  # %run ./lib/a",
        "from lib.a import shown as shown, hidden as hidden, _private as _private, "
        "_sep as _sep",
        "# %run ./lib/q: q.sql is not a Python source notebook",
        "# %run ./my-utils/u: my-utils/u.py has no module name (a folder or file name that "
        "is not a Python identifier)",
    ]

    source.write_text(HEADER + "print(1)\n")
    session.reload(source)
    assert not (shadow.parent / STUB_NAME).exists()
    (shadow.parent / STUB_NAME).write_text("x: int\n")  # the user's own: left alone
    source.write_text(HEADER + "# MAGIC %run ./lib/b\n")
    session.reload(source)
    assert (shadow.parent / STUB_NAME).read_text() == "x: int\n"

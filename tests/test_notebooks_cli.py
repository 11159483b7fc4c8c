"""`filebridge notebook ...` as a user runs it, including a real `open --watch` process."""

from __future__ import annotations

import getpass
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE = (
    "# Databricks notebook source\nimport os\n\n# COMMAND ----------\n\n"
    "# MAGIC %md\n# MAGIC # Notes\n"
)
WAIT = 60.0  # generous upper bound on a slow shared machine; never a timing assertion


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp),
            "FILEBRIDGE_NOTEBOOK_SESSION": "cli-test"}


def notebook_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "filebridge.notebooks.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=WAIT,
    )


def test_convert_both_ways_by_extension_and_to_stdout(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "nb.py").write_text(SOURCE)
    done = notebook_cli("convert", "nb.py", "nb.ipynb", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    nbformat.validate(nbformat.read(tmp_path / "nb.ipynb", as_version=4))
    done = notebook_cli("convert", "nb.ipynb", "back.py", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "back.py").read_bytes() == SOURCE.encode()
    done = notebook_cli("convert", "nb.ipynb", "-", env=env, cwd=tmp_path)
    assert done.stdout == SOURCE
    done = notebook_cli("convert", "nb.py", "-", env=env, cwd=tmp_path)
    assert json.loads(done.stdout)["nbformat_minor"] == 5


def test_errors_are_one_line_on_stderr_with_a_non_zero_exit(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "nb.py").write_text(SOURCE)
    for args in (["convert", "missing.py", "x.ipynb"], ["convert", "nb.py", "x.txt"],
                 ["convert", "nb.py", "x.sql"], ["reload", "nb.py"], ["open", "nb.txt"]):
        done = notebook_cli(*args, env=env, cwd=tmp_path)
        assert done.returncode != 0, args
        assert done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "error" in done.stderr


def test_open_status_reload_across_invocations(tmp_path: Path, env: dict[str, str]) -> None:
    source = tmp_path / "nb.py"
    source.write_text(SOURCE)
    opened = notebook_cli("open", "nb.py", "--json", env=env, cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    shadow = Path(json.loads(opened.stdout)["shadow"])
    namespace = Path(env["TMPDIR"]) / f"databricks-notebooks-{getpass.getuser()}"
    assert shadow.is_relative_to(namespace / "cli-test")
    nbformat.validate(nbformat.read(shadow, as_version=4))

    again = notebook_cli("open", "nb.py", env=env, cwd=tmp_path)
    assert again.stdout.strip() == str(shadow)

    source.write_text(SOURCE + "\n# COMMAND ----------\n\nx = 1\n")
    status = json.loads(notebook_cli("status", "--json", env=env, cwd=tmp_path).stdout)
    assert status["shadows"][0]["source_changed"] is True
    assert "source changed" in notebook_cli("status", env=env, cwd=tmp_path).stdout

    reloaded = notebook_cli("reload", "nb.py", env=env, cwd=tmp_path)
    assert reloaded.returncode == 0, reloaded.stderr
    cells = nbformat.read(shadow, as_version=4).cells
    assert cells[-1].source == "x = 1"
    status = json.loads(notebook_cli("status", "--json", env=env, cwd=tmp_path).stdout)
    assert status["shadows"][0]["source_changed"] is False


class Watcher:
    """`notebook open --watch --json` in a subprocess, its JSON lines read in a thread."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "filebridge.notebooks.cli", "open", *args, "--watch", "--json"],
            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next_kind(self, *kinds: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    stderr = self.process.stderr.read() if self.process.stderr else ""
                    raise AssertionError(f"watcher exited: {stderr}") from None
                continue
            if item["kind"] in kinds:
                return item
        raise AssertionError(f"no {kinds} event from the watcher")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=WAIT)


@pytest.fixture
def watcher_factory() -> Iterator[Any]:
    started: list[Watcher] = []

    def start(args: list[str], env: dict[str, str], cwd: Path) -> Watcher:
        watcher = Watcher(args, env, cwd)
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        if watcher.process.poll() is None:
            watcher.process.kill()
            watcher.process.wait()


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


@pytest.mark.parametrize("poll", [False, True], ids=["events", "polling"])
def test_watch_keeps_source_in_sync_and_goes_read_only_on_external_change(
    tmp_path: Path, env: dict[str, str], watcher_factory: Any, poll: bool
) -> None:
    source = tmp_path / "nb.py"
    source.write_text(SOURCE)
    watcher = watcher_factory(["nb.py", *(["--poll"] if poll else [])], env, tmp_path)
    shadow = Path(watcher.next_kind("opened")["shadow"])
    watcher.next_kind("watching")

    # Three editor saves in a row, by rename, each changing the first cell.
    for n in range(3):
        notebook = json.loads(shadow.read_text())
        notebook["cells"][0]["source"] = f"import os  # edit {n}"
        temporary = shadow.with_name("editor.tmp")
        temporary.write_text(json.dumps(notebook, sort_keys=True, indent=2))
        os.replace(temporary, shadow)
        wait_for(lambda n=n: f"# edit {n}" in source.read_text())
    assert source.read_text() == SOURCE.replace("import os", "import os  # edit 2")

    source.write_text(SOURCE + "\n# COMMAND ----------\n\nchanged_by_git = 1\n")
    event = watcher.next_kind("read-only")
    assert event["source"] == str(source.resolve())
    wait_for(lambda: not os.access(shadow, os.W_OK) or (shadow.stat().st_mode & 0o222) == 0)
    assert watcher.stop() == 0


def test_watch_with_auto_reload_regenerates_the_shadow(
    tmp_path: Path, env: dict[str, str], watcher_factory: Any
) -> None:
    source = tmp_path / "nb.py"
    source.write_text(SOURCE)
    watcher = watcher_factory(["nb.py", "--auto-reload"], env, tmp_path)
    shadow = Path(watcher.next_kind("opened")["shadow"])
    watcher.next_kind("watching")
    source.write_text(SOURCE.replace("# Notes", "# New notes"))
    watcher.next_kind("reloaded")
    assert nbformat.read(shadow, as_version=4).cells[1].source == "# New notes"
    source.unlink()
    watcher.next_kind("deleted")
    assert watcher.stop() == 0


def test_the_main_cli_exposes_the_notebook_command(tmp_path: Path, env: dict[str, str]) -> None:
    if not (REPO / "filebridge" / "cli" / "main.py").is_file():
        pytest.skip("filebridge/cli/main.py is not there yet")
    (tmp_path / "nb.py").write_text(SOURCE)
    done = subprocess.run(
        [sys.executable, "-m", "filebridge", "notebook", "convert", "nb.py", "-"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nbformat"] == 4


def test_convert_prints_each_warning_once(tmp_path: Path, env: dict[str, str]) -> None:
    notebook = {"cells": [{"cell_type": "raw", "id": "r1", "metadata": {}, "source": "raw text"}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook))
    done = notebook_cli("convert", "nb.ipynb", "out.py", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "raw cell" in lines[0], done.stderr


def large_source(size: int = 1_500_000) -> str:
    cell = "# MAGIC %md\n# MAGIC Some words about this step.\n\n# COMMAND ----------\n\nx = 1\n"
    return "# Databricks notebook source\n" + "\n# COMMAND ----------\n\n".join(
        [cell] * (size // len(cell) + 1))


def test_large_files_show_progress_on_the_command_line_and_as_events(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "big.py").write_text(large_source())
    done = notebook_cli("convert", "big.py", "big.ipynb", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stderr.splitlines() if line.startswith("converting big.py")]
    assert len(shown) >= 5 and shown[-1].endswith("100%"), done.stderr
    back = notebook_cli("convert", "big.ipynb", "back.py", env=env, cwd=tmp_path)
    assert back.returncode == 0 and "converting big.ipynb" in back.stderr
    assert (tmp_path / "back.py").read_text() == (tmp_path / "big.py").read_text()
    quiet = notebook_cli("convert", "big.py", "q.ipynb", "--quiet", env=env, cwd=tmp_path)
    assert quiet.stderr == ""

    opened = notebook_cli("open", "big.py", "--json", env=env, cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    events = [json.loads(line) for line in opened.stdout.splitlines()]
    progress = [event["progress"] for event in events if event["kind"] == "progress"]
    assert len(progress) >= 5 and progress == sorted(progress) and progress[-1] == 1.0
    assert events[-1]["kind"] == "opened"

    (tmp_path / "small.py").write_text(SOURCE)
    small = notebook_cli("convert", "small.py", "small.ipynb", env=env, cwd=tmp_path)
    assert small.stderr == ""

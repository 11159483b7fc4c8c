"""A real pyright language server sees the names a shadow's ``%run`` notebooks define,
through the ``__builtins__.pyi`` written beside a shadow in the workspace.

pyright does not open ``.ipynb`` documents (Pylance does, chaining the cells as one module), so
the shadow's code cells are opened as one ``.py`` document in the shadow's folder: the same
folder, so the same lookup of ``__builtins__``. (pyright's command line is not used: it never
checks files under a folder whose name starts with a dot, such as ``.databricks``; an editor
checks the documents it opens.) A copy of that document in a folder without the stub is the
control that shows the stub is what defines the names.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from filebridge.notebooks import ShadowSession, loads_ipynb
from filebridge.notebooks.run_stub import STUB_NAME

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(importlib.util.find_spec("pyright") is None,
                       reason="pyright (pip package, runs on Node.js) is not installed"),
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (Debian: nodejs) is not "
                       "installed; pyright runs on it"),
]

BASE = "# Databricks notebook source\nBASE_URL = 'https://example.invalid'\n"
CONFIG = (
    "# Databricks notebook source\n# MAGIC %run ./base\n\n# COMMAND ----------\n\n"
    "THRESHOLD: int = 3\n\ndef load(x: int) -> str:\n    return str(x)\n\n"
    "class Loader:\n    size = 1\n\n_secret = 'x'\n"
)
REPORT = (
    "# Databricks notebook source\n# MAGIC %run ../common/config\n\n# COMMAND ----------\n\n"
    "# MAGIC %run ./missing\n\n# COMMAND ----------\n\n"
    "reveal_type(load(THRESHOLD))\nprint(BASE_URL, Loader.size, _secret)\nprint(undefined_name)\n"
)


class LanguageServer:
    """pyright's language server (the core Pylance is built on) over stdio, as an editor
    drives it: a workspace folder, documents opened, diagnostics pushed back."""

    def __init__(self, workspace: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyright.langserver", "--stdio"], cwd=workspace,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0
        self.request("initialize", {"processId": None, "rootUri": workspace.as_uri(),
                                    "capabilities": {}, "workspaceFolders": [
                                        {"uri": workspace.as_uri(), "name": "ws"}]})
        self.notify("initialized", {})

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while True:
            line = self.process.stdout.readline()
            if not line:
                pytest.fail("pyright's language server exited")
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        message: dict[str, Any] = json.loads(self.process.stdout.read(length))
        if "id" in message and "method" in message:  # a request from the server
            self.send({"id": message["id"], "result": None})
        return message

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == self.next_id and "method" not in message:
                return message.get("result")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def diagnostics(self, file: Path) -> list[dict[str, Any]]:
        """Open ``file`` and return the diagnostics the server publishes for it."""
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": file.as_uri(), "languageId": "python", "version": 1,
            "text": file.read_text()}})
        while True:
            message = self.receive()
            if (message.get("method") == "textDocument/publishDiagnostics"
                    and message["params"]["uri"] == file.as_uri()):
                found: list[dict[str, Any]] = message["params"]["diagnostics"]
                return found

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def undefined(diagnostics: list[dict[str, Any]]) -> set[str]:
    return {d["message"].split('"')[1] for d in diagnostics
            if d.get("code") == "reportUndefinedVariable"}


def code_cells_as_module(shadow: Path) -> str:
    cells = loads_ipynb(shadow.read_bytes())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells
                     if cell["cell_type"] == "code" and not "".join(cell["source"]).startswith("%"))


def test_pyright_sees_names_of_run_notebooks_beside_a_workspace_shadow(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "common").mkdir(parents=True)
    (workspace / "jobs").mkdir()
    (workspace / "common" / "base.py").write_text(BASE)
    (workspace / "common" / "config.py").write_text(CONFIG)
    source = workspace / "jobs" / "report.py"
    source.write_text(REPORT)
    session = ShadowSession("pyright", temp_dir=tmp_path / "tmp")
    shadow = Path(session.open(source, workspace=workspace, location="workspace").shadow)

    stub = (shadow.parent / STUB_NAME).read_text()
    assert stub.splitlines()[2:] == [
        "from common.base import *  # %run ./base",
        "from common.config import *  # %run ../common/config",
        "from common.config import _secret as _secret",
        "# %run ./missing: not found locally (no notebook missing in "
        f"{(workspace / 'jobs').resolve()})",
    ]
    cells = shadow.parent / "cells.py"
    cells.write_text(code_cells_as_module(shadow))
    control_folder = workspace / "elsewhere"
    control_folder.mkdir()
    control = control_folder / "cells.py"
    control.write_text(cells.read_text())

    server = LanguageServer(workspace)
    try:
        seen = server.diagnostics(cells)
        control_seen = server.diagnostics(control)
    finally:
        server.close()
    assert undefined(seen) == {"undefined_name"}
    assert undefined(control_seen) == {"load", "THRESHOLD", "BASE_URL", "Loader", "_secret",
                                       "undefined_name"}
    revealed = [d["message"] for d in seen if "Type of" in d["message"]]
    assert revealed == ['Type of "load(THRESHOLD)" is "str"']

    cells.unlink()
    session.close(source)
    assert not (shadow.parent / STUB_NAME).exists()
    assert not (workspace / ".databricks" / "filebridge-notebooks" / "jobs").exists()


def test_no_stub_for_a_temp_shadow_or_a_notebook_without_runs(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "common").mkdir(parents=True)
    (workspace / "common" / "config.py").write_text(CONFIG.replace("# MAGIC %run ./base", "x = 1"))
    source = workspace / "report.py"
    source.write_text(REPORT)
    session = ShadowSession("pyright", temp_dir=tmp_path / "tmp")
    temp_shadow = Path(session.open(source, workspace=workspace).shadow)
    assert not (temp_shadow.parent / STUB_NAME).exists()
    plain = workspace / "common" / "config.py"
    in_workspace = Path(session.open(plain, workspace=workspace, location="workspace").shadow)
    assert not (in_workspace.parent / STUB_NAME).exists()

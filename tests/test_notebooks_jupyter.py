"""A real JupyterLab opens a Databricks .py notebook as a notebook and saves it byte exact.

The server runs ``DatabricksContentsManager`` and the front-end extension from the package; the
browser is Debian's Chromium. jupytext's own server extension (installed with jupytext) is
turned off for this server, as the docs tell users to do.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from filebridge.notebooks.jupyter import LABEXTENSION_PATH

REPO = Path(__file__).resolve().parents[1]
WAIT = 120.0  # JupyterLab and a kernel on a slow shared machine; never a timing assertion
TOKEN = "filebridge-test-token"
SOURCE = (
    "# Databricks notebook source\n"
    "# MAGIC %md\n# MAGIC # Daily report\n\n# COMMAND ----------\n\n"
    "total = 1 + 1\n\n# COMMAND ----------\n\n"
    "\n# MAGIC\n# MAGIC  %sql\n# MAGIC SELECT 1   \n\n"  # odd spacing: must survive untouched
    "\n# COMMAND ----------\n\n# DBTITLE 1,Tail\nprint('end')\n"
)


class Lab:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.url = f"http://127.0.0.1:{port}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/contents/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=WAIT) as answer:
            return json.loads(answer.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp_path = tmp_path_factory.mktemp("lab")
    root = tmp_path / "work"
    root.mkdir()
    (root / "plain.py").write_text("print('just a script')\n")
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"jupyterlab_jupytext": False}}}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "IPYTHONDIR": str(tmp_path / "ipython")}
    port = free_port()
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--allow-root", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
         "--ServerApp.contents_manager_class="
         "filebridge.notebooks.jupyter.DatabricksContentsManager",
         f"--LabApp.extra_labextensions_path={LABEXTENSION_PATH}",
         "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
    )
    server = Lab(root, port)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                server.api("GET", "")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n"
                                + (tmp_path / "lab.log").read_text(errors="replace")[-3000:])
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            # A lab stopped while a notebook's kernel starts can take 30 s: nothing of it is
            # kept, so it gets 5.
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_contents_api_serves_source_notebooks_as_notebooks_and_saves_them_exactly(
    lab: Lab,
) -> None:
    (lab.root / "report.py").write_text(SOURCE)
    model = lab.api("GET", "report.py?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    cells = model["content"]["cells"]
    assert [cell["cell_type"] for cell in cells] == ["markdown", "code", "code", "code"]
    assert "".join(cells[2]["source"]) == "%sql\nSELECT 1   "
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"

    saved = lab.api("PUT", "report.py", {"type": "notebook", "format": "json",
                                         "content": model["content"]})
    assert saved["type"] == "notebook"
    assert (lab.root / "report.py").read_text() == SOURCE

    as_text = lab.api("GET", "report.py?type=file&format=text&content=1")
    assert as_text["type"] == "file" and as_text["content"] == SOURCE
    plain = lab.api("GET", "plain.py?content=1")
    assert plain["type"] == "file"

    model["content"]["cells"][1]["source"] = "total = 2 + 2"
    lab.api("PUT", "report.py", {"type": "notebook", "format": "json",
                                 "content": model["content"]})
    assert (lab.root / "report.py").read_text() == SOURCE.replace("1 + 1", "2 + 2")


def test_jupyterlab_opens_edits_and_saves_a_databricks_notebook(lab: Lab, browser: Any) -> None:
    (lab.root / "report.py").write_text(SOURCE)
    page = browser.new_page()
    try:
        page.set_default_timeout(WAIT * 1000)
        page.goto(f"{lab.url}/lab?token={TOKEN}")
        item = page.locator(".jp-DirListing-item", has_text="report.py").first
        item.click(button="right")
        page.locator(".lm-Menu-item", has_text="Open With").first.hover()
        page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(r"^Notebook$")).click()

        notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
        notebook.locator(".jp-Cell").nth(3).wait_for()
        expect(notebook.locator(".jp-MarkdownCell").first).to_contain_text(
            "Daily report", timeout=WAIT * 1000
        )
        code = notebook.locator(".jp-CodeCell").first
        code.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.type("  # edited in JupyterLab")
        page.keyboard.press("Control+s")

        edited = SOURCE.replace("total = 1 + 1", "total = 1 + 1  # edited in JupyterLab")
        deadline = time.monotonic() + WAIT
        while (lab.root / "report.py").read_text() != edited:
            assert time.monotonic() < deadline, (lab.root / "report.py").read_text()
            time.sleep(0.2)
    finally:
        page.close()

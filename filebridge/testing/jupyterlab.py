"""A real JupyterLab with filebridge installed into it, driven through a real browser.

``InstalledJupyterLab`` runs ``filebridge notebook jupyterlab --install --user`` into private
Jupyter folders (nothing of the environment is touched), starts ``python -m jupyterlab`` with no
filebridge option on its command line, and stops it. The functions below drive a Playwright
page the way a user does: double-click a file in the file browser, type into a cell, Ctrl+S.
Used by the tests and by ``filebridge bench notebooks``; needs the ``jupyter`` extra and
Playwright.
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
from pathlib import Path
from typing import Any, Optional

import filebridge

__all__ = ["InstalledJupyterLab", "double_click", "notebook_cells", "save_and_wait",
           "type_at_end_of_cell"]

TOKEN = "filebridge-test-token"
WAIT = 120.0  # JupyterLab and a kernel on a slow machine; a bound, never a measured figure


class InstalledJupyterLab:
    """JupyterLab serving ``root``, its Jupyter folders under ``state``."""

    def __init__(self, root: Path, state: Path, double_click: str = "py,sql,scala,r",
                 extra_env: Optional[dict[str, str]] = None) -> None:
        self.root, self.state = root, state
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The server and the CLI import this very filebridge, installed or not.
        package_root = str(Path(filebridge.__file__).resolve().parents[1])
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                        os.environ.get("PYTHONPATH")])),
            "JUPYTER_CONFIG_DIR": str(state / "config"),
            "JUPYTER_DATA_DIR": str(state / "data"),
            "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(state / "user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
            "IPYTHONDIR": str(state / "ipython"),
            **(extra_env or {}),
        }
        self.double_click = double_click
        self.log_path = state / "lab.log"
        self._process: Optional[subprocess.Popen[bytes]] = None

    def filebridge(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``filebridge notebook jupyterlab ARGS --user`` in this lab's folders."""
        return subprocess.run(
            [sys.executable, "-m", "filebridge", "notebook", "jupyterlab", *args, "--user"],
            env=self.env, capture_output=True, text=True, timeout=WAIT, check=False)

    def start(self) -> InstalledJupyterLab:
        self.state.mkdir(parents=True, exist_ok=True)
        installed = self.filebridge("--install", f"--double-click={self.double_click}")
        if installed.returncode != 0:
            raise RuntimeError(f"install failed: {installed.stderr.strip()}")
        log = open(self.log_path, "wb")  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", "--allow-root", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={self.root}", "--LabApp.news_url=",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + WAIT
        while True:
            try:
                self.api("GET", "")
                return self
            except (urllib.error.URLError, ConnectionError):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + self.log()[-3000:]) from None
                time.sleep(0.5)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            # A lab stopped while a notebook's kernel starts can take 30 s: nothing of it is
            # kept, so it gets 5.
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> InstalledJupyterLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def page_url(self) -> str:
        """The lab with a fresh workspace (no tabs restored from an earlier page)."""
        return f"{self.url}/lab?reset&token={TOKEN}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/contents/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=WAIT) as answer:
            return json.loads(answer.read())


def double_click(page: Any, name: str) -> None:
    """Double-click the file ``name`` in the file browser (the folder shown must hold it)."""
    label = page.locator(".jp-DirListing-itemText").filter(
        has_text=re.compile(rf"^{re.escape(name)}$"))
    label.first.dblclick()


def notebook_cells(page: Any, name: str) -> Any:
    """The cells of the notebook shown in the main area, once ``name``'s tab is current."""
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current", has_text=name)
    tab.first.wait_for()
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")


def type_at_end_of_cell(page: Any, cell: Any, text: str) -> None:
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def save_and_wait(page: Any, path: Path, expected: Optional[str] = None,
                  previous_mtime: Optional[int] = None) -> None:
    """Ctrl+S, then wait until ``path`` holds ``expected`` (or, without it, until its
    modification time moves past ``previous_mtime``)."""
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + WAIT
    while True:
        if expected is not None and path.read_text(encoding="utf-8") == expected:
            return
        if expected is None and path.stat().st_mtime_ns != previous_mtime:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} was not saved: {path.read_text()!r}")
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

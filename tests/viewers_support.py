"""Shared by the viewer tests: a real host with the viewers installed, real worker processes,
and workers connected from the test's own process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, Callable, Optional

from filebridge.host import Host
from filebridge.host.viewers.service import Viewers, install_viewers

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def worker_env(root: Path, session_id: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FILEBRIDGE_ROOT=str(root), FILEBRIDGE_SESSION=str(root / "sessions" / session_id),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
               MPLBACKEND="module://filebridge.worker.mpl_backend")
    env.update(extra)
    return env


def run_worker(root: Path, session_id: str, code: str, timeout: float = 120,
               check: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a real worker process of session ``session_id``."""
    done = subprocess.run([sys.executable, "-c", code], env=worker_env(root, session_id, **extra),
                          capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"worker failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def run_in_process(root: Path, session_id: str, code: str) -> str:
    """Run ``code`` as the worker of session ``session_id`` from this process (its own
    connection on the session's real files, closed at the end, as a process's is at exit);
    what it printed. For tests whose point is what the host does, not the worker's process:
    it spares starting an interpreter and importing filebridge again."""
    import filebridge.worker as fb

    printed = io.StringIO()
    fb.connect(root / "sessions" / session_id)
    try:
        with redirect_stdout(printed):
            exec(compile(code, f"<worker of {session_id}>", "exec"), {"__name__": "__worker__"})
    finally:
        fb.disconnect()
    return printed.getvalue()


@contextmanager
def worker_at_ready(root: Path, session_id: str, code: str, *args: str,
                    timeout: float = 60) -> Iterator[subprocess.Popen[str]]:
    """A worker process running ``code`` that prints ``ready`` once its views are made and
    then waits for a line on stdin; it is told to quit when the block ends."""
    worker = subprocess.Popen([sys.executable, "-c", code, *args], text=True,
                              env=worker_env(root, session_id), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    assert worker.stdout is not None and worker.stdin is not None
    try:
        assert worker.stdout.readline().strip() == "ready"
        yield worker
    finally:
        worker.stdin.write("quit\n")
        worker.stdin.close()
        worker.wait(timeout=timeout)


def open_table_view(page: Any, session_id: str) -> None:
    """In the page: pick the session, its views, and open its table view."""
    page.locator(f"[data-testid=session][data-session={session_id}]").click()
    page.get_by_test_id("tab-views").click()
    page.locator("[data-testid=view][data-kind=table] button.open").click()


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; its value. Fails with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def running_host(root: Path, ui: bool = True,
                 **options: Any) -> Iterator[tuple[Host, Viewers]]:
    """A host with the viewers (``options`` for ``install_viewers``) and, by default, the page."""
    host = Host(root)
    viewers = install_viewers(host, ui=ui, **options)
    host.start()
    try:
        yield host, viewers
    finally:
        if viewers.ui is not None:
            viewers.ui.stop()
        host.stop()


def host_png_path() -> Path:
    """A PNG of the host's own (matplotlib's logo, found without importing pyplot), for a
    worker to plot or to plant a link to."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "images" / "matplotlib.png"


def http_get(url: str, data: Optional[bytes] = None,
             headers: Optional[dict[str, str]] = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def page_origin(viewers: Viewers) -> dict[str, str]:
    """The Origin header the page's own scripts send (needed for a POST)."""
    assert viewers.ui is not None
    return {"Origin": f"http://127.0.0.1:{viewers.ui.port}"}


def api(viewers: Viewers, path: str, **params: Any) -> Any:
    assert viewers.ui is not None
    query = urllib.parse.urlencode(params)
    status, _, body = http_get(viewers.ui.url + path + (f"?{query}" if query else ""))
    assert status == 200, (status, body)
    return json.loads(body)

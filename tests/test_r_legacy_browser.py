"""A legacy vscode-R session's httpgd plot server shown by the local web page, in Chromium.

vscode-R's session code, with httpgd in use, opens the device and sends `httpgd` {url}. httpgd
itself cannot be installed here (docs/r.md, "Plots"), so a small local HTTP server stands in
for the plot server: what is checked is that the URL R sends reaches the page as a view that
frames it.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from r_support import needs_r
from test_r_legacy import legacy_script
from viewers_support import CHROMIUM, running_host, wait_for

from filebridge.host.vscode_r.watcher import LegacyWatcher

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_r,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")]

PLOT_PAGE = (b"<!doctype html><title>httpgd</title>"
             b"<svg id='plot' width='200' height='100'><circle cx='50' cy='50' r='40'/></svg>")


class _PlotServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = (200, PLOT_PAGE) if self.path.startswith("/live") else (404, b"")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def plot_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PlotServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/live?token=abc"
    finally:
        server.shutdown()
        server.server_close()


def test_a_legacy_httpgd_request_frames_the_plot_server_in_the_page(
        tmp_path: Path, browser: Any, plot_server: str) -> None:
    root, watcher_dir = tmp_path / "root", tmp_path / "watcher"
    with running_host(root) as (host, viewers):
        assert viewers.ui is not None
        adapter = LegacyWatcher(host, watcher_dir)
        adapter.start()
        try:
            script = legacy_script(f'legacy$attach()\nSys.sleep(0.3)\n'
                                   f'legacy$send("httpgd", url = "{plot_server}")\n')
            done = subprocess.run(["Rscript", "--vanilla", "-e", script], capture_output=True,
                                  text=True, timeout=60,
                                  env={**os.environ, "VSCODE_WATCHER_DIR": str(watcher_dir)})
            assert done.returncode == 0, done.stderr
            (session_id,) = adapter.sessions()
            store = viewers.store
            wait_for(lambda: session_id in store.session_ids() and store.views(session_id),
                     what="the httpgd view")
            page = browser.new_page()
            page.goto(viewers.ui.url)
            page.locator(f"[data-testid=session][data-session={session_id}]").click()
            page.get_by_test_id("tab-views").click()
            page.locator("[data-testid=view][data-kind=httpgd] button.open").click()
            assert page.get_by_test_id("browser-link").inner_text() == plot_server
            frame = page.frame_locator("iframe.webview")
            frame.locator("#plot circle").wait_for(state="attached")   # the server's page
            assert frame.locator("title").inner_text() == "httpgd"
            page.close()
        finally:
            adapter.stop()

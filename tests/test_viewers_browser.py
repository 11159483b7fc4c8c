"""The local web page in headless Chromium, with a real worker using matplotlib and pandas."""

from __future__ import annotations

from pathlib import Path

import pytest
from viewers_support import CHROMIUM, running_host, wait_for, worker_at_ready

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")

WORKER = """
import sys
import numpy as np, pandas as pd
import matplotlib.pyplot as plt
from filebridge.worker import viewers
site = sys.argv[1]
n = 10**6
rng = np.random.default_rng(3)
x = rng.random(n)
x[2] = np.nan
x[3] = np.inf
df = pd.DataFrame({"x": x, "s": rng.choice(["alpha", "beta", "gamma"], n), "i": np.arange(n)})
plt.plot([1, 2, 3], [2, 3, 1]); plt.title("first"); plt.show()
viewers.webview(site + "/index.html", title="site")
viewers.dataview(df, title="million")
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "plot":
        plt.bar([1, 2], [3, 4]); plt.title("second"); plt.show()
        print("plotted", flush=True)
    elif line.strip() == "quit":
        break
"""


def test_page_shows_a_live_session_its_plot_webview_and_a_million_row_table(
        tmp_path: Path, browser: object) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><link rel=stylesheet href=look.css><p id=styled>styled page</p>")
    (site / "look.css").write_text("#styled { color: rgb(10, 120, 30); }")
    root = tmp_path / "root"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
        page.goto(viewers.ui.url)
        page.get_by_test_id("status").filter(has_text="live").wait_for()

        with worker_at_ready(root, "live", WORKER, str(site)) as worker:
            assert worker.stdout is not None and worker.stdin is not None
            session = page.locator("[data-testid=session][data-session=live]")
            session.wait_for()
            assert session.get_attribute("data-status") == "alive"
            session.click()

            image = page.get_by_test_id("plot-image")
            image.wait_for()
            wait_for(lambda: image.evaluate("img => img.complete && img.naturalWidth") == 640,
                     what="the plot to load")
            page.screenshot(path=str(shots / "plot.png"))
            worker.stdin.write("plot\n")
            worker.stdin.flush()
            assert worker.stdout.readline().strip() == "plotted"
            page.locator("[data-testid=plot-image][data-plot='2']").wait_for()

            page.get_by_test_id("tab-views").click()
            page.locator("[data-testid=view][data-kind=webview] button.open").click()
            frame = page.frame_locator("[data-testid=webview-frame]")
            styled = frame.locator("#styled")
            styled.wait_for()
            assert styled.evaluate("p => getComputedStyle(p).color") == "rgb(10, 120, 30)"
            page.screenshot(path=str(shots / "webview.png"))

            page.locator("[data-testid=view][data-kind=table] button.open").click()
            info = page.get_by_test_id("table-info")
            info.filter(has_text="of 1,000,000").wait_for(timeout=60_000)
            page.locator("[data-testid=table-info][data-loaded=true]").wait_for(timeout=60_000)
            x_column = ".fbgrid-cell[data-col='1']"
            assert page.locator(f"{x_column}[data-row='2']").inner_text() == "NaN"
            assert page.locator(f"{x_column}.special[data-row='3']").inner_text() == "Inf"

            page.get_by_test_id("col-x").click()
            page.get_by_test_id("col-x").filter(has_text="▲").wait_for(timeout=60_000)
            page.get_by_test_id("col-x").click()
            page.get_by_test_id("col-x").filter(has_text="▼").wait_for(timeout=60_000)
            first_x = page.locator(f"{x_column}[data-row='0']")
            wait_for(lambda: first_x.inner_text() == "Inf", timeout=60, what="Inf on top")
            page.screenshot(path=str(shots / "table-sorted.png"))

            page.get_by_test_id("colfilter-s").fill("beta")
            info.filter(has_text="filtered from 1,000,000").wait_for(timeout=60_000)
            total = int(info.get_attribute("data-total") or 0)
            assert 300_000 < total < 366_000
            page.locator("[data-testid=table-info][data-loaded=true]").wait_for(timeout=60_000)
            cells = page.locator(".fbgrid-cell[data-col='2']").all_inner_texts()
            assert cells and set(cells) == {"beta"}
            page.screenshot(path=str(shots / "table-filtered.png"))

            page.get_by_test_id("tab-log").click()
            page.locator("[data-testid=log-row][data-command=dataview]").first.wait_for()
            page.screenshot(path=str(shots / "log.png"))
        session.filter(has_text="detached").wait_for(timeout=30_000)
        page.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "log.png", "plot.png", "table-filtered.png", "table-sorted.png", "webview.png"]


def test_a_registered_panel_gets_a_tab_its_script_and_its_routes(
        tmp_path: Path, browser: object) -> None:
    from filebridge.ui.panels import (
        Panel,
        PanelError,
        PanelRequest,
        json_response,
    )

    script = tmp_path / "hello_panel.js"
    script.write_text("""
filebridge.registerPanel({
  name: "hello", title: "Hello",
  render(container, ctx) {
    ctx.api("greet", { who: "page" }).then((data) =>
      container.append(ctx.el("p", { "data-testid": "hello-text" }, data.text)));
  },
});
""")

    def routes(host: object) -> dict[str, object]:
        def greet(request: PanelRequest) -> tuple[int, str, bytes]:
            if "who" not in request.query:
                raise PanelError(400, "who is missing")
            return json_response({"text": f"hello {request.query['who']} "
                                          f"from {request.session_id}"})
        return {"greet": greet}

    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        viewers.ui.panels.register(Panel(name="hello", title="Hello", script=script,
                                         routes=routes))  # type: ignore[arg-type]
        from viewers_support import http_get, run_worker
        run_worker(root, "pan", "import filebridge.worker as fb; fb.connect(); "
                                "fb.call('echo', timeout=30)")
        status, _, body = http_get(f"{viewers.ui.url}api/panels/hello/greet?session=pan")
        assert status == 400 and b"who is missing" in body
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(viewers.ui.url)
        page.locator("[data-testid=session][data-session=pan]").click()
        page.get_by_test_id("tab-panel:hello").click()
        text = page.get_by_test_id("hello-text")
        text.wait_for()
        assert text.inner_text() == "hello page from pan"
        page.close()

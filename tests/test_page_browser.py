"""The page in headless Chromium: dark mode, keyboard use, the host-gone state, plots and help.

One real Python worker (matplotlib, pandas, the variables pane) feeds a real host; screenshots
are kept as test artifacts (see docs/testing.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from page_support import contrast, luminance, screenshots
from viewers_support import CHROMIUM, running_host, wait_for, worker_env

from filebridge.host import Host
from filebridge.host.variables.feature import install as install_variables
from filebridge.host.viewers.store import ViewerStore, install_viewer_handlers
from filebridge.ui.server import UIServer

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")

WORKER = '''
import sys
import pandas as pd
import matplotlib.pyplot as plt
from filebridge.worker import viewers
import filebridge.worker.variables as fv


def fetch(table, keys=None):
    """Fetch rows of a table.

    Args:
        table (str): The table's name; see `the guide <https://example.org/guide>`_.
        keys: Keys to fetch, such as ``[1, 2]``.

    Returns:
        dict: A mapping of **keys** to *rows*.

    Example::

        fetch("sales", [1])
    """


frame = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp": [3.5, 19.0, 31.2]})
fv.enable(hook=False)
fv.publish_variables()
for n in (1, 2, 3):
    plt.plot([1, 2, 3], [n, 3 - n, n * 2]); plt.title(f"plot {n}"); plt.show()
viewers.help(fetch)
viewers.dataview(frame, title="cities")
print("ready", flush=True)
for line in sys.stdin:
    exec(line)
    print("done", flush=True)
'''

# The colour a person sees behind an element: its own, else the nearest painted ancestor's.
EFFECTIVE_COLOURS = """el => {
  const style = getComputedStyle(el);
  let node = el, background = "rgba(0, 0, 0, 0)";
  while (node && node.nodeType === 1) {
    const bg = getComputedStyle(node).backgroundColor;
    if (!/rgba\\(.*,\\s*0\\)$/.test(bg) && bg !== "transparent") { background = bg; break; }
    node = node.parentElement;
  }
  return [style.color, background];
}"""


class Worker:
    def __init__(self, root: Path, session: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], text=True,
                                        env=worker_env(root, session), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def run(self, line: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "done"

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Host, Any, Worker]]:
    root = tmp_path / "root"
    with running_host(root) as (host, viewers):
        install_variables(host, argparse.Namespace(variables_timeout=20.0))
        worker = Worker(root, "work")
        try:
            yield host, viewers, worker
        finally:
            worker.close()


def _open(browser: Any, viewers: Any, scheme: str = "light") -> Any:
    page = browser.new_page(viewport={"width": 1300, "height": 900}, color_scheme=scheme)
    page.goto(viewers.ui.url)
    page.locator("[data-testid=session][data-session=work]").wait_for()
    return page


def _readable(page: Any, selector: str, *, frame: Any = None) -> float:
    """The contrast of the first element matching ``selector`` against what is behind it."""
    found = (frame or page).locator(selector).first
    found.wait_for()
    foreground, background = found.evaluate(EFFECTIVE_COLOURS)
    return contrast(foreground, background)


def test_dark_mode_follows_the_system_with_a_readable_palette_on_every_panel(
        served: tuple[Host, Any, Worker], browser: Any) -> None:
    _host, viewers, worker = served
    shots = screenshots("dark_mode")
    light = _open(browser, viewers, "light")
    assert luminance(light.evaluate("getComputedStyle(document.body).backgroundColor")) > 0.8
    light.close()

    page = _open(browser, viewers, "dark")
    page.locator("[data-testid=session][data-session=work]").click()
    assert luminance(page.evaluate("getComputedStyle(document.body).backgroundColor")) < 0.05
    for selector in ("header h1", "#status", "[data-testid=session] strong",
                     "[data-testid=session] .meta", "#tabs button.active",
                     "#tabs button:not(.active)"):
        assert _readable(page, selector) >= 4.5, selector
    page.get_by_test_id("plot-image").wait_for()
    assert _readable(page, "[data-testid=plot-info]") >= 4.5
    assert _readable(page, "[data-testid=plot-fit]") >= 4.5
    page.screenshot(path=str(shots / "sessions-and-plot.png"))

    page.get_by_test_id("tab-views").click()
    assert _readable(page, "[data-testid=view] button.open") >= 4.5
    page.locator("[data-testid=view][data-kind=help] button.open").click()
    frame = page.frame_locator("[data-testid=webview-frame]")
    frame.locator("h4", has_text="Args").wait_for()
    assert luminance(frame.locator("body").evaluate(
        "b => getComputedStyle(b).backgroundColor")) < 0.05
    for selector in ("h4", "dd", "code", "a"):
        assert _readable(page, selector, frame=frame) >= 4.5, selector
    page.screenshot(path=str(shots / "help.png"))

    page.locator("[data-testid=view][data-kind=table] button.open").click()
    page.locator("[data-testid=grid] .fbgrid-cell", has_text="Oslo").first.wait_for()
    # (a selected cell's tint is translucent, which this measure cannot blend: unselected ones)
    assert _readable(page, "[data-testid=grid] .fbgrid-cell:not(.label):not(.selected)") >= 4.5
    assert _readable(page, "[data-testid=grid] .fbgrid-cell.label:not(.selected)") >= 4.5
    assert _readable(page, "[data-testid=grid] [role=columnheader]") >= 4.5
    page.screenshot(path=str(shots / "table.png"))

    page.get_by_test_id("tab-panel:variables").click()
    page.locator("[data-testid=variables-row][data-name=frame]").wait_for()
    assert _readable(page, "[data-testid=variables-row][data-name=frame] td") >= 4.5
    page.screenshot(path=str(shots / "variables.png"))

    page.get_by_test_id("tab-log").click()
    page.get_by_test_id("log-row").first.wait_for()
    assert _readable(page, "[data-testid=log-row] td") >= 4.5
    page.screenshot(path=str(shots / "requests.png"))

    # a worker's prompt: the dialog is dark too, and Escape cancels it
    worker.run("import threading; from filebridge.worker import call; threading.Thread("
               "target=lambda: print('prompt answer', call('rstudioapi', action='show_prompt', "
               "args={'title': 'Name', 'message': 'Your name?', 'default': 'Ada'}, timeout=60)),"
               " daemon=True).start()")
    dialog = page.get_by_test_id("prompt-dialog")
    dialog.wait_for()
    assert luminance(dialog.evaluate("d => getComputedStyle(d).backgroundColor")) < 0.05
    for selector in ("[data-testid=prompt-title]", "[data-testid=prompt-message]",
                     "[data-testid=prompt-input]", "[data-testid=prompt-ok]"):
        assert _readable(page, selector) >= 4.5, selector
    page.screenshot(path=str(shots / "prompt.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    page.close()


def test_keyboard_reaches_sessions_tabs_views_headers_and_escape_closes_overlays(
        served: tuple[Host, Any, Worker], browser: Any, tmp_path: Path) -> None:
    _host, viewers, _worker = served
    # a second session, so that arrow keys have somewhere to go
    other = subprocess.run([sys.executable, "-c", "from filebridge.worker import viewers\n"
                            "viewers.webview(html='<p>other</p>', title='other page')"],
                           env=worker_env(tmp_path / "root", "other"), timeout=60, check=True)
    assert other.returncode == 0
    shots = screenshots("keyboard")
    page = _open(browser, viewers)
    page.locator("[data-testid=session][data-session=other]").wait_for()

    def focused() -> dict[str, str]:
        return dict(page.evaluate("""() => { const e = document.activeElement;
          return { tag: e.tagName, testid: e.dataset.testid || "", session: e.dataset.session || "",
                   field: e.dataset.field || "", outline: getComputedStyle(e).outlineStyle,
                   width: getComputedStyle(e).outlineWidth }; }"""))

    def tab_until(condition: Any, limit: int = 30) -> dict[str, str]:
        for _ in range(limit):
            page.keyboard.press("Tab")
            now = focused()
            if condition(now):
                return now
        raise AssertionError(f"Tab never reached it; last focus {focused()}")

    start = tab_until(lambda f: f["testid"] == "session")
    assert start["outline"] != "none" and float(start["width"].rstrip("px")) >= 2
    page.screenshot(path=str(shots / "session-focused.png"))
    order = page.locator("[data-testid=session]").evaluate_all(
        "ss => ss.map(s => s.dataset.session)")
    assert sorted(order) == ["other", "work"]
    page.keyboard.press("Home")
    assert focused()["session"] == order[0]
    page.keyboard.press("ArrowDown")
    assert focused()["session"] == order[1]
    page.locator(f"[data-testid=session][data-session={order[1]}][aria-selected=true]").wait_for()
    page.keyboard.press("ArrowUp")
    assert focused()["session"] == order[0]
    if order[0] != "work":
        page.keyboard.press("ArrowDown")
    page.locator("[data-testid=session][data-session=work][aria-selected=true]").wait_for()

    tab = tab_until(lambda f: f["testid"].startswith("tab-"))
    assert tab["testid"] == "tab-plot"
    page.keyboard.press("ArrowRight")
    assert focused()["testid"] == "tab-views"
    page.locator("[data-testid=tab-views][aria-selected=true]").wait_for()
    view = tab_until(lambda f: f["tag"] == "BUTTON" and page.evaluate(
        "document.activeElement.classList.contains('open')"))
    assert view["tag"] == "BUTTON"
    while "cities" not in page.evaluate("document.activeElement.textContent"):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.locator("[data-testid=grid] .fbgrid-cell", has_text="Oslo").first.wait_for()

    header = tab_until(lambda f: f["testid"].startswith("col-"))
    assert header["outline"] != "none"
    page.keyboard.press("Enter")
    page.locator(f"[data-testid=\"{header['testid']}\"][aria-sort=ascending]").wait_for()
    page.screenshot(path=str(shots / "header-sorted.png"))

    # the plot's overlay opens from the keyboard and Escape closes it, focus back on its button
    page.get_by_test_id("tab-plot").focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("plot-enlarge").focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("plot-overlay").wait_for()
    page.screenshot(path=str(shots / "plot-overlay.png"))
    page.keyboard.press("Escape")
    page.get_by_test_id("plot-overlay").wait_for(state="detached")
    assert focused()["testid"] == "plot-enlarge"
    page.close()


# The host beats every second: 2.5 s without a beat is a stall (the page's default is 5 s).
STALL_AFTER = 2.5


def test_page_says_plainly_when_the_host_is_gone_and_recovers_when_it_is_back(
        tmp_path: Path, browser: Any) -> None:
    root = tmp_path / "root"
    shots = screenshots("host_gone")
    host = Host(root)
    store = ViewerStore()
    install_viewer_handlers(host, store)
    ui = UIServer(host, store, stall_after=STALL_AFTER)
    host.start()
    ui.start()
    port, view_port, token = ui.port, ui.view_port, ui.token
    replacement: list[tuple[Host, UIServer]] = []
    released = threading.Event()
    try:
        worker = Worker(root, "work")
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 800})
            page.goto(ui.url)
            session = page.locator("[data-testid=session][data-session=work]")
            session.wait_for()
            assert page.get_by_test_id("host-banner").is_hidden()
            assert page.get_by_test_id("status").inner_text() == "live"

            # a handler that runs on the host's own thread stalls its heartbeat until released
            host.register("stall", lambda call: released.wait(60), inline=True)
            worker.run("from filebridge.worker import send; send('stall')")
            banner = page.get_by_test_id("host-banner")
            banner.wait_for(state="visible", timeout=20_000)
            assert banner.get_attribute("data-state") == "stalled"
            assert "has not beaten" in banner.inner_text()
            assert page.get_by_test_id("status").inner_text() == "host stalled"
            page.screenshot(path=str(shots / "host-stalled.png"))
            released.set()
            banner.wait_for(state="hidden", timeout=20_000)

            ui.stop()
            host.stop()
            banner.wait_for(state="visible", timeout=40_000)
            assert banner.get_attribute("data-state") == "unreachable"
            assert "not answering" in banner.inner_text()
            assert page.get_by_test_id("status").inner_text() == "host not answering"
            # the session is no longer shown as alive: its last state, marked as unknown
            assert session.locator(".status-text").inner_text() == "alive?"
            page.screenshot(path=str(shots / "host-gone.png"))

            again = Host(root)
            again_store = ViewerStore()
            install_viewer_handlers(again, again_store)
            again.start()
            again_ui = UIServer(again, again_store, port=port, token=token, view_port=view_port,
                                stall_after=STALL_AFTER)
            again_ui.start()
            replacement.append((again, again_ui))
            banner.wait_for(state="hidden", timeout=30_000)
            page.get_by_test_id("status").filter(has_text="live").wait_for()
            wait_for(lambda: session.locator(".status-text").inner_text() == "alive",
                     what="the session shown alive again")
            page.screenshot(path=str(shots / "host-back.png"))
            page.close()
        finally:
            worker.close()
    finally:
        released.set()
        for served_host, served_ui in replacement:
            served_ui.stop()
            served_host.stop()
        ui.stop()
        host.stop()


def test_plots_fit_zoom_save_as_png_and_svg_and_browse_a_history_strip(
        served: tuple[Host, Any, Worker], browser: Any, tmp_path: Path) -> None:
    _host, viewers, worker = served
    shots = screenshots("plots")
    page = _open(browser, viewers)
    page.locator("[data-testid=session][data-session=work]").click()
    image = page.locator("[data-testid=plot-image][data-plot='3']")
    image.wait_for()
    wait_for(lambda: image.evaluate("i => i.complete && i.naturalWidth") == 640,
             what="the plot to load")
    stage = page.get_by_test_id("plot-stage")
    stage_box = stage.bounding_box()
    box = image.bounding_box()
    assert box["width"] <= stage_box["width"] and box["height"] <= stage_box["height"] + 1
    page.screenshot(path=str(shots / "fit.png"))

    page.get_by_test_id("plot-actual").click()
    wait_for(lambda: page.get_by_test_id("plot-image").bounding_box()["width"] == 640,
             what="the plot at its actual size")
    page.get_by_test_id("plot-zoom-in").click()
    assert page.get_by_test_id("plot-zoom").get_attribute("data-zoom") == "1.25"
    wait_for(lambda: page.get_by_test_id("plot-image").bounding_box()["width"] == 800,
             what="the plot zoomed in")
    page.get_by_test_id("plot-stage").focus()
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert page.get_by_test_id("plot-zoom").get_attribute("data-zoom") == "0.9"
    page.screenshot(path=str(shots / "zoomed.png"))
    page.keyboard.press("0")
    assert page.get_by_test_id("plot-zoom").get_attribute("data-zoom") == "fit"

    with page.expect_download() as png_download:
        page.get_by_test_id("plot-save-png").click()
    png = Path(png_download.value.path()).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_download.value.suggested_filename == "plot-3.png"
    with page.expect_download() as svg_download:
        page.get_by_test_id("plot-save-svg").click()
    svg = Path(svg_download.value.path()).read_text()
    assert "<svg" in svg and "plot 3" in svg  # the title is text in matplotlib's SVG

    thumbs = page.get_by_test_id("plot-thumb")
    assert thumbs.evaluate_all("ts => ts.map(t => t.dataset.plot)") == ["1", "2", "3"]
    thumbs.first.click()
    page.locator("[data-testid=plot-image][data-plot='1']").wait_for()
    page.locator("[data-testid=plot-thumb][data-plot='1']").focus()
    page.keyboard.press("ArrowRight")
    page.locator("[data-testid=plot-image][data-plot='2']").wait_for()
    page.screenshot(path=str(shots / "history.png"))

    # a plot sent as PNG bytes has no SVG: the button says why instead of failing
    worker.run("import io; b = io.BytesIO(); plt.plot([3, 1]); plt.gcf().savefig(b, format='png'); "
               "plt.close('all'); viewers.plot(b.getvalue())")
    page.get_by_test_id("plot-thumb").nth(3).click()
    page.locator("[data-testid=plot-image][data-plot='4']").wait_for()
    svg_button = page.get_by_test_id("plot-save-svg")
    assert svg_button.is_disabled()
    assert "PNG only" in (svg_button.get_attribute("title") or "")
    page.close()


def test_a_session_answer_that_arrives_late_does_not_replace_a_newer_one(
        served: tuple[Host, Any, Worker], browser: Any) -> None:
    # A click and the state poll both ask for the session; on a busy machine the older
    # answer (three plots) can arrive after the newer (four): the page keeps the newer.
    _host, viewers, worker = served
    page = _open(browser, viewers)
    page.locator("[data-testid=session][data-session=work]").click()
    page.locator("[data-testid=plot-image][data-plot='3']").wait_for()
    held: list[tuple[Any, Any]] = []

    def hold_the_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))

    page.route("**/api/sessions/work", hold_the_first)
    page.locator("[data-testid=session][data-session=work]").click()
    # Playwright runs the route's handler only while this thread is in one of its calls.
    wait_for(lambda: page.wait_for_timeout(20) or held, what="the click's request")
    worker.run("plt.plot([4, 1]); plt.title('plot 4'); plt.show()")
    page.locator("[data-testid=plot-image][data-plot='4']").wait_for()
    route, older = held[0]
    with page.expect_event("requestfinished", lambda r: r.url.endswith("/api/sessions/work")):
        route.fulfill(response=older)
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done(null)))")
    assert page.get_by_test_id("plot-image").get_attribute("data-plot") == "4"
    page.close()


def test_python_help_shows_docstrings_as_formatted_text(
        served: tuple[Host, Any, Worker], browser: Any) -> None:
    _host, viewers, _worker = served
    shots = screenshots("help")
    page = _open(browser, viewers)
    page.locator("[data-testid=session][data-session=work]").click()
    page.get_by_test_id("tab-views").click()
    page.locator("[data-testid=view][data-kind=help] button.open").click()
    frame = page.frame_locator("[data-testid=webview-frame]")
    frame.locator("h4", has_text="Args").wait_for()
    assert frame.locator("dt code", has_text="table").count() == 1
    assert frame.locator("dt .type", has_text="str").count() == 1
    assert frame.locator("a[href='https://example.org/guide']").inner_text() == "the guide"
    assert frame.locator("strong", has_text="keys").count() == 1
    assert frame.locator("em", has_text="rows").count() == 1
    assert "fetch(\"sales\", [1])" in frame.locator("pre").first.inner_text()
    text = frame.locator("body").inner_text()
    assert "``" not in text and "`_" not in text and "Args:" not in text
    page.screenshot(path=str(shots / "python-help.png"))
    page.close()


def test_empty_page_shows_the_commands_that_start_a_worker_here(
        tmp_path: Path, browser: Any) -> None:
    shots = screenshots("empty_page")
    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        page = browser.new_page(viewport={"width": 1300, "height": 700})
        page.goto(viewers.ui.url)
        shown = page.get_by_test_id("start-command")
        shown.first.wait_for()
        texts = shown.evaluate_all("cs => cs.map(c => c.textContent)")
        assert texts[0] == f"filebridge new-session --root {root} --id mywork"
        assert texts[1] == f"filebridge template r --session {root}/sessions/mywork"
        page.get_by_test_id("copy-command-0").focus()  # reachable and labelled
        page.screenshot(path=str(shots / "empty.png"))
        page.close()

"""R's ``??topic`` in the page: a search results page whose links open the pages found."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_support import screenshots
from r_support import needs_r, run_r
from viewers_support import CHROMIUM, running_host

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_r,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")]


def test_double_question_mark_shows_a_styled_results_page_linking_to_help_pages(
        tmp_path: Path, browser: object) -> None:
    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        run_r("filebridge_connect()\n??quantile\n", session=root / "sessions" / "rsearch",
              timeout=120)
        page = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        page.goto(viewers.ui.url)
        page.locator("[data-testid=session][data-session=rsearch]").click()
        page.get_by_test_id("tab-views").click()
        page.locator("[data-testid=view][data-kind=help] button.open").click()
        frame = page.frame_locator("[data-testid=webview-frame]")
        frame.locator("h2", has_text="quantile").wait_for()
        heading = frame.locator("h2").first
        # R.css colours the heading: the style sheet was served beside the results page
        assert heading.evaluate("h => getComputedStyle(h).color") != "rgb(0, 0, 0)"
        link = frame.locator("a", has_text="stats::quantile")
        link.wait_for()
        page.screenshot(path=str(screenshots("r_help_search") / "results.png"))
        link.click()
        frame.locator("h2", has_text="Sample Quantiles").wait_for()
        page.screenshot(path=str(screenshots("r_help_search") / "followed.png"))
        page.close()

"""R help pages in the local web page, in headless Chromium: styled, and their links followed."""

from __future__ import annotations

from pathlib import Path

import pytest
from r_support import needs_r, run_r
from viewers_support import CHROMIUM, running_host, wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_r,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")]


def test_r_help_page_is_styled_by_r_css_and_its_links_lead_to_rendered_pages(
        tmp_path: Path, browser: object) -> None:
    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        run_r('filebridge_connect()\nprint(help("lm", package = "stats"))\n',
              session=root / "sessions" / "rhelp")
        linked = root / "sessions" / "rhelp" / "views" / "help" / "library" / "stats" / "html"
        wait_for(lambda: (linked / "glm.html").is_file(), timeout=60,
                 what="the linked pages rendered in the background")
        page = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        page.goto(viewers.ui.url)
        page.locator("[data-testid=session][data-session=rhelp]").click()
        page.get_by_test_id("tab-views").click()
        page.locator("[data-testid=view][data-kind=help] button.open").click()
        frame = page.frame_locator("[data-testid=webview-frame]")
        heading = frame.locator("h2").first
        heading.wait_for()
        assert "Fitting Linear Models" in heading.inner_text()
        # R.css sets the page's headings in a colour of its own: the style sheet was served
        assert heading.evaluate("h => getComputedStyle(h).color") != "rgb(0, 0, 0)"
        frame.locator('a[href="../../stats/html/glm.html"]').first.click()
        frame.locator("h2", has_text="Fitting Generalized Linear Models").wait_for()
        page.close()

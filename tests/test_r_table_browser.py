"""R's View() of a million-row data.frame in the web page's grid, in headless Chromium, with R
idle at its prompt (answering the page) and then busy (the snapshot answers).

Screenshots are kept as test artifacts (docs/testing.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_support import screenshots
from r_support import IdleR, needs_r
from test_viewers_grid_browser import _cell, _loaded
from viewers_support import CHROMIUM, running_host, wait_for

pytest.importorskip("playwright.sync_api")
pytestmark = [needs_r, pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                          reason="Debian chromium missing")]

FRAME = r'''
set.seed(5); n <- 1e6
df <- data.frame(x = runif(n) * 1e6, s = sample(c("alpha", "beta", "gamma"), n, TRUE),
                 f = factor(sample(c("lo", "hi"), n, TRUE), levels = c("lo", "hi")),
                 d = as.Date("2024-08-25") + (seq_len(n) %% 1000),
                 t = as.POSIXct("2024-08-25 12:00:00", tz = "Asia/Tokyo") + seq_len(n),
                 stringsAsFactors = FALSE)
df$x[2] <- NA; df$x[3] <- NaN; df$x[4] <- Inf; df$s[6] <- NA
View(df, "r million")
'''


def test_r_view_in_the_grid_first_rows_sort_filter_profile_live_then_from_the_snapshot(
        tmp_path: Path, browser: object) -> None:
    root = tmp_path / "root"
    shots = screenshots("r_table")
    with running_host(root) as (host, viewers):
        assert viewers.ui is not None
        page = browser.new_page(viewport={"width": 1300, "height": 850})  # type: ignore[attr-defined]
        page.goto(viewers.ui.url)
        r = IdleR(root / "sessions" / "rgrid",
                  options="options(filebridge.variables = FALSE, filebridge.plot = FALSE)")
        try:
            host.wait_for_session("rgrid", timeout=30)
            r.run(FRAME)
            page.locator("[data-testid=session][data-session=rgrid]").click()
            page.get_by_test_id("tab-views").click()
            page.locator("[data-testid=view][data-kind=table] button.open").click()
            info = page.get_by_test_id("table-info")
            info.filter(has_text="of 1,000,000").wait_for(timeout=60_000)
            _loaded(page).wait_for(timeout=60_000)
            # row labels from 1; NA and NaN told apart; factor levels; dates; the zone's clock
            assert _cell(page, 0, 0).inner_text() == "1"
            assert _cell(page, 1, 1).inner_text() == "NA"
            assert _cell(page, 2, 1).inner_text() == "NaN"
            assert _cell(page, 3, 1).inner_text() == "Inf"
            assert _cell(page, 5, 2).inner_text() == "NA"
            assert _cell(page, 0, 3).inner_text() in ("lo", "hi")
            assert _cell(page, 0, 4).inner_text() == "2024-08-26"
            assert _cell(page, 0, 5).inner_text().startswith("2024-08-25 12:00:01")
            page.screenshot(path=str(shots / "r-grid-first-rows.png"))

            # sort descending by x: Inf on top, then the largest numbers
            page.get_by_test_id("col-x").click()
            page.get_by_test_id("col-x").filter(has_text="▲").wait_for()
            page.get_by_test_id("col-x").click()
            page.get_by_test_id("col-x").filter(has_text="▼").wait_for()
            wait_for(lambda: _cell(page, 0, 1).inner_text() == "Inf", timeout=60,
                     what="Inf on top of the descending sort")
            assert float(_cell(page, 1, 1).inner_text().replace(",", "")) > 999_990
            page.screenshot(path=str(shots / "r-grid-sorted.png"))

            # a text filter on s, and the profile of x over the rows it keeps
            page.get_by_test_id("colfilter-s").fill("beta")
            info.filter(has_text="filtered from 1,000,000").wait_for(timeout=60_000)
            total = int(info.get_attribute("data-total") or 0)
            assert 300_000 < total < 366_000
            _loaded(page).wait_for(timeout=60_000)
            assert set(page.locator(".fbgrid-cell[data-col='2']").all_inner_texts()) == {"beta"}
            page.get_by_test_id("profile-x").click()
            stats = page.get_by_test_id("profile-stats")
            stats.wait_for(timeout=60_000)
            assert int(stats.locator("tr[data-key=rows] td").inner_text().replace(",", "")) \
                == total
            page.screenshot(path=str(shots / "r-grid-profile.png"))

            # R busy in a long call: the page still scrolls, from the snapshot
            r.begin("Sys.sleep(20)")
            grid = page.get_by_test_id("grid")
            grid.evaluate("g => { g.scrollTop = g.scrollHeight * 0.5; }")
            # the grid draws the rows in view at its next frame, a busy machine's later

            def first_in_view() -> int:
                return int(info.get_attribute("data-first") or 0)

            wait_for(lambda: first_in_view() > 100_000, timeout=60,
                     what="the rows half way down in view")
            _loaded(page).wait_for(timeout=60_000)
            first = first_in_view()
            # (a block's cells read "…" until its rows arrive from the snapshot)
            _cell(page, first + 1, 2).filter(has_text="beta").wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "r-grid-busy.png"))
        finally:
            r.close()
        page.close()

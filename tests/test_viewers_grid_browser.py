"""The data grid in headless Chromium over a live worker's million-row frame: scrolling to a
far row, sorting, filtering, a column profile, keyboard navigation, copy, export and code.

Screenshots are kept as test artifacts (docs/testing.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from page_support import screenshots
from viewers_support import (
    CHROMIUM,
    open_table_view,
    running_host,
    wait_for,
    worker_at_ready,
)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.peers,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")]

WORKER = """
import sys
import numpy as np, pandas as pd
from filebridge.worker import viewers
n = 10**6
rng = np.random.default_rng(3)
x = rng.random(n) * 1e6
x[2] = np.nan
x[3] = np.inf
df = pd.DataFrame({"x": x, "s": rng.choice(["alpha", "beta", "gamma"], n), "i": np.arange(n),
                   "d": pd.Timestamp("2024-08-25") + pd.to_timedelta(np.arange(n) % 1000, "D"),
                   "k": pd.Series(rng.choice(["p", "q"], n)).astype("category")})
df.loc[5, "s"] = None
viewers.dataview(df, title="million")
print("ready", flush=True)
sys.stdin.readline()
"""


def _cell(page: Any, row: int, column: int) -> Any:
    return page.locator(f".fbgrid-cell[data-row='{row}'][data-col='{column}']")


def _loaded(page: Any) -> Any:
    return page.locator("[data-testid=table-info][data-loaded=true]")


def _scroll_to(page: Any, fraction: float) -> int:
    """Scroll the grid to ``fraction`` of its height; the first row shown once its rows came."""
    info = page.get_by_test_id("table-info")
    was = info.get_attribute("data-first")
    page.get_by_test_id("grid").evaluate(
        f"g => {{ g.scrollTop = (g.scrollHeight - g.clientHeight) * {fraction}; }}")
    wait_for(lambda: info.get_attribute("data-first") != was, timeout=60,
             what="the grid to follow the scroll")
    first = int(info.get_attribute("data-first") or 0)
    wait_for(lambda: _cell(page, first, 1).inner_text() != "…", timeout=60,
             what="the rows in view")
    return first


def test_grid_scrolls_sorts_filters_profiles_navigates_and_copies(tmp_path: Path,
                                                                   browser: object) -> None:
    root = tmp_path / "root"
    shots = screenshots("grid")
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        context = browser.new_context(  # type: ignore[attr-defined]
            viewport={"width": 1300, "height": 850}, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"],
                                  origin=viewers.ui.url.split("/", 3)[0] + "//"
                                  + viewers.ui.url.split("/", 3)[2])
        page = context.new_page()
        page.goto(viewers.ui.url)
        with worker_at_ready(root, "grid", WORKER):
            open_table_view(page, "grid")
            info = page.get_by_test_id("table-info")
            info.filter(has_text="of 1,000,000").wait_for(timeout=60_000)
            _loaded(page).wait_for(timeout=60_000)
            assert _cell(page, 2, 1).inner_text() == "NA" or _cell(page, 2, 1).inner_text() \
                == "NaN"
            assert _cell(page, 3, 1).inner_text() == "Inf"
            assert "special" in (_cell(page, 3, 1).get_attribute("class") or "")
            assert _cell(page, 5, 2).inner_text() == "NA"
            assert "na" in (_cell(page, 5, 2).get_attribute("class") or "").split()
            assert _cell(page, 0, 4).inner_text() == "2024-08-25"  # all at midnight: dates
            assert _cell(page, 0, 5).inner_text() in ("p", "q")
            page.screenshot(path=str(shots / "grid-first-rows.png"))

            # scroll to a far row: the rows there arrive and show their positions
            grid = page.get_by_test_id("grid")
            first = _scroll_to(page, 0.9)
            assert 890_000 < first < 910_000
            label = _cell(page, first + 1, 0).inner_text()
            assert label == str(first + 1)
            assert _cell(page, first + 1, 3).inner_text() == f"{first + 1:,}"
            page.screenshot(path=str(shots / "grid-far-row.png"))

            # sort descending by x: Inf first, NaN last; NA (None in s) is NA
            page.get_by_test_id("col-x").click()
            page.get_by_test_id("col-x").filter(has_text="▲").wait_for()
            page.get_by_test_id("col-x").click()
            page.get_by_test_id("col-x").filter(has_text="▼").wait_for()
            wait_for(lambda: _cell(page, 0, 1).inner_text() == "Inf", timeout=60,
                     what="Inf on top of the descending sort")
            second = _cell(page, 1, 1).inner_text()
            assert second.replace(",", "").replace(".", "").isdigit()
            assert float(second.replace(",", "")) > 999_990
            page.screenshot(path=str(shots / "grid-sorted.png"))

            # a text filter on s
            page.get_by_test_id("colfilter-s").fill("beta")
            info.filter(has_text="filtered from 1,000,000").wait_for(timeout=60_000)
            total = int(info.get_attribute("data-total") or 0)
            assert 300_000 < total < 366_000
            _loaded(page).wait_for(timeout=60_000)
            cells = page.locator(".fbgrid-cell[data-col='2']").all_inner_texts()
            assert cells and set(cells) == {"beta"}
            page.screenshot(path=str(shots / "grid-filtered.png"))

            # the profile of x over the filtered rows
            page.get_by_test_id("profile-x").click()
            stats = page.get_by_test_id("profile-stats")
            stats.wait_for(timeout=60_000)
            rows = stats.locator("tr[data-key=rows] td").inner_text()
            assert int(rows.replace(",", "")) == total
            page.get_by_test_id("histogram").wait_for()
            assert page.locator("[data-testid=histogram] rect").count() == 20
            page.get_by_test_id("profile-s").click()
            page.get_by_test_id("profile-frequent").filter(has_text="beta").wait_for()
            page.screenshot(path=str(shots / "grid-profile.png"))

            # keyboard: focus the grid, move, extend the selection and copy it as TSV
            _cell(page, 0, 1).click()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowRight")
            active = page.locator(".fbgrid-cell.active")
            assert (active.get_attribute("data-row"), active.get_attribute("data-col")) == (
                "1", "2")
            page.keyboard.press("Shift+ArrowDown")
            page.keyboard.press("Shift+ArrowRight")
            page.keyboard.press("Control+c")
            root_grid = page.locator(".fbgrid")
            wait_for(lambda: root_grid.get_attribute("data-copied"), what="the copy")
            copied = root_grid.get_attribute("data-copied") or ""
            lines = copied.strip("\n").split("\n")
            assert lines[0] == "s\ti" and len(lines) == 3
            assert all(line.split("\t")[0] == "beta" for line in lines[1:])
            assert page.evaluate("navigator.clipboard.readText()") == copied
            page.keyboard.press("Control+End")
            _loaded(page).wait_for(timeout=60_000)
            assert page.locator(".fbgrid-cell.active").get_attribute("data-row") == str(
                total - 1)
            page.screenshot(path=str(shots / "grid-keyboard.png"))

            # export and convert to code
            with page.expect_download(timeout=180_000) as download:
                page.get_by_test_id("export-tsv").click()
            text = Path(download.value.path()).read_text()
            assert text.count("\n") == total + 1 and text.startswith("(row)\tx\ts\ti\td\tk\n")
            page.get_by_test_id("code-language").select_option("dplyr")
            page.get_by_test_id("convert-code").click()
            code = page.get_by_test_id("code")
            code.wait_for()
            assert "arrange(desc(x))" in code.inner_text()
            assert 'grepl("beta", s' in code.inner_text()

            # headers are reachable by keyboard: Enter sorts by the focused one
            header = page.get_by_test_id("col-i")
            header.focus()
            page.keyboard.press("Enter")
            header.filter(has_text="▲").wait_for()
            page.keyboard.press("Enter")
            header.filter(has_text="▼").wait_for()
            assert header.get_attribute("aria-sort") == "descending"
            _loaded(page).wait_for(timeout=60_000)
            shown = [int(t.replace(",", "")) for t in
                     page.locator(".fbgrid-cell[data-col='3']").all_inner_texts()]
            assert shown == sorted(shown, reverse=True) and shown[0] > 999_000

            # a pinned column stays in place while the grid scrolls sideways
            page.set_viewport_size({"width": 700, "height": 850})
            page.get_by_test_id("pin-s").click()
            label = page.get_by_test_id("col-(row)").bounding_box()
            before = page.get_by_test_id("col-s").bounding_box()
            moving = page.get_by_test_id("col-i").bounding_box()
            assert label is not None and before is not None and moving is not None
            # s moved next to the pinned row labels, before the columns that scroll
            assert abs(before["x"] - (label["x"] + label["width"])) < 2
            assert moving["x"] > before["x"]
            grid.evaluate("g => { g.scrollLeft = 150; g.dispatchEvent(new Event('scroll')); }")
            wait_for(lambda: grid.evaluate("g => g.scrollLeft") > 0, what="a sideways scroll")
            after = page.get_by_test_id("col-s").bounding_box()
            moved = page.get_by_test_id("col-i").bounding_box()
            assert after is not None and moved is not None
            assert abs(after["x"] - before["x"]) < 2 and moved["x"] < moving["x"] - 100
            page.screenshot(path=str(shots / "grid-pinned.png"))
        context.close()
    assert {p.name for p in shots.iterdir()} >= {
        "grid-first-rows.png", "grid-far-row.png", "grid-sorted.png", "grid-filtered.png",
        "grid-profile.png", "grid-keyboard.png"}


TEN_MILLION = """
import sys
import numpy as np, pandas as pd
from filebridge.worker import viewers
n = 10**7
df = pd.DataFrame({"i": np.arange(n, dtype=np.int32), "half": np.arange(n) / 2})
viewers.dataview(df, title="ten million")
print("ready", flush=True)
sys.stdin.readline()
"""


def test_grid_scrolls_through_ten_million_rows_to_the_last_one(tmp_path: Path,
                                                                browser: object) -> None:
    root = tmp_path / "root"
    shots = screenshots("grid")
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        page = browser.new_page(viewport={"width": 1100, "height": 800})  # type: ignore[attr-defined]
        page.goto(viewers.ui.url)
        with worker_at_ready(root, "big", TEN_MILLION):
            open_table_view(page, "big")
            info = page.get_by_test_id("table-info")
            info.filter(has_text="of 10,000,000").wait_for(timeout=60_000)
            positions = []
            for fraction in (0.25, 0.5, 0.999, 1.0):
                first = _scroll_to(page, fraction)
                positions.append(first)
                assert _cell(page, first, 1).inner_text() == f"{first:,}"
            assert positions == sorted(positions) and positions[0] > 2_000_000
            rows_in_view = page.locator(".fbgrid-row").count()
            assert positions[-1] + rows_in_view >= 10**7
            _cell(page, 10**7 - 1, 2).wait_for()
            assert _cell(page, 10**7 - 1, 2).inner_text() == "4,999,999.5"
            page.screenshot(path=str(shots / "grid-ten-million-end.png"))
            # and with the keyboard from the end back to the top
            _cell(page, 10**7 - 1, 1).click()
            page.keyboard.press("Control+Home")
            _loaded(page).wait_for(timeout=60_000)
            assert _cell(page, 0, 1).inner_text() == "0"
        page.close()

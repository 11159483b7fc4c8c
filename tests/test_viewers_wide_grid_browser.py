"""The data grid in headless Chromium over a 10^3 x 2,000 frame: only the columns in view are
rendered (header, filters and cells), the columns are asked for in chunks as the grid scrolls
sideways, and the far right shows its values; a datetime column all at midnight shows dates.

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

COLUMNS = 2000
WIDE = f"""
import sys
import numpy as np, pandas as pd
from filebridge.worker import viewers
rows, columns = 10**3, {COLUMNS}
values = np.arange(rows, dtype=np.int32)[:, None] * columns + np.arange(columns, dtype=np.int32)
df = pd.DataFrame(values, columns=[f"c{{j}}" for j in range(columns)])
df.insert(0, "day", pd.Timestamp("2024-08-25") + pd.to_timedelta(np.arange(rows) % 30, "D"))
viewers.dataview(df, title="wide")
print("ready", flush=True)
sys.stdin.readline()
"""


def _rendered(page: Any) -> dict[str, int]:
    return page.evaluate("""() => ({
        headers: document.querySelectorAll('.fbgrid-hcell').length,
        filters: document.querySelectorAll('.fbgrid-fcell').length,
        cells: document.querySelectorAll('.fbgrid-row:first-child .fbgrid-cell').length})""")


def _header_index(page: Any, name: str) -> int:
    return int(page.get_by_test_id(f"col-{name}").get_attribute("data-index") or -1)


def test_a_frame_of_two_thousand_columns_renders_only_those_in_view(tmp_path: Path,
                                                                      browser: object) -> None:
    root = tmp_path / "root"
    shots = screenshots("grid")
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        page = browser.new_page(viewport={"width": 1200, "height": 800})  # type: ignore[attr-defined]
        page.goto(viewers.ui.url)
        with worker_at_ready(root, "wide", WIDE):
            open_table_view(page, "wide")
            info = page.get_by_test_id("table-info")
            info.filter(has_text="of 1,000").wait_for(timeout=60_000)
            page.locator("[data-testid=table-info][data-loaded=true]").wait_for(timeout=60_000)
            first = page.locator(".fbgrid-cell[data-row='0'][data-col='1']")
            assert first.inner_text() == "2024-08-25"  # all at midnight: dates alone
            assert page.locator(".fbgrid-cell[data-row='3'][data-col='5']").inner_text() == \
                f"{3 * COLUMNS + 3:,}"
            shown = _rendered(page)
            assert 3 <= shown["headers"] < 60 and shown["filters"] == shown["headers"]
            assert shown["cells"] == shown["headers"]
            page.screenshot(path=str(shots / "grid-wide-left.png"))

            # sideways in steps to the far right: the rendered columns stay few, the values
            # of each chunk of columns arrive
            grid = page.get_by_test_id("grid")
            width = grid.evaluate("g => g.scrollWidth - g.clientWidth")
            for fraction in (0.25, 0.5, 0.75, 1.0):
                grid.evaluate(f"g => {{ g.scrollLeft = {width * fraction}; }}")
                page.locator("[data-testid=table-info][data-loaded=true]").wait_for(
                    timeout=60_000)
                shown = _rendered(page)
                assert shown["headers"] < 60 and shown["cells"] == shown["headers"]
            last = page.get_by_test_id(f"col-c{COLUMNS - 1}")
            last.wait_for(timeout=30_000)
            index = _header_index(page, f"c{COLUMNS - 1}")
            cell = page.locator(f".fbgrid-cell[data-row='2'][data-col='{index}']")
            wait_for(lambda: cell.inner_text() != "…", timeout=60, what="the far right's rows")
            assert cell.inner_text() == f"{2 * COLUMNS + COLUMNS - 1:,}"
            assert page.get_by_test_id("col-c0").count() == 0  # scrolled out: not rendered
            assert page.get_by_test_id("col-(row)").count() == 1  # pinned: always there
            page.screenshot(path=str(shots / "grid-wide-right.png"))

            # the keyboard reaches the first column again and the grid follows it
            cell.click()
            page.keyboard.press("Home")
            page.get_by_test_id("col-day").wait_for(timeout=30_000)
            page.locator("[data-testid=table-info][data-loaded=true]").wait_for(timeout=60_000)
            assert page.locator(".fbgrid-cell[data-row='2'][data-col='2']").inner_text() == \
                f"{2 * COLUMNS:,}"
            # a filter typed into a column far to the right is kept while scrolling away
            page.keyboard.press("End")
            box = page.get_by_test_id(f"colfilter-c{COLUMNS - 1}")
            box.wait_for(timeout=30_000)
            box.fill(f"<{3 * COLUMNS}")
            info.filter(has_text="filtered from 1,000").wait_for(timeout=60_000)
            assert info.get_attribute("data-total") == "3"  # rows 0 to 2
            grid.evaluate("g => { g.scrollLeft = 0; }")
            page.get_by_test_id("col-day").wait_for(timeout=30_000)
            grid.evaluate(f"g => {{ g.scrollLeft = {width}; }}")
            assert box.input_value() == f"<{3 * COLUMNS}"
        page.close()
    assert {p.name for p in shots.iterdir()} >= {"grid-wide-left.png", "grid-wide-right.png"}

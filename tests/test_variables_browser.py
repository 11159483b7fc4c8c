"""The variables panel of the web page in headless Chromium, over a real host and worker."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from variables_support import worker_env
from viewers_support import CHROMIUM, running_host

from filebridge.host.variables_feature import install

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")

WORKER = """
import sys
import numpy as np
import pandas as pd
import filebridge.worker.variables as fv
cfg = {"name": "demo", "servers": [{"host": "alpha", "port": 8001}]}
big = np.zeros((10000, 10000), dtype=np.uint8)
frame = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp": [3.5, 19.0, 31.2]})
nums = list(range(250))
fv.enable(hook=False)
print("ready", flush=True)
for line in sys.stdin:
    exec(line)
    fv.publish_variables()
    print("done", flush=True)
"""


def test_tree_expands_pages_sorts_filters_views_and_follows_new_snapshots(
        tmp_path: Path, browser: object) -> None:
    root = tmp_path / "root"
    session = root / "sessions" / "panel1"
    with running_host(root) as (host, viewers):
        install(host, argparse.Namespace(variables_timeout=20.0))
        assert viewers.ui is not None
        worker = subprocess.Popen([sys.executable, "-c", WORKER], text=True,
                                  env=worker_env(session), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        try:
            assert worker.stdout is not None and worker.stdin is not None
            assert worker.stdout.readline().strip() == "ready"
            page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
            page.goto(viewers.ui.url)
            page.locator("[data-testid=session][data-session=panel1]").click()
            page.get_by_test_id("tab-panel:variables").click()
            rows = page.locator("[data-testid=variables-row][data-depth='0']")
            rows.filter(has_text="nums").wait_for()
            assert rows.evaluate_all("rs => rs.map(r => r.dataset.name)") == [
                "cfg", "big", "frame", "nums"]
            big = page.locator("[data-testid=variables-row][data-name=big]")
            assert big.get_by_test_id("variables-shape").inner_text() == "10000\u00d710000"
            assert "95.4 MB" in big.inner_text()

            cfg = page.locator("[data-testid=variables-row][data-name=cfg]")
            cfg.get_by_test_id("variables-toggle").click()
            servers = page.locator("[data-testid=variables-row][data-name=\"'servers'\"]")
            servers.get_by_test_id("variables-toggle").click()
            first = page.locator("[data-testid=variables-row][data-depth='2']")
            first.get_by_test_id("variables-toggle").click()
            page.locator("[data-testid=variables-row][data-name=\"'host'\"]").wait_for()
            assert "'alpha'" in page.locator(
                "[data-testid=variables-row][data-name=\"'host'\"]").inner_text()

            nums = page.locator("[data-testid=variables-row][data-name=nums]")
            nums.get_by_test_id("variables-toggle").click()
            more = page.get_by_test_id("variables-more")
            more.wait_for()
            assert "100 of 250" in more.inner_text()
            more.get_by_role("button").click()
            page.get_by_test_id("variables-more").filter(has_text="200 of 250").wait_for()
            page.get_by_test_id("variables-more").get_by_role("button").click()
            page.locator("[data-testid=variables-row][data-name='249']").wait_for()
            assert page.get_by_test_id("variables-more").count() == 0
            page.screenshot(path=str(tmp_path / "variables-tree.png"))

            page.get_by_test_id("variables-sort").select_option("size")
            page.wait_for_function("() => document.querySelector("
                                   "'[data-testid=variables-row][data-depth=\"0\"]')"
                                   ".dataset.name === 'big'")
            page.get_by_test_id("variables-filter").fill("fra")
            page.wait_for_function("() => document.querySelectorAll("
                                   "'[data-testid=variables-row][data-depth=\"0\"]').length === 1")
            frame = page.locator("[data-testid=variables-row][data-name=frame]")
            frame.get_by_test_id("variables-view-button").click()
            # the value opens as a real data view, in the same grid as dataview()
            page.get_by_test_id("view-title").filter(has_text="frame").wait_for()
            page.locator("[data-testid=table-info][data-loaded=true]").wait_for()
            headers = page.locator(".fbgrid-hcell .fbgrid-name").all_inner_texts()
            assert headers == ["(row)", "city", "temp"]
            assert page.locator(".fbgrid-row[data-row='1']").inner_text().split() == [
                "1", "Lima", "19"]
            page.screenshot(path=str(tmp_path / "variables-view.png"))
            page.get_by_test_id("tab-panel:variables").click()

            page.get_by_test_id("variables-filter").fill("")
            worker.stdin.write("fresh_value = 123\n")
            worker.stdin.flush()
            assert worker.stdout.readline().strip() == "done"
            page.locator("[data-testid=variables-row][data-name=fresh_value]").wait_for(
                timeout=30_000)
            page.screenshot(path=str(tmp_path / "variables-live.png"))
        finally:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait(timeout=10)


SLOW_WORKER = """
import sys, time
import filebridge.worker.variables as fv
class Sluggish:
    delay = 0.5
    def __repr__(self):
        time.sleep(Sluggish.delay)
        return "finally described"
sluggish = Sluggish()
quick = 1
fv.enable(hook=True)
print("ready", flush=True)
for line in sys.stdin:
    exec(line)
    fv.service().publisher.after_execution()
    print("done", flush=True)
"""


def test_a_value_over_the_limit_gets_a_try_again_button_and_the_open_page_subscribes(
        tmp_path: Path, browser: object) -> None:
    root = tmp_path / "root"
    session = root / "sessions" / "slow1"
    with running_host(root) as (host, viewers):
        install(host, argparse.Namespace(variables_timeout=20.0))
        assert viewers.ui is not None
        worker = subprocess.Popen([sys.executable, "-c", SLOW_WORKER], text=True,
                                  env=worker_env(session), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        try:
            assert worker.stdout is not None and worker.stdin is not None
            assert worker.stdout.readline().strip() == "ready"
            page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
            page.goto(viewers.ui.url)
            page.locator("[data-testid=session][data-session=slow1]").click()
            page.get_by_test_id("tab-panel:variables").click()
            row = page.locator("[data-testid=variables-row][data-name=sluggish]")
            row.wait_for()
            assert "not described: took over" in row.inner_text()
            # Only a subscribed pane makes the worker snapshot after an execution.
            worker.stdin.write("added = 2\n")
            worker.stdin.flush()
            assert worker.stdout.readline().strip() == "done"
            page.locator("[data-testid=variables-row][data-name=added]").wait_for(
                timeout=30_000)
            worker.stdin.write("Sluggish.delay = 0\n")
            worker.stdin.flush()
            assert worker.stdout.readline().strip() == "done"
            assert "not described" in page.locator(
                "[data-testid=variables-row][data-name=sluggish]").inner_text()
            page.locator("[data-testid=variables-row][data-name=sluggish]").get_by_test_id(
                "variables-retry").click()
            page.locator("[data-testid=variables-row][data-name=sluggish]").filter(
                has_text="finally described").wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "variables-retry.png"))
        finally:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait(timeout=10)

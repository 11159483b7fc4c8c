"""``filebridge notebook jupyterlab --install``: a real JupyterLab, started with no filebridge
option, opens Databricks source notebooks as notebooks on double-click in its file browser and
saves them byte exact; a plain script opened the same way saves back unchanged.

The lab's Jupyter folders are private to the test; jupytext, installed in this environment with
its server extension enabled, stays enabled, so its contents manager sits behind filebridge's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notebooks_support import load_benchmark
from playwright.sync_api import expect

from filebridge.errors import NotebookError
from filebridge.notebooks.jupyterlab_setup import install
from filebridge.testing.jupyterlab import (
    WAIT,
    InstalledJupyterLab,
    double_click,
    notebook_cells,
    save_and_wait,
    type_at_end_of_cell,
)

SOURCE = (
    "# Databricks notebook source\n"
    "# MAGIC %md\n# MAGIC # Daily report\n# MAGIC Totals **by day**.\n\n# COMMAND ----------\n\n"
    "total = 1 + 1\n\n# COMMAND ----------\n\n"
    "\n# MAGIC\n# MAGIC  %sql\n# MAGIC SELECT 1   \n\n"  # odd spacing: must survive untouched
    "\n# COMMAND ----------\n\n# DBTITLE 1,Tail\nprint('end')\n"
)
# A plain script: no header, a line that looks like a separator, CRLF, no final newline.
PLAIN = "import os\r\n\r\n# COMMAND ----------\r\nprint(os.sep)  # MAGIC %md"
SQL = ("-- Databricks notebook source\nSELECT 1\n\n-- COMMAND ----------\n\n"
       "-- MAGIC %md\n-- MAGIC hi\n")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstalledJupyterLab]:
    tmp_path = tmp_path_factory.mktemp("lab")
    root = tmp_path / "work"
    root.mkdir()
    # The files the tests open, there before the page lists the folder.
    (root / "report.py").write_text(SOURCE)
    (root / "plain.py").write_bytes(PLAIN.encode())
    (root / "query.sql").write_text(SQL)
    server = InstalledJupyterLab(root, tmp_path / "state")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab_page(lab: InstalledJupyterLab, browser: Any) -> Iterator[Any]:
    """One JupyterLab page for the tests that double-click: loading it costs seconds."""
    page = browser.new_page()
    page.set_default_timeout(WAIT * 1000)
    page.goto(lab.page_url())
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def clicking(lab_page: Any) -> Iterator[Any]:
    """The shared page, left with no document open for the next test."""
    yield lab_page
    lab_page.keyboard.press("Escape")
    lab_page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
    lab_page.locator(".lm-Menu-itemLabel", has_text="Close All Tabs").first.click()
    # A notebook JupyterLab thinks changed (the SQL one, whose kernel was not chosen) asks
    # whether to save it: the test has checked the file, which stays as it is.
    documents = lab_page.locator("#jp-main-dock-panel .jp-Document")
    discard = lab_page.locator(".jp-Dialog button", has_text="Discard")
    deadline = time.monotonic() + WAIT
    while documents.count():
        assert time.monotonic() < deadline, "JupyterLab did not close the test's tabs"
        if discard.count():
            discard.first.click()
        lab_page.wait_for_timeout(50)


def run_cli(lab: InstalledJupyterLab, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.filebridge(*args)


def test_install_writes_three_files_and_status_reports_them(lab: InstalledJupyterLab) -> None:
    shown = json.loads(run_cli(lab, "--json").stdout)
    assert shown["installed"] and shown["double_click"] == ["py", "sql", "scala", "r"]
    config = Path(shown["config_dir"])
    settings = json.loads((config / "labconfig" / "default_setting_overrides.d"
                           / "filebridge-databricks.json").read_text())
    assert settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] \
        == "Notebook"
    # Loaded as an extension, in front of jupytext's manager (whose extension is enabled here).
    assert "filebridge: Databricks source notebooks open as notebooks " \
        "(DatabricksAsyncJupytextContentsManager)" in lab.log()


def test_double_click_opens_a_databricks_notebook_and_saves_it_exactly(
    lab: InstalledJupyterLab, clicking: Any
) -> None:
    page, source = clicking, lab.root / "report.py"
    double_click(page, "report.py")
    cells = notebook_cells(page, "report.py")
    cells.nth(3).wait_for()
    assert cells.count() == 4
    heading = cells.nth(0).locator(".jp-RenderedMarkdown h1")
    expect(heading).to_contain_text("Daily report", timeout=WAIT * 1000)
    expect(cells.nth(0).locator(".jp-RenderedMarkdown strong")).to_have_text("by day")
    expect(cells.nth(2).locator(".cm-content")).to_contain_text("%sql")

    type_at_end_of_cell(page, cells.nth(1), "  # edited in JupyterLab")
    edited = SOURCE.replace("total = 1 + 1", "total = 1 + 1  # edited in JupyterLab")
    save_and_wait(page, source, edited)
    assert source.read_bytes() == edited.encode()


def test_double_click_opens_a_plain_script_and_saves_it_back_unchanged(
    lab: InstalledJupyterLab, clicking: Any
) -> None:
    page, script = clicking, lab.root / "plain.py"
    before = script.stat().st_mtime_ns
    double_click(page, "plain.py")
    cells = notebook_cells(page, "plain.py")
    cells.first.wait_for()
    expect(cells.first.locator(".cm-content")).to_contain_text("print(os.sep)")
    assert cells.count() == 1
    cells.first.locator(".cm-content").click()
    with page.expect_request(lambda request: request.method == "PUT" and request.url
                             .split("?")[0].endswith("/api/contents/plain.py")) as put:
        save_and_wait(page, script, previous_mtime=before)
    answer = put.value.response()
    assert answer is not None and answer.json()["type"] == "notebook"
    assert script.read_bytes() == PLAIN.encode()


def test_double_click_opens_sql_as_a_notebook_and_open_with_editor_still_shows_text(
    lab: InstalledJupyterLab, clicking: Any
) -> None:
    page, query = clicking, lab.root / "query.sql"
    double_click(page, "query.sql")
    cells = notebook_cells(page, "query.sql")
    cells.nth(1).wait_for()
    expect(cells.nth(1).locator(".jp-RenderedMarkdown")).to_contain_text("hi")
    # No local kernel runs SQL: JupyterLab asks for one (documented); no kernel is chosen.
    page.locator(".jp-Dialog").wait_for()
    page.keyboard.press("Escape")
    page.locator(".jp-Dialog").wait_for(state="detached")

    item = page.locator(".jp-DirListing-item", has_text="query.sql").first
    item.click(button="right")
    page.locator(".lm-Menu-item", has_text="Open With").first.hover()
    page.locator(".lm-Menu-itemLabel").filter(has_text="Editor").first.click()
    editor = page.locator(".jp-FileEditor:not(.lm-mod-hidden) .cm-content")
    expect(editor).to_contain_text("-- Databricks notebook source")
    assert query.read_text() == SQL


def test_uninstall_removes_what_install_wrote(tmp_path: Path) -> None:
    lab = InstalledJupyterLab(tmp_path / "work", tmp_path / "state")
    installed = lab.filebridge("--install", "--double-click=sql")
    assert installed.returncode == 0, installed.stderr
    shown = json.loads(lab.filebridge("--json").stdout)
    assert shown["installed"] and shown["double_click"] == ["sql"]
    removed = lab.filebridge("--uninstall")
    assert removed.returncode == 0 and removed.stdout.count("removed ") == 3
    assert not json.loads(lab.filebridge("--json").stdout)["installed"]
    leftovers = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert leftovers == []
    again = lab.filebridge("--uninstall")
    assert again.returncode == 0 and "nothing installed" in again.stdout


def test_bad_double_click_types_are_a_clear_error(tmp_path: Path) -> None:
    lab = InstalledJupyterLab(tmp_path / "work", tmp_path / "state")
    answer = lab.filebridge("--install", "--double-click=py,ipynb")
    assert answer.returncode == 1
    assert answer.stderr.count("\n") == 1 and "--double-click takes" in answer.stderr
    assert not (tmp_path / "state").exists()


def test_status_notes_a_user_setting_that_replaces_the_default_viewers(tmp_path: Path) -> None:
    lab = InstalledJupyterLab(tmp_path / "work", tmp_path / "state")
    assert lab.filebridge("--install").returncode == 0
    assert "your own JupyterLab setting" not in lab.filebridge().stdout
    settings = (tmp_path / "state" / "user-settings" / "@jupyterlab" / "docmanager-extension"
                / "plugin.jupyterlab-settings")
    settings.parent.mkdir(parents=True)
    settings.write_text('{\n  // mine\n  "defaultViewers": {"markdown": "Markdown Preview"}\n}\n')
    shown = lab.filebridge().stdout
    assert "note: your own JupyterLab setting" in shown and "databricks-sql" in shown
    # jupytext is installed here: the note says who serves .py files.
    assert "note: jupytext is installed" in shown


def test_without_jupytext_the_extension_wraps_the_default_manager(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    (root / "report.py").write_text(SOURCE)
    (root / "plain.py").write_bytes(PLAIN.encode())
    server = InstalledJupyterLab(root, tmp_path / "state")
    config = tmp_path / "state" / "config"
    config.mkdir(parents=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"jupyterlab_jupytext": False}}}))
    with server:
        assert "open as notebooks (DatabricksAsyncLargeFileManager)" in server.log()
        for name, text in (("report.py", SOURCE), ("plain.py", PLAIN)):
            model = server.api("GET", f"{name}?type=notebook&content=1")
            assert model["type"] == "notebook"
            server.api("PUT", name, {"type": "notebook", "format": "json",
                                     "content": model["content"]})
            assert (root / name).read_bytes() == text.encode()
        assert [cell["cell_type"] for cell in server.api(
            "GET", "report.py?type=notebook&content=1")["content"]["cells"]] == [
            "markdown", "code", "code", "code"]
        assert server.api("GET", "report.py?type=file&format=text&content=1")["content"] \
            == SOURCE


def test_install_without_jupyterlab_says_how_to_get_it_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setitem(sys.modules, "jupyterlab", None)  # not found, as if not installed
    with pytest.raises(NotebookError, match="JupyterLab is not installed in this environment"):
        install("user", ["py"])
    assert not (tmp_path / "config").exists() and not (tmp_path / "data").exists()


def test_the_notebooks_benchmark_opens_edits_and_saves_in_this_jupyterlab(
        lab: InstalledJupyterLab, browser: Any) -> None:
    # `filebridge bench notebooks` starts a JupyterLab and a Chromium of its own; here it
    # is handed this module's (its own are the same code, started as these are).
    results = load_benchmark().jupyterlab_round_trip(5_000, repeats=1, lab=lab,
                                                     browser=browser)
    for side in ("py", "ipynb"):
        assert 0 < results[f"jupyterlab_{side}_open_ms"] < results[
            f"jupyterlab_{side}_open_edit_save_ms"]
        assert 0 < results[f"jupyterlab_{side}_save_ms"] < results[
            f"jupyterlab_{side}_open_edit_save_ms"]

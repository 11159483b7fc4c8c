"""rstudioapi's showPrompt and askForPassword answered on the local web page, in headless
Chromium, by a real R worker; and what R is told when no page is there to answer."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from r_support import R_WORKER, needs_r, r_string, run_r
from test_r_parity import needs_rstudioapi
from viewers_support import CHROMIUM, running_host

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_r, needs_rstudioapi,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")]

PROMPTS = r'''
filebridge_connect()
name <- rstudioapi::showPrompt("Your name", "Who is asking?\nSecond line", default = "Ada")
cat("name:", name, "\n")
secret <- rstudioapi::askForPassword("Database password")
cat("secret:", secret, "\n")
cat("cancelled:", is.null(rstudioapi::showPrompt("Again", "Cancel this one")), "\n")
'''


@contextmanager
def r_in_background(code: str, session: Path) -> Iterator[subprocess.Popen[str]]:
    """An Rscript worker running ``code`` while the test drives the page."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["FILEBRIDGE_SESSION"] = str(session)
    process = subprocess.Popen(
        ["Rscript", "--vanilla", "-e", f"source({r_string(R_WORKER)})\n{code}\n"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def finish(process: subprocess.Popen[str]) -> list[str]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out.splitlines()


def test_prompts_are_shown_on_the_page_and_their_answers_return_to_r(
        tmp_path: Path, browser: Any) -> None:
    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        viewers.ui.prompts.page_gone_after = 1.0  # not 5 s: a closed page is noticed sooner
        page = browser.new_page()
        page.goto(viewers.ui.url)
        with r_in_background(PROMPTS, root / "sessions" / "asks") as r:
            dialog = page.get_by_test_id("prompt-dialog")
            field = page.get_by_test_id("prompt-input")
            field.wait_for(timeout=60_000)
            assert page.get_by_test_id("prompt-title").inner_text() == "Your name"
            assert page.get_by_test_id("prompt-message").inner_text() == \
                "Who is asking?\nSecond line"
            assert dialog.evaluate("d => d.open") is True
            assert field.input_value() == "Ada"   # the default is offered
            assert field.get_attribute("type") == "text"
            field.fill("Grace Hopper")
            page.get_by_test_id("prompt-ok").click()

            page.get_by_test_id("prompt-message").filter(has_text="Database password") \
                .wait_for(timeout=30_000)
            assert field.get_attribute("type") == "password"   # typed text is masked
            assert field.input_value() == ""
            field.fill("s3cret!")
            field.press("Enter")

            page.get_by_test_id("prompt-message").filter(has_text="Cancel this one") \
                .wait_for(timeout=30_000)
            page.get_by_test_id("prompt-cancel").click()
            assert finish(r) == ["name: Grace Hopper ", "secret: s3cret! ", "cancelled: TRUE "]
        page.wait_for_function("!document.getElementById('prompt').open")
        page.close()


def prompt_that_fails(root: Path, browser: Any, *, timeout: int, close_page: bool) -> list[str]:
    """What R prints when its prompt, shown on a page, is not answered: left alone until R's
    ``timeout``, or with the page closed while it waits."""
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        viewers.ui.prompts.page_gone_after = 1.0  # not 5 s: a closed page is noticed sooner
        page = browser.new_page()
        page.goto(viewers.ui.url)
        code = (f'filebridge_connect()\noptions(filebridge.prompt_timeout = {timeout})\n'
                'tryCatch(rstudioapi::showPrompt("T", "answer me"),\n'
                '         error = function(e) cat(conditionMessage(e)))\n')
        with r_in_background(code, root / "sessions" / "waits") as r:
            page.get_by_test_id("prompt-dialog").wait_for(timeout=60_000)
            if close_page:
                page.close()
            told = finish(r)
        if not close_page:
            page.wait_for_function("!document.getElementById('prompt').open")
            page.close()
    return told


def test_a_prompt_nobody_answers_times_out_in_r_and_leaves_the_page(
        tmp_path: Path, browser: Any) -> None:
    assert prompt_that_fails(tmp_path / "root", browser, timeout=3, close_page=False) == [
        "rstudioapi action 'show_prompt' failed in filebridge: nobody answered the "
        "prompt on the web page within 3 s [timeout]"]


def test_a_prompt_whose_page_is_closed_fails_in_r_instead_of_waiting_on(
        tmp_path: Path, browser: Any) -> None:
    # noticed at the closed page's long poll's next look (2 s), a second after that poll ended
    assert prompt_that_fails(tmp_path / "root", browser, timeout=110, close_page=True) == [
        "rstudioapi action 'show_prompt' failed in filebridge: the web page was "
        "closed before the prompt was answered [not_available]"]


def test_a_prompt_with_no_page_open_fails_at_once_with_a_clear_message(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root):
        # A long prompt timeout: R would hang for 10 minutes if it waited for an absent page.
        out = run_r('filebridge_connect()\noptions(filebridge.prompt_timeout = 600)\n'
                    'tryCatch(rstudioapi::askForPassword("pw"),\n'
                    '         error = function(e) cat(conditionMessage(e)))\n',
                    session=root / "sessions" / "nopage", timeout=60).stdout
    assert out == ("rstudioapi action 'ask_for_password' failed in filebridge: no web page is "
                   "open to show the prompt: open the address `filebridge serve --ui` printed "
                   "[not_available]")


def test_a_prompt_on_a_host_without_the_page_says_how_to_get_one(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root, ui=False):
        out = run_r('filebridge_connect()\n'
                    'tryCatch(rstudioapi::showPrompt("a", "b"),\n'
                    '         error = function(e) cat(conditionMessage(e)))\n',
                    session=root / "sessions" / "noui", timeout=60).stdout
    assert out == ("rstudioapi action 'show_prompt' is not available in filebridge: no editor "
                   "integration answers it on the host and no web page is open "
                   "(`filebridge serve --ui`)")

"""The R worker's side of vscode-R's features: rstudioapi, help pages and searches, webviews."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from r_support import Recorder, needs_r, r_string, run_r

from filebridge.errors import RemoteError
from filebridge.host import Call, Host

pytestmark = needs_r


def _has_r_package(name: str) -> bool:
    if shutil.which("Rscript") is None:
        return False
    done = subprocess.run(["Rscript", "--vanilla", "-e", f"quit(status = !requireNamespace("
                           f"'{name}', quietly = TRUE))"], capture_output=True, timeout=60)
    return done.returncode == 0


needs_rstudioapi = pytest.mark.skipif(
    not _has_r_package("rstudioapi"),
    reason="the R package rstudioapi is missing: apt-get install -y r-cran-rstudioapi")


def session_dir(host: Host) -> Path:
    return host.root.sessions / "r1"


@needs_rstudioapi
def test_rstudioapi_answers_version_probes_in_r_and_routes_editor_actions_to_the_host(
        host: Host, recorder: Recorder) -> None:
    edits: list[dict[str, Any]] = []

    def editor(call: Call) -> Any:
        action = call.args["action"]
        if action == "active_editor_context":
            return {"id": "doc1", "path": "/src/a.R", "contents": "x <- 1\ny <- 2",
                    "selection": [{"range": {"start": [2, 1], "end": [2, 2]}, "text": "y"}]}
        if action == "insert_or_modify_text":
            edits.append(call.args["args"])
            return {"ok": True}
        if action == "show_prompt":
            return {"value": "typed"}
        raise ValueError(action)

    recorder.record("rstudioapi", action=editor)
    out = run_r(r'''
filebridge_connect()
library(rstudioapi)
ctx <- rstudioapi::getActiveDocumentContext()
cat(rstudioapi::isAvailable(), rstudioapi::isAvailable("1.2"), versionInfo()$mode,
    as.character(getVersion()), "\n")
cat(ctx$path, length(ctx$contents), ctx$selection[[1]]$text,
    ctx$selection[[1]]$range$start[["row"]], "\n")
rstudioapi::insertText(c(1, 1, 1, 3), "z", id = "doc1")
rstudioapi::insertText("at the cursor")
cat(rstudioapi::showPrompt("Name", "Your name?"), "\n")
''', session=session_dir(host)).stdout.splitlines()
    assert out == ["TRUE FALSE filebridge 0 ", "/src/a.R 2 y 2 ", "typed "]
    assert edits[0] == {"query": [{"range": {"start": [1, 1], "end": [1, 3]}, "text": "z"}],
                        "id": "doc1"}
    assert edits[1]["query"] == [{"range": None, "text": "at the cursor"}]


@needs_rstudioapi
def test_rstudioapi_editor_action_without_an_integration_is_a_clear_r_error(
        host: Host) -> None:
    out = run_r(r'''
filebridge_connect()
tryCatch(rstudioapi::getActiveDocumentContext(), error = function(e) cat(conditionMessage(e)))
''', session=session_dir(host)).stdout
    assert out == ("rstudioapi action 'active_editor_context' is not available in filebridge: "
                   "no editor integration answers it on the host")


def test_help_is_a_styled_site_with_links_and_a_search_page(host: Host,
                                                              recorder: Recorder) -> None:
    recorder.record("help", {"shown": True})
    run_r('filebridge_connect()\nprint(help("lm", package = "stats"))\n'
          'print(help.search("linear model", package = "stats"))\n',
          session=session_dir(host))
    recorder.wait_for(lambda: len(recorder.received("help")) == 2, timeout=60)
    page, search = (c.args for c in recorder.received("help"))
    assert page["topic"] == "lm" and page["title"] == "Help: lm {stats}"
    html = Path(page["file"]).read_text()
    assert 'href="R.css"' in html and 'href="../../stats/html/glm.html"' in html
    assert (Path(page["file"]).parent / "R.css").is_file()
    assert page["file_in_session"] == "views/help/library/stats/html/lm.html"
    results = Path(search["file"]).read_text()
    assert 'href="../../library/stats/html/lm.html">stats::lm</a>' in results
    assert Path(page["dir"]) == Path(search["dir"])


def test_browse_url_of_a_local_page_and_a_widget_are_webviews_with_their_titles(
        host: Host, recorder: Recorder, tmp_path: Path) -> None:
    recorder.record("webview", {"shown": True})
    recorder.record("browser", {"shown": True})
    page = tmp_path / "report.html"
    page.write_text("<html><head><title>Quarterly report</title></head><body>hi</body></html>")
    widget = tmp_path / "Rtmp1" / "viewhtml1a2b" / "index.html"
    widget.parent.mkdir(parents=True)
    widget.write_text("<html><head><title>leaflet</title></head></html>")
    run_r(f'filebridge_connect()\nbrowseURL({r_string("file://" + str(page))})\n'
          f'getOption("viewer")({r_string(widget)})\n'
          'browseURL("https://example.org/")\n', session=session_dir(host))
    recorder.wait_for(lambda: len(recorder.received("webview")) == 2
                      and len(recorder.received("browser")) == 1)
    report, shown_widget = (c.args for c in recorder.received("webview"))
    # Pages outside the session folder are copied into it: the host serves nothing else.
    views = session_dir(host) / "views"
    for shown, original in ((report, page), (shown_widget, widget)):
        copied = Path(shown["file"])
        assert views in copied.parents and copied.name == original.name
        assert copied.read_bytes() == original.read_bytes()
        assert shown["file_in_session"] == str(copied.relative_to(session_dir(host)))
    assert report["title"] == "Quarterly report"
    assert shown_widget["title"] == "leaflet"
    assert recorder.received("browser")[0].args["url"] == "https://example.org/"


def test_plot_is_drawn_again_at_the_pane_size_the_host_asks_for(
        host: Host, recorder: Recorder, tmp_path: Path) -> None:
    recorder.record("plot", {"shown": True})
    folder = session_dir(host)
    answers: list[Any] = []
    asked = tmp_path / "asked"

    def resize() -> None:
        try:
            recorder.wait_for(lambda: len(recorder.received("plot")) == 1)
            answers.append(host.command("r1", "plot_size", timeout=20, width=320, height=200))
            try:
                host.command("r1", "plot_size", timeout=20, width=5, height=200)
            except RemoteError as exc:
                answers.append(str(exc))
        finally:
            asked.touch()

    asking = threading.Thread(target=resize)
    asking.start()
    run_r('filebridge_connect()\nplot(1:10)\nbegan <- Sys.time()\n'
          f'while (!file.exists({r_string(asked)}) && Sys.time() - began < 30) '
          'filebridge_serve(seconds = 0.2)\n', session=folder)
    asking.join()
    assert answers[0] == {"number": 2, "width": 320, "height": 200}
    assert "plot_size needs width and height in pixels" in answers[1]
    data = (folder / "plot.png").read_bytes()
    assert int.from_bytes(data[16:20], "big") == 320
    assert int.from_bytes(data[20:24], "big") == 200
    assert recorder.received("plot")[1].args["width"] == 320


def test_table_numbers_are_the_same_with_jsonlites_formatter_and_without() -> None:
    # The worker formats numbers with jsonlite's C formatter where a probe shows it writes as
    # sprintf("%.15g") does; over many values the two must agree, and read back as the number.
    out = run_r('e <- environment(filebridge_view)\n'
                'set.seed(7)\n'
                'x <- c(rnorm(5000) * 10^sample(-20:20, 5000, TRUE), 1/3, 2^60, -0)\n'
                'fast <- e$number_text(x)\n'
                'cat(identical(fast, sprintf("%.15g", x)),\n'
                '    max(abs(as.numeric(fast) - x) / pmax(abs(x), 1e-300)) < 1e-14)').stdout
    assert out == "TRUE TRUE"

"""R sessions set up with vscode-R 2.8's legacy session-watcher files, served by the adapter.

The R side here is written from the documented legacy format (docs/r.md): one request at a time
overwritten into the watcher folder's request.log, a "%.6f" timestamp in request.lock, and the
session's own files in <tempdir>/vscode-R/.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from r_support import Recorder, needs_r

from filebridge.host import Call, Host
from filebridge.host.vscode_r import LegacyWatcher, legacy_variables

pytestmark = needs_r


LEGACY_SESSION = r'''
watcher <- Sys.getenv("VSCODE_WATCHER_DIR")
dir_session <- file.path(tempdir(), "vscode-R")
dir.create(dir_session, showWarnings = FALSE)
response_lock <- file.path(dir_session, "response.lock")
writeLines("", response_lock)
invisible(file.create(file.path(dir_session, "response.log")))
request <- function(command, ...) {
  obj <- list(time = as.numeric(Sys.time()), pid = Sys.getpid(), wd = getwd(),
              command = command, ...)
  jsonlite::write_json(obj, file.path(watcher, "request.log"), auto_unbox = TRUE,
                       force = TRUE, digits = NA)
  cat(sprintf("%.6f", Sys.time()), file = file.path(watcher, "request.lock"))
  Sys.sleep(0.3)  # the slot holds one request: give the watcher time to read it
}
request_response <- function(command, ...) {
  seen <- readLines(response_lock, warn = FALSE)
  request(command, ..., sd = dir_session)
  started <- Sys.time()
  repeat {
    now_lock <- readLines(response_lock, warn = FALSE)
    if (length(now_lock) && !identical(now_lock, seen)) break
    if (difftime(Sys.time(), started, units = "secs") > 5)
      stop("Did not receive a response within 5 seconds")
    Sys.sleep(0.1)
  }
  jsonlite::parse_json(readLines(file.path(dir_session, "response.log"), warn = FALSE)[[1]])
}
request("attach", version = paste(R.version$major, R.version$minor, sep = "."),
        tempdir = tempdir(), info = list(command = "R", version = R.version.string,
                                         start_time = as.numeric(Sys.time())))
jsonlite::write_json(list(globalenv = list(
  x = list(class = "numeric", type = "double", length = 3L, str = " num [1:3] 1 2 3"),
  df = list(class = "data.frame", type = "list", length = 2L,
            str = "'data.frame':\t3 obs. of  2 variables:", names = c("a", "b"), dim = c(3L, 2L))
)), file.path(dir_session, "workspace.json"), auto_unbox = TRUE)
cat(sprintf("%.6f", Sys.time()), file = file.path(dir_session, "workspace.lock"))
png(file.path(dir_session, "plot.png")); plot(1:3); invisible(dev.off())
cat(sprintf("%.6f", Sys.time()), file = file.path(dir_session, "plot.lock"))
table_file <- file.path(dir_session, "df.json")
writeLines('{"columns":[{"headerName":"(row)","field":"x0","type":"textColumn"}],"data":[]}',
           table_file)
request("dataview", source = "table", type = "json", title = "df", file = table_file,
        viewer = "Active")
answer <- request_response("rstudioapi", action = "get_project_path", args = list())
cat(jsonlite::toJSON(answer, auto_unbox = TRUE), "\n", sep = "")
request("detach")
'''


@pytest.fixture
def watcher(host: Host, tmp_path: Path) -> Iterator[LegacyWatcher]:
    adapter = LegacyWatcher(host, tmp_path / "vscode-R-watcher")
    adapter.start()
    try:
        yield adapter
    finally:
        adapter.stop()


def run_legacy_session(watcher: LegacyWatcher) -> str:
    env = {**os.environ, "VSCODE_WATCHER_DIR": str(watcher.watcher_dir)}
    done = subprocess.run(["Rscript", "--vanilla", "-e", LEGACY_SESSION], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_legacy_session_appears_as_an_ordinary_session_with_its_views_variables_and_plot(
        host: Host, recorder: Recorder, watcher: LegacyWatcher) -> None:
    recorder.record("dataview", {"shown": True})
    recorder.record("plot", {"shown": True})
    recorder.record("rstudioapi", action=lambda call: {"path": "/projects/demo",
                                                        "asked": call.args["action"]})
    out = run_legacy_session(watcher)
    assert json.loads(out) == {"path": "/projects/demo", "asked": "get_project_path"}
    (session_id,) = watcher.sessions()
    recorder.wait_for(lambda: "detach" in recorder.requests(session_id))
    info = host.session(session_id)
    assert info.language == "r" and info.status == "detached"
    assert info.info["legacy"]["dialect"] == "vscode-r"
    dataview = recorder.received("dataview")[0].args
    assert dataview["title"] == "df" and dataview["source"] == "table"
    assert Path(dataview["file"]).name == "df.json"
    assert (info.folder / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert recorder.received("plot")[0].args["number"] == 1
    snapshot = json.loads((info.folder / "workspace.json").read_bytes())
    by_name = {v["display_name"]: v for v in snapshot["variables"]}
    assert by_name["df"]["shape"] == [3, 2] and by_name["df"]["kind"] == "table"
    assert by_name["x"]["display_type"] == "numeric [3]"


def test_legacy_rstudioapi_action_nobody_handles_gets_a_prompt_clear_error(
        host: Host, watcher: LegacyWatcher) -> None:
    out = run_legacy_session(watcher)
    error = json.loads(out)["error"]
    assert error["code"] == "unsupported"
    assert "cannot perform rstudioapi action 'get_project_path'" in error["message"]


def test_legacy_workspace_entries_become_variables_with_the_python_fields() -> None:
    legacy = {"globalenv": {
        "flag": {"class": ["logical"], "type": "logical", "length": 1, "str": " logi TRUE"},
        "odd name": {"class": ["list"], "type": "list", "length": 2, "str": "List of 2",
                     "names": ["a", "b"], "size": 448}}}
    snapshot = legacy_variables(legacy, 7, 1234)
    assert snapshot["version"] == 7 and snapshot["length"] == 2
    flag, odd = snapshot["variables"]
    assert flag["kind"] == "boolean" and flag["display_value"] == "logi TRUE"
    assert odd["evaluate_name"] == "`odd name`" and odd["size"] == 448
    assert odd["has_children"] and odd["children_kind"] == "named"


def test_rstudioapi_handler_sees_the_session_it_came_from(host: Host, recorder: Recorder,
                                                          watcher: LegacyWatcher) -> None:
    seen: list[Call] = []
    host.register("rstudioapi", lambda call: seen.append(call) or {"ok": True})
    run_legacy_session(watcher)
    assert seen[0].session.id == watcher.sessions()[0]
    assert seen[0].request.pid == seen[0].session.pid

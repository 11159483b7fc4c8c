"""R sessions set up with vscode-R 2.8's legacy session-watcher files, served by the adapter.

The R side is tests/legacy_vscode_r.R, which behaves on the wire as the released session code
did: `time` to the second, locks read with readLines(), 0.1 s looks and a 5 s limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from r_support import Recorder, needs_r, r_string

from filebridge.host import Call, Host
from filebridge.host.vscode_r.watcher import LegacyWatcher, legacy_variables

pytestmark = needs_r


LEGACY_CLIENT = Path(__file__).with_name("legacy_vscode_r.R")

LEGACY_SESSION = r'''
options(warn = 2)
legacy$attach()
x <- c(1, 2, 3)
df <- data.frame(a = 1:3, b = c("u", "v", "w"))
legacy$publish_workspace(c("x", "df"))
legacy$publish_plot()
legacy$view(df)
# One request slot: a request written over the previous one before the adapter has read it
# loses that one (the design's known loss). Requests from a person's commands come apart.
Sys.sleep(0.3)
answer <- legacy$rstudioapi("get_project_path")
cat(jsonlite::toJSON(answer, auto_unbox = TRUE), "\n", sep = "")
legacy$detach()
'''


def legacy_script(code: str) -> str:
    return f"source({r_string(LEGACY_CLIENT)})\n{code}\n"


def legacy_env(watcher: LegacyWatcher) -> dict[str, str]:
    return {**os.environ, "VSCODE_WATCHER_DIR": str(watcher.watcher_dir)}


@pytest.fixture
def watcher(host: Host, tmp_path: Path) -> Iterator[LegacyWatcher]:
    adapter = LegacyWatcher(host, tmp_path / "vscode-R-watcher")
    adapter.start()
    try:
        yield adapter
    finally:
        adapter.stop()


def run_legacy_session(watcher: LegacyWatcher) -> str:
    done = subprocess.run(["Rscript", "--vanilla", "-e", legacy_script(LEGACY_SESSION)],
                          env=legacy_env(watcher), capture_output=True, text=True, timeout=60)
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
    assert Path(dataview["file"]).suffix == ".json"
    # copied out of R's temporary folder into the session, where the host may read it
    assert dataview["file_in_session"].startswith("views/legacy-")
    assert (info.folder / dataview["file_in_session"]).read_bytes()[:1] == b"{"
    assert (info.folder / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert recorder.received("plot")[0].args["number"] == 1
    snapshot = json.loads((info.folder / "workspace.json").read_bytes())
    by_name = {v["display_name"]: v for v in snapshot["variables"]}
    assert by_name["df"]["shape"] == [3, 2] and by_name["df"]["kind"] == "table"
    assert by_name["x"]["display_type"] == "numeric [3]"


LEGACY_VIEW = r'''
options(warn = 2)
legacy$attach()
set.seed(3)
df <- data.frame(x = c(round(rnorm(200), 2), NA, Inf),
                 s = c(sample(c("b", "a", "C"), 201, TRUE), NA),
                 d = as.Date("2024-01-01") + 0:201, ok = c(rep(c(TRUE, FALSE), 100), NA, TRUE),
                 stringsAsFactors = FALSE)
legacy$view(df)
Sys.sleep(0.5)
cat(jsonlite::toJSON(list(desc = order(df$x, decreasing = TRUE, method = "radix"),
                          a = which(df$s %in% "a"))), "\n", sep = "")
legacy$detach()
'''


def test_legacy_view_becomes_a_snapshot_the_grid_sorts_filters_and_profiles(
        host: Host, watcher: LegacyWatcher) -> None:
    from filebridge.host.viewers.store import ViewerStore, install_viewer_handlers
    from filebridge.host.viewers.table_service import TableService

    store = ViewerStore()
    install_viewer_handlers(host, store)
    service = TableService(host, store)
    done = subprocess.run(["Rscript", "--vanilla", "-e", legacy_script(LEGACY_VIEW)],
                          env=legacy_env(watcher), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout.strip().splitlines()[-1])
    (session_id,) = watcher.sessions()
    deadline = time.monotonic() + 30
    while not store.views(session_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    (view,) = store.views(session_id)
    schema = service.answer(session_id, view.id, "schema", {})
    assert [(c["name"], c["type"]) for c in schema["columns"]] == [
        ("(row)", "integer"), ("x", "float"), ("s", "string"), ("d", "date"), ("ok", "boolean")]
    assert schema["live"] is False and schema["rows"] == 202
    assert schema["columns"][0]["role"] == "label"
    desc = service.answer(session_id, view.id, "rows", {
        "count": 300, "columns": [0, 1], "sort": [{"column": 1, "descending": True}]})
    assert desc["source"] == "snapshot"
    assert desc["rows"] == [k - 1 for k in expected["desc"]]
    assert desc["cells"][1][0] == "Inf" and desc["cells"][1][-1] is None
    only_a = service.answer(session_id, view.id, "rows", {
        "count": 300, "filters": [{"column": 2, "op": "=", "value": "a"}]})
    assert only_a["rows"] == [k - 1 for k in expected["a"]]
    profile = service.answer(session_id, view.id, "profile", {"column": 1})
    assert (profile["na"], profile["inf"]) == (1, 1)
    days = service.answer(session_id, view.id, "rows", {"start": 201, "count": 1,
                                                        "columns": [3, 4]})
    assert days["cells"] == [["2024-07-20"], [True]]


def test_legacy_project_path_without_an_editor_is_the_working_directory(
        host: Host, watcher: LegacyWatcher, tmp_path: Path) -> None:
    out = run_legacy_session(watcher)
    assert json.loads(out) == {"path": os.getcwd()}


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


def test_legacy_identical_calls_within_a_second_are_all_answered_without_warnings(
        host: Host, watcher: LegacyWatcher) -> None:
    script = legacy_script(r'''
options(warn = 2)
legacy$attach()
paths <- vapply(1:25, function(i) legacy$rstudioapi("get_project_path")$path, "")
cat(length(unique(paths)), paths[[1]], "\n")
''')
    done = subprocess.run(["Rscript", "--vanilla", "-e", script], env=legacy_env(watcher),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", os.getcwd()]


def test_legacy_action_needing_an_editor_stops_r_with_a_message_naming_it(
        host: Host, watcher: LegacyWatcher) -> None:
    script = legacy_script(r'''
legacy$attach()
tryCatch(legacy$rstudioapi("active_editor_context"),
         error = function(e) cat(conditionMessage(e), "\n"))
''')
    done = subprocess.run(["Rscript", "--vanilla", "-e", script], env=legacy_env(watcher),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"active_editor_context" not available in filebridge' in done.stdout


def _start_r(watcher_dir: Path, code: str) -> subprocess.Popen[str]:
    env = {**os.environ, "VSCODE_WATCHER_DIR": str(watcher_dir)}
    return subprocess.Popen(["Rscript", "--vanilla", "-e", legacy_script(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WAIT_FOR = r'''
wait_for <- function(name) {
  began <- Sys.time()
  while (!file.exists(file.path(Sys.getenv("VSCODE_WATCHER_DIR"), name))) {
    if (Sys.time() - began > 30) stop("nobody wrote ", name)
    Sys.sleep(0.05)
  }
}
'''


def test_r_started_before_the_adapter_is_served_without_an_attach(
        host: Host, recorder: Recorder, tmp_path: Path) -> None:
    recorder.record("dataview", {"shown": True})
    watcher_dir = tmp_path / "watcher"
    watcher_dir.mkdir()
    r = _start_r(watcher_dir, WAIT_FOR + r'''
legacy$attach()
df <- data.frame(a = 1:2)
legacy$publish_workspace("df")
cat("ready\n"); flush(stdout())
wait_for("go")
legacy$view(df)
wait_for("done")
''')
    assert r.stdout is not None
    assert r.stdout.readline() == "ready\n"
    adapter = LegacyWatcher(host, watcher_dir)
    adapter.start()
    try:
        (watcher_dir / "go").touch()
        recorder.wait_for(lambda: bool(recorder.received("dataview")))
        (session_id,) = adapter.sessions()
        assert recorder.received("dataview")[0].session.id == session_id
        assert host.session(session_id).pid == r.pid
    finally:
        (watcher_dir / "done").touch()
        adapter.stop()
        r.communicate(timeout=30)


def test_a_restarted_adapter_takes_over_the_legacy_sessions_it_served(
        host: Host, recorder: Recorder, tmp_path: Path) -> None:
    recorder.record("dataview", {"shown": True})
    watcher_dir = tmp_path / "watcher"
    watcher_dir.mkdir()
    first = LegacyWatcher(host, watcher_dir)
    first.start()
    r = _start_r(watcher_dir, WAIT_FOR + r'''
legacy$attach()
cat("ready\n"); flush(stdout())
wait_for("go")
legacy$send("webview", file = "nothing.html", title = "a")  # a newer request in the slot
wait_for("go2")
legacy$view(data.frame(a = 1:2))
wait_for("done")
''')
    second = None
    try:
        assert r.stdout is not None and r.stdout.readline() == "ready\n"
        recorder.wait_for(lambda: len(first.sessions()) == 1)
        served = first.sessions()
        first.stop()
        (watcher_dir / "go").touch()
        time.sleep(0.5)
        second = LegacyWatcher(host, watcher_dir)
        second.start()
        assert second.sessions() == served
        (watcher_dir / "go2").touch()
        recorder.wait_for(lambda: bool(recorder.received("dataview")))
        assert recorder.received("dataview")[0].session.id == served[0]
    finally:
        (watcher_dir / "done").touch()
        if second is not None:
            second.stop()
        r.communicate(timeout=30)


def test_legacy_help_request_is_rendered_with_its_linked_pages_and_style(
        host: Host, recorder: Recorder, watcher: LegacyWatcher) -> None:
    recorder.record("help", {"shown": True})
    script = legacy_script('legacy$attach()\nlegacy$help_page("lm", "stats")\n')
    done = subprocess.run(["Rscript", "--vanilla", "-e", script], env=legacy_env(watcher),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    recorder.wait_for(lambda: bool(recorder.received("help")), timeout=60)
    args = recorder.received("help")[0].args
    page = Path(args["file"])
    assert args["topic"] == "lm" and args["package"] == "stats"
    html = page.read_text()
    assert "Fitting Linear Models" in html and 'href="R.css"' in html
    assert (page.parent / "R.css").is_file()
    assert 'href="../../stats/html/glm.html"' in html
    deadline = time.monotonic() + 60
    while not (page.parent / "glm.html").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (page.parent / "glm.html").is_file()
    assert "cdn" not in html.lower()


def test_a_help_request_read_twice_from_the_slot_renders_the_page_both_times(
        host: Host, recorder: Recorder, watcher: LegacyWatcher, tmp_path: Path) -> None:
    # An adapter that looks late finds the slot already rewritten by R's next request: it reads
    # that request at the earlier lock and again at its own, so one page is rendered twice at
    # once (R's next help request, or a busy machine, makes this likely).
    recorder.record("help", {"shown": True})
    request = {"time": time.time(), "pid": os.getpid(), "wd": str(tmp_path),
               "command": "help", "requestPath": "/library/stats/html/lm.html", "viewer": "Two"}
    watcher.handle(dict(request))
    watcher.handle(dict(request))
    recorder.wait_for(lambda: len(recorder.received("help")) == 2, timeout=60)
    for call in recorder.received("help"):
        assert "file" in call.args, call.args  # without "file": R could not render it
        assert "Fitting Linear Models" in Path(call.args["file"]).read_text()


def test_legacy_variables_expand_from_workspace_json(
        host: Host, watcher: LegacyWatcher) -> None:
    run_legacy_session(watcher)
    (session_id,) = watcher.sessions()
    # the session ended; a new one keeps the mirror open for the host's question
    script = legacy_script(r'''
legacy$attach()
df <- data.frame(a = 1:3, b = c("u", "v", "w"))
legacy$publish_workspace("df")
Sys.sleep(20)
''')
    r = subprocess.Popen(["Rscript", "--vanilla", "-e", script], env=legacy_env(watcher),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ids = [s for s in watcher.sessions() if s != session_id]
            if ids and (host.root.session(ids[0]).workspace_json).exists():
                break
            time.sleep(0.1)
        page = host.command(ids[0], "inspect", timeout=10, path=["df"], start=0, count=10)
        assert page["children_kind"] == "named"
        assert [c["display_name"] for c in page["children"]] == ["a", "b"]
        assert page["children"][1]["evaluate_name"] == "df$b"
    finally:
        r.kill()
        r.communicate()


def test_a_session_adopted_before_its_folder_is_known_finds_it_from_a_later_request(
        host: Host, recorder: Recorder, watcher: LegacyWatcher) -> None:
    recorder.record("help", {"shown": True})
    script = legacy_script(r'''
legacy$help_page("mean", "base")   # no attach, and nothing that names R's folder
Sys.sleep(1)
legacy$rstudioapi("get_project_path")   # names it: sd
x <- 1:3
legacy$publish_workspace("x")
Sys.sleep(1)
''')
    done = subprocess.run(["Rscript", "--vanilla", "-e", script], env=legacy_env(watcher),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (session_id,) = watcher.sessions()
    snapshot = json.loads((host.root.session(session_id).workspace_json).read_bytes())
    assert [v["display_name"] for v in snapshot["variables"]] == ["x"]
    recorder.wait_for(lambda: bool(recorder.received("help")), timeout=60)
    assert recorder.received("help")[0].args["topic"] == "mean"


def test_a_view_read_twice_from_the_slot_is_shown_once(
        host: Host, watcher: LegacyWatcher, tmp_path: Path) -> None:
    # As with help above: a late look reads R's View() request at an earlier lock and again at
    # its own. Each View() writes its own temporary file, so a second request naming the same
    # file is the same View().
    from filebridge.host.viewers.store import ViewerStore, install_viewer_handlers

    store = ViewerStore()
    install_viewer_handlers(host, store)
    r_temp = tmp_path / "RtmpView"
    (r_temp / "vscode-R").mkdir(parents=True)
    table = {"columns": [{"headerName": "x", "field": "x", "type": "numericColumn"}],
             "data": [{"x": 1}, {"x": 2}]}

    def view_request(name: str) -> dict[str, object]:
        file = r_temp / f"file{name}.json"
        file.write_text(json.dumps(table))
        return {"time": time.time(), "pid": os.getpid(), "wd": str(tmp_path),
                "command": "dataview", "source": "table", "type": "json", "title": name,
                "file": str(file), "viewer": "Two"}

    first = view_request("first")
    watcher.handle(dict(first))
    watcher.handle(dict(first))
    watcher.handle(view_request("second"))
    (session_id,) = watcher.sessions()
    deadline = time.monotonic() + 30
    while len(store.views(session_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a duplicate would be shown by now
    assert sorted(view.title for view in store.views(session_id)) == ["first", "second"]

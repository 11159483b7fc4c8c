"""The R worker (session_templates/r/filebridge.R) against a real host, through real Rscript."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from r_support import Recorder, needs_r, r_string, run_r

from filebridge.errors import RemoteError
from filebridge.host import Call, Host
from filebridge.wire.logs import AppendLog
from filebridge.wire.messages import decode_request, new_request

pytestmark = needs_r


# The worker snapshots after every top-level call only while a viewer is subscribed; these
# scripts read workspace.json themselves, as a tool without a subscription would.
EVERY_CALL = "options(filebridge.variables_require_viewer = FALSE)\n"


def session_dir(host: Host, name: str = "r1") -> Path:
    return host.root.sessions / name


def test_r_worker_attaches_with_its_identity_and_private_files(host: Host,
                                                               recorder: Recorder) -> None:
    folder = session_dir(host)
    run_r("info <- filebridge_connect(); cat(info$id)", session=folder)
    recorder.wait_for(lambda: "detach" in recorder.requests("r1"))
    info = host.session("r1")
    assert info.language == "r"
    assert info.status == "detached"
    attach = next(e.request for e in recorder.events
                  if e.kind == "request" and e.request and e.request.command == "attach")
    assert attach.args["language"] == "r"
    assert attach.args["versions"]["r"].count(".") == 2
    assert Path(attach.args["tempdir"]).name.startswith("Rtmp")
    assert attach.pid == info.pid
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("session.json", "request.log", "request.lock", "heartbeat"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    token = json.loads((folder / "session.json").read_bytes())["token"]
    assert len(token) == 32


def test_r_synchronous_call_returns_the_hosts_answer_to_that_request(host: Host) -> None:
    out = run_r('filebridge_connect()\n'
                'r <- filebridge_call("echo", text = "h\\u00e9\\n\\"q\\"", n = 3L, v = c(1.5, 2))\n'
                'long <- strrep("\\u00e9x", 1e5)\n'  # a padded request line, a long answer
                'back <- filebridge_call("echo", text = long)$text\n'
                'cat(r$text, r$n, unlist(r$v), identical(back, long), sep = "|")',
                session=session_dir(host)).stdout
    assert out == 'hé\n"q"|3|1.5|2|TRUE'


def test_r_call_arguments_of_every_shape_reach_the_host_exactly(host: Host,
                                                                recorder: Recorder) -> None:
    recorder.record("args", {"ok": True})
    run_r('filebridge_connect()\n'
          'filebridge_call("args", x = 1, text = "hello")\n'
          'filebridge_call("args", x = 2, text = "again")\n'  # the remembered format
          'do.call(filebridge_call, c("args", setNames(list("%d %s", "\\u00e9\\t"),\n'
          '                                        c("100%s", "cl\\u00e9"))))\n'
          'filebridge_call("args", n = NA, big = Inf, yes = TRUE, no = NA_character_)\n'
          'filebridge_call("args", a = 1L, b = 2, c = 3, d = 4, e = 5)\n'
          'filebridge_call("args", f = factor("lvl"), v = c(1, 2), l = list(k = "v"), z = NULL)\n'
          'filebridge_call("args", x = 3, text = "back")\n'
          'filebridge_call("args")\n'
          'filebridge_call("args", latin1 = iconv("caf\\u00e9", "UTF-8", "latin1"),\n'
          '                control = "a\\001\\037b", slash = "</x>")',
          session=session_dir(host))
    assert [call.args for call in recorder.received("args")] == [
        {"x": 1, "text": "hello"},
        {"x": 2, "text": "again"},
        {"100%s": "%d %s", "clé": "é\t"},
        {"n": None, "big": None, "yes": True, "no": None},
        {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5},
        {"f": "lvl", "v": [1, 2], "l": {"k": "v"}, "z": None},
        {"x": 3, "text": "back"},
        {},
        {"latin1": "café", "control": "a\x01\x1fb", "slash": "</x>"},
    ]


def test_r_strings_escaped_without_jsonlites_c_code_read_back_the_same() -> None:
    # Where jsonlite lacks its C escaping the worker escapes in R: every control character,
    # quotes, backslashes and non-ASCII text must come back from a JSON parser unchanged.
    out = run_r('e <- environment(filebridge_call)\n'
                'x <- c(vapply(1:31, intToUtf8, ""), "\\"", "\\\\", "caf\\u00e9 \\u4e2d", "")\n'
                'back <- vapply(e$escape_in_r(x), function(j) jsonlite::parse_json(j), "")\n'
                'cat(identical(unname(back), x), length(x))').stdout
    assert out == "TRUE 35"


def test_r_forked_child_numbers_its_own_requests_and_gets_its_own_answers(
        host: Host, recorder: Recorder) -> None:
    recorder.record("who", action=lambda call: call.args["who"])
    out = run_r('filebridge_connect()\n'
                'before <- filebridge_call("who", who = "parent")\n'
                'job <- parallel::mcparallel(filebridge_call("who", who = "child"))\n'
                'child <- parallel::mccollect(job)[[1]]\n'
                'after <- filebridge_call("who", who = "parent again")\n'
                'cat(before, child, after, sep = "|")', session=session_dir(host)).stdout
    assert out == "parent|child|parent again"
    parent, child, again = (call.request for call in recorder.received("who"))
    assert parent.pid == again.pid != child.pid
    assert parent.id[:24] == again.id[:24] != child.id[:24]
    assert (parent.seq, child.seq, again.seq) == (2, 1, 3)  # 1 was the parent's attach


def test_r_skips_a_broken_line_in_the_answer_log_that_is_not_its_answer(host: Host) -> None:
    # What a host killed mid-answer leaves once its successor has ended the line.
    out = run_r('filebridge_connect()\n'
                'cat(\'{"v":1,"id":"gone0000","ok":tr\\n\',\n'
                '    file = file.path(filebridge_session(), "response.log"), append = TRUE)\n'
                'cat(filebridge_call("echo", text = "after it")$text)',
                session=session_dir(host)).stdout
    assert out == "after it"


def test_r_error_answer_becomes_an_r_error_with_the_hosts_message(host: Host) -> None:
    def refuse(call: Call) -> None:
        raise RemoteError("refused", "not today")

    host.register("grumpy", refuse)
    out = run_r('filebridge_connect()\n'
                'e <- tryCatch(filebridge_call("grumpy"), error = function(e) e)\n'
                'cat(class(e)[1], e$code, conditionMessage(e), sep = "|")\n'
                'e <- tryCatch(filebridge_call("nobody_handles_this"), error = function(e) e)\n'
                'cat("", class(e)[1], e$code, sep = "|")',
                session=session_dir(host)).stdout
    assert out == ("filebridge_remote_error|refused|not today [refused]"
                   "|filebridge_no_handler|no_handler")


def test_r_call_times_out_with_a_clear_error_and_ignores_the_late_answer(host: Host) -> None:
    # answered a second after R gave up on it, before R's next call (which waits behind it)
    host.register("slow", lambda call: time.sleep(1.0) or {"late": True})
    out = run_r('filebridge_connect()\n'
                'e <- tryCatch(filebridge_call("slow", .timeout = 0.3), error = function(e) e)\n'
                'cat(class(e)[1], conditionMessage(e), sep = "|")\n'
                'cat("\\n", filebridge_call("echo", x = "next")$x, sep = "")',
                session=session_dir(host), timeout=60).stdout
    first, second = out.split("\n")
    assert first.startswith("filebridge_timeout|no answer to 'slow' (request ")
    assert f"the host (pid {os.getpid()}) is running but did not answer in time" in first
    assert second == "next"


def test_r_plot_is_published_as_plot_png_with_its_doorbell(host: Host,
                                                            recorder: Recorder) -> None:
    recorder.record("plot", {"shown": True})
    folder = session_dir(host)
    run_r('filebridge_connect()\nplot(1:10, main = "ten")\nx <- 1\nhist(rnorm(50))',
          session=folder)
    recorder.wait_for(lambda: len(recorder.received("plot")) == 2)
    numbers = [c.args["number"] for c in recorder.received("plot")]
    assert numbers == [1, 2]  # `x <- 1` drew nothing, so it published nothing
    assert (folder / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "plot.lock").read_bytes() == b"%020d" % 2


def test_r_viewer_option_sends_a_webview_and_browse_url_a_browser(host: Host,
                                                                  recorder: Recorder,
                                                                  tmp_path: Path) -> None:
    recorder.record("webview", {"shown": True})
    recorder.record("browser", {"shown": True})
    page = tmp_path / "widget" / "index.html"
    page.parent.mkdir()
    page.write_text("<html><body>hi</body></html>")
    run_r(f'filebridge_connect()\ngetOption("viewer")({r_string(page)})\n'
          'utils::browseURL("https://example.org/docs")', session=session_dir(host))
    recorder.wait_for(lambda: recorder.received("webview") and recorder.received("browser"))
    shown = recorder.received("webview")[0].args
    copied = Path(shown["file"])  # copied under the session's views/, with its folder
    assert session_dir(host) / "views" in copied.parents
    assert copied.read_bytes() == page.read_bytes()
    assert shown["dir_in_session"] == str(copied.parent.relative_to(session_dir(host)))
    assert recorder.received("browser")[0].args["url"] == "https://example.org/docs"


def test_r_help_page_is_rendered_to_html_and_sent(host: Host, recorder: Recorder) -> None:
    recorder.record("help", {"shown": True})
    run_r('filebridge_connect()\nhelp("nchar")', session=session_dir(host))
    recorder.wait_for(lambda: bool(recorder.received("help")))
    args = recorder.received("help")[0].args
    assert args["topic"] == "nchar" and args["package"] == "base"
    assert "Count the Number of Characters" in Path(args["file"]).read_text()


def test_r_variables_snapshot_has_the_python_workers_fields(host: Host) -> None:
    folder = session_dir(host)
    run_r(EVERY_CALL + 'filebridge_connect()\n'
          'n <- 42\nwords <- c("a", "b")\ndf <- data.frame(a = 1:3)\n'
          'nested <- list(x = 1, y = list(z = 2))\nf <- function(a, b = 2) a + b\n'
          'makeActiveBinding("live", function() stop("must not run"), globalenv())\n'
          'big <- seq_len(1e6)\nrm(words)', session=folder)
    snapshot = json.loads((folder / "workspace.json").read_bytes())
    assert snapshot["format"] == 1 and snapshot["language"] == "r"
    assert snapshot["removed"] == ["words"]
    by_name = {v["display_name"]: v for v in snapshot["variables"]}
    assert set(by_name) == {"n", "df", "nested", "f", "live", "big"}
    python_fields = {"access_key", "display_name", "display_value", "display_type", "type_info",
                     "kind", "length", "shape", "size", "has_children", "children_kind",
                     "named_children", "indexed_children", "has_viewer", "is_truncated",
                     "not_described", "updated_time", "evaluate_name"}
    for variable in by_name.values():
        assert set(variable) == python_fields
    assert by_name["n"]["kind"] == "number" and by_name["n"]["display_value"] == "42"
    assert by_name["df"]["kind"] == "table" and by_name["df"]["shape"] == [3, 1]
    assert by_name["nested"]["has_children"] and by_name["nested"]["children_kind"] == "named"
    assert by_name["f"]["kind"] == "function"
    assert by_name["live"]["kind"] == "lazy"  # the active binding was not run
    assert by_name["big"]["is_truncated"] and by_name["big"]["length"] == 1_000_000
    assert int((folder / "workspace.lock").read_bytes()) == snapshot["version"]


def test_r_first_snapshot_lists_what_the_session_held_before_connecting(host: Host) -> None:
    folder = session_dir(host)
    run_r('options(filebridge.variables = FALSE)\nearlier <- 1:3\nalso <- "x"\n'
          'filebridge_connect()\nfilebridge_publish_variables()', session=folder)
    snapshot = json.loads((folder / "workspace.json").read_bytes())
    assert snapshot["version"] == 1
    assert snapshot["assigned"] == ["also", "earlier"]
    assert [v["display_value"] for v in snapshot["variables"]] == ["x", "1 2 3"]


def test_r_kept_descriptions_follow_changes_made_in_place(host: Host) -> None:
    folder = session_dir(host)
    run_r(EVERY_CALL + 'filebridge_connect()\n'
          'v <- c(1, 2, 3)\nv[1] <- 10\n'  # R would change v in place if nobody else held it
          'l <- list(a = 1)\nl$b <- 2\nnames(l) <- NULL\n'
          'f <- function(a) a\nf <- function(a, b) a\n'
          'untouched <- "same"', session=folder)
    snapshot = json.loads((folder / "workspace.json").read_bytes())
    by_name = {v["display_name"]: v for v in snapshot["variables"]}
    assert by_name["v"]["display_value"] == "10  2  3"
    assert by_name["l"]["length"] == 2 and by_name["l"]["children_kind"] == "indexed"
    assert by_name["f"]["display_value"] == "function (a, b) "
    assert snapshot["assigned"] == ["untouched"]  # the others were published by earlier calls


# Under heavy load the snapshot sometimes still holds a reference when the change comes (seen
# before and after this test's last change): run again rather than hide it.
@pytest.mark.flaky(reruns=2)
def test_r_snapshot_leaves_values_unshared_so_the_next_change_is_not_a_copy(host: Host) -> None:
    # R copies a value at a change when something else still refers to it
    out = run_r(EVERY_CALL + 'filebridge_connect()\n'
                'big <- numeric(1e7)\nwrapped <- list(inner = numeric(1e7))\n'
                'before <- c(.Internal(address(big)), .Internal(address(wrapped$inner)))\n'
                'big[1] <- 1\nwrapped$inner[1] <- 1\n'
                'after <- c(.Internal(address(big)), .Internal(address(wrapped$inner)))\n'
                'cat(mapply(identical, before, after))', session=session_dir(host)).stdout
    assert out == "TRUE TRUE"


def test_r_value_whose_description_fails_is_listed_with_the_error(host: Host) -> None:
    folder = session_dir(host)
    run_r(EVERY_CALL + 'filebridge_connect()\n'
          'str.boom <- function(object, ...) stop("cannot show this")\n'
          'odd <- structure(list(), class = "boom")\nfine <- 1', session=folder)
    snapshot = json.loads((folder / "workspace.json").read_bytes())
    by_name = {v["display_name"]: v for v in snapshot["variables"]}
    assert by_name["odd"]["display_value"] == "<error: cannot show this>"
    assert by_name["fine"]["display_value"] == "1"


def test_r_snapshot_past_its_time_budget_lists_the_rest_and_describes_them_later(
        host: Host) -> None:
    folder = session_dir(host)
    first = folder / "first.json"
    run_r(EVERY_CALL + 'filebridge_connect()\noptions(filebridge.variables_budget_ms = 0)\n'
          'local(for (n in c("a", "b", "c")) assign(n, 1:3, envir = globalenv()))\n'
          f'invisible(file.copy(file.path(filebridge_session(), "workspace.json"), '
          f'{r_string(str(first))}))\n'
          'options(filebridge.variables_budget_ms = 100)\nd <- 4', session=folder)
    early = json.loads(first.read_bytes())
    assert early["unevaluated"] == ["b", "c"]  # describing "a" used up a budget of 0
    by_name = {v["display_name"]: v for v in early["variables"]}
    assert by_name["a"]["display_value"] == "1 2 3"
    assert by_name["b"]["display_type"] == "integer" and by_name["b"]["is_truncated"]
    later = json.loads((folder / "workspace.json").read_bytes())
    assert later["unevaluated"] == []
    assert {v["display_name"]: v["display_value"] for v in later["variables"]} == {
        "a": "1 2 3", "b": "1 2 3", "c": "1 2 3", "d": "4"}


def test_r_variables_never_force_a_promise_but_show_a_forced_ones_value(host: Host,
                                                                          tmp_path: Path) -> None:
    folder = session_dir(host)
    forced_marks = tmp_path / "forced"
    forced_marks.mkdir()

    def promise(name: str, value: str, env: str = "globalenv()") -> str:
        mark = r_string(str(forced_marks / name))
        return (f'delayedAssign("{name}", {{ file.create({mark}); {value} }}, '
                f'assign.env = {env})\n')

    run_r(EVERY_CALL + 'filebridge_connect()\n'
          + promise("waiting", "1")
          # a promise whose environment is a function's frame, holding a large local
          + 'local({ big_local <- numeric(1e6); '
          + promise("closed_over", "length(big_local)").strip() + ' })\n'
          + promise("used", "rnorm(2e6)") + 'invisible(length(used))\n'
          + 'cfg <- new.env()\n' + promise("inner", "4", env="cfg")
          # a cached object loaded lazily, as knitr's cache does
          + 'cache <- new.env()\ncache$cached <- 1:10\n'
          + f'db <- {r_string(str(tmp_path / "cache"))}\n'
          + 'tools:::makeLazyLoadDB(cache, db)\nlazyLoad(db, envir = globalenv())\n',
          session=folder)
    assert sorted(p.name for p in forced_marks.iterdir()) == ["used"]
    snapshot = json.loads((folder / "workspace.json").read_bytes())
    by_name = {v["display_name"]: v for v in snapshot["variables"]}
    for name in ("waiting", "closed_over", "cached"):
        assert by_name[name]["kind"] == "lazy", name
        assert by_name[name]["display_value"] == "<promise: not evaluated>"
    assert by_name["used"]["kind"] == "collection" and by_name["used"]["length"] == 2_000_000
    assert by_name["cfg"]["has_children"]


def test_r_forced_promise_of_a_compact_sequence_is_not_expanded_to_be_looked_at(
        host: Host) -> None:
    out = run_r(EVERY_CALL + 'filebridge_connect()\n'
                'delayedAssign("numbers", 1:5e8)\ninvisible(length(numbers))\n'
                'invisible(gc(reset = TRUE))\n'  # the snapshot after this call reads `numbers`
                'cat(gc()[2, 6])', session=session_dir(host)).stdout
    assert float(out) < 200  # MB at most in use since the reset; expanded, 1:5e8 takes 2000
    snapshot = json.loads((session_dir(host) / "workspace.json").read_bytes())
    numbers = next(v for v in snapshot["variables"] if v["display_name"] == "numbers")
    assert numbers["length"] == 500_000_000


def asked_while_r_serves(host: Host, setup: str,
                         asks: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run R (``setup``, then connected to session r1 and serving the host's requests) while
    ``asks()`` sends requests from a thread; R stops once it returned. What it returned."""
    results: dict[str, object] = {}

    def ask() -> None:
        host.wait_for_session("r1", timeout=30)
        try:
            results.update(asks())
        finally:
            host.command("r1", "stop_serving", timeout=30)

    asker = threading.Thread(target=ask)
    asker.start()
    run_r(setup + '\nstopped <- FALSE\n'
          'filebridge_on_command("stop_serving", function(args) { stopped <<- TRUE; list() })\n'
          'filebridge_connect()\n'
          'deadline <- Sys.time() + 50\n'
          'while (!stopped && Sys.time() < deadline) filebridge_serve(0.1)',
          session=session_dir(host))
    asker.join()
    return results


def test_r_inspect_of_an_environment_leaves_its_promises_unforced(host: Host,
                                                                  tmp_path: Path) -> None:
    mark = tmp_path / "inner-forced"
    answers = asked_while_r_serves(
        host, 'cfg <- new.env()\ncfg$plain <- 3\n'
              f'delayedAssign("inner", file.create({r_string(str(mark))}), assign.env = cfg)',
        lambda: {"inspect": host.command("r1", "inspect", timeout=30, path=["cfg"])})
    assert not mark.exists()
    inspect = answers["inspect"]
    assert isinstance(inspect, dict)
    children = {c["display_name"]: c for c in inspect["children"]}
    assert children["inner"]["kind"] == "lazy"
    assert children["plain"]["display_value"] == "3"


def test_r_reads_a_command_the_host_sends_the_moment_the_session_appears(host: Host) -> None:
    # R made slow where a loaded machine makes it slow: each file.size() takes 0.3 s. A worker
    # that finds where the command log ends after writing session.json misses a command the
    # host appended in between.
    answers = asked_while_r_serves(
        host, 'trace("file.size", quote(Sys.sleep(0.3)), print = FALSE)',
        lambda: {"ping": host.command("r1", "ping", timeout=10)})
    assert isinstance(answers.get("ping"), dict) and "pid" in answers["ping"], answers


def test_r_worker_answers_host_requests_while_it_serves(host: Host) -> None:
    results = asked_while_r_serves(
        host, 'cfg <- list(alpha = 1, beta = "two", gamma = 3)',
        lambda: {"ping": host.command("r1", "ping", timeout=20),
                 "inspect": host.command("r1", "inspect", timeout=20, path=["cfg"], start=1,
                                         count=1)})
    assert isinstance(results["ping"], dict)
    inspect = results["inspect"]
    assert isinstance(inspect, dict) and inspect["length"] == 3
    assert [c["access_key"] for c in inspect["children"]] == ['"beta"']
    assert inspect["children"][0]["display_value"] == "two"


def test_python_and_r_writers_interleaving_in_one_log_keep_every_line_whole(tmp_path: Path
                                                                            ) -> None:
    folder = tmp_path / "root" / "sessions" / "mixed"
    sizes = "c(10, 600, 5000, 9000, 20000, 70000)"
    r_code = (f'filebridge_connect()\nfor (i in 1:40) for (n in {sizes})\n'
              '  filebridge_send("from_r", i = i, pad = strrep("r", n))')
    done = threading.Event()
    errors: list[BaseException] = []

    def python_writer() -> None:
        while not (folder / "session.json").exists():
            time.sleep(0.01)
        log = AppendLog(folder / "request.log")
        try:
            count = 0
            while not done.is_set() or count < 200:
                for n in (10, 4096, 9000, 30000):
                    log.append(new_request("from_python", {"pad": "p" * n}, answer=False)
                               .encode())
                count += 4
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            log.close()

    writer = threading.Thread(target=python_writer)
    writer.start()
    try:
        run_r(r_code, session=folder, timeout=120)
    finally:
        done.set()
        writer.join()
    assert not errors
    lines = (folder / "request.log").read_bytes().split(b"\n")
    assert lines[-1] == b""
    commands = [decode_request(line).command for line in lines[:-1] if line.strip()]
    assert commands.count("from_r") == 240
    assert commands.count("from_python") >= 200


def test_r_answers_come_through_the_answer_log_and_a_nested_call_keeps_both(host: Host
                                                                            ) -> None:
    # While R waits for `outer`, it serves the host's `nested` request, whose handler makes a
    # call of its own: that inner call reads the answer to `outer` from response.log first and
    # must keep it for the outer call, which is still waiting.
    folder = session_dir(host)
    results: dict[str, object] = {}

    def outer(call: Call) -> dict[str, str]:
        def ask() -> None:
            results["nested"] = host.command("r1", "nested", timeout=20)

        asker = threading.Thread(target=ask)
        asker.start()
        results["asker"] = asker
        deadline = time.monotonic() + 20
        while not (folder / "nested-started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"outer": "done"}

    host.register("outer", outer)
    out = run_r('filebridge_connect()\n'
                'filebridge_on_command("nested", function(args) {\n'
                '  file.create(file.path(filebridge_session(), "nested-started"))\n'
                '  list(inner = filebridge_call("echo", x = "inner")$x)\n'
                '})\n'
                'r <- filebridge_call("outer", .timeout = 30)\n'
                'cat(r$outer, filebridge_call("echo", x = "after")$x, sep = "|")',
                session=folder, timeout=60).stdout
    asker = results["asker"]
    assert isinstance(asker, threading.Thread)
    asker.join(20)
    assert out == "done|after"
    assert results["nested"] == {"inner": "inner"}
    assert json.loads((folder / "session.json").read_bytes())["answers"] == "log"
    assert not list((folder / "responses").iterdir())
    answered = [json.loads(line)["id"]
                for line in (folder / "response.log").read_bytes().splitlines() if line.strip()]
    assert len(answered) == 3  # outer, the inner echo, the echo after


def test_r_rotates_its_request_log_and_follows_the_hosts_logs_across_generations(
        host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEBRIDGE_ROTATE_AT", "2048")  # the host's logs rotate every few lines
    ran: list[str] = []
    host.register("note", lambda call: ran.append(call.request.id))
    folder = session_dir(host)
    pings: list[object] = []

    def ask() -> None:
        host.wait_for_session("r1", timeout=30)
        for _ in range(20):
            pings.append(host.command("r1", "ping", timeout=20))
        host.command("r1", "stop_serving", timeout=20)

    asker = threading.Thread(target=ask)
    asker.start()
    done = run_r('Sys.setenv(FILEBRIDGE_ROTATE_AT = "2048")\nstopped <- FALSE\n'
                 'filebridge_on_command("stop_serving", function(args) {\n'
                 '  stopped <<- TRUE; list() })\nfilebridge_connect()\n'
                 'pad <- strrep("r", 100)\nok <- 0L\n'
                 'for (i in 1:80) {\n'
                 '  answer <- filebridge_call("echo", n = i, pad = pad)\n'
                 '  if (answer$n == i && answer$pad == pad) ok <- ok + 1L\n'
                 '  filebridge_send("note", pad = pad)\n}\n'
                 'cat("answered", ok, "\\n")\n'
                 'deadline <- Sys.time() + 40\n'
                 'while (!stopped && Sys.time() < deadline) filebridge_serve(0.1)\n'
                 'cat("stopped", stopped, "\\n")', session=folder, timeout=90)
    asker.join()
    assert "answered 80" in done.stdout and "stopped TRUE" in done.stdout, done.stdout
    assert len(pings) == 20 and all(isinstance(p, dict) for p in pings)
    deadline = time.monotonic() + 10
    while len(ran) < 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(ran) == len(set(ran)) == 80, "every request ran once"
    for name in ("request.log", "response.log", "command.log"):
        head = (folder / name).read_bytes()[:64]
        assert head.startswith(b'{"log_generation":'), f"{name} was rotated: {head!r}"
        retired = [p.name for p in folder.iterdir() if p.name.startswith(name + ".")]
        assert len(retired) <= 2, retired

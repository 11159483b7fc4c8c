"""The R worker's variables pane at an idle prompt, and its answers beside the Python worker's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from r_support import IdleR, needs_r

from filebridge.errors import RemoteError
from filebridge.host import Host

pytestmark = needs_r


@pytest.fixture
def idle_r(host: Host) -> Iterator[IdleR]:
    r = IdleR(host.root.sessions / "r1")
    try:
        host.wait_for_session("r1", timeout=30)
        yield r
    finally:
        r.close()


def test_r_answers_an_expansion_while_it_sits_idle_at_its_prompt(host: Host,
                                                                 idle_r: IdleR) -> None:
    idle_r.run("cfg <- list(alpha = 1, beta = 'two', nested = list(x = 1:3))\n"
               "numbers <- as.list(seq_len(1e6))")
    time.sleep(0.5)  # R is at its prompt, running no command
    page = host.command("r1", "inspect", timeout=10, path=["cfg"])
    assert [c["display_name"] for c in page["children"]] == ["alpha", "beta", "nested"]
    deep = host.command("r1", "inspect", timeout=10, path=["numbers"], start=999_998, count=5)
    assert deep["length"] == 1_000_000
    assert [c["display_value"] for c in deep["children"]] == ["999999", "1000000"]
    assert host.command("r1", "ping", timeout=10)["pid"] == idle_r.proc.pid
    # the prompt still takes commands, and the looks go on after one
    assert "n=1000000" in idle_r.run("cat('n=', length(numbers), '\\n', sep = '')")
    again = host.command("r1", "inspect", timeout=10, path=["cfg", '"nested"'])
    assert again["evaluate_name"] == "cfg$nested"


def test_r_without_idle_looks_answers_at_its_next_command(host: Host) -> None:
    r = IdleR(host.root.sessions / "r1", options="options(filebridge.idle_looks = FALSE)")
    try:
        host.wait_for_session("r1", timeout=30)
        time.sleep(0.5)  # past the task callback of the last command: R sits idle
        with pytest.raises(Exception, match="did not answer 'ping'"):
            host.command("r1", "ping", timeout=1.5)
        answers: list[object] = []
        asker = threading.Thread(target=lambda: answers.append(
            host.command("r1", "ping", timeout=20)))
        asker.start()
        time.sleep(1.0)
        assert not answers  # waiting while R sits idle
        r.run("invisible(1)")  # a top-level call serves what waits
        asker.join()
        assert isinstance(answers[0], dict) and answers[0]["pid"] == r.proc.pid
    finally:
        r.close()


def test_r_inspect_answers_carry_the_protocols_fields_and_honour_sort_and_filter(
        host: Host, idle_r: IdleR) -> None:
    idle_r.run("cfg <- list(beta = 'two', Alpha = 1, gamma = list(1, 2), `a b` = 3)\n"
               "e <- new.env()\ne$z <- 1")
    page = host.command("r1", "inspect", timeout=10, path=["cfg"], start=1, count=2)
    assert set(page) == {"path", "evaluate_name", "length", "start", "children_kind",
                         "children"}
    assert page["path"] == ["cfg"] and page["start"] == 1 and page["length"] == 4
    assert page["children_kind"] == "named" and page["evaluate_name"] == "cfg"
    assert [c["access_key"] for c in page["children"]] == ['"Alpha"', '"gamma"']
    assert [c["evaluate_name"] for c in page["children"]] == ["cfg$Alpha", "cfg$gamma"]
    gamma = page["children"][1]
    assert gamma["indexed_children"] == 2 and gamma["named_children"] == 0
    assert gamma["not_described"] is None
    items = host.command("r1", "inspect", timeout=10, path=["cfg", '"gamma"'])
    assert items["children_kind"] == "indexed"
    assert [(c["access_key"], c["display_name"], c["evaluate_name"])
            for c in items["children"]] == [("0", "[[1]]", "cfg$gamma[[1]]"),
                                            ("1", "[[2]]", "cfg$gamma[[2]]")]
    named_only = host.command("r1", "inspect", timeout=10, path=["cfg", '"gamma"'],
                              children="named")
    assert named_only["length"] == 0 and named_only["children"] == []
    by_name = host.command("r1", "inspect", timeout=10, path=["cfg"], sort="name")
    assert [c["display_name"] for c in by_name["children"]] == ["a b", "Alpha", "beta",
                                                                "gamma"]
    assert by_name["children"][0]["evaluate_name"] == 'cfg[["a b"]]'
    filtered = host.command("r1", "inspect", timeout=10, path=["cfg"], filter="B", sort="type")
    assert [c["display_name"] for c in filtered["children"]] == ["beta", "a b"]  # by type
    assert filtered["length"] == 2
    top = host.command("r1", "inspect", timeout=10, path=[], filter="cf")
    assert [c["access_key"] for c in top["children"]] == ["cfg"] and top["path"] == []
    env_page = host.command("r1", "inspect", timeout=10, path=["e"])
    assert [c["access_key"] for c in env_page["children"]] == ['"z"']
    for bad, code in ((dict(path=["nope"]), "not_found"),
                      (dict(path=["cfg", "beta"]), "bad_request"),
                      (dict(path=["cfg", '"nope"']), "not_found"),
                      (dict(path=["cfg"], sort="colour"), "bad_request"),
                      (dict(path=["cfg"], count=5000), "bad_request")):
        with pytest.raises(RemoteError) as caught:
            host.command("r1", "inspect", timeout=10, **bad)
        assert caught.value.code == code

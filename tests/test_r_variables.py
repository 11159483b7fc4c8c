"""The R worker's variables pane at an idle prompt, and its answers beside the Python worker's."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from r_support import IdleR, SharedR, needs_r, shared_idle_r
from variables_support import start_worker, stop_worker

from filebridge.errors import RemoteError
from filebridge.host import DapVariables, Host
from filebridge.host.variables.cli import main as vars_main
from filebridge.host.variables.provider import VariablesProvider

pytestmark = needs_r


@pytest.fixture(scope="module")
def module_r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedR]:
    """One R for the tests that only define values and ask about them."""
    with shared_idle_r(tmp_path_factory.mktemp("variables") / "root") as shared:
        yield shared


@pytest.fixture
def live(module_r: SharedR) -> SharedR:
    return module_r.fresh()


def test_r_answers_an_expansion_while_it_sits_idle_at_its_prompt(live: SharedR) -> None:
    host, idle_r = live.host, live.r
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
        # A ping that meets the task callback of the last command is answered: on a busy
        # machine that callback can come late, so R gets three chances to be seen idle.
        for _ in range(3):
            time.sleep(0.5)
            try:
                host.command("r1", "ping", timeout=1.5)
            except Exception as error:
                assert "did not answer 'ping'" in str(error)
                break
        else:
            pytest.fail("R answered every ping while it sat idle at its prompt")
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


def test_r_without_the_later_package_says_so_and_answers_at_its_next_command(
        host: Host, tmp_path: Path) -> None:
    # an R whose libraries hold jsonlite but not later: no site library, jsonlite linked in
    library = tmp_path / "library"
    library.mkdir()
    found = subprocess.run(["Rscript", "-e", 'cat(find.package("jsonlite"))'],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    (library / "jsonlite").symlink_to(found)
    r = IdleR(host.root.sessions / "r1", env={"R_LIBS_SITE": " ", "R_LIBS_USER": " ",
                                              "R_LIBS": str(library)})
    try:
        host.wait_for_session("r1", timeout=30)
        assert "'later' is not installed" in r.startup
        time.sleep(0.5)  # past the task callback of the last command: R sits idle
        answers: list[object] = []
        asker = threading.Thread(target=lambda: answers.append(
            host.command("r1", "inspect", timeout=20, path=[])))
        asker.start()
        time.sleep(1.0)
        assert not answers  # R sits idle and cannot answer
        r.run("x <- 1")
        asker.join()
        assert isinstance(answers[0], dict)
    finally:
        r.close()


def test_r_inspect_answers_carry_the_protocols_fields_and_honour_sort_and_filter(
        live: SharedR) -> None:
    host, idle_r = live.host, live.r
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


def test_r_children_of_every_common_kind_are_described_as_the_snapshot_describes_them(
        live: SharedR) -> None:
    host, idle_r = live.host, live.r
    idle_r.run('mixed <- list(1.5, "a\\nb", NA, 7L, NA_character_, strrep("x", 150),\n'
               '  factor("f"), 1:3, list(z = 1), data.frame(q = 1:2))\n'
               'flat <- mixed[c(1, 7, 8)]\none <- 1.5\ntwo <- "a\\nb"\nlong <- strrep("x", 150)')
    page = host.command("r1", "inspect", timeout=10, path=["mixed"])
    children = page["children"]
    assert [c["display_value"] for c in children[:5]] == ["1.5", "a b", "NA", "7", "NA"]
    assert [c["kind"] for c in children] == ["number", "string", "boolean", "number", "string",
                                             "string", "collection", "collection", "map",
                                             "table"]
    assert children[5]["is_truncated"] and len(children[5]["display_value"]) == 100
    assert [c["display_type"] for c in children[6:]] == ["factor [1]", "integer [3]",
                                                          "list [1]", "data.frame [2 x 1]"]
    assert children[8]["named_children"] == 1 and children[8]["children_kind"] == "named"
    assert children[9]["named_children"] == 1  # a data frame's children are its columns
    # a value described in a page is described as the snapshot describes it at the top level
    idle_r.run("filebridge_publish_variables()")
    snapshot = json.loads((host.root.sessions / "r1" / "workspace.json").read_bytes())
    flat = next(v for v in snapshot["variables"] if v["display_name"] == "flat")
    assert flat["indexed_children"] == 3
    top = host.command("r1", "inspect", timeout=10, path=[], filter="flat")["children"][0]
    assert {k: v for k, v in top.items() if k != "updated_time"} == \
        {k: v for k, v in flat.items() if k != "updated_time"}
    by_name = {v["display_name"]: v for v in snapshot["variables"]}
    for name, child in (("one", children[0]), ("two", children[1]), ("long", children[5])):
        for key in ("display_value", "display_type", "type_info", "kind", "size", "length",
                    "shape", "has_children", "has_viewer", "is_truncated", "named_children",
                    "indexed_children"):
            assert by_name[name][key] == child[key], (name, key)
    for first, second in ((children[0], 0), (children[6], 1), (children[7], 2)):
        again = host.command("r1", "inspect", timeout=10, path=["flat"])["children"][second]
        for key in ("display_value", "display_type", "kind", "size", "length", "shape"):
            assert again[key] == first[key], key


def test_r_variables_through_dap_follow_its_schema_and_page_both_kinds(live: SharedR) -> None:
    host, idle_r = live.host, live.r
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parent / "schemas" / "dap_variables.json").read_text())

    def check(definition: str, instance: Any) -> None:
        validator = jsonschema.Draft202012Validator({**schema,
                                                     "$ref": f"#/$defs/{definition}"})
        errors = sorted(validator.iter_errors(instance), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]

    idle_r.run("cfg <- list(alpha = 1, beta = 'two', gamma = list(1, 2, 3))\n"
               "df <- data.frame(a = 1:3, b = c('x', 'y', 'z'))\n"
               "numbers <- as.list(seq_len(250))\nenv <- new.env()\nenv$inner <- 5")
    provider = VariablesProvider.direct(host.root.root, timeout=20)
    try:
        provider.watch("r1")  # the worker snapshots while a viewer is subscribed
        dap = DapVariables(provider, "r1")
        top = dap.variables(dap.scopes()["scopes"][0]["variablesReference"])
        check("VariablesResponseBody", top)
        shown = {v["name"]: v for v in top["variables"]}
        assert set(shown) == {"cfg", "df", "numbers", "env"}
        for variable in top["variables"]:
            for kind in ("named", "indexed"):
                body = dap.variables(variable["variablesReference"], filter=kind)
                check("VariablesResponseBody", body)
                assert len(body["variables"]) == variable.get(f"{kind}Variables", 0), \
                    (variable["name"], kind)
        assert shown["numbers"]["indexedVariables"] == 250
        page = dap.variables(shown["numbers"]["variablesReference"], "indexed", start=240,
                             count=20)
        assert [v["evaluateName"] for v in page["variables"]][:2] == ["numbers[[241]]",
                                                                      "numbers[[242]]"]
        assert len(page["variables"]) == 10
        columns = dap.variables(shown["df"]["variablesReference"], "named")["variables"]
        assert [(v["name"], v["evaluateName"]) for v in columns] == [("a", "df$a"),
                                                                     ("b", "df$b")]
    finally:
        provider.close()


PYTHON_VALUES = 'cfg = {"alpha": 1, "beta": "two", "gamma": [1, 2, 3]}\nscore = 7\n'
R_VALUES = 'cfg <- list(alpha = 1L, beta = "two", gamma = list(1L, 2L, 3L))\nscore <- 7L'


def vars_json(session: Path, *args: str) -> dict[str, Any]:
    """``filebridge vars`` run in this process (test_variables_cli.py runs it as a command)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = vars_main(["--session", session.name, "--root", str(session.parent.parent),
                          *args, "--json"])
    assert code == 0, printed.getvalue()
    return dict(json.loads(printed.getvalue()))


def test_filebridge_vars_expands_an_r_variable_as_it_expands_the_same_python_one(
        tmp_path: Path) -> None:
    sessions = tmp_path / "root" / "sessions"
    python = start_worker(sessions / "py1", PYTHON_VALUES)
    r = IdleR(sessions / "r1")
    try:
        r.run(R_VALUES)
        time.sleep(0.3)  # R sits idle at its prompt
        for args in (["cfg"], ["cfg", "--sort", "name", "--filter", "A"],
                     ["cfg", "--start", "1", "--count", "1"], ["cfg/gamma"],
                     ["cfg/gamma", "--start", "2"], ['["cfg", "\\"gamma\\""]']):
            py_page, r_page = vars_json(sessions / "py1", *args), vars_json(sessions / "r1", *args)
            assert set(py_page) == set(r_page), args
            for key in ("path", "length", "start", "children_kind"):
                assert py_page[key] == r_page[key], (args, key)
            assert r_page["evaluate_name"] and py_page["evaluate_name"]
            py_children, r_children = py_page["children"], r_page["children"]
            assert [c["access_key"] for c in py_children] == \
                [c["access_key"] for c in r_children], args
            for mine, theirs in zip(r_children, py_children):
                assert set(mine) == set(theirs), args
                for key in ("kind", "has_children", "children_kind", "named_children",
                            "indexed_children", "not_described"):
                    assert mine[key] == theirs[key], (args, key)
                if theirs["has_children"]:  # a scalar's length is the language's own
                    assert mine["length"] == theirs["length"], args
        top_r, top_py = vars_json(sessions / "r1"), vars_json(sessions / "py1")
        assert [c["display_name"] for c in top_r["children"]] == ["cfg", "score"]
        assert set(top_r["children"][0]) == set(top_py["children"][0])
        # the page asks through the host's provider with access keys, as the CLI's JSON path
        provider = VariablesProvider.direct(tmp_path / "root")
        try:
            for session in ("py1", "r1"):
                page = provider.inspect(session, ["cfg", '"gamma"'], start=1, count=5)
                cli = vars_json(sessions / session, "cfg/gamma", "--start", "1")
                assert [c["access_key"] for c in page["children"]] == ["1", "2"]
                assert page["children"] == [{**c, "updated_time": p["updated_time"]}
                                            for c, p in zip(cli["children"], page["children"])]
        finally:
            provider.close()
    finally:
        r.close()
        stop_worker(python)

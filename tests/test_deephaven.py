"""Remote imports and the variables pane in one real embedded Deephaven community server.

The server (a JVM) starts once for the module: each test sends its console code to the
server's Python, which runs it in a fresh namespace and prints one ``RESULT`` line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imports_support import REPO, Bridge, bridge_fixture
from variables_support import stop_worker

from filebridge.cli.template import render_template

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("deephaven_server") is None,
                       reason="deephaven-server is not installed (pip install -e '.[test]')"),
]

WAIT = 240  # a JVM starting on a busy machine; a bound, never a measured figure

# Reads one JSON line per run: the file of console code and the code that computes `result`.
SERVER = """
import json, socket, sys, traceback
from deephaven_server import Server
with socket.socket() as probe:
    probe.bind(("localhost", 0))
    port = probe.getsockname()[1]
# C1 alone: the tests' short work does not repay C2's compiling (start-up 8 s -> 4.5 s of CPU)
Server(host="localhost", port=port,
       jvm_args=["-Xmx1g", "-XX:TieredStopAtLevel=1",
                 "-Dauthentication.psk=" + sys.argv[1]]).start()
print("READY", flush=True)
for line in sys.stdin:
    run = json.loads(line)
    console = {"__name__": "__main__"}
    try:
        if run["snippet_file"]:
            exec(compile(open(run["snippet_file"]).read(), "<deephaven console>", "exec"),
                 console)
        exec(compile(run["code"], "<deephaven console>", "exec"), console)
        print("RESULT " + json.dumps(console["result"]), flush=True)
    except BaseException:
        print("FAILED " + json.dumps(traceback.format_exc()), flush=True)
"""


class Console:
    """The Python console of the running server; what the server prints is drained on a
    thread, so that its logging never fills the pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.output: list[str] = []
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"the server said nothing for {WAIT} s:\n" + "".join(self.output[-50:]))
        if line is None:
            pytest.fail("the server ended:\n" + "".join(self.output[-50:]))
        self.output.append(line)
        return line

    def run(self, code: str, snippet_file: Path | None = None) -> Any:
        """Run ``code`` (after the snippet, if any); the ``result`` it computed."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(
            {"code": code, "snippet_file": str(snippet_file) if snippet_file else None}) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.next_line()
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
            if line.startswith("FAILED "):
                pytest.fail("the console code failed:\n" + json.loads(line[len("FAILED "):]))


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, secrets.token_hex(16)], env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=tmp_path_factory.mktemp("deephaven"))
    try:
        served = Console(process)
        while served.next_line().strip() != "READY":
            pass
        yield served
    finally:
        stop_worker(process)


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    for bridge in bridge_fixture(tmp_path):
        (bridge.project / "tables.py").write_text("def triple(x):\n    return 3 * x\n")
        yield bridge


def test_embedded_deephaven_uses_a_served_function_in_a_table_operation(
        console: Console, bridge: Bridge) -> None:
    # The console snippet of the session template, then a table operation that calls a
    # function from the served package inside a Deephaven formula.
    session = bridge.root / "sessions" / "deephaven"
    snippet = bridge.base / "console.py"
    snippet.write_text(render_template("deephaven", session, source_names=repr(["proj"]),
                                       source_name="proj"))
    result = console.run("""
from proj.tables import triple
from deephaven import empty_table
from deephaven.pandas import to_pandas
t = empty_table(3).update(["X = i", "Y = (int) triple(X)"])
result = {"Y": [int(v) for v in to_pandas(t)["Y"]], "origin": triple.__code__.co_filename}
""", snippet)
    assert result == {"Y": [0, 3, 6], "origin": str(bridge.project / "tables.py")}


def test_a_deephaven_table_shows_size_columns_and_a_limited_view(console: Console) -> None:
    result = console.run("""
from deephaven import empty_table
from filebridge.worker.variables.describe import describe
from filebridge.worker.variables.views import table_summary, view_payload
trades = empty_table(2500).update(["Id = i", "Sym = `S` + (i % 7)", "Price = i * 0.5"])
entry = describe(trades, name="trades", access_key="trades", evaluate_name="trades",
                 top_level=True)
view = view_payload(trades, "trades")
result = {"entry": entry, "summary": table_summary(trades), "title": view["title"],
          "rows": len(view["data"]), "first": view["data"][1], "total": view["total_rows"]}
""")
    entry = result["entry"]
    assert entry["kind"] == "table" and entry["shape"] == [2500, 3]
    assert entry["display_value"] == "[2500 rows x 3 columns] Id, Sym, Price"
    assert entry["display_type"] == "Table [2500x3]" and entry["has_viewer"]
    assert entry["named_children"] == 3
    summary = result["summary"]
    assert (summary["num_rows"], summary["num_columns"]) == (2500, 3)
    types = [json.loads(s)["type_display"] for s in summary["column_schemas"]]
    assert types == ["number", "string", "number"]
    assert result["rows"] == 1000 and result["total"] == 2500
    assert result["title"] == "trades (limited to 1000/2500)"
    assert result["first"] == {"x0": 1, "x1": 1, "x2": "S1", "x3": 0.5}

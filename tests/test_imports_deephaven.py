"""Remote imports in a real embedded Deephaven community server, set up by its template."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from imports_support import REPO, Bridge, bridge_fixture

from filebridge.cli.template import render_template

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("deephaven_server") is None,
                       reason="deephaven-server is not installed (pip install -e '.[test]')"),
]

# The server's own Python runs the console snippet, then a table operation that calls a
# function from the served package inside a Deephaven formula.
SERVER_SCRIPT = """
import json, sys
from deephaven_server import Server
port, psk, snippet_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = Server(host="localhost", port=port,
                jvm_args=["-Xmx1g", "-Dauthentication.psk=" + psk])
server.start()
console = {"__name__": "__main__"}
exec(compile(open(snippet_file).read(), "<deephaven console>", "exec"), console)
exec(compile('''
from proj.tables import triple
from deephaven import empty_table
from deephaven.pandas import to_pandas
t = empty_table(3).update(["X = i", "Y = (int) triple(X)"])
result = {"Y": [int(v) for v in to_pandas(t)["Y"]],
          "origin": triple.__code__.co_filename}
''', "<deephaven console>", "exec"), console)
print("RESULT " + json.dumps(console["result"]), flush=True)
"""


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    for bridge in bridge_fixture(tmp_path):
        (bridge.project / "tables.py").write_text("def triple(x):\n    return 3 * x\n")
        yield bridge


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


def test_embedded_deephaven_uses_a_served_function_in_a_table_operation(bridge: Bridge) -> None:
    session = bridge.root / "sessions" / "deephaven"
    snippet = bridge.base / "console.py"
    snippet.write_text(render_template("deephaven", session, source_names=repr(["proj"]),
                                       source_name="proj"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", SERVER_SCRIPT, str(free_port()), secrets.token_hex(16),
         str(snippet)], env=env, capture_output=True, text=True, timeout=240, cwd=bridge.base)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result == {"Y": [0, 3, 6], "origin": str(bridge.project / "tables.py")}

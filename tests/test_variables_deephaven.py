"""A Deephaven table in a real embedded Deephaven server: size, columns, a limited view."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from variables_support import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("deephaven_server") is None,
                       reason="deephaven-server is not installed (pip install -e '.[test]')"),
]

SCRIPT = """
import json, socket, sys
from deephaven_server import Server
with socket.socket() as probe:
    probe.bind(("localhost", 0))
    port = probe.getsockname()[1]
Server(host="localhost", port=port, jvm_args=["-Xmx1g"]).start()
from deephaven import empty_table
from filebridge.worker.variables.commands import VariableCommands
from filebridge.worker.variables.describe import describe
from filebridge.worker.variables.views import table_summary, view_payload
trades = empty_table(2500).update(["Id = i", "Sym = `S` + (i % 7)", "Price = i * 0.5"])
entry = describe(trades, name="trades", access_key="trades", evaluate_name="trades",
                 top_level=True)
view = view_payload(trades, "trades")
print("RESULT " + json.dumps({"entry": entry, "summary": table_summary(trades),
                              "title": view["title"], "rows": len(view["data"]),
                              "first": view["data"][1], "total": view["total_rows"]}),
      flush=True)
"""


def test_a_deephaven_table_shows_size_columns_and_a_limited_view() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=240, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stderr[-2000:]
    result = json.loads(lines[-1][len("RESULT "):])
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

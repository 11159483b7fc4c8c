"""The worker side of the viewers, run in real worker processes (no host needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from viewers_support import run_worker

from filebridge.host.table_snapshot import SnapshotTable


def requests_of(root: Path, session_id: str, command: str) -> list[dict[str, Any]]:
    log = root / "sessions" / session_id / "request.log"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["command"] == command]


def table_rows(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """meta.json and the rows of a snapshot, each a dict keyed by column name."""
    meta = json.loads((folder / "meta.json").read_text())
    answer = SnapshotTable(folder, pure=True).query().rows({"count": 2000})
    names = [c["name"] for c in meta["columns"]]
    return meta, [dict(zip(names, cells)) for cells in zip(*answer["cells"])]


def test_pandas_dataview_keeps_na_and_inf_distinct_and_adds_a_row_column(tmp_path: Path) -> None:
    run_worker(tmp_path, "w1", """
import numpy as np, pandas as pd
from filebridge.worker import viewers
df = pd.DataFrame({"x": [1.5, np.nan, np.inf, -np.inf], "s": ["a", None, "c,d", "e\\nf"],
                   "when": pd.to_datetime(["2024-01-02", None, "2024-03-04", "2024-05-06"]),
                   "flag": [True, False, True, False]}, index=[10, 11, 12, 13])
viewers.dataview(df, title="frame")
""")
    (sent,) = requests_of(tmp_path, "w1", "dataview")
    args = sent["args"]
    assert args["source"] == "table" and args["type"] == "filebridge.table"
    assert args["dir_in_session"] == f"views/{args['view']}"
    meta, rows = table_rows(tmp_path / "sessions" / "w1" / args["dir_in_session"])
    assert meta["complete"] and meta["rows"] == 4 and meta["version"] == 2
    assert [c["name"] for c in meta["columns"]] == ["(row)", "x", "s", "when", "flag"]
    assert [c["type"] for c in meta["columns"]] == ["integer", "float", "string", "datetime",
                                                    "boolean"]
    assert meta["columns"][0]["role"] == "label"
    assert [r["(row)"] for r in rows] == [10, 11, 12, 13]
    assert [r["x"] for r in rows] == [1.5, "NaN", "Inf", "-Inf"]
    assert [r["s"] for r in rows] == ["a", None, "c,d", "e\nf"]
    assert [r["when"] for r in rows] == ["2024-01-02 00:00:00", None, "2024-03-04 00:00:00",
                                         "2024-05-06 00:00:00"]
    assert [r["flag"] for r in rows] == [True, False, True, False]


def test_a_million_row_frame_is_announced_before_its_columns_are_written(
        tmp_path: Path) -> None:
    run_worker(tmp_path, "big", """
import numpy as np, pandas as pd
from filebridge.worker import viewers
viewers.dataview(pd.DataFrame({"i": np.arange(10**6), "x": np.random.rand(10**6)}), "million")
""")
    (sent,) = requests_of(tmp_path, "big", "dataview")
    folder = tmp_path / "sessions" / "big" / sent["args"]["dir_in_session"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["rows"] == 10**6 and meta["complete"] and meta["live"]
    assert all(c["ready"] for c in meta["columns"])
    assert (folder / "c2.f64").stat().st_size == 8 * 10**6
    # the host was told before the column files existed, so the first rows never wait for them
    assert sent["time"] < (folder / "c2.f64").stat().st_mtime


def test_row_limit_retitles_the_view_like_vscode_r(tmp_path: Path) -> None:
    run_worker(tmp_path, "lim", """
from filebridge.worker import viewers
viewers.dataview([{"a": i, "b": float("nan") if i == 1 else i / 2} for i in range(10)],
                 title="records", row_limit=3)
""")
    (sent,) = requests_of(tmp_path, "lim", "dataview")
    assert sent["args"]["title"] == "records (limited to 3/10)"
    meta, rows = table_rows(tmp_path / "sessions" / "lim" / sent["args"]["dir_in_session"])
    assert meta["total_rows"] == 10 and len(rows) == 3
    assert rows[1]["b"] == "NaN"


def test_polars_numpy_and_dict_of_columns_become_tables(tmp_path: Path) -> None:
    run_worker(tmp_path, "kinds", """
import numpy as np, polars as pl
from filebridge.worker import viewers
viewers.dataview(pl.DataFrame({"v": [1.0, None, float("inf")], "s": ["x", "y", None]}), "pl")
viewers.dataview(np.arange(6).reshape(3, 2), "np")
viewers.dataview({"k": [1, 2], "name": ["a", "b"]}, "cols")
""")
    sent = requests_of(tmp_path, "kinds", "dataview")
    assert [s["args"]["source"] for s in sent] == ["table"] * 3
    folder = tmp_path / "sessions" / "kinds"
    _, polars_rows = table_rows(folder / sent[0]["args"]["dir_in_session"])
    assert [r["v"] for r in polars_rows] == [1.0, None, "Inf"]
    assert [r["s"] for r in polars_rows] == ["x", "y", None]
    _, numpy_rows = table_rows(folder / sent[1]["args"]["dir_in_session"])
    assert [(r["0"], r["1"]) for r in numpy_rows] == [(0, 1), (2, 3), (4, 5)]
    meta, rows = table_rows(folder / sent[2]["args"]["dir_in_session"])
    assert [c["name"] for c in meta["columns"]] == ["(row)", "k", "name"]
    assert [(r["k"], r["name"]) for r in rows] == [(1, "a"), (2, "b")]


def test_nested_data_is_a_tree_and_functions_are_their_source(tmp_path: Path) -> None:
    (tmp_path / "greetings.py").write_text("def greet(name):\n    return 'hello ' + name\n")
    run_worker(tmp_path, "tree", f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
from greetings import greet
from filebridge.worker import viewers
viewers.dataview({{"a": [1, {{"b": None}}], "big": list(range(5000))}}, "nested")
viewers.dataview(greet)
""")
    tree, source = requests_of(tmp_path, "tree", "dataview")
    folder = tmp_path / "sessions" / "tree"
    assert tree["args"]["source"] == "list"
    data = json.loads((folder / tree["args"]["file_in_session"]).read_text())
    assert data["a"] == [1, {"b": None}]
    assert len(data["big"]) == 1001 and data["big"][-1] == "... 4000 more"
    assert source["args"]["source"] == "object" and source["args"]["language"] == "python"
    assert "return 'hello ' + name" in (folder / source["args"]["file_in_session"]).read_text()


def test_help_writes_pydoc_html_and_an_unknown_topic_fails_clearly(tmp_path: Path) -> None:
    done = run_worker(tmp_path, "help", """
from filebridge.worker import viewers
viewers.help("json.dumps")
try:
    viewers.help("no_such_module_xyz.thing")
except LookupError as exc:
    print("refused:", exc)
""")
    (sent,) = requests_of(tmp_path, "help", "help")
    page = (tmp_path / "sessions" / "help" / sent["args"]["file_in_session"]).read_text()
    assert "<html" in page.lower() and "dumps" in page
    assert "refused: help: " in done.stdout and "no_such_module_xyz" in done.stdout


def test_webview_names_its_folder_and_refuses_missing_files_and_outside_folders(
        tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<link rel=stylesheet href=style.css><h1>hi</h1>")
    done = run_worker(tmp_path, "web", f"""
from filebridge.worker import viewers
viewers.webview({str(site / 'index.html')!r}, title="site")
for bad in [dict(path={str(site / 'missing.html')!r}),
            dict(path={str(site / 'index.html')!r}, folder={str(tmp_path / 'other')!r})]:
    try:
        viewers.webview(**bad)
    except (FileNotFoundError, ValueError) as exc:
        print(type(exc).__name__)
viewers.webview(html="<p>inline</p>", title="inline")
""")
    assert done.stdout.split() == ["FileNotFoundError", "ValueError"]
    first, inline = requests_of(tmp_path, "web", "webview")
    # a page outside the session folder is copied in with its folder (the host reads nothing
    # outside the session folder unless told to)
    copy = first["args"]["dir_in_session"]
    assert copy.startswith("views/") and first["args"]["file_in_session"] == copy + "/index.html"
    assert (tmp_path / "sessions" / "web" / copy / "index.html").read_text() == \
        (site / "index.html").read_text()
    assert inline["args"]["file_in_session"].endswith("/index.html")


def test_plt_show_through_the_backend_writes_plot_png_and_sends_plot(tmp_path: Path) -> None:
    run_worker(tmp_path, "mpl", """
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [3, 1, 2])
plt.show()
assert plt.get_fignums() == []
from filebridge.worker import viewers
try:
    viewers.plot(b"not a png")
except ValueError as exc:
    print(exc)
""")
    (sent,) = requests_of(tmp_path, "mpl", "plot")
    png = (tmp_path / "sessions" / "mpl" / "plot.png").read_bytes()
    assert png.startswith(b"\x89PNG") and sent["args"]["bytes"] == len(png)
    assert (sent["args"]["width"], sent["args"]["height"]) == (640, 480)
    assert (tmp_path / "sessions" / "mpl" / "plot.lock").read_bytes() != b"0" * 20


def test_webbrowser_open_is_redirected_to_the_host_when_asked(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>x</p>")
    run_worker(tmp_path, "wb", f"""
import webbrowser
from filebridge.worker import viewers
viewers.redirect_webbrowser()
assert webbrowser.open("https://example.org/docs")
assert webbrowser.open({page.as_uri()!r})
""")
    (browser,) = requests_of(tmp_path, "wb", "browser")
    assert browser["args"]["url"] == "https://example.org/docs"
    (webview,) = requests_of(tmp_path, "wb", "webview")
    copied = tmp_path / "sessions" / "wb" / webview["args"]["file_in_session"]
    assert copied.name == "page.html" and copied.read_text() == "<p>x</p>"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x/y"])
def test_browser_refuses_schemes_it_cannot_show(tmp_path: Path, url: str) -> None:
    done = run_worker(tmp_path, "bad", f"""
import filebridge.worker
from filebridge.worker import viewers
filebridge.worker.connect()
try:
    viewers.browser({url!r})
except ValueError as exc:
    print("refused")
""")
    assert done.stdout.strip() == "refused"
    assert requests_of(tmp_path, "bad", "browser") == []


def test_install_integrations_routes_plt_show_and_webbrowser_without_env(tmp_path: Path) -> None:
    run_worker(tmp_path, "integ", """
import os
os.environ.pop("MPLBACKEND", None)
from filebridge.worker import viewers
viewers.install_integrations()
import matplotlib.pyplot as plt, webbrowser
plt.plot([1, 2]); plt.show()
webbrowser.open("https://example.org/x")
""", MPLBACKEND="")
    assert len(requests_of(tmp_path, "integ", "plot")) == 1
    assert len(requests_of(tmp_path, "integ", "browser")) == 1

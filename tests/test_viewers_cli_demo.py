"""``filebridge views`` / ``filebridge table`` on saved views, and the viewers demo step."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from viewers_support import run_worker, running_host, wait_for

from filebridge.cli import viewers as viewers_cli
from filebridge.cli.output import CommandFailed
from filebridge.demo import demo_context
from filebridge.host import Host
from filebridge.ui.demo import demo_step


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="filebridge")
    viewers_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_views_and_table_commands_read_what_the_host_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    with running_host(root, ui=False) as (_host, viewers):
        run_worker(root, "cli", """
import pandas as pd
from filebridge.worker import viewers
viewers.dataview(pd.DataFrame({"n": [3, 1, None, 2], "s": ["c", "a", "x", "b"]}), "small")
viewers.browser("https://example.org", title="docs")
""")
        wait_for(lambda: len(viewers.store.views("cli")) == 2, what="two views")
    assert cli("views", "--root", str(root), "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(v["kind"], v["title"]) for v in listed] == [("table", "small"), ("browser", "docs")]
    table = listed[0]["id"]
    assert cli("table", table, "--root", str(root), "--sort", "c0:desc", "--json") == 0
    page = json.loads(capsys.readouterr().out)
    assert [row[1] for row in page["rows"]] == [3.0, 2.0, 1.0, "NaN"]  # pandas' NaN: last
    assert cli("table", table, "--root", str(root), "--where", "c0=NA") == 0
    text = capsys.readouterr().out
    assert "\tx" in text and "NaN" in text and "(rows 1-1 of 1)" in text
    with pytest.raises(CommandFailed, match="not a table"):
        cli("table", listed[1]["id"], "--root", str(root))
    with pytest.raises(CommandFailed, match="no view"):
        cli("table", "nope", "--root", str(root))
    with pytest.raises(CommandFailed, match="no column"):
        cli("table", table, "--root", str(root), "--sort", "zz")


def test_demo_step_sends_a_plot_a_webview_and_a_data_view(tmp_path: Path) -> None:
    said: list[str] = []
    with demo_context(lambda root: Host(root), said.append) as ctx:
        demo_step(ctx)
    assert any(line.startswith("local page (open while the demo runs): http://127.0.0.1:")
               for line in said)
    assert any("100000 rows; sorted by x descending the page starts Inf" in line
               for line in said), said


def test_views_and_table_commands_refuse_what_a_tampered_session_points_at(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "meta.json").write_text(json.dumps({
        "columns": [{"name": "s", "field": "s", "type": "string"}], "rows": 1,
        "chunks": [{"file": "rows-00000.jsonl", "start": 0, "rows": 1}]}))
    (outside / "rows-00000.jsonl").write_text('{"s": "host secret"}\n')
    sessions = tmp_path / "root" / "sessions"
    for name, folder in (("abs", str(outside)), ("root", "/")):
        (sessions / name / "host-views").mkdir(parents=True)
        (sessions / name / "host-views" / "index.json").write_text(json.dumps({"views": [
            {"id": f"t{name}", "session_id": name, "kind": "table", "title": "t",
             "created": 0, "command": "dataview", "request_id": "r", "folder": folder}]}))
    zero = sessions / "zero" / "host-views"
    zero.mkdir(parents=True)
    (zero / "index.json").symlink_to("/dev/zero")
    root = str(tmp_path / "root")
    for view, session in (("tabs", "abs"), ("troot", "root")):
        with pytest.raises(CommandFailed, match="outside the session folder"):
            cli("table", view, "--root", root, "--session", session)
    assert "host secret" not in capsys.readouterr().out
    with pytest.raises(CommandFailed, match="view list refused"):
        cli("views", "--root", root, "--session", "zero")
    assert cli("views", "--root", root, "--session", "abs", "--json") == 0
    assert [v["id"] for v in json.loads(capsys.readouterr().out)] == ["tabs"]

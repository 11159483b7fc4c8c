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
    assert [row[1] for row in page["rows"]] == [3.0, 2.0, 1.0, None]
    assert cli("table", table, "--root", str(root), "--where", "c0=NA") == 0
    text = capsys.readouterr().out
    assert "\tx" in text and "NA" in text and "(rows 1-1 of 1)" in text
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

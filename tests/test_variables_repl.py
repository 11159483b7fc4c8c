"""A plain ``python -i`` REPL, driven through a pipe, publishes after each statement."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from variables_support import by_name, snapshot_with, stop_worker, worker_env

from filebridge.host.variables.provider import VariablesProvider


@pytest.fixture
def repl(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    session = tmp_path / "root" / "sessions" / "repl1"
    proc = subprocess.Popen([sys.executable, "-i", "-q"], env=worker_env(session),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        yield proc, session
    finally:
        if proc.poll() is None:
            stop_worker(proc)


def send(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def test_each_statement_at_the_prompt_publishes(repl: tuple[subprocess.Popen[str], Path]
                                                ) -> None:
    proc, session = repl
    send(proc, "import filebridge.worker.variables as fv; _ = fv.enable()")
    snapshot_with(session, lambda s: True)  # enable() writes a first one
    viewer = VariablesProvider.direct(session.parent.parent, timeout=30)
    viewer.watch("repl1")
    send(proc, "x = 41")
    first = snapshot_with(session, lambda s: "x" in by_name(s))
    assert by_name(first)["x"]["display_value"] == "41"
    send(proc, "x += 1")
    send(proc, "table = {'k': [1, 2, 3]}")
    later = snapshot_with(session, lambda s: "table" in by_name(s)
                          and by_name(s)["x"]["display_value"] == "42")
    assert later["version"] > first["version"]
    assert "fv" not in by_name(later)
    viewer.close()
    send(proc, "unseen = 1")
    send(proc, "print('done', flush=True)")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
    assert "unseen" not in by_name(snapshot_with(session, lambda s: True)), \
        "no viewer subscribed: no snapshot"


def test_manual_mode_publishes_only_when_asked(repl: tuple[subprocess.Popen[str], Path],
                                               tmp_path: Path) -> None:
    proc, session = repl
    send(proc, "import filebridge.worker.variables as fv; _ = fv.enable(mode='manual')")
    send(proc, "early = 1")
    send(proc, "_ = fv.publish_variables()")
    snap = snapshot_with(session, lambda s: "early" in by_name(s))
    send(proc, "late = 2")
    send(proc, "marker = 3")
    send(proc, "print('done', flush=True)")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
    again = snapshot_with(session, lambda s: True)
    assert again["version"] == snap["version"] and "late" not in by_name(again)
    provider = VariablesProvider.direct(tmp_path / "root", timeout=30)
    try:
        provider.refresh("repl1")
        refreshed = provider.list("repl1")
    finally:
        provider.close()
    assert {"early", "late", "marker"} <= {v["display_name"] for v in refreshed["children"]}


def test_reading_through_a_hosts_provider_makes_it_a_viewer(
        repl: tuple[subprocess.Popen[str], Path]) -> None:
    from filebridge.host import Host

    proc, session = repl
    send(proc, "import filebridge.worker.variables as fv; _ = fv.enable()")
    snapshot_with(session, lambda s: True)
    send(proc, "before = 1")
    send(proc, "print('assigned', flush=True)")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "assigned"
    assert "before" not in by_name(snapshot_with(session, lambda s: True)), "nobody looks"
    host = Host(session.parent.parent)
    host.start()
    provider = VariablesProvider.for_host(host, timeout=30)
    try:
        listed = provider.list("repl1")  # subscribes first: the snapshot is current
        assert "before" in {v["display_name"] for v in listed["children"]}
        assert provider.watching("repl1")
        send(proc, "after = 2")
        snapshot_with(session, lambda s: "after" in by_name(s))
    finally:
        provider.close()
        host.stop()

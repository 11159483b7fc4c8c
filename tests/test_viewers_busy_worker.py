"""A Python worker that runs a long cell right after ``dataview`` (one holding the interpreter,
as a regular expression that backtracks for hours does: here a C call that sleeps with the
interpreter's lock held, which leaves the CPU to the rest of the run) still has its table
served: the first page from what ``dataview`` wrote before returning, sorts, filters and
profiles from the snapshot once its columns are on disk, while the worker never answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from viewers_support import running_host, wait_for, worker_env

from filebridge.host.viewers.table_service import TableService

pytestmark = pytest.mark.integration

BUSY_WORKER = """
import ctypes, json, os, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from filebridge.worker import viewers
rng = np.random.default_rng(5)
n = int(sys.argv[1])
frame = pd.DataFrame({"x": rng.random(n), "s": rng.choice(["alpha", "beta", "gamma"], n)})
view = viewers.dataview(frame, "busy")
meta = Path(os.environ["FILEBRIDGE_SESSION"]) / "views" / view / "meta.json"
while sys.argv[2] == "after-snapshot" and not json.loads(meta.read_text())["complete"]:
    time.sleep(0.01)
print(view, flush=True)
# a cell that holds the interpreter (for an hour): libc's sleep called without releasing the
# interpreter's lock, as PyDLL calls are
ctypes.PyDLL(None).sleep(3600)
print("the cell ended", flush=True)
"""


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"x": rng.random(n), "s": rng.choice(["alpha", "beta", "gamma"], n)})


@contextmanager
def _busy_worker(root: Path, session: str, rows: int, when: str
                 ) -> Iterator[tuple[subprocess.Popen[str], str]]:
    worker = subprocess.Popen([sys.executable, "-c", BUSY_WORKER, str(rows), when],
                              env=worker_env(root, session), stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    try:
        yield worker, worker.stdout.readline().strip()
    finally:
        worker.kill()
        worker.wait(timeout=30)


def test_the_first_page_shows_while_the_worker_is_busy_from_the_start(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root, ui=False) as (host, viewers), \
            _busy_worker(root, "busy1", 200_000, "at-once") as (worker, view):
        wait_for(lambda: viewers.store.views("busy1"), what="the view")
        service = TableService(host, viewers.store)
        answer = service.answer("busy1", view, "rows", {"start": 10, "count": 90})
        assert answer["source"] == "snapshot"
        expected = _frame(200_000)[10:100]
        assert answer["rows"] == list(range(10, 100))
        assert answer["cells"][1] == expected["x"].tolist()
        assert answer["cells"][2] == expected["s"].tolist()
        assert service.answer("busy1", view, "schema", {})["rows"] == 200_000
        assert worker.poll() is None  # still in its cell


def test_sort_filter_and_profile_come_from_the_snapshot_while_the_cell_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's plain engine asks the live worker first: here it must give up on it.
    monkeypatch.setenv("FILEBRIDGE_TABLES_PURE", "1")
    root = tmp_path / "root"
    rows = 20_000
    with running_host(root, ui=False) as (host, viewers), \
            _busy_worker(root, "busy2", rows, "after-snapshot") as (worker, view):
        wait_for(lambda: viewers.store.views("busy2"), what="the view")
        # the worker has 0.3 s to answer before the snapshot does (2 s by default)
        service = TableService(host, viewers.store, live_timeout=0.3)
        frame = _frame(rows)

        def ask(command: str, args: dict[str, Any]) -> dict[str, Any]:
            answer = service.answer("busy2", view, command, args)
            assert answer.pop("source") == "snapshot"
            return answer

        ordered = ask("rows", {"sort": [{"column": 1, "descending": True}], "count": 50})
        assert ordered["rows"] == list(frame.sort_values("x", ascending=False,
                                                         kind="stable").index[:50])
        matched = ask("rows", {"filters": [{"column": 2, "op": "contains", "value": "ET"}],
                               "count": 2000})
        assert matched["total"] == int((frame["s"] == "beta").sum())
        profile = ask("profile", {"column": 1})
        assert profile["rows"] == rows
        assert profile["stats"]["max"] == pytest.approx(frame["x"].max())
        assert json.dumps(profile)  # an answer the page can take as it is
        assert worker.poll() is None  # still in its cell

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from viewers_support import running_host, wait_for, worker_env

from filebridge.host import Host
from filebridge.host.viewers.service import Viewers
from filebridge.host.viewers.table_service import TableService

# The data-frame libraries are imported by the tests that use them: every xdist process
# collects this module, and only the one that runs it pays for them.
if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.integration

# One worker for both tests: a table whose snapshot it lets finish, then one it has barely
# written when its cell starts holding the interpreter.
BUSY_WORKER = """
import ctypes, json, os, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from filebridge.worker import viewers

def frame(n):
    rng = np.random.default_rng(5)
    return pd.DataFrame({"x": rng.random(n), "s": rng.choice(["alpha", "beta", "gamma"], n)})

finished = viewers.dataview(frame(int(sys.argv[1])), "finished")
meta = Path(os.environ["FILEBRIDGE_SESSION"]) / "views" / finished / "meta.json"
while not json.loads(meta.read_text())["complete"]:
    time.sleep(0.01)
print(finished, flush=True)
print(viewers.dataview(frame(int(sys.argv[2])), "busy"), flush=True)
# a cell that holds the interpreter (for an hour): libc's sleep called without releasing the
# interpreter's lock, as PyDLL calls are
ctypes.PyDLL(None).sleep(3600)
print("the cell ended", flush=True)
"""
FINISHED_ROWS = 20_000
BUSY_ROWS = 200_000


def _frame(n: int) -> pd.DataFrame:
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(5)
    return pd.DataFrame({"x": rng.random(n), "s": rng.choice(["alpha", "beta", "gamma"], n)})


@dataclass
class BusyWorker:
    host: Host
    viewers: Viewers
    process: subprocess.Popen[str]
    finished: str
    """The view whose snapshot was complete before the cell started."""
    busy: str
    """The view made right before the cell started."""


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusyWorker]:
    root = tmp_path_factory.mktemp("busy") / "root"
    with running_host(root, ui=False) as (host, viewers):
        worker = subprocess.Popen(
            [sys.executable, "-c", BUSY_WORKER, str(FINISHED_ROWS), str(BUSY_ROWS)],
            env=worker_env(root, "busy"), stdout=subprocess.PIPE, text=True)
        assert worker.stdout is not None
        try:
            finished, busy = worker.stdout.readline().strip(), worker.stdout.readline().strip()
            wait_for(lambda: {finished, busy} <= {v.id for v in viewers.store.views("busy")},
                     what="the views")
            yield BusyWorker(host, viewers, worker, finished, busy)
        finally:
            worker.kill()
            worker.wait(timeout=30)


def test_the_first_page_shows_while_the_worker_is_busy_from_the_start(busy: BusyWorker) -> None:
    service = TableService(busy.host, busy.viewers.store)
    answer = service.answer("busy", busy.busy, "rows", {"start": 10, "count": 90})
    assert answer["source"] == "snapshot"
    expected = _frame(BUSY_ROWS)[10:100]
    assert answer["rows"] == list(range(10, 100))
    assert answer["cells"][1] == expected["x"].tolist()
    assert answer["cells"][2] == expected["s"].tolist()
    assert service.answer("busy", busy.busy, "schema", {})["rows"] == BUSY_ROWS
    assert busy.process.poll() is None  # still in its cell


def test_sort_filter_and_profile_come_from_the_snapshot_while_the_cell_runs(
        busy: BusyWorker, monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's plain engine asks the live worker first: here it must give up on it.
    monkeypatch.setenv("FILEBRIDGE_TABLES_PURE", "1")
    rows = FINISHED_ROWS
    # the worker has 0.3 s to answer before the snapshot does (2 s by default)
    service = TableService(busy.host, busy.viewers.store, live_timeout=0.3)
    frame = _frame(rows)

    def ask(command: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = service.answer("busy", busy.finished, command, args)
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
    assert busy.process.poll() is None  # still in its cell

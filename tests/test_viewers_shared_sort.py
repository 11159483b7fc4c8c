"""A sorted or filtered window while a shown column is still being written: the host orders the
rows from the snapshot's sort and filter columns and asks the live worker only for the missing
column's cells at those rows (``positions``), the same answer as the worker's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from viewers_support import running_host, wait_for

import filebridge.worker as fb
from filebridge.errors import RemoteError
from filebridge.host.viewers.table_service import TableService
from filebridge.host.viewers.tables import SnapshotPages
from filebridge.worker import viewers as worker_viewers

# The data-frame libraries are imported by the tests that use them: every xdist process
# collects this module, and only the one that runs it pays for them.

pytestmark = pytest.mark.integration


def _not_ready(folder: Path, index: int) -> None:
    """Mark one column as still being written, as meta.json says while the worker writes."""
    meta = json.loads((folder / "meta.json").read_text())
    meta["columns"][index]["ready"] = False
    meta["complete"] = False
    (folder / "meta.json").write_text(json.dumps(meta))


def test_the_host_sorts_and_the_worker_fills_in_the_column_not_on_disk(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    root = tmp_path / "root"
    with running_host(root, ui=False) as (host, viewers):
        fb.connect(root / "sessions" / "t1")
        try:
            fb.call("echo", timeout=30)
            rng = np.random.default_rng(11)
            n = 50_000
            frame = pd.DataFrame({"x": rng.normal(size=n), "s": rng.choice(["ab", "cd", "ef"], n),
                                  "k": rng.integers(0, 9, n)})
            frame.loc[::97, "x"] = np.nan
            view = worker_viewers.dataview(frame, title="shared")
            wait_for(lambda: viewers.store.views("t1"), what="the view")
            table = viewers.store.table("t1", view)
            assert isinstance(table, SnapshotPages)
            wait_for(lambda: table.snapshot.meta().get("complete"), what="the snapshot")
            _not_ready(table.snapshot.folder, 2)  # "s"
            service = TableService(host, viewers.store)
            args = {"start": 40, "count": 60, "sort": [{"column": 1, "descending": True}],
                    "filters": [{"column": 3, "op": ">=", "value": 4}]}
            answer = service.answer("t1", view, "rows", dict(args))
            assert answer.pop("source") == "snapshot+live"
            live = host.command("t1", "table.rows", timeout=30, view=view, **args)
            assert answer == live
            expected = frame[frame["k"] >= 4].sort_values("x", ascending=False, kind="stable",
                                                          na_position="last")
            assert answer["rows"] == list(expected.index[40:100])
            assert answer["cells"][2] == list(expected["s"][40:100])
            # a bad list of positions is one line, from the worker and the engine alike
            with pytest.raises(RemoteError, match="positions"):
                host.command("t1", "table.rows", timeout=30, view=view, positions=[n])
        finally:
            fb.disconnect()

"""The table pipeline with a real host and a worker connection in this process: the encoder's
snapshot and live answers agree with each other and with pandas / polars, for every type, with
sort keys, filters, profiles, export and convert-to-code."""

from __future__ import annotations

import csv
import datetime
import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from viewers_support import run_worker, running_host, wait_for

import filebridge.worker as fb
from filebridge.errors import RemoteError
from filebridge.host.viewers.service import Viewers
from filebridge.host.viewers.table_service import TableService
from filebridge.host.viewers.table_snapshot import SnapshotTable
from filebridge.host.viewers.tables import SnapshotPages
from filebridge.worker import viewers as worker_viewers

# The data-frame libraries are imported by the tests that use them: every xdist process
# collects this module, and only the one that runs it pays for them.
if TYPE_CHECKING:
    import pandas as pd


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Any, Viewers, TableService]]:
    """A running host with the viewers, and this process connected as worker ``t1``."""
    root = tmp_path / "root"
    with running_host(root, ui=False) as (host, viewers):
        fb.connect(root / "sessions" / "t1")
        fb.call("echo", timeout=30)
        try:
            yield host, viewers, TableService(host, viewers.store)
        finally:
            fb.disconnect()


def _show(viewers: Viewers, obj: Any, title: str) -> tuple[str, SnapshotTable]:
    view_id = worker_viewers.dataview(obj, title=title)
    wait_for(lambda: any(v.id == view_id for v in viewers.store.views("t1")),
             what="the view on the host")
    table = viewers.store.table("t1", view_id)
    assert isinstance(table, SnapshotPages)
    wait_for(lambda: table.snapshot.meta().get("complete"), what="the whole snapshot")
    return view_id, table.snapshot


def _answers(service: TableService, snapshot: SnapshotTable, view_id: str, command: str,
             args: dict[str, Any]) -> list[dict[str, Any]]:
    """The same question answered by the live worker (through the reverse channel), by the
    page's table service (the snapshot, once written, with numpy) and in plain Python."""
    live = service.host.command("t1", f"table.{command}", timeout=60, view=view_id, **args)
    served = service.answer("t1", view_id, command, dict(args))
    assert served.pop("source") == "snapshot"
    plain = SnapshotTable(snapshot.folder, snapshot.allowed, pure=True)
    python = getattr(plain.query(), command)(dict(args))
    return [live, served, python]


def test_every_type_round_trips_with_na_nan_inf_dates_zones_and_categories(pair: Any) -> None:
    import numpy as np
    import pandas as pd
    import polars as pl
    _host, viewers, service = pair
    frame = pd.DataFrame({
        "int": [1, -2, 3, 2**40, 0, 7],
        "nullable": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
        "float": [1.5, np.nan, np.inf, -np.inf, 0.0, -2.25],
        "masked": pd.array([0.5, None, 2.0, None, 1.0, 3.0], dtype="Float64"),
        "flag": [True, False, True, True, False, False],
        "maybe": pd.array([True, None, False, True, None, False], dtype="boolean"),
        "text": ["a", None, "été", "", "tab\there", "z"],
        "when": pd.to_datetime(["2024-08-25 13:45:07.25", None, "1999-12-31", "2024-01-01",
                                "2030-06-01 00:00:01", "1970-01-01"], format="ISO8601"),
        "zoned": pd.to_datetime(["2024-08-25 12:00", "2024-01-15 23:30", None,
                                 "2024-03-31 01:30", "2024-10-27 00:30", "2024-06-01 00:00"],
                                format="ISO8601").tz_localize("UTC").tz_convert("Europe/Paris"),
        "cat": pd.Categorical(["x", None, "y", "x", "z", "y"], categories=["z", "y", "x"]),
        "day": [datetime.date(2024, 8, 25), None, datetime.date(1900, 1, 1),
                datetime.date(2024, 2, 29), datetime.date(2000, 1, 1), datetime.date(1970, 1, 2)],
    }, index=pd.Index([10, 11, 12, 13, 14, 15], name="id"))
    view_id, snapshot = _show(viewers, frame, "types")
    types = {c["name"]: c["type"] for c in snapshot.meta()["columns"]}
    assert types == {"id": "integer", "int": "integer", "nullable": "integer", "float": "float",
                     "masked": "float", "flag": "boolean", "maybe": "boolean", "text": "string",
                     "when": "datetime", "zoned": "datetime", "cat": "category", "day": "date"}
    expected = {
        "id": [10, 11, 12, 13, 14, 15],
        "int": [1, -2, 3, 2**40, 0, 7],
        "nullable": [1, None, 3, 4, None, 6],
        "float": [1.5, "NaN", "Inf", "-Inf", 0.0, -2.25],
        "masked": [0.5, None, 2.0, None, 1.0, 3.0],
        "flag": [True, False, True, True, False, False],
        "maybe": [True, None, False, True, None, False],
        "text": ["a", None, "été", "", "tab\there", "z"],
        "when": ["2024-08-25 13:45:07.25", None, "1999-12-31 00:00:00", "2024-01-01 00:00:00",
                 "2030-06-01 00:00:01", "1970-01-01 00:00:00"],
        "zoned": ["2024-08-25 14:00:00", "2024-01-16 00:30:00", None, "2024-03-31 03:30:00",
                  "2024-10-27 02:30:00", "2024-06-01 02:00:00"],
        "cat": ["x", None, "y", "x", "z", "y"],
        "day": ["2024-08-25", None, "1900-01-01", "2024-02-29", "2000-01-01", "1970-01-02"],
    }
    for answer in _answers(service, snapshot, view_id, "rows", {"start": 0, "count": 10}):
        assert answer["total"] == 6 and answer["rows"] == list(range(6))
        got = {c["name"]: cells for c, cells in zip(snapshot.meta()["columns"],
                                                     answer["cells"])}
        assert got == expected
    zoned = next(c for c in snapshot.meta()["columns"] if c["name"] == "zoned")
    assert zoned["tz"] == "Europe/Paris"
    levels = next(c for c in snapshot.meta()["columns"] if c["name"] == "cat")["levels"]
    assert levels == ["z", "y", "x"]

    # the same through polars and through plain records
    polars_frame = pl.DataFrame({"n": [1, None, 3], "f": [float("nan"), 2.5, None],
                                 "s": ["a", None, "c"], "d": [datetime.date(2024, 8, 25), None,
                                                               datetime.date(2000, 1, 1)],
                                 "k": pl.Series(["u", "v", None], dtype=pl.Categorical)})
    view_id, snapshot = _show(viewers, polars_frame, "polars")
    for answer in _answers(service, snapshot, view_id, "rows", {"count": 5}):
        assert answer["cells"][1:] == [[1, None, 3], ["NaN", 2.5, None], ["a", None, "c"],
                                       ["2024-08-25", None, "2000-01-01"], ["u", "v", None]]
    records = [{"a": 1, "b": "x", "c": 2.5}, {"a": None, "b": None, "c": float("inf")}]
    view_id, snapshot = _show(viewers, records, "records")
    for answer in _answers(service, snapshot, view_id, "rows", {"count": 5}):
        assert answer["cells"] == [[0, 1], [1, None], ["x", None], [2.5, "Inf"]]


MIXED = 20_000


def _mixed() -> pd.DataFrame:
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(7)
    x = rng.normal(size=MIXED)
    x[::97] = np.nan
    x[5], x[6] = np.inf, -np.inf
    word = rng.choice(np.array(["apple", "Banana", "cherry", None], dtype=object), MIXED)
    return pd.DataFrame({"x": x, "word": word, "k": rng.integers(0, 50, MIXED),
                         "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(
                             rng.integers(0, 10**6, MIXED), "s"),
                         "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], MIXED),
                                               categories=["lo", "mid", "hi"])})


def test_sorted_and_filtered_windows_match_pandas(pair: Any) -> None:
    import pandas as pd
    _host, viewers, service = pair
    frame = _mixed()
    view_id, snapshot = _show(viewers, frame, "mixed")
    x, word, k, when, cat = 1, 2, 3, 4, 5

    def rows(args: dict[str, Any]) -> list[int]:
        answers = _answers(service, snapshot, view_id, "rows", {"count": 2000, **args})
        assert answers[0] == answers[1] == answers[2]
        return list(answers[0]["rows"])

    def nan_last(series: pd.Series, ascending: bool) -> list[int]:
        # pandas puts NaN last; Inf are numbers
        return list(series.sort_values(ascending=ascending, kind="stable",
                                       na_position="last").index)

    assert rows({"sort": [{"column": x, "descending": True}]}) == nan_last(frame["x"], False)[:2000]
    assert rows({"sort": [{"column": x}], "start": 18_000}) == \
        nan_last(frame["x"], True)[18_000:20_000]
    by_k_word = frame.sort_values(["k", "word"], ascending=[True, False], kind="stable",
                                  na_position="last")
    assert rows({"sort": [{"column": k}, {"column": word, "descending": True}]}) == \
        list(by_k_word.index[:2000])
    assert rows({"sort": [{"column": when, "descending": True}]}) == nan_last(
        frame["when"], False)[:2000]
    assert rows({"sort": [{"column": cat}]}) == nan_last(frame["cat"], True)[:2000]

    filtered = frame[frame["word"].str.contains("an", case=False, na=False)]
    assert rows({"filters": [{"column": word, "op": "contains", "value": "AN"}]}) == \
        list(filtered.index[:2000])
    expected = frame[(frame["k"] >= 45) & frame["x"].notna()].sort_values(
        "x", kind="stable").index
    assert rows({"filters": [{"column": k, "op": ">=", "value": 45},
                             {"column": x, "op": "not_na"}],
                 "sort": [{"column": x}]}) == list(expected[:2000])
    between = frame[frame["k"].between(3, 5)]
    assert rows({"filters": [{"column": k, "op": "between", "low": 3, "high": 5}]}) == \
        list(between.index[:2000])
    assert rows({"filters": [{"column": word, "op": "is_na"}]}) == \
        list(frame.index[frame["word"].isna()][:2000])
    assert rows({"filters": [{"column": word, "op": "regex", "value": "^b.n"}]}) == \
        list(frame.index[frame["word"].str.contains("^b.n", case=False, na=False)][:2000])
    assert rows({"filters": [{"column": cat, "op": "in", "values": ["hi", "lo"]}]}) == \
        list(frame.index[frame["cat"].isin(["hi", "lo"])][:2000])
    late = frame[frame["when"] >= pd.Timestamp("2024-01-10")]
    assert rows({"filters": [{"column": when, "op": ">=", "value": "2024-01-10"}]}) == \
        list(late.index[:2000])
    searched = frame[frame["word"].str.contains("cher", case=False, na=False)
                     | frame["cat"].astype(str).str.contains("cher")]
    assert rows({"search": "CHER"}) == list(searched.index[:2000])


def test_profiles_match_pandas(pair: Any) -> None:
    import numpy as np
    _host, viewers, service = pair
    frame = _mixed()
    view_id, snapshot = _show(viewers, frame, "mixed")
    for profile in _answers(service, snapshot, view_id, "profile", {"column": 1}):
        finite = frame["x"][np.isfinite(frame["x"])]
        assert (profile["rows"], profile["nan"], profile["inf"], profile["na"]) == (
            MIXED, int(frame["x"].isna().sum()), 2, 0)
        assert profile["stats"]["mean"] == pytest.approx(finite.mean(), rel=1e-12)
        assert profile["stats"]["std"] == pytest.approx(finite.std(), rel=1e-9)
        assert profile["stats"]["median"] == pytest.approx(finite.median(), rel=1e-12)
        counts, edges = np.histogram(finite, bins=20)
        assert profile["histogram"]["counts"] == list(counts)
        assert profile["histogram"]["edges"] == pytest.approx(list(edges), rel=1e-12)
    args = {"column": 2, "filters": [{"column": 3, "op": "<", "value": 10}]}
    subset = frame[frame["k"] < 10]["word"]
    for profile in _answers(service, snapshot, view_id, "profile", args):
        assert profile["rows"] == len(subset) and profile["na"] == int(subset.isna().sum())
        counts = subset.value_counts()
        assert dict(zip(profile["frequent"]["values"], profile["frequent"]["counts"])) == \
            {str(k): int(v) for k, v in counts.items()}
        assert profile["distinct"] == len(counts)
    for profile in _answers(service, snapshot, view_id, "profile", {"column": 5}):
        counts = frame["cat"].value_counts()
        assert dict(zip(profile["frequent"]["values"], profile["frequent"]["counts"])) == \
            {str(k): int(v) for k, v in counts.items()}


def test_export_and_code_select_the_rows_the_grid_shows(pair: Any) -> None:
    import polars as pl
    _host, viewers, service = pair
    frame = _mixed()
    view_id, snapshot = _show(viewers, frame, "mixed")
    query = {"filters": [{"column": 2, "op": "contains", "value": "an"},
                         {"column": 3, "op": "between", "low": 10, "high": 20}],
             "sort": [{"column": 1, "descending": True}]}
    shown = service.answer("t1", view_id, "rows", {**query, "count": 2000})
    exported = service.answer("t1", view_id, "export", {**query, "format": "csv",
                                                        "columns": [0, 1, 2]})
    lines = list(csv.reader(io.StringIO(exported["text"])))
    assert lines[0] == ["(row)", "x", "word"]
    assert [int(line[0]) for line in lines[1:]] == shown["rows"]
    assert exported["rows"] == shown["total"]
    tsv = service.answer("t1", view_id, "export", {**query, "format": "tsv", "count": 3})
    assert tsv["text"].count("\n") == 4 and "\t" in tsv["text"]

    names = [c["name"] for c in snapshot.meta()["columns"]]
    code = service.answer("t1", view_id, "code", {**query, "language": "pandas"})["code"]
    scope: dict[str, Any] = {"df": frame}
    exec(code, scope)
    assert list(scope["result"].index) == shown["rows"][:len(scope["result"])]
    assert len(scope["result"]) == shown["total"]
    code = service.answer("t1", view_id, "code", {**query, "language": "polars"})["code"]
    scope = {"df": pl.from_pandas(frame[names[1:]])}
    exec(code, scope)
    assert len(scope["result"]) == shown["total"]
    dplyr = service.answer("t1", view_id, "code", {**query, "language": "dplyr"})["code"]
    assert "arrange(desc(x))" in dplyr and "between(k, 10, 20)" in dplyr


def test_bad_queries_and_tampered_snapshots_get_one_line_errors(pair: Any) -> None:
    import pandas as pd
    _host, viewers, service = pair
    view_id, snapshot = _show(viewers, pd.DataFrame({"a": [1.0, 2.0]}), "small")
    for args, message in [
            ({"filters": [{"column": 1, "op": "like", "value": "x"}]}, "filter op 'like'"),
            ({"sort": [{"column": 9}]}, "column 9"),
            ({"filters": [{"column": 1, "op": "regex", "value": "("}]}, "regex"),
            ({"filters": [{"column": 1, "op": ">", "value": "ten"}]}, "not a number")]:
        with pytest.raises(RemoteError) as raised:
            service.answer("t1", view_id, "rows", args)
        assert raised.value.code == "bad_request" and message in raised.value.remote_message
        assert "\n" not in raised.value.remote_message
    with pytest.raises(RemoteError, match=r"not one of"):
        service.answer("t1", view_id, "code", {"language": "cobol"})

    meta = json.loads((snapshot.folder / "meta.json").read_text())
    meta["columns"][1]["file"] = "../../escape.f64"
    (snapshot.folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RemoteError) as raised:
        SnapshotTable(snapshot.folder).query()
    assert raised.value.code == "refused"
    meta["columns"][1]["file"] = "c1.f64"
    meta["rows"] = 3  # the files hold 2 rows
    (snapshot.folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RemoteError, match="bytes where the table's rows need"):
        SnapshotTable(snapshot.folder).query().rows({})


def test_a_snapshot_written_as_r_writes_it_keeps_na_and_nan_apart(tmp_path: Path) -> None:
    folder = tmp_path / "r-view"
    folder.mkdir()
    na_real = struct.pack("<Q", 0x7FF00000000007A2)
    nan = struct.pack("<d", float("nan"))
    (folder / "x.f64").write_bytes(struct.pack("<d", 1.5) + na_real + nan)
    (folder / "n.i32").write_bytes(struct.pack("<3i", 4, -(2**31), 6))
    (folder / "f.i32").write_bytes(struct.pack("<3i", 2, 1, -(2**31)))
    texts = ["Zürich", "", "b"]
    encoded = [t.encode() for t in texts]
    offsets = [0.0]
    for item in encoded:
        offsets.append(offsets[-1] + len(item))
    (folder / "s.utf8").write_bytes(b"".join(encoded))
    (folder / "s.off").write_bytes(struct.pack("<4d", *offsets))
    (folder / "s.na").write_bytes(bytes([0, 1, 0]))
    (folder / "d.f64").write_bytes(struct.pack("<3d", 19960.0, 0.0, -1.0))
    (folder / "t.f64").write_bytes(struct.pack("<3d", 1724586307.0, 0.5, 0.0))
    columns = [
        {"name": "x", "type": "float", "storage": "f64", "file": "x.f64", "ready": True},
        {"name": "n", "type": "integer", "storage": "i32", "file": "n.i32", "ready": True},
        {"name": "f", "type": "category", "storage": "i32", "file": "f.i32",
         "levels": ["lo", "hi"], "ready": True},
        {"name": "s", "type": "string", "storage": "utf8", "file": "s.utf8", "offsets": "s.off",
         "na": "s.na", "ready": True},
        {"name": "d", "type": "date", "storage": "f64", "file": "d.f64", "ready": True},
        {"name": "t", "type": "datetime", "tz": "America/New_York", "storage": "f64",
         "file": "t.f64", "ready": True}]
    (folder / "meta.json").write_text(json.dumps({"format": "filebridge.table", "version": 2,
                                                  "rows": 3, "columns": columns,
                                                  "complete": True}))
    for pure in (False, True):
        table = SnapshotTable(folder, pure=pure)
        answer = table.query().rows({})
        assert answer["cells"] == [
            [1.5, None, "NaN"], [4, None, 6], ["hi", "lo", None], ["Zürich", None, "b"],
            ["2024-08-25", "1970-01-01", "1969-12-31"],
            ["2024-08-25 07:45:07", "1969-12-31 19:00:00.5", "1969-12-31 19:00:00"]]
        profile = table.query().profile({"column": 0})
        assert (profile["na"], profile["nan"]) == (1, 1)


@pytest.mark.integration
def test_a_gone_worker_leaves_the_snapshot_to_answer(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root, ui=False) as (_host, viewers):
        # A dict of columns: the worker needs no pandas for what this test is about.
        run_worker(root, "gone", """
from filebridge.worker import viewers
viewers.dataview({"n": [3, 1, 2], "s": ["c", "a", "b"]}, "short-lived")
""")
        (view,) = wait_for(lambda: viewers.store.views("gone"), what="the view")
        service = TableService(_host, viewers.store)
        wait_for(lambda: _host.session("gone").status != "alive", what="the session detached")
        answer = service.answer("gone", view.id, "rows", {"sort": [{"column": 1}]})
        assert answer["source"] == "snapshot"
        assert answer["cells"][1:] == [[1, 2, 3], ["a", "b", "c"]]
        schema = service.answer("gone", view.id, "schema", {})
        assert schema["live"] and schema["complete"] and schema["rows"] == 3

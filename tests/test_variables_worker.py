"""The worker side's descriptions, limits, registry and deltas, checked in this process."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest

from filebridge.errors import RemoteError
from filebridge.wire.layout import SessionLayout
from filebridge.worker.variables import register, register_method, unregister
from filebridge.worker.variables.commands import VariableCommands
from filebridge.worker.variables.describe import describe
from filebridge.worker.variables.limits import NESTED_CHARS, TOP_LEVEL_CHARS
from filebridge.worker.variables.publisher import Publisher
from filebridge.worker.variables.registry import failures
from filebridge.worker.variables.snapshot import Snapshotter
from filebridge.worker.variables.timelimit import signals_usable

T = TypeVar("T")


def top(value: Any, name: str = "x") -> dict[str, Any]:
    return describe(value, name=name, access_key=name, evaluate_name=name, top_level=True)


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Any]:
    return {}


@pytest.fixture
def commands(tmp_path: Path, workspace: dict[str, Any]) -> VariableCommands:
    layout = SessionLayout(tmp_path / "sessions" / "unit")
    layout.folder.mkdir(parents=True)
    publisher = Publisher(layout, lambda: workspace, Snapshotter())
    return VariableCommands(publisher)


def test_every_field_of_a_list_is_filled_without_reading_all_of_it() -> None:
    entry = top(list(range(1_000_000)), "numbers")
    assert entry["display_type"] == "list [1000000]"
    assert entry["kind"] == "collection" and entry["length"] == 1_000_000
    assert entry["shape"] == [1_000_000] and entry["size"] > 8_000_000
    assert entry["has_children"] and entry["children_kind"] == "indexed"
    assert entry["is_truncated"] and entry["display_value"].endswith("...]")
    assert len(entry["display_value"]) < 1000
    assert entry["evaluate_name"] == "numbers"


def test_kinds_follow_positron() -> None:
    import numpy as np
    import pandas as pd
    kinds = {name: top(value)["kind"] for name, value in {
        "none": None, "flag": True, "n": 3, "f": 1.5, "s": "hi", "b": b"x", "d": {"a": 1},
        "l": [1], "fn": len, "cls": int, "obj": object(), "arr": np.arange(3),
        "df": pd.DataFrame({"a": [1]})}.items()}
    assert kinds == {"none": "empty", "flag": "boolean", "n": "number", "f": "number",
                     "s": "string", "b": "bytes", "d": "map", "l": "collection",
                     "fn": "function", "cls": "class", "obj": "other", "arr": "collection",
                     "df": "table"}


def test_long_strings_are_cut_at_the_top_level_and_nested_limits() -> None:
    text = "y" * (TOP_LEVEL_CHARS * 2)
    entry = top(text)
    assert entry["is_truncated"] and len(entry["display_value"]) <= TOP_LEVEL_CHARS
    nested = describe(text, name="0", access_key="0", evaluate_name=None, top_level=False)
    assert nested["is_truncated"] and len(nested["display_value"]) <= NESTED_CHARS


def test_huge_int_is_described_without_converting_it_to_text() -> None:
    entry = top(10 ** 100_000)
    assert entry["display_value"].startswith("<int of ") and entry["is_truncated"]


def test_big_numpy_array_shows_shape_and_bytes_without_materialising() -> None:
    import numpy as np
    big = np.zeros(10**8, dtype=np.uint8)
    entry = top(big, "big")
    assert entry["shape"] == [10**8] and entry["size"] == 10**8
    assert entry["display_type"] == "ndarray uint8 [100000000]"
    assert entry["is_truncated"] and len(entry["display_value"]) < 400


def test_ten_million_row_frame_shows_shape_and_shallow_size() -> None:
    import numpy as np
    import pandas as pd
    # Zeros not yet written and not copied (pandas copies a dict's arrays by default): 120 MB
    # that cost nothing until something reads them.
    frame = pd.DataFrame({"a": np.zeros(10**7), "b": np.zeros(10**7, dtype=np.int32)},
                         copy=False)
    entry = top(frame, "frame")
    assert entry["shape"] == [10**7, 2] and entry["length"] == 2
    assert entry["display_value"] == "[10000000 rows x 2 columns] a, b"
    assert entry["size"] >= 12 * 10**7


def test_polars_frame_is_a_table_with_column_children() -> None:
    import polars as pl
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    entry = top(frame, "p")
    assert entry["kind"] == "table" and entry["shape"] == [3, 2]


def test_failing_repr_shows_as_such_and_the_snapshot_goes_on() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise ValueError("cannot show me")

    snapshot = Snapshotter().build({"bad": Broken(), "good": 1})
    values = {v["display_name"]: v["display_value"] for v in snapshot["variables"]}
    assert values == {"bad": "<repr failed: ValueError: cannot show me>", "good": "1"}


def test_properties_are_listed_but_not_run_until_named(commands: VariableCommands,
                                                       workspace: dict[str, Any]) -> None:
    runs: list[str] = []

    class Lazy:
        def __init__(self) -> None:
            self.plain = 1

        @property
        def costly(self) -> int:
            runs.append("ran")
            return 42

    workspace["obj"] = Lazy()
    page = commands.inspect({"path": ["obj"]})
    shown = {c["display_name"]: c for c in page["children"]}
    assert shown["costly"]["kind"] == "lazy" and runs == []
    key = shown["costly"]["access_key"]
    assert commands.clipboard_format({"path": ["obj", key]})["content"] == "42"
    assert runs == ["ran"]


def test_dict_children_keep_non_string_keys(commands: VariableCommands,
                                            workspace: dict[str, Any]) -> None:
    workspace["d"] = {1: "int key", "1": "str key", (2, 3): "tuple key", None: "none"}
    page = commands.inspect({"path": ["d"]})
    assert page["length"] == 4
    resolved = {}
    for child in page["children"]:
        text = commands.clipboard_format({"path": ["d", child["access_key"]]})["content"]
        resolved[child["display_name"]] = text
    assert resolved == {"1": "int key", "'1'": "str key", "(2, 3)": "tuple key",
                        "None": "none"}


def test_pages_of_a_big_list_carry_evaluate_names(commands: VariableCommands,
                                                  workspace: dict[str, Any]) -> None:
    workspace["nums"] = list(range(10**6))
    page = commands.inspect({"path": ["nums"], "start": 999_950, "count": 100})
    assert page["length"] == 10**6 and len(page["children"]) == 50
    assert page["children"][0]["evaluate_name"] == "nums[999950]"
    assert page["children"][-1]["display_value"] == "999999"


def test_sort_and_filter_children(commands: VariableCommands,
                                  workspace: dict[str, Any]) -> None:
    workspace["d"] = {"apple": "x" * 100, "banana": 1, "cherry": [1, 2], "date": None}
    page = commands.inspect({"path": ["d"], "filter": "an", "sort": "name"})
    assert [c["display_name"] for c in page["children"]] == ["'banana'"]
    page = commands.inspect({"path": ["d"], "sort": "size"})
    assert page["children"][0]["display_name"] == "'apple'"


def test_bad_requests_say_what_is_wrong(commands: VariableCommands,
                                        workspace: dict[str, Any]) -> None:
    workspace["l"] = [1, 2]
    with pytest.raises(RemoteError, match="no variable named 'zz'"):
        commands.inspect({"path": ["zz"]})
    with pytest.raises(RemoteError, match="has no child 5"):
        commands.inspect({"path": ["l", "5"]})
    with pytest.raises(RemoteError, match="not JSON"):
        commands.inspect({"path": ["l", "{oops"]})
    with pytest.raises(RemoteError, match="'count' must be an integer"):
        commands.inspect({"path": ["l"], "count": 10**6})
    with pytest.raises(RemoteError, match="clipboard format"):
        commands.clipboard_format({"path": ["l"], "mime": "image/png"})
    assert workspace["l"] == [1, 2]


def test_custom_display_falls_back_and_is_reported_once(commands: VariableCommands,
                                                        workspace: dict[str, Any]) -> None:
    class Matrix:
        def __init__(self, rows: int) -> None:
            self.rows = rows

    def failing_type(m: Matrix, include_length: bool) -> str:
        raise RuntimeError("display_type is broken")

    register(Matrix, display_value=lambda m, width: f"Matrix with {m.rows} rows",
             display_type=failing_type, kind=lambda m: "table",
             get_children=lambda m: [(f"row{i}", i * 10) for i in range(m.rows)],
             get_child_at=lambda m, index, name: index * 10)
    try:
        workspace["m"] = Matrix(250)
        entry = Snapshotter().build(workspace)["variables"][0]
        Snapshotter().build(workspace)
        assert entry["display_value"] == "Matrix with 250 rows"
        assert entry["display_type"] == "Matrix" and entry["kind"] == "table"
        reported = [f for f in failures() if f["method"] == "display_type"
                    and f["type"].endswith("Matrix")]
        assert len(reported) == 1 and "display_type is broken" in reported[0]["error"]
        page = commands.inspect({"path": ["m"], "start": 200, "count": 100})
        assert page["length"] == 250 and len(page["children"]) == 50
        assert page["children"][0]["display_name"] == "row200"
        key = page["children"][0]["access_key"]
        assert commands.clipboard_format({"path": ["m", key]})["content"] == "2000"
    finally:
        unregister(Matrix)


def test_failing_get_child_at_fails_the_request(commands: VariableCommands,
                                                workspace: dict[str, Any]) -> None:
    class Box:
        pass

    def broken(box: Box, index: int, name: str) -> Any:
        raise LookupError("child lookup broke")

    register(Box, get_children=lambda b: {"only": 1}, get_child_at=broken)
    try:
        workspace["box"] = Box()
        key = commands.inspect({"path": ["box"]})["children"][0]["access_key"]
        with pytest.raises(LookupError, match="child lookup broke"):
            commands.inspect({"path": ["box", key]})
    finally:
        unregister(Box)


def test_register_refuses_unknown_methods() -> None:
    with pytest.raises(TypeError, match="unknown display method"):
        register("pkg.Thing", display_valeu=lambda x, w: "")


class Matrix:
    def __init__(self, rows: int) -> None:
        self.rows = rows


def test_ark_generic_names_register_one_method_at_a_time_and_others_are_refused(
        commands: VariableCommands, workspace: dict[str, Any]) -> None:
    try:
        register_method("positron_variable_display_value", Matrix,
                        lambda m, width: f"Matrix of {m.rows}")
        register_method("ark_positron_variable_kind", Matrix, lambda m: "table")
        register_method("get_children", Matrix,
                        lambda m: [(f"row{i}", [i] * 2) for i in range(m.rows)])
        register_method("positron_variable_get_child_at", Matrix,
                        lambda m, index, name: [index] * 2)
        entry = top(Matrix(3), "m")
        assert (entry["display_value"], entry["kind"]) == ("Matrix of 3", "table")
        assert entry["named_children"] == 3
        workspace["m"] = Matrix(3)
        page = commands.inspect({"path": ["m"]})
        assert [c["display_name"] for c in page["children"]] == ["row0", "row1", "row2"]
        child = commands.inspect({"path": ["m", page["children"][2]["access_key"]]})
        assert [c["display_value"] for c in child["children"]] == ["2", "2"]
        with pytest.raises(TypeError, match="unknown display method"):
            register_method("positron_variable_summary", Matrix, lambda m: "")
        with pytest.raises(TypeError, match="must be callable"):
            register_method("kind", Matrix, "table")  # type: ignore[arg-type]
    finally:
        unregister(Matrix)


def test_versions_and_deltas_name_what_changed(tmp_path: Path) -> None:
    snapshotter = Snapshotter()
    first = snapshotter.build({"a": 1, "b": [1]})
    assert first["version"] == 1 and first["assigned"] == ["a", "b"]
    same = [1, 2]
    second = snapshotter.build({"a": 1, "b": same, "c": "new"})
    assert second["version"] == 2 and second["assigned"] == ["b", "c"]
    assert second["removed"] == []
    third = snapshotter.build({"b": same, "c": "new"})
    assert third["assigned"] == [] and third["removed"] == ["a"]
    updated = {v["display_name"]: v["updated_time"] for v in second["variables"]}
    kept = {v["display_name"]: v["updated_time"] for v in third["variables"]}
    assert kept["c"] == updated["c"]


def test_a_spent_time_budget_lists_the_rest_and_describes_them_first_next_time() -> None:
    class Slow:
        def __repr__(self) -> str:
            time.sleep(0.03)
            return "slow"

    # A value starts only while its whole limit fits in the budget: for 20 ms after the
    # snapshot starts. One of 30 ms fills that; it is well under its limit and under 60% of it
    # (blocked by itself) even when a busy machine delays it.
    namespace = {"a": Slow(), "b": Slow(), "c": [3]}
    snapshotter = Snapshotter(budget=0.12, value_limit=0.1)
    first = snapshotter.build(namespace)
    assert first["unevaluated"] == ["b", "c"]
    shown = {v["display_name"]: v for v in first["variables"]}
    assert shown["a"]["display_value"] == "slow"
    assert shown["b"]["not_described"] == "budget"
    second = snapshotter.build(namespace)
    assert second["unevaluated"] == ["c"]
    third = snapshotter.build(namespace)
    assert third["unevaluated"] == []
    assert [v["display_value"] for v in third["variables"]] == ["slow", "slow", "[3]"]


@contextmanager
def free_alarm() -> Iterator[None]:
    """SIGALRM and the real-time timer as in a plain interpreter, whatever plugin (say
    pytest-timeout) owns them; both are put back after."""
    handler = signal.getsignal(signal.SIGALRM)
    delay, interval = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    started = time.monotonic()
    try:
        assert signals_usable()
        yield
    finally:
        signal.signal(signal.SIGALRM, handler)
        if delay:
            left = max(delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def on_path(path: str, fn: Callable[[], T]) -> T:
    """``fn()`` where the time limit takes the given path: the timer signal on the main
    thread, or the watchdog on another thread."""
    if path == "signal":
        with free_alarm():
            return fn()
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(fn()))
    thread.start()
    thread.join(30)
    assert results, "the snapshot did not finish"
    return results[0]


PATHS = ["signal", "watchdog"]


@pytest.mark.parametrize("wait_s", [0.2, 5.0])
@pytest.mark.parametrize("path", PATHS)
def test_a_value_waiting_over_the_limit_is_remembered_at_once_by_object_and_type(
        path: str, wait_s: float) -> None:
    # On the watchdog path the helper is abandoned after the budget and its grace (0.1 s +
    # 0.2 s): a 5 s wait outlasts them (abandoned), a 0.2 s one ends before them (interrupted
    # afterwards, 150 ms after the watchdog fired: time for it on a busy machine); the signal
    # interrupts both at the limit.
    calls: list[int] = []

    class Slow:
        def __repr__(self) -> str:
            calls.append(1)
            time.sleep(wait_s)
            return "slow"

    # A 50 ms limit: a busy machine's share of it (waiting for a CPU) stays well under half.
    snapshotter = Snapshotter(value_limit=0.05, budget=0.1)
    assert 0.2 < snapshotter.budget + snapshotter.grace < 5.0, "the waits fall either side"
    value = Slow()
    started = time.perf_counter()
    first = on_path(path, lambda: snapshotter.build({"s": value}))
    assert time.perf_counter() - started < 1
    assert first["variables"][0]["display_value"].startswith("not described: took over ")
    assert first["variables"][0]["not_described"] == "over_limit"
    on_path(path, lambda: snapshotter.build({"s": value}))
    assert calls == [1], "a wait over the limit is not the machine's fault: not run again"
    on_path(path, lambda: snapshotter.build({"s": Slow()}))
    assert calls == [1, 1]
    third = on_path(path, lambda: snapshotter.build({"s": Slow()}))
    assert calls == [1, 1], "two slow objects of a type: its other instances are skipped"
    assert third["variables"][0]["not_described"] == "over_limit"


@pytest.mark.parametrize("path", PATHS)
def test_a_value_computing_over_the_limit_is_tried_once_more_then_remembered(
        path: str) -> None:
    calls: list[int] = []

    class Busy:
        def __repr__(self) -> str:
            calls.append(1)
            end = time.perf_counter() + 5
            while time.perf_counter() < end:
                pass
            return "busy"

    snapshotter = Snapshotter(value_limit=0.05)
    value = Busy()
    first = on_path(path, lambda: snapshotter.build({"b": value}))
    assert first["variables"][0]["not_described"] == "over_limit"
    assert snapshotter.pending, "a first overrun may be the machine's fault: tried again"
    on_path(path, lambda: snapshotter.build({"b": value}))
    assert calls == [1, 1]
    on_path(path, lambda: snapshotter.build({"b": value}))
    assert calls == [1, 1], "its second overrun: remembered"


def test_modules_and_private_names_stay_out_of_the_list() -> None:
    import numpy as np
    snapshot = Snapshotter().build({"np": np, "_hidden": 1, "shown": 2})
    assert [v["display_name"] for v in snapshot["variables"]] == ["shown"]


def test_view_of_a_frame_is_a_limited_table(commands: VariableCommands,
                                            workspace: dict[str, Any]) -> None:
    import numpy as np
    import pandas as pd
    workspace["df"] = pd.DataFrame({"n": np.arange(5000), "t": ["a"] * 5000,
                                    "f": [float("nan")] * 5000})
    view = commands.view({"path": ["df"]})
    assert view["title"] == "df (limited to 1000/5000)" and view["limited"]
    assert [c["headerName"] for c in view["columns"]] == ["(row)", "n", "t", "f"]
    assert view["columns"][1]["type"] == "numericColumn"
    assert view["data"][3] == {"x0": 3, "x1": 3, "x2": "a", "x3": "nan"}
    json.dumps(view, allow_nan=False)


def test_delete_removes_names_and_publishes(commands: VariableCommands,
                                            workspace: dict[str, Any], tmp_path: Path) -> None:
    workspace.update(a=1, b=2)
    answer = commands.delete({"names": ["a", "missing"]})
    assert answer["removed"] == ["a"] and answer["missing"] == ["missing"]
    snapshot = json.loads((tmp_path / "sessions" / "unit" / "workspace.json").read_text())
    assert [v["display_name"] for v in snapshot["variables"]] == ["b"]
    assert snapshot["version"] == answer["version"]


def test_a_host_stops_at_once_though_a_watched_worker_is_gone(tmp_path: Path) -> None:
    """Closing the pane tells each watched worker it is no longer watched; a worker that is
    gone cannot answer, and the host's stop does not wait out the pane's timeout (10 s)."""
    import filebridge.worker.variables as fv
    from filebridge.host import Host
    from filebridge.host.variables.service import provider_for
    from filebridge.worker.connection import open_connection

    host = Host(tmp_path / "root")
    provider = provider_for(host, timeout=10)
    host.start()
    try:
        connection = open_connection(host.root.session("gone").folder)
        fv.enable(connection, {"x": 1}, hook=False)
        try:
            assert provider.watch("gone") >= 0 and provider.watching("gone")
        finally:
            fv.disable()
            connection.close(detach=False)  # as a killed worker: nothing answers any more
    finally:
        started = time.monotonic()
        host.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 5, f"the host took {stopped_in:.1f} s to stop"

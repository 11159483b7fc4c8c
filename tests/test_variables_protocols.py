"""DAP's and Positron's shapes, checked against JSON Schemas written from their specifications,
on a worker connected from this process; ``evaluate_name`` checked against the objects with
hypothesis."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import filebridge.worker.variables as fv
from filebridge.host import DapVariables, PositronVariables, VariablesProvider
from filebridge.wire.layout import SessionLayout
from filebridge.worker.connection import open_connection
from filebridge.worker.variables.commands import VariableCommands
from filebridge.worker.variables.paths import resolve
from filebridge.worker.variables.publisher import Publisher
from filebridge.worker.variables.snapshot import Snapshotter

SCHEMAS = Path(__file__).parent / "schemas"

WORKER = """
import numpy as np
import pandas as pd
class Point:
    def __init__(self):
        self.x = 1
        setattr(self, "not an identifier", [1, 2])
        setattr(self, "class", "keyword")
    @property
    def norm(self):
        return 5
grid = np.arange(12).reshape(3, 4)
frame = pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3.5, 19.0]})
config = {"k" * 300: "long key", (1, "a"): "tuple key", 2.5: "float key", None: "none"}
point = Point()
members = {"a", "b"}
numbers = list(range(250))
title = "hello"
"""


def validator(schema_file: str, definition: str) -> Any:
    # Imported here, not with the module: its format checkers take seconds to import.
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / schema_file).read_text())
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{definition}"})


def check(schema_file: str, definition: str, instance: Any) -> None:
    errors = sorted(validator(schema_file, definition).iter_errors(instance), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VariablesProvider]:
    """The pane of a worker connected from this process (the schemas are the point, not the
    worker's process), over ``WORKER``'s namespace, read through the session's real files."""
    root = tmp_path_factory.mktemp("vars-protocols") / "root"
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(WORKER, namespace)
    connection = open_connection(root / "sessions" / "shapes")
    try:
        fv.enable(connection, namespace, hook=False)
        variables = VariablesProvider.direct(root, timeout=30)
        try:
            yield variables
        finally:
            variables.close()
    finally:
        fv.disable()
        connection.close()


def test_dap_scopes_and_variables_follow_the_schema(provider: VariablesProvider) -> None:
    dap = DapVariables(provider, "shapes")
    scopes = dap.scopes()
    check("dap_variables.json", "ScopesResponseBody", scopes)
    top = dap.variables(scopes["scopes"][0]["variablesReference"])
    check("dap_variables.json", "VariablesResponseBody", top)
    shown = {v["name"]: v for v in top["variables"]}
    assert set(shown) >= {"grid", "frame", "config", "point", "members", "numbers", "title"}
    assert shown["title"]["variablesReference"] == 0
    assert "rawString" in shown["title"]["presentationHint"]["attributes"]
    expanded = 0
    for variable in top["variables"]:
        if variable["variablesReference"]:
            for kind in ("named", "indexed"):
                body = dap.variables(variable["variablesReference"], filter=kind)
                check("dap_variables.json", "VariablesResponseBody", body)
                wanted = variable.get(f"{kind}Variables", 0)
                assert len(body["variables"]) == wanted, (variable["name"], kind)
                expanded += 1
    assert expanded >= 10


def test_an_array_has_named_and_indexed_children_and_pages_by_start_and_count(
        provider: VariablesProvider) -> None:
    dap = DapVariables(provider, "shapes")
    top = {v["name"]: v for v in dap.variables(1)["variables"]}
    grid = top["grid"]
    assert grid["namedVariables"] == 5 and grid["indexedVariables"] == 3
    named = {v["name"]: v for v in dap.variables(grid["variablesReference"], "named")
             ["variables"]}
    assert named["dtype"]["evaluateName"] == "grid.dtype"
    assert named["shape"]["value"] == "(3, 4)"
    numbers = top["numbers"]
    page = dap.variables(numbers["variablesReference"], "indexed", start=240, count=20)
    assert [v["name"] for v in page["variables"]] == [str(i) for i in range(240, 250)]
    assert [v["evaluateName"] for v in page["variables"]][:2] == ["numbers[240]",
                                                                  "numbers[241]"]
    lazy = {v["name"]: v for v in dap.variables(top["point"]["variablesReference"])
            ["variables"]}
    assert lazy["norm"]["presentationHint"]["lazy"] is True
    assert lazy["not an identifier"]["evaluateName"] == "getattr(point, 'not an identifier')"
    assert lazy["class"]["evaluateName"] == "getattr(point, 'class')"


def test_positron_requests_and_events_follow_the_schema(provider: VariablesProvider) -> None:
    positron = PositronVariables(provider, "shapes")
    check("positron_variables.json", "RefreshParams", positron.refresh())
    listed = positron.list()
    check("positron_variables.json", "VariableList", listed)
    inspected = positron.inspect(["config"])
    check("positron_variables.json", "InspectedVariable", inspected)
    assert inspected["length"] == 4
    check("positron_variables.json", "FormattedVariable",
          positron.clipboard_format(["title"], "text/plain"))
    html = positron.clipboard_format(["frame"], "text/html")
    check("positron_variables.json", "FormattedVariable", html)
    assert "<td>Oslo</td>" in html["content"]
    check("positron_variables.json", "ViewResult", positron.view(["frame"]))
    summary = positron.query_table_summary(["frame"], ["summary_stats"])
    check("positron_variables.json", "QueryTableSummaryResult", summary)
    assert (summary["num_rows"], summary["num_columns"]) == (2, 2)
    assert json.loads(summary["column_schemas"][1])["type_display"] == "number"
    deleted = positron.delete(["title"])
    check("positron_variables.json", "DeleteResult", deleted)
    update = positron.update()
    check("positron_variables.json", "UpdateParams", update)
    assert update["removed"] == ["title"] and update["version"] > listed["version"]
    check("positron_variables.json", "ClearResult", positron.clear())
    assert positron.list()["variables"] == []


# --- evaluate_name, exhaustively -------------------------------------------------------------

scalar_keys = (st.text(max_size=300) | st.integers() | st.booleans() | st.none()
               | st.floats(allow_nan=True))
keys = scalar_keys | st.tuples(scalar_keys, scalar_keys) | st.frozensets(st.integers(),
                                                                          max_size=3)
# Special names (__dict__, __class__) cannot be set as plain instance attributes.
attribute_names = st.text(min_size=1, max_size=80).filter(
    lambda n: not (n.startswith("__") and n.endswith("__")))


class Holder:
    pass


def commands_over(namespace: dict[str, Any], folder: Path) -> VariableCommands:
    layout = SessionLayout(folder / "sessions" / "unit")
    layout.folder.mkdir(parents=True, exist_ok=True)
    return VariableCommands(Publisher(layout, lambda: namespace, Snapshotter()))


def all_children(commands: VariableCommands, path: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for kind in ("named", "indexed"):
        start = 0
        while True:
            page = commands.inspect({"path": path, "start": start, "count": 1000,
                                     "children": kind})
            out.extend(page["children"])
            start += len(page["children"])
            if not page["children"] or start >= page["length"]:
                break
    return out


def same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapping=st.dictionaries(keys, st.integers() | st.text(max_size=5), max_size=8),
       attributes=st.dictionaries(attribute_names, st.integers(), max_size=6),
       members=st.frozensets(st.integers() | st.text(max_size=5), max_size=6),
       top_name=st.text(min_size=1, max_size=20).filter(lambda n: not n.startswith("_")))
def test_every_evaluate_name_evaluates_back_to_the_same_object(
        tmp_path_factory: pytest.TempPathFactory, mapping: dict[Any, Any],
        attributes: dict[str, int], members: frozenset[Any], top_name: str) -> None:
    holder = Holder()
    for name, value in attributes.items():
        setattr(holder, name, [value])  # a fresh list: identity tells the children apart
    namespace: dict[str, Any] = {
        "mapping": {k: [v] for k, v in mapping.items()},
        "holder": holder,
        "members": set(members),
        "nested": [{"inner": holder}, (mapping, members)],
        top_name: [top_name],
    }
    commands = commands_over(namespace, tmp_path_factory.mktemp("evaluate"))
    checked = 0
    top = commands.inspect({"path": [], "count": 1000})["children"]
    for name in ("mapping", "holder", "members", "nested", top_name):
        entry = next(e for e in top if e["access_key"] == name)
        assert same(eval(entry["evaluate_name"], namespace), namespace[name])
        frontier = [[name]]
        for _depth in range(3):
            deeper = []
            for path in frontier:
                for child in all_children(commands, path):
                    child_path = [*path, child["access_key"]]
                    value, _ = resolve(namespace, child_path)
                    assert child["evaluate_name"] is not None, child_path
                    found = eval(child["evaluate_name"], namespace)
                    assert same(found, value), (child["evaluate_name"], child_path)
                    checked += 1
                    if child["has_children"] and not isinstance(value, (str, bytes)):
                        deeper.append(child_path)
            frontier = deeper
    assert checked >= len(mapping) + len(attributes) + len(members)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = [1]
        self.b = {"k": [2]}

    @property
    def total(self) -> list[int]:
        return self.a


def test_evaluate_names_of_arrays_frames_series_slots_deques_and_properties(
        tmp_path: Path) -> None:
    import collections

    import numpy as np
    import pandas as pd

    namespace: dict[str, Any] = {
        "grid": np.arange(6).reshape(2, 3),
        "frame": pd.DataFrame({"a": [1, 2], "b c": ["x", "y"]}),
        "dup": pd.DataFrame([[1, 2]], columns=["same", "same"]),
        "series": pd.Series([1.5, 2.5], index=["p", "q"], name="s"),
        "queue": collections.deque([[1], [2]]),
        "slotted": Slotted(),
        "span": range(5),
    }
    commands = commands_over(namespace, tmp_path)
    checked = 0
    for name in list(namespace):
        for child in all_children(commands, [name]):
            value, _ = resolve(namespace, [name, child["access_key"]])
            found = eval(child["evaluate_name"], namespace)
            if isinstance(value, (pd.Series, pd.DataFrame)):
                assert found.equals(value), child["evaluate_name"]
            elif isinstance(value, np.ndarray):
                assert np.array_equal(found, value), child["evaluate_name"]
            else:
                assert found is value or found == value, child["evaluate_name"]
            checked += 1
    assert checked == (5 + 2) + 2 + 2 + (3 + 2) + 2 + 3 + 5
    duplicated = [c["evaluate_name"] for c in all_children(commands, ["dup"])]
    assert duplicated == ["dup.iloc[:, 0]", "dup.iloc[:, 1]"]

"""A real Jupyter kernel publishes its variables; a real Host reads, expands and views them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from variables_support import by_name, snapshot_with, wait_for, worker_env

from filebridge.host import Host
from filebridge.host.variables.provider import VariablesChanged, VariablesProvider

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.slow


class Kernel:
    def __init__(self, session: Path) -> None:
        self.session = session
        self.manager = jupyter_client.KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=worker_env(session))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str) -> None:
        errors: list[str] = []

        def output(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, timeout=60, output_hook=output)
        assert reply["content"]["status"] == "ok", errors

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Host, Path]]:
    root = tmp_path_factory.mktemp("vars-jupyter") / "root"
    host = Host(root)
    host.start()
    try:
        yield host, root
    finally:
        host.stop()


@pytest.fixture(scope="module")
def kernel(served: tuple[Host, Path]) -> Iterator[Kernel]:
    _host, root = served
    session = root / "sessions" / "kernel1"
    running = Kernel(session)
    try:
        running.run("import filebridge.worker.variables as fv\nfv.enable()")
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def provider(served: tuple[Host, Path], kernel: Kernel) -> Iterator[VariablesProvider]:
    host, _root = served
    wait_for(lambda: any(s.id == "kernel1" for s in host.sessions()), 30, "the host to see it")
    variables = VariablesProvider.for_host(host, timeout=30)
    variables.watch("kernel1")
    try:
        yield variables
    finally:
        variables.close()


def test_each_cell_publishes_a_snapshot_read_through_the_host(
        kernel: Kernel, provider: VariablesProvider) -> None:
    kernel.run("answer = 42\ngreeting = 'hello'")
    snap = snapshot_with(kernel.session, lambda s: "greeting" in by_name(s))
    assert by_name(snap)["answer"]["display_value"] == "42"
    listed = provider.list("kernel1", sort="name")
    names = [v["display_name"] for v in listed["children"]]
    assert "answer" in names and names == sorted(names, key=str.lower)
    assert not {"In", "Out", "get_ipython", "exit", "quit"} & set(names)
    kernel.run("del greeting")
    after = snapshot_with(kernel.session, lambda s: "greeting" not in by_name(s))
    assert "greeting" in after["removed"] and after["version"] > snap["version"]


def test_nested_children_expand_page_by_page(kernel: Kernel,
                                             provider: VariablesProvider) -> None:
    kernel.run("config = {'rows': [{'i': i, 'sq': i * i} for i in range(250)], 'name': 'c'}")
    snapshot_with(kernel.session, lambda s: "config" in by_name(s))
    top = {v.name: v for v in provider.provide_variables("kernel1")}
    config = top["config"]
    assert config.has_named_children and config.named_children_count == 2
    assert list(provider.provide_variables("kernel1", config, "indexed")) == []
    children = {v.name: v for v in provider.provide_variables("kernel1", config, "named")}
    rows = children["'rows'"]
    assert rows.indexed_children_count == 250 and rows.expression == "config['rows']"
    seen = []
    for start in range(0, 250, 100):
        page = list(provider.provide_variables("kernel1", rows, "indexed", start, 100))
        seen.extend(v.name for v in page)
    assert seen == [str(i) for i in range(250)]
    last = next(iter(provider.provide_variables("kernel1", rows, "indexed", 249, 100)))
    leaf = {v.name: v for v in provider.provide_variables("kernel1", last, "named")}
    assert leaf["'sq'"].value == str(249 * 249)
    assert leaf["'sq'"].expression == "config['rows'][249]['sq']"


def test_custom_display_registered_in_the_kernel(kernel: Kernel,
                                                 provider: VariablesProvider) -> None:
    kernel.run(
        "class Grid:\n"
        "    def __init__(self, n): self.n = n\n"
        "fv.register(Grid, display_value=lambda g, width: f'Grid of {g.n} cells',\n"
        "            display_type=lambda g, include_length: 'Grid',\n"
        "            get_children=lambda g: [(f'cell{i}', i) for i in range(g.n)])\n"
        "grid = Grid(3)")
    snap = snapshot_with(kernel.session, lambda s: "grid" in by_name(s))
    entry = by_name(snap)["grid"]
    assert (entry["display_value"], entry["display_type"]) == ("Grid of 3 cells", "Grid")
    page = provider.inspect("kernel1", ["grid"])
    assert [c["display_name"] for c in page["children"]] == ["cell0", "cell1", "cell2"]


def test_view_a_dataframe(kernel: Kernel, provider: VariablesProvider) -> None:
    kernel.run("import pandas as pd\n"
               "frame = pd.DataFrame({'city': ['Oslo', 'Lima'], 'temp': [3.5, 19.0]})")
    snap = snapshot_with(kernel.session, lambda s: "frame" in by_name(s))
    assert by_name(snap)["frame"]["has_viewer"] and by_name(snap)["frame"]["shape"] == [2, 2]
    view = provider.view("kernel1", ["frame"])
    assert [c["headerName"] for c in view["columns"]] == ["(row)", "city", "temp"]
    assert view["data"] == [{"x0": 0, "x1": "Oslo", "x2": 3.5},
                            {"x0": 1, "x1": "Lima", "x2": 19.0}]


def test_a_new_snapshot_notifies_subscribers(kernel: Kernel,
                                             provider: VariablesProvider) -> None:
    seen: list[VariablesChanged] = []
    arrived = threading.Event()

    def record(change: VariablesChanged) -> None:
        seen.append(change)
        if "signal" in change.assigned:
            arrived.set()

    provider.subscribe(record)
    kernel.run("signal = 'ping'")
    assert arrived.wait(30), f"no notification naming 'signal'; got {seen}"
    assert seen[-1].session_id == "kernel1"


def test_children_are_served_while_the_kernel_runs_a_cell(
        kernel: Kernel, provider: VariablesProvider) -> None:
    kernel.run("items = list(range(1000))")
    snapshot_with(kernel.session, lambda s: "items" in by_name(s))
    kernel.client.execute("import time\nfor _ in range(100): time.sleep(0.05)")
    page = provider.inspect("kernel1", ["items"], start=10, count=5)
    assert [c["display_value"] for c in page["children"]] == ["10", "11", "12", "13", "14"]
    kernel.client.get_shell_msg(timeout=30)


HANG = ("import threading, time\n"
        "class Hang:\n"
        "    def __repr__(self):\n"
        "        while True:\n"
        "            time.sleep(0.5)\n"
        "class Blocked:\n"
        "    def __repr__(self):\n"
        "        threading.Event().wait()\n"
        "        return 'never'\n")


def test_a_repr_that_never_returns_is_interrupted_and_not_run_again(
        kernel: Kernel, provider: VariablesProvider) -> None:
    kernel.run(HANG + "hang = Hang()\nblocked = Blocked()\nplain = 7")
    snap = snapshot_with(kernel.session, lambda s: "plain" in by_name(s)
                         and by_name(s)["plain"]["display_value"] == "7")
    for name in ("hang", "blocked"):
        entry = by_name(snap)[name]
        assert entry["not_described"] == "over_limit", entry
        assert entry["display_value"].startswith("not described: took over ")
    kernel.run("counter = 1")
    again = snapshot_with(kernel.session, lambda s: "counter" in by_name(s))
    assert by_name(again)["hang"]["not_described"] == "over_limit"
    answer = provider.retry("kernel1", ["hang"])
    assert "hang" in answer["still_over_limit"]


def test_children_whose_repr_hangs_are_answered_within_the_request_limit(
        kernel: Kernel, provider: VariablesProvider) -> None:
    kernel.run(HANG + "holder = {'fine': 1, 'stuck': Hang()}")
    snapshot_with(kernel.session, lambda s: "holder" in by_name(s))
    page = provider.inspect("kernel1", ["holder"])
    shown = {c["display_name"]: c for c in page["children"]}
    assert shown["'fine'"]["display_value"] == "1"
    assert shown["'stuck'"]["not_described"] == "over_limit"
    kernel.run("assert holder['fine'] == 1")

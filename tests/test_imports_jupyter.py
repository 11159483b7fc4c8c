"""Remote imports in a real Jupyter kernel, started from the Python session template."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imports_support import REPO, Bridge, bridge_fixture

from filebridge.cli.template import render_template

jupyter_client = pytest.importorskip(
    "jupyter_client", reason="jupyter_client is not installed (pip install -e '.[test]')")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[test]')")

pytestmark = pytest.mark.slow
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from bridge_fixture(tmp_path)


class Kernel:
    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, code: str) -> tuple[str, str, str]:
        """Run a cell; (status, stdout, error text without colours)."""
        out: list[str] = []
        errors: list[str] = []

        def hook(message: dict[str, Any]) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                errors.append(ANSI.sub("", "\n".join(content["traceback"])))

        reply = self.client.execute_interactive(code, timeout=60, output_hook=hook)
        return reply["content"]["status"], "".join(out), "".join(errors)


@pytest.fixture
def kernel(bridge: Bridge) -> Iterator[Kernel]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = str(REPO)
    manager, client = jupyter_client.manager.start_new_kernel(
        kernel_name="python3", startup_timeout=120, env=env, cwd=str(bridge.base))
    try:
        yield Kernel(client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_kernel_imports_through_the_template_and_sees_an_edit_on_the_next_run(
        bridge: Bridge, kernel: Kernel) -> None:
    session = bridge.root / "sessions" / "kernel"
    snippet = render_template("python", session, source_names=repr(["proj"]),
                              source_name="proj")
    assert kernel.run(snippet)[0] == "ok"
    status, out, error = kernel.run(
        "import proj.rel.a\nprint(proj.rel.a.A, proj.rel.a.__file__, fb.__file__)")
    assert status == "ok", error
    value, path, worker_file = out.split()
    assert (value, path) == ("3", str(bridge.project / "rel" / "a.py"))
    assert worker_file.startswith(str(session / "bootstrap"))

    # Save and run at once, as a user does: no waiting for the host's watcher.
    for value in range(20, 26):
        (bridge.project / "rel" / "b.py").write_text(f"B = {value}\n")
        status, out, error = kernel.run("import proj.rel.a\nprint(proj.rel.a.A)")
        assert (status, out.strip()) == ("ok", str(value + 1)), error


def test_kernel_keeps_module_state_across_an_edit_of_another_module(
        bridge: Bridge, kernel: Kernel) -> None:
    snippet = render_template("python", bridge.root / "sessions" / "kernel3",
                              source_names=repr(["proj"]), source_name="proj")
    assert kernel.run(snippet)[0] == "ok"
    status, _out, error = kernel.run("import proj.core, proj.rel.b\nproj.rel.b.SEEN = ['x']")
    assert status == "ok", error
    (bridge.project / "core.py").write_text("def greet(name):\n    return f'hi {name}'\n")
    status, out, error = kernel.run("print(proj.core.greet('k'), proj.rel.b.SEEN)")
    assert (status, out.strip()) == ("ok", "hi k ['x']"), error
    (bridge.project / "broken.py").write_text("def broken(:\n")
    status, _out, error = kernel.run("import proj.broken")
    assert status == "error" and "SyntaxError" in error
    (bridge.project / "broken.py").write_text("OK = 1\n")
    status, out, error = kernel.run("import proj.broken\nprint(proj.broken.OK)")
    assert (status, out.strip()) == ("ok", "1"), error


def test_kernel_traceback_shows_lines_of_the_served_module(bridge: Bridge,
                                                           kernel: Kernel) -> None:
    snippet = render_template("python", bridge.root / "sessions" / "kernel2",
                              source_names=repr(["proj"]), source_name="proj")
    assert kernel.run(snippet)[0] == "ok"
    status, _out, error = kernel.run("import proj.raises\nproj.raises.fail()")
    assert status == "error"
    assert str(bridge.project / "raises.py") in error
    assert 'raise RuntimeError("deliberate failure")' in error

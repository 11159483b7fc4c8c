"""Remote imports in a real Jupyter kernel, started from the Python session template."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imports_support import REPO, Bridge, bridge_fixture, wait_for

from filebridge.cli.template import render_template
from filebridge.wire.codec import loads

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

    (bridge.project / "rel" / "b.py").write_text("B = 20\n")
    index = session / "modules.json"
    wait_for(lambda: loads(index.read_bytes())["modules"]["proj.rel.b"]["hash"]
             == bridge.service.provider.find("proj.rel.b")["hash"],
             "the host to publish the edit")
    status, out, error = kernel.run("import proj.rel.a\nprint(proj.rel.a.A)")
    assert (status, out.strip()) == ("ok", "21"), error


def test_kernel_traceback_shows_lines_of_the_served_module(bridge: Bridge,
                                                           kernel: Kernel) -> None:
    snippet = render_template("python", bridge.root / "sessions" / "kernel2",
                              source_names=repr(["proj"]), source_name="proj")
    assert kernel.run(snippet)[0] == "ok"
    status, _out, error = kernel.run("import proj.raises\nproj.raises.fail()")
    assert status == "error"
    assert str(bridge.project / "raises.py") in error
    assert 'raise RuntimeError("deliberate failure")' in error

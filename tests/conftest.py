"""Fixtures shared across feature tests, and the marker that splits the suite.

Tests of the modules below start real peers (R, Chromium, Jupyter, Deephaven, an sshd with an
sshfs mount, CLI subprocesses) and take seconds each: they are marked ``peers``. The default
developer run is ``pytest -m "not peers"``; ``.ci/run`` runs everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from r_support import Recorder
from viewers_support import CHROMIUM, CHROMIUM_ARGS

from filebridge.host import Host

# The plugin's entry point loads it where filebridge is installed; this loads it from a checkout.
pytest_plugins = ["filebridge.testing.pytest_plugin"]

PEER_MODULES = re.compile(
    r"test_(r_.*|.*browser.*|.*jupyter.*|.*deephaven.*|.*_cli.*|.*demo.*|netfs_.*|"
    r"surfaces_.*|variables_repl|imports_changes|imports_resources|imports_semantics|"
    r"viewers_worker|core_crash)\.py$")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PEER_MODULES.search(item.path.name):
            item.add_marker(pytest.mark.peers)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A real host serving a fresh root under ``tmp_path``, in this process (the core tests
    that need one with other settings define their own)."""
    served = Host(tmp_path / "root")
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def recorder(host: Host) -> Recorder:
    return Recorder(host)

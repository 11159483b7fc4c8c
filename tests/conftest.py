"""Fixtures shared across feature tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from r_support import Recorder
from viewers_support import CHROMIUM, CHROMIUM_ARGS

from filebridge.host import Host

# The plugin's entry point loads it where filebridge is installed; this loads it from a checkout.
pytest_plugins = ["filebridge.testing.pytest_plugin"]


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

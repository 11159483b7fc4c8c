"""A real host serving a real project folder to real worker processes (tests/test_imports_*)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from filebridge.host import Host
from filebridge.host.imports.service import SourceService, serve_sources

REPO = Path(__file__).resolve().parents[1]

# The worker starts connected, with the host aware of its session, and the importer installed.
PRELUDE = """
import sys, json
import filebridge.worker as fb
import filebridge.worker.imports as remote
fb.connect()
fb.call("echo", timeout=30)
"""

PROJECT = {
    "proj/__init__.py": 'VERSION = "1"\nfrom .core import greet\n',
    "proj/core.py": 'def greet(name):\n    return f"hello {name}"\n',
    "proj/rel/__init__.py": "",
    "proj/rel/a.py": "from .b import B\nfrom ..core import greet\n\nA = B + 1\n",
    "proj/rel/b.py": "B = 2\n",
    "proj/circ/__init__.py": "",
    "proj/circ/x.py": "from . import y\n\n\ndef fx():\n    return 'x' + y.fy()\n",
    "proj/circ/y.py": "from . import x\n\n\ndef fy():\n    return 'y'\n\n\ndef back():\n"
                      "    return x.fx()\n",
    "proj/nspkg/leaf.py": "LEAF = 'leaf'\n",
    "proj/broken.py": "def fine():\n    pass\n\ndef broken(:\n    pass\n",
    "proj/raises.py": '"""Fails on purpose."""\n\n\ndef fail():\n'
                      '    raise RuntimeError("deliberate failure")\n',
    "proj/secret_settings.py": "PASSWORD = 'hunter2'\n",
    "proj/build/generated.py": "X = 1\n",
    "proj/.hidden/mod.py": "X = 1\n",
    "outside/evil.py": "EVIL = True\n",
}


def write_project(base: Path) -> Path:
    for relative, text in PROJECT.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (base / "proj" / "escape.py").symlink_to(base / "outside" / "evil.py")
    (base / "proj" / "linkdir").symlink_to(base / "outside")
    return base / "proj"


class Bridge:
    """A host serving ``project`` under ``root``, and a way to run worker code against it."""

    def __init__(self, base: Path, sources: list[str] | None = None, *,
                 include: tuple[str, ...] = (), exclude: tuple[str, ...] = ("secret_*",),
                 force_polling: bool | None = None) -> None:
        self.base = base
        self.project = write_project(base)
        self.root = base / "root"
        self.host = Host(self.root)
        self.service: SourceService = serve_sources(
            self.host, sources or [str(self.project)], include=include, exclude=exclude,
            force_polling=force_polling)
        self.host.start()
        self._sessions = 0

    def stop(self) -> None:
        self.host.stop()
        self.service.stop()

    def env(self, **extra: str) -> dict[str, str]:
        self._sessions += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
        env.update(FILEBRIDGE_ROOT=str(self.root),
                   FILEBRIDGE_SESSION=str(self.root / "sessions" / f"worker{self._sessions}"),
                   PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1", **extra)
        return env

    def run_worker(self, code: str, *, timeout: float = 60, check: bool = True,
                   prelude: str = PRELUDE, **env: str) -> subprocess.CompletedProcess[str]:
        script = prelude + textwrap.dedent(code)
        done = subprocess.run([sys.executable, "-c", script], env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout, cwd=self.base)
        if check and done.returncode != 0:
            raise AssertionError(f"worker failed ({done.returncode}):\n{done.stdout}\n"
                                 f"{done.stderr}")
        return done

    def worker_json(self, code: str, **kwargs: Any) -> Any:
        """Run ``code``, which prints one JSON value on its last line; return that value."""
        done = self.run_worker(code, **kwargs)
        return json.loads(done.stdout.strip().splitlines()[-1])


def bridge_fixture(tmp_path: Path) -> Iterator[Bridge]:
    bridge = Bridge(tmp_path)
    try:
        yield bridge
    finally:
        bridge.stop()


def wait_for(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` if it never does."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)

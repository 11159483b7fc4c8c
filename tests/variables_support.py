"""Real workers for the variables tests: Python subprocesses, a Jupyter kernel, a python -i REPL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parents[1]


def worker_env(session: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["FILEBRIDGE_SESSION"] = str(session)
    env["FILEBRIDGE_ROOT"] = str(session.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def read_workspace(session: Path) -> Optional[dict[str, Any]]:
    try:
        return dict(json.loads((session / "workspace.json").read_text()))
    except (OSError, ValueError):
        return None


def snapshot_with(session: Path, check: Callable[[dict[str, Any]], bool],
                  timeout: float = 30) -> dict[str, Any]:
    """The first snapshot for which ``check`` holds."""
    def ready() -> Optional[dict[str, Any]]:
        snap = read_workspace(session)
        return snap if snap is not None and check(snap) else None

    return dict(wait_for(ready, timeout, f"a snapshot of {session.name} matching the test"))


def by_name(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["display_name"]: v for v in snapshot["variables"]}


def start_worker(session: Path, code: str) -> subprocess.Popen[str]:
    """A Python worker running ``code`` after enabling the pane; prints 'ready', then waits."""
    script = (
        "import sys\n"
        "import filebridge.worker.variables as fv\n"
        f"{code}\n"
        "fv.enable(hook=False)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=worker_env(session),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"worker did not start: {line!r}")
    return proc


def stop_worker(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

"""Shared helpers for benchmarks that start peer processes: their environment and their end."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def peer_env() -> dict[str, str]:
    """This environment without filebridge's settings, with this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def end_by_stdin(process: subprocess.Popen[str]) -> None:
    """Close its stdin (the sign to finish) and wait; kill it if it does not finish."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

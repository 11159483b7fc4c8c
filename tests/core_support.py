"""Real processes for the core tests: a host process with test handlers, and worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Optional

from filebridge.host.lease import SETTLE
from filebridge.host.server import BUSY_FOR, TICK

HOST_TEMPLATE = """
import logging, sys, time
from pathlib import Path
from filebridge.host import Host
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
host = Host(sys.argv[1], stale_after=float(sys.argv[2]), lease_settle=float(sys.argv[3]),
            tick=float(sys.argv[4]), busy_for=float(sys.argv[5]))
{handlers}
host.start(wait_for_lease=None)
print("ready", flush=True)
while host.running:
    host.join(0.5)
"""

# Handlers the host tests use; ``sink`` appends request ids to a file, one a line.
TEST_HANDLERS = """
def sink(call):
    with open(Path(call.args["sink"]), "a") as f:
        f.write(call.request.id + "\\n")

def sink_once(call):
    path = Path(call.args["sink"])
    # Idempotent: a request the last host ran to the end is not recorded twice.
    if path.exists() and call.request.id in path.read_text().split():
        return
    sink(call)

def slow(call):
    time.sleep(call.args.get("seconds", 2))
    return "slow done"

def fail(call):
    raise ValueError("this handler always fails")

host.register("sink", sink)
host.register("sink_once", sink_once, idempotent=True)
host.register("slow", slow)
host.register("fail", fail)
host.register("mapped", lambda call: call.args)
"""


def python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env.update(extra)
    return env


class HostProcess:
    """``Host`` in its own process with the test handlers, killable at will."""

    def __init__(self, root: Path, *, stale_after: float = 10.0, lease_settle: float = SETTLE,
                 tick: float = TICK, busy_for: float = BUSY_FOR,
                 env: Optional[dict[str, str]] = None, handlers: str = TEST_HANDLERS,
                 wait_ready: bool = True) -> None:
        self.root = root
        self.log_path = root.parent / f"host-{time.monotonic_ns()}.log"
        env = python_env(**(env or {}))
        code = textwrap.dedent(HOST_TEMPLATE).format(handlers=handlers)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(root), str(stale_after), str(lease_settle),
             str(tick), str(busy_for)],
            stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
        if wait_ready:
            self.wait_ready()

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", f"host did not start: {self.log()}"

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=20)
        self._log.close()


def run_worker(code: str, session_dir: Path, *, timeout: float = 60,
               env: Optional[dict[str, str]] = None) -> str:
    """Run ``code`` as a worker process connected to ``session_dir``; return its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env={**python_env(FILEBRIDGE_SESSION=str(session_dir)), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"worker failed:\n{done.stderr}"
    return done.stdout


def start_worker(code: str, session_dir: Path,
                 env: Optional[dict[str, str]] = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            env={**python_env(FILEBRIDGE_SESSION=str(session_dir)),
                                 **(env or {})},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []

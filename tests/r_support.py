"""Running real Rscript workers against a real in-process Host (shared by tests/test_r_*.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from filebridge.host import Call, Host, HostEvent

R_WORKER = Path(__file__).resolve().parents[1] / "session_templates" / "r" / "filebridge.R"

needs_r = pytest.mark.skipif(
    shutil.which("Rscript") is None,
    reason="Rscript not found: apt-get install -y r-base-core r-cran-jsonlite")


def r_string(value: str | Path) -> str:
    """An R string literal."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_r(code: str, *, session: Path | None = None, root: Path | None = None,
          timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with Rscript after sourcing the worker (not yet connected)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    if session is not None:
        env["FILEBRIDGE_SESSION"] = str(session)
    if root is not None:
        env["FILEBRIDGE_ROOT"] = str(root)
    script = f"source({r_string(R_WORKER)})\n{code}\n"
    done = subprocess.run(["Rscript", "--vanilla", "-e", script], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"Rscript failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


class Recorder:
    """Handlers that keep what the host received, for tests to check."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.calls: list[Call] = []
        self.events: list[HostEvent] = []
        self._changed = threading.Condition()
        host.subscribe(self._on_event)

    def _on_event(self, event: HostEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def record(self, command: str, result: Any = None,
               action: Callable[[Call], Any] | None = None) -> None:
        def handle(call: Call) -> Any:
            with self._changed:
                self.calls.append(call)
                self._changed.notify_all()
            return action(call) if action else result

        self.host.register(command, handle)

    def received(self, command: str) -> list[Call]:
        return [c for c in self.calls if c.command == command]

    def wait_for(self, ready: Callable[[], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the host did not receive what was expected in time")
                self._changed.wait(min(left, 0.1))

    def requests(self, session_id: str) -> list[str]:
        return [e.request.command for e in self.events
                if e.kind == "request" and e.session_id == session_id and e.request]


class IdleR:
    """An interactive R (``R --interactive``) whose stdin stays open: after ``run`` returns it
    sits idle at its prompt, as a person's R does between commands. ``startup`` is what R
    printed while sourcing the worker and connecting."""

    def __init__(self, session: Path, *, root: Path | None = None, options: str = "",
                 env: dict[str, str] | None = None) -> None:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")},
               **(env or {})}
        if root is not None:
            env["FILEBRIDGE_ROOT"] = str(root)
        self.proc = subprocess.Popen(
            ["R", "--interactive", "--vanilla", "--no-readline", "--quiet"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._marks = 0
        self._busy = False  # running code that ``begin`` started
        self.startup = self.run(f"{options}\nsource({r_string(R_WORKER)})\n"
                 f"filebridge_connect({r_string(session)})")

    def run(self, code: str, timeout: float = 60) -> str:
        """Run ``code`` at the prompt and return its output once R is back at the prompt."""
        out = self._until_mark(lambda mark: f"{code}\ncat({r_string(mark)}, '\\n', sep = '')",
                               timeout, "R did not come back to its prompt")
        self._busy = False
        return out

    def begin(self, code: str, timeout: float = 60) -> None:
        """Start ``code`` (one line) at the prompt and return once R runs it: R is busy then,
        not at its prompt (on a loaded machine R may read a line written to it only later)."""
        self._until_mark(lambda mark: f"cat({r_string(mark)}, '\\n', sep = ''); {code}",
                         timeout, "R did not start the code")
        self._busy = True

    def _until_mark(self, line: Callable[[str], str], timeout: float, failure: str) -> str:
        """Write ``line(mark)`` to R and return what R printed before ``mark``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._marks += 1
        mark = f"--idle-r-done-{self._marks}--"
        self.proc.stdin.write(line(mark) + "\n")
        self.proc.stdin.flush()
        out: list[str] = []
        done = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith(mark):
                    done.set()
                    return
                out.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not done.is_set():
            self.close()
            raise AssertionError(f"{failure}:\n" + "".join(out))
        return "".join(out)

    def close(self) -> None:
        if self._busy:  # rather than wait for the long call to end to quit
            self.proc.kill()
            self.proc.wait()
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write('q("no")\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@dataclass
class SharedR:
    """One idle R at its prompt, with its host and a recorder, for the tests of a module that
    only read from R: each test starts from an empty global environment (``fresh``). A test
    that kills or restarts R, or changes its options, handlers or subscriptions, starts its
    own."""

    host: Host
    recorder: Recorder
    r: IdleR

    def fresh(self) -> SharedR:
        self.r.run("rm(list = ls())")
        return self


@contextmanager
def shared_idle_r(root: Path, *, options: str = "") -> Iterator[SharedR]:
    host = Host(root)
    host.start()
    try:
        recorder = Recorder(host)
        r = IdleR(host.root.sessions / "r1", options=options)
        try:
            host.wait_for_session("r1", timeout=30)
            yield SharedR(host, recorder, r)
        finally:
            r.close()
    finally:
        host.stop()

"""``filebridge demo``: a host and real worker processes, touring every feature.

Each feature contributes a step: a function taking a ``DemoContext`` that raises on failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import filebridge
from filebridge.errors import DemoFailure
from filebridge.features import DemoStep, features
from filebridge.host import Host, HostEvent
from filebridge.wire.layout import new_session_id

__all__ = ["DemoContext", "DemoFailure", "demo_steps", "run_demo"]


@dataclass
class DemoContext:
    host: Host
    root: Path
    workdir: Path
    say: Callable[[str], None]
    events: list[HostEvent] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def new_session_dir(self) -> Path:
        return self.root / "sessions" / f"demo-{new_session_id()}"

    def worker_env(self, session_dir: Optional[Path] = None) -> dict[str, str]:
        package_parent = str(Path(filebridge.__file__).resolve().parent.parent)
        return {**os.environ,
                "FILEBRIDGE_SESSION": str(session_dir or self.new_session_dir()),
                "FILEBRIDGE_ROOT": str(self.root),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)}

    def run_worker(self, code: str, timeout: float = 60,
                   session_dir: Optional[Path] = None) -> str:
        """Run ``code`` as a worker process in a fresh session; its stdout."""
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                              env=self.worker_env(session_dir), capture_output=True,
                              text=True, timeout=timeout, cwd=self.workdir)
        if done.returncode:
            raise DemoFailure(f"the worker exited with {done.returncode}:\n{done.stderr}")
        return done.stdout

    def start_worker(self, code: str,
                     session_dir: Optional[Path] = None) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                                   env=self.worker_env(session_dir), text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, cwd=self.workdir)
        self.processes.append(process)
        return process

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise DemoFailure(f"timed out waiting for {what}")
            time.sleep(0.02)


CORE_WORKER = """
import filebridge.worker as fb
from filebridge.errors import NoHandler
fb.connect()
print("attached to session", fb.current().session_id)
fb.send("demo_note", text="hello from the worker")
print("sent a fire-and-forget note")
print("call demo_add(a=2, b=3) ->", fb.call("demo_add", a=2, b=3, timeout=10))
try:
    fb.call("no_such_command", timeout=10)
except NoHandler as exc:
    print("call no_such_command -> error answer:", exc)
fb.disconnect()
print("detached")
"""


def core_step(ctx: DemoContext) -> None:
    notes: list[str] = []
    ctx.host.register("demo_note", lambda call: notes.append(call.args["text"]))
    ctx.host.register("demo_add", lambda call: call.args["a"] + call.args["b"], inline=True)
    session_dir = ctx.new_session_dir()
    for line in ctx.run_worker(CORE_WORKER, session_dir=session_dir).splitlines():
        ctx.say(f"worker: {line}")
    ctx.wait_for(lambda: ctx.host.session(session_dir.name).status == "detached",
                 "the host to see the detach")
    if notes != ["hello from the worker"]:
        raise DemoFailure(f"the host received notes {notes!r}")
    seen = [e.request.command for e in ctx.events
            if e.session_id == session_dir.name and e.request]
    ctx.say(f"host: session {session_dir.name} asked {', '.join(seen)}; now "
            f"{ctx.host.session(session_dir.name).status}")


def demo_steps() -> list[DemoStep]:
    """The core's step, then each feature's, in the registry's order."""
    core = DemoStep("core: attach, send, call, an error answer, detach", core_step)
    return [core, *(f.demo for f in features() if f.demo is not None)]


@contextmanager
def demo_context(host_factory: Callable[[Path], Host],
                 say: Callable[[str], None]) -> Iterator[DemoContext]:
    with tempfile.TemporaryDirectory(prefix="filebridge-demo-") as tmp:
        root = Path(tmp) / "root"
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        host = host_factory(root)
        ctx = DemoContext(host, root, workdir, say)
        host.subscribe(ctx.events.append)
        host.start()
        try:
            yield ctx
        finally:
            for process in ctx.processes:
                if process.poll() is None:
                    process.kill()
                process.wait()
            host.stop()


def run_demo(host_factory: Callable[[Path], Host], say: Callable[[str], None] = print,
             only: Optional[str] = None) -> int:
    """Run every step; return the number that failed."""
    failed = 0
    with demo_context(host_factory, say) as ctx:
        say(f"filebridge {filebridge.__version__} demo: host serving {ctx.root} "
            f"(waiting by {ctx.host.strategy})")
        for step in demo_steps():
            if only and only not in step.title:
                continue
            say(f"\n== {step.title}")
            started = time.perf_counter()
            try:
                step.run(ctx)
            except Exception as exc:
                failed += 1
                detail = str(exc) if isinstance(exc, DemoFailure) else traceback.format_exc()
                say(f"FAILED: {detail}")
            else:
                say(f"ok ({time.perf_counter() - started:.2f} s)")
    say(f"\n{'all steps worked' if not failed else f'{failed} step(s) failed'}")
    return failed

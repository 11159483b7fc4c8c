"""A host and workers on the two sides of a real FUSE mount (sshfs, bindfs), default options.

One sshd and one mount of each kind serve the whole test run; each test gets a fresh folder on
the real disk and sees it through the mount under the same name. A ``Sides`` says which side
the host is on: "host-on-mount" (the host looks through the mount, workers write the real
folder) or "worker-on-mount" (the other way round).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from filebridge.host import Call, Host
from filebridge.testing.loopback_mount import (
    BindfsMount,
    LoopbackSshd,
    SshfsMount,
    missing,
    scratch_dir,
)

REPO = Path(__file__).resolve().parents[1]
DIRECTIONS = ("host-on-mount", "worker-on-mount")
_numbers = itertools.count()


@pytest.fixture(scope="session")
def sshfs() -> Iterator[MountedFolder]:
    """One sshfs mount (default options) over a private loopback sshd for the whole run."""
    with sshfs_folder() as (folder, _mount):
        yield folder


@pytest.fixture(scope="session")
def bindfs() -> Iterator[MountedFolder]:
    with bindfs_folder() as folder:
        yield folder


def why_no_mount(kind: str) -> Optional[str]:
    """Why a ``kind`` mount cannot be made here, or None."""
    absent = missing(kind)
    if absent:
        return absent
    if os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "FUSE needs root or access to /dev/fuse"
    return None


@dataclass
class MountedFolder:
    """A real folder and the same folder seen through a mount."""

    kind: str
    real: Path
    mounted: Path

    def fresh(self, name: str) -> tuple[Path, Path]:
        """A new, empty folder: (its real path, its path through the mount)."""
        name = f"{name}-{next(_numbers)}"
        (self.real / name).mkdir()
        return self.real / name, self.mounted / name


@contextmanager
def sshfs_folder(prefix: str = "filebridge-netfs-") -> Iterator[tuple[MountedFolder,
                                                                      SshfsMount]]:
    """A private sshd and a default-options sshfs mount of a fresh folder."""
    reason = why_no_mount("sshfs")
    if reason:
        pytest.skip(f"sshfs mount unavailable: {reason}")
    work = scratch_dir(prefix)
    sshd = LoopbackSshd(work / "sshd")
    real, mountpoint = work / "real", work / "mnt"
    real.mkdir()
    # Default options are the point; FILEBRIDGE_NETFS_SSHFS_OPTIONS (comma-separated) lets one
    # compare with a tuned mount, e.g. "cache=no,attr_timeout=0".
    options = tuple(filter(None, os.environ.get("FILEBRIDGE_NETFS_SSHFS_OPTIONS", "").split(",")))
    mount = SshfsMount(sshd, real, mountpoint, options)
    try:
        try:
            sshd.start()
            mount.mount()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            pytest.skip(f"sshfs mount unavailable: {exc}")
        yield MountedFolder("sshfs", real, mountpoint), mount
    finally:
        mount.unmount()
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def bindfs_folder() -> Iterator[MountedFolder]:
    reason = why_no_mount("bindfs")
    if reason:
        pytest.skip(f"bindfs mount unavailable: {reason}")
    work = scratch_dir("filebridge-bindfs-")
    real, mountpoint = work / "real", work / "mnt"
    real.mkdir()
    mount = BindfsMount(real, mountpoint)
    try:
        try:
            mount.mount()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            pytest.skip(f"bindfs mount unavailable: {exc}")
        yield MountedFolder("bindfs", real, mountpoint)
    finally:
        mount.unmount()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Sides:
    """One test's root, seen from the host's side and from the workers' side."""

    direction: str
    host_root: Path
    worker_root: Path

    @classmethod
    def of(cls, folder: MountedFolder, direction: str, name: str = "root") -> Sides:
        real, mounted = folder.fresh(name)
        if direction == "host-on-mount":
            return cls(direction, mounted, real)
        return cls(direction, real, mounted)

    def worker_session(self, session_id: str) -> Path:
        return self.worker_root / "sessions" / session_id

    def host_path(self, worker_path: Path) -> Path:
        """Where the host finds a file a worker names by its own path."""
        return self.host_root / worker_path.relative_to(self.worker_root)

    @property
    def path_map(self) -> list[tuple[str, str]]:
        return [(str(self.worker_root), str(self.host_root))]


def python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_worker(code: str, session_dir: Path, *, timeout: float = 60,
               **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a worker process of ``session_dir``; fail with its output if it fails."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=python_env(FILEBRIDGE_SESSION=str(session_dir), **env),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"worker failed ({done.returncode}):\n{done.stdout}\n" \
                                 f"{done.stderr}"
    return done


def worker_json(code: str, session_dir: Path, **kwargs: Any) -> Any:
    """Run ``code``, which prints one JSON value on its last line; that value."""
    return json.loads(run_worker(code, session_dir, **kwargs).stdout.strip().splitlines()[-1])


# A worker that stays up and makes calls on demand: one JSON object a line on stdin
# ({"command", "args", "timeout"}), one JSON answer a line on stdout.
INTERACTIVE_WORKER = """
import json, sys
import filebridge.worker as fb
from filebridge.errors import FilebridgeError
fb.connect()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    asked = json.loads(line)
    try:
        result = fb.call(asked["command"], timeout=asked["timeout"], **asked["args"])
        told = {"ok": True, "result": result}
    except FilebridgeError as exc:
        told = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(told), flush=True)
"""


class InteractiveWorker:
    """A real worker process that makes calls when the test asks."""

    def __init__(self, session_dir: Path, **env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", INTERACTIVE_WORKER],
            env=python_env(FILEBRIDGE_SESSION=str(session_dir), **env),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self._read() == {"ready": True}

    def _read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the worker exited ({self.process.wait()}):\n"
                                 f"{self.stderr()}")
        return json.loads(line)

    def call(self, command: str, timeout: float = 2.0, **args: Any) -> dict[str, Any]:
        """{"ok": True, "result": ...} or {"ok": False, "error": class name, "message"}."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"command": command, "args": args,
                                             "timeout": timeout}) + "\n")
        self.process.stdin.flush()
        told: dict[str, Any] = self._read()
        return told

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr(self) -> str:
        if self.process.poll() is None:
            return ""
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@dataclass
class Served:
    """A host and the ids of the ``record`` requests it ran, in order."""

    host: Host
    seen: list[str]
    sizes: dict[str, int]


@contextmanager
def serving(sides: Sides, *, stale_after: float = 10.0,
            setup: Optional[Callable[[Host], None]] = None) -> Iterator[Served]:
    """A host in this process serving ``sides.host_root``, with recording handlers:
    ``record`` keeps the request id (and the length of a ``pad`` argument), ``recorded``
    says how many ran."""
    host = Host(sides.host_root, stale_after=stale_after, path_map=sides.path_map)
    served = Served(host, [], {})

    def record(call: Call) -> None:
        served.seen.append(call.request.id)
        served.sizes[call.request.id] = len(call.args.get("pad", ""))

    host.register("record", record, inline=True)
    host.register("recorded", lambda call: {"n": len(served.seen),
                                            "unique": len(set(served.seen))}, inline=True)
    if setup is not None:
        setup(host)
    host.start()
    try:
        yield served
    finally:
        host.stop()


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """``condition()``'s first truthy value; fails naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def status_of(host: Host, session_id: str) -> str:
    for info in host.sessions():
        if info.id == session_id:
            return str(info.status)
    return ""

"""A real network filesystem on one machine: an sshfs mount over a private loopback sshd.

Tests and benchmarks use it to run a host and a worker on the two sides of a mount with the
mount's default options, and to drop the mount and bring it back mid-session. It needs root
(or a user allowed to use FUSE), ``/usr/sbin/sshd``, ``sshfs`` and ``fusermount3``; ``bindfs``
gives a second FUSE filesystem. ``missing()`` says what is absent, so callers can skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from filebridge.wire.processes import pid_alive

__all__ = ["BindfsMount", "LoopbackSshd", "SshfsMount", "missing"]

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def missing(kind: str = "sshfs") -> Optional[str]:
    """Why a ``kind`` mount cannot be made here ("sshfs" or "bindfs"), or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if shutil.which("fusermount3") is None and shutil.which("fusermount") is None:
        return "no fusermount3 (apt-get install fuse3)"
    if kind == "bindfs":
        return None if shutil.which("bindfs") else "no bindfs (apt-get install bindfs)"
    for tool, package in ((SSHD, "openssh-server"), (SFTP_SERVER, "openssh-server"),
                          (shutil.which("sshfs") or "", "sshfs"),
                          (shutil.which("ssh-keygen") or "", "openssh-client")):
        if not tool or not os.path.exists(tool):
            return f"no {os.path.basename(tool) or package} (apt-get install {package})"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unmount(mountpoint: Path) -> None:
    tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"
    subprocess.run([tool, "-uz", str(mountpoint)], capture_output=True, check=False)


def _wait_mounted(mountpoint: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(mountpoint):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{mountpoint} was not mounted within {timeout:.0f} s")


class LoopbackSshd:
    """A private sshd on 127.0.0.1 with generated keys, for one user: the caller."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.key = workdir / "client_key"
        self.pid: Optional[int] = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        host_key = self.workdir / "host_key"
        for key in (host_key, self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True, capture_output=True)
        authorized = self.workdir / "authorized_keys"
        authorized.write_bytes(Path(f"{self.key}.pub").read_bytes())
        authorized.chmod(0o600)
        pidfile = self.workdir / "sshd.pid"
        config = self.workdir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"PidFile {pidfile}", f"AuthorizedKeysFile {authorized}",
            "PasswordAuthentication no", "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
            f"Subsystem sftp {SFTP_SERVER}", ""]))
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        subprocess.run([SSHD, "-f", str(config), "-E", str(self.workdir / "sshd.log")],
                       check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                self.pid = int(pidfile.read_text())
                return
            time.sleep(0.02)
        raise RuntimeError("sshd did not start: " + (self.workdir / "sshd.log").read_text())

    def sftp_servers(self) -> list[int]:
        """The sftp-server processes serving this sshd's connections."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                if SFTP_SERVER.encode() not in cmdline:
                    continue
                if self._descends_from_us(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def _descends_from_us(self, pid: int) -> bool:
        for _ in range(8):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            pid = int(stat.rsplit(")", 1)[1].split()[1])
            if pid == self.pid:
                return True
            if pid <= 1:
                return False
        return False

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.pid = None


class SshfsMount:
    """``real`` mounted at ``mountpoint`` through the loopback sshd, with sshfs's defaults."""

    def __init__(self, sshd: LoopbackSshd, real: Path, mountpoint: Path,
                 options: tuple[str, ...] = ()) -> None:
        self.sshd = sshd
        self.real = real
        self.mountpoint = mountpoint
        self.options = options

    def mount(self) -> None:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        command = ["sshfs", "-p", str(self.sshd.port), "-o", f"IdentityFile={self.sshd.key}",
                   "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                   "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
        for option in self.options:
            command += ["-o", option]
        command += [f"{os.environ.get('USER') or 'root'}@127.0.0.1:{self.real}",
                    str(self.mountpoint)]
        subprocess.run(command, check=True, capture_output=True, timeout=30)
        _wait_mounted(self.mountpoint)

    def drop(self) -> None:
        """Kill the sftp server behind the mount: every access fails until ``remount()``."""
        for pid in self.sshd.sftp_servers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remount(self) -> None:
        """Bring a dropped mount back at the same place, as a user (or autofs) would."""
        self.unmount()
        self.mount()

    def unmount(self) -> None:
        _unmount(self.mountpoint)
        deadline = time.monotonic() + 5
        while os.path.ismount(self.mountpoint) and time.monotonic() < deadline:
            time.sleep(0.02)


class BindfsMount:
    """``real`` mounted at ``mountpoint`` through bindfs (FUSE, default options)."""

    def __init__(self, real: Path, mountpoint: Path) -> None:
        self.real = real
        self.mountpoint = mountpoint

    def mount(self) -> None:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        subprocess.run(["bindfs", str(self.real), str(self.mountpoint)], check=True,
                       capture_output=True, timeout=30)
        _wait_mounted(self.mountpoint)

    def unmount(self) -> None:
        _unmount(self.mountpoint)


def scratch_dir(prefix: str = "filebridge-netfs-") -> Path:
    """A private folder for the keys, the real side and the mountpoint (``mnt``), named after
    this process. Mounts left in such folders by processes that are gone (a test killed by its
    timeout cannot unmount) are unmounted and their folders removed first."""
    sweep_abandoned_mounts()
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def sweep_abandoned_mounts() -> list[Path]:
    """Unmount the scratch mounts whose creating process is gone; return their folders."""
    pattern = re.compile(re.escape(os.path.realpath(tempfile.gettempdir()))
                         + r"/filebridge-(?:[a-z]+-)+(\d+)-[A-Za-z0-9_]+/mnt")
    swept: list[Path] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as table:
            mountpoints = [line.split()[4] for line in table]
    except OSError:
        return swept
    for mountpoint in mountpoints:
        found = pattern.fullmatch(mountpoint)
        if found is None or pid_alive(int(found.group(1))):
            continue
        _unmount(Path(mountpoint))
        shutil.rmtree(Path(mountpoint).parent, ignore_errors=True)
        swept.append(Path(mountpoint).parent)
    return swept

"""Find legacy vscode-R sessions that have sent nothing the adapter saw.

A legacy R session announces itself only with its ``attach`` request, which is lost when no
adapter was running then (or another session's request overwrote the one-request slot). Its
files are still there: ``<R tempdir>/vscode-R/`` (response.lock, workspace.json, plot.png),
but nothing in them names the R process. This module pairs such folders with live R
processes on this machine (Linux: it reads ``/proc``):

- an R process is one whose command name is ``R`` or that has ``libR.so`` mapped (radian and
  other front ends embedding R), run by this user, whose environment names this watcher
  folder (``VSCODE_WATCHER_DIR``, else ``~/.vscode-R``, as the legacy session code chooses);
- its temporary folders are ``Rtmp*`` under its ``TMPDIR`` (else ``TMP``, ``TEMP``, ``/tmp``);
- R makes its temporary folder as it starts: a folder belongs to the process that started
  last before its birth time (``statx``), within ``BIRTH_WINDOW`` seconds. Where
  the file system keeps no birth time, a folder is paired only when it is the one unpaired
  folder and the process the one unpaired R process under that temporary root.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["BIRTH_WINDOW", "FoundSession", "LegacyFinder", "birth_time", "process_started"]

BIRTH_WINDOW = 60.0  # seconds from a process's start to its temporary folder's birth, at most
_STATX_BTIME = 0x800
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_SIZE = 256
_BTIME_OFFSET = 80  # struct statx: stx_btime {tv_sec int64, tv_nsec uint32, pad} at byte 80

_HAS_PROC = os.path.exists("/proc/self/stat")  # Linux; elsewhere nothing is found
_statx = None
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _statx = _libc.statx
    _statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                       ctypes.c_void_p]
    _statx.restype = ctypes.c_int
except (OSError, AttributeError):  # no glibc statx (older glibc, musl, not Linux)
    _statx = None


@dataclass(frozen=True)
class FoundSession:
    pid: int
    tempdir: Path
    cwd: Optional[str]
    started: float


def birth_time(path: Path) -> Optional[float]:
    """When ``path`` was created (seconds since the epoch), where the file system says."""
    if _statx is None:
        return None
    buffer = ctypes.create_string_buffer(_STATX_SIZE)
    if _statx(-100, os.fsencode(path), _AT_SYMLINK_NOFOLLOW, _STATX_BTIME, buffer) != 0:
        return None
    mask = int.from_bytes(buffer.raw[0:4], "little")
    if not mask & _STATX_BTIME:
        return None
    seconds = int.from_bytes(buffer.raw[_BTIME_OFFSET:_BTIME_OFFSET + 8], "little", signed=True)
    nanos = int.from_bytes(buffer.raw[_BTIME_OFFSET + 8:_BTIME_OFFSET + 12], "little")
    return seconds + nanos / 1e9 if seconds > 0 else None


_boot: list[Optional[float]] = []


def _boot_time() -> Optional[float]:
    if not _boot:
        found = None
        try:
            for line in Path("/proc/stat").read_text().splitlines():
                if line.startswith("btime "):
                    found = float(line.split()[1])
        except (OSError, ValueError):
            pass
        _boot.append(found)
    return _boot[0]


def process_started(pid: int) -> Optional[float]:
    """When ``pid`` started (seconds since the epoch), from ``/proc``."""
    boot = _boot_time()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
    return None if boot is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def _environment(pid: int) -> Optional[dict[str, str]]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    found = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            found[os.fsdecode(name)] = os.fsdecode(value)
    return found


def _runs_r(pid: int) -> bool:
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() == "R":
            return True
        with open(f"/proc/{pid}/maps", "rb") as maps:
            return any(b"/libR.so" in line for line in maps)
    except OSError:
        return False


def _watcher_of(env: dict[str, str]) -> Optional[Path]:
    """The watcher folder a legacy session with this environment writes to."""
    chosen = env.get("VSCODE_WATCHER_DIR")
    if chosen:
        return Path(chosen)
    home = env.get("HOME")
    return Path(home) / ".vscode-R" if home else None


def _temp_root(env: dict[str, str]) -> Path:
    for name in ("TMPDIR", "TMP", "TEMP"):
        if env.get(name):
            return Path(env[name])
    return Path("/tmp")


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


class LegacyFinder:
    """Pairs the unclaimed legacy session folders with the live R processes that own them.

    What it learns about a process (R or not, this watcher's or not) is kept per pid and start
    time, so a later look reads ``/proc`` only for processes it has not seen.
    """

    def __init__(self, watcher_dir: Path) -> None:
        self.watcher_dir = watcher_dir
        self._verdicts: dict[tuple[int, float], Optional[Path]] = {}
        # Reading /proc costs about 0.4 ms a process: after the first look it is read again
        # only when a legacy folder appears that the last look did not see.
        self._roots: set[Path] = {_temp_root(dict(os.environ))}
        self._examined: set[Path] = set()
        self._looked = False

    def _legacy_r(self, pid: int, started: float) -> Optional[Path]:
        """The temporary root of ``pid`` if it is an R process of this watcher folder."""
        key = (pid, started)
        if key not in self._verdicts:
            env = _environment(pid)
            watcher = _watcher_of(env) if env is not None else None
            ours = (env is not None and watcher is not None and _same(watcher, self.watcher_dir)
                    and _runs_r(pid))
            self._verdicts[key] = _temp_root(env) if ours and env is not None else None
        return self._verdicts[key]

    def find(self, known_pids: Iterable[int], known_dirs: Iterable[Path]) -> list[FoundSession]:
        """Live legacy R sessions of this watcher folder outside ``known_pids``, with their
        temporary folders (none of ``known_dirs``)."""
        if not _HAS_PROC:
            return []
        present = {f for root in self._roots for f in self._session_folders(root)}
        if self._looked and present <= self._examined:
            self._examined = present
            return []
        self._looked = True
        try:
            pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
        except OSError:
            return []
        skip = set(known_pids) | {os.getpid()}
        uid = os.getuid()
        candidates: dict[Path, list[tuple[float, int]]] = {}
        alive: set[tuple[int, float]] = set()
        for pid in pids:
            if pid in skip:
                continue
            try:
                if os.stat(f"/proc/{pid}").st_uid != uid:
                    continue
            except OSError:
                continue
            started = process_started(pid)
            if started is None:
                continue
            alive.add((pid, started))
            root = self._legacy_r(pid, started)
            if root is not None:
                candidates.setdefault(root, []).append((started, pid))
        # forget processes that are gone
        self._verdicts = {k: v for k, v in self._verdicts.items() if k in alive}
        self._roots.update(candidates)
        # folders made after the processes were listed belong to processes not listed yet
        self._examined = present
        claimed = [Path(d) for d in known_dirs]
        found = []
        for root, processes in candidates.items():
            folders = [f for f in self._session_folders(root)
                       if not any(_same(f / "vscode-R", d) for d in claimed)]
            found.extend(self._pair(sorted(processes), folders))
        return found

    @staticmethod
    def _session_folders(root: Path) -> list[Path]:
        try:
            folders = sorted(root.glob("Rtmp*"))
        except OSError:
            return []
        uid = os.getuid()
        kept = []
        for folder in folders:
            try:
                if (folder / "vscode-R").is_dir() and folder.stat().st_uid == uid:
                    kept.append(folder)
            except OSError:
                continue
        return kept

    @staticmethod
    def _pair(processes: list[tuple[float, int]],
              folders: list[Path]) -> list[FoundSession]:
        births = {folder: birth_time(folder) for folder in folders}
        if all(b is None for b in births.values()):
            if len(processes) == 1 and len(folders) == 1:
                started, pid = processes[0]
                return [FoundSession(pid, folders[0], _cwd(pid), started)]
            return []
        # A folder is the process's that started last before its birth; a process with two
        # such folders keeps the older (R makes its own first).
        owners: dict[int, tuple[float, Path, float]] = {}
        for folder, born in sorted(births.items(), key=lambda item: item[1] or 0.0):
            if born is None:
                continue
            before = [(started, pid) for started, pid in processes
                      if started - 1 <= born <= started + BIRTH_WINDOW]
            if not before:
                continue
            started, pid = max(before)
            if pid not in owners:
                owners[pid] = (born, folder, started)
        return [FoundSession(pid, folder, _cwd(pid), started)
                for pid, (_, folder, started) in sorted(owners.items())]


def _cwd(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None

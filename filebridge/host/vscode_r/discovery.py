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
- R makes its temporary folder as it starts: taken in the order of their birth times
  (``statx``), a folder belongs to the R process that started last before it, within
  ``BIRTH_WINDOW`` seconds, among those that have none yet. Every R process under that
  temporary root counts, whichever watcher folder it writes to, and every folder of R's
  there, a session's or not, so that R processes starting at the same moment (another
  editor's, another watcher folder's, a plain R's) keep their own folders.
  Where the file system keeps no birth time, a folder is paired only when it is the one
  unpaired folder and the process the one unpaired R process under that temporary root.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["BIRTH_WINDOW", "FoundSession", "LegacyFinder", "birth_time", "owners_by_birth",
           "process_started"]

BIRTH_WINDOW = 60.0  # seconds from a process's start to its temporary folder's birth, at most
# A start time read from /proc is never later than the true one (the boot time is given in
# whole seconds, the start in clock ticks, both cut short); a birth time may be a tick early.
CLOCK_SLACK = 0.05
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


def _named_r(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "R"
    except OSError:
        return False


def _runs_r(pid: int) -> bool:
    if _named_r(pid):
        return True
    try:
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
        self._verdicts: dict[tuple[int, float], Optional[tuple[Path, bool]]] = {}
        # Reading /proc costs about 0.4 ms a process: after the first look it is read again
        # only when a legacy folder appears that the last look did not see.
        self._roots: set[Path] = {_temp_root(dict(os.environ))}
        self._examined: set[Path] = set()
        self._looked = False

    def _r_process(self, pid: int, started: float) -> Optional[tuple[Path, bool]]:
        """The temporary root of ``pid`` if it runs R, and whether it writes to this watcher
        folder (another's R is known by its command name alone: reading every process's
        memory map costs too much)."""
        key = (pid, started)
        if key not in self._verdicts:
            env = _environment(pid)
            verdict = None
            if env is not None:
                watcher = _watcher_of(env)
                ours = watcher is not None and _same(watcher, self.watcher_dir)
                if _runs_r(pid) if ours else _named_r(pid):
                    verdict = (_temp_root(env), ours)
            self._verdicts[key] = verdict
        return self._verdicts[key]

    def find(self, known_pids: Iterable[int], known_dirs: Iterable[Path]) -> list[FoundSession]:
        """Live legacy R sessions of this watcher folder outside ``known_pids``, with their
        temporary folders (none of ``known_dirs``)."""
        if not _HAS_PROC:
            return []
        present = {f for root in self._roots for f in self._r_folders(root)
                   if _holds_session(f)}
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
        ours: set[int] = set()
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
            verdict = self._r_process(pid, started)
            if verdict is not None:
                candidates.setdefault(verdict[0], []).append((started, pid))
                if verdict[1]:
                    ours.add(pid)
        # forget processes that are gone
        self._verdicts = {k: v for k, v in self._verdicts.items() if k in alive}
        candidates = {root: found for root, found in candidates.items()
                      if any(pid in ours for _, pid in found)}
        self._roots.update(candidates)
        claimed = [Path(d) for d in known_dirs]

        def unclaimed(folder: Path) -> bool:
            return not any(_same(folder / "vscode-R", d) for d in claimed)

        found: list[FoundSession] = []
        for root, processes in candidates.items():
            # Every R process and every folder of R's under the root, so that each R keeps
            # its own folder; then only this watcher's sessions.
            folders = [f for f in self._r_folders(root) if unclaimed(f)]
            if all(birth_time(f) is None for f in folders):  # nothing to order them by
                processes = [p for p in processes if p[1] in ours]
                folders = [f for f in folders if _holds_session(f)]
            found.extend(session for session in self._pair(sorted(processes), folders)
                         if session.pid in ours and _holds_session(session.tempdir))
        # Folders made after the processes were listed belong to processes not listed yet. A
        # young folder left unpaired is looked at again: its R may have lost it to one that
        # started at the same moment, and that one may be gone at the next look.
        paired = {session.tempdir for session in found}
        self._examined = {f for f in present
                          if f in paired or not unclaimed(f) or not _young(f)}
        return found

    @staticmethod
    def _r_folders(root: Path) -> list[Path]:
        """R's temporary folders under ``root`` that belong to this user."""
        try:
            folders = sorted(root.glob("Rtmp*"))
        except OSError:
            return []
        uid = os.getuid()
        kept = []
        for folder in folders:
            try:
                if folder.is_dir() and folder.stat().st_uid == uid:
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
        return [FoundSession(pid, folder, _cwd(pid), started)
                for pid, (folder, started) in sorted(owners_by_birth(processes, births).items())]


def owners_by_birth(processes: Iterable[tuple[float, int]],
                    births: dict[Path, Optional[float]]) -> dict[int, tuple[Path, float]]:
    """Which folder (and start time) each process ``(started, pid)`` owns: the oldest folder
    first, each the one of the process without a folder yet that started last before its
    birth (R makes its own folder first, a child R process its own)."""
    owners: dict[int, tuple[Path, float]] = {}
    for folder, born in sorted(births.items(), key=lambda item: item[1] or 0.0):
        if born is None:
            continue
        before = [(started, pid) for started, pid in processes
                  if pid not in owners and started - CLOCK_SLACK <= born <= started + BIRTH_WINDOW]
        if before:
            started, pid = max(before)
            owners[pid] = (folder, started)
    return owners


def _young(folder: Path) -> bool:
    """Whether ``folder`` was made within the last BIRTH_WINDOW seconds."""
    born = birth_time(folder)
    return born is not None and time.time() - born <= BIRTH_WINDOW


def _holds_session(folder: Path) -> bool:
    """Whether an R temporary folder holds a legacy session's files."""
    try:
        return (folder / "vscode-R").is_dir()
    except OSError:
        return False


def _cwd(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None

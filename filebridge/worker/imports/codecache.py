"""Compiled served modules kept in the shared folder, for every later process and session.

An entry is named by the module's content hash, its file name on the host (code objects carry
it for tracebacks) and the interpreter's bytecode magic, so it is written once and never goes
stale: a changed file has another hash. It holds the source (for tracebacks and ``inspect``)
and the marshalled code. Entries are written to a temporary name and renamed, so a reader sees
a whole entry or none; an unreadable entry is ignored and written again.

Entries are written by a thread of their own, so creating the files (a millisecond each on a
busy disk, as much as compiling) overlaps the import instead of adding to it. Whatever is
still queued is written before the interpreter exits, before a spawned child starts, and
before an entry is read back; a process that ends with ``os._exit`` may leave some unwritten,
which costs the next process a request, never a wrong answer.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import marshal
import os
import secrets
import stat
import sys
import threading
from collections import deque
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Optional

__all__ = ["CodeCache", "cache_folder", "flush_writes"]

log = logging.getLogger("filebridge.worker.imports")
ENTRY_HEADER = b"FBC1" + MAGIC_NUMBER
FLUSH_WAIT = 10.0  # seconds a flush waits for queued entries at most (a hung mount)


def cache_folder(root: Path) -> Optional[Path]:
    """Where the cache lives: FILEBRIDGE_IMPORT_CACHE (a folder, or ``off``), else
    ``<root>/import-cache/<interpreter tag>``."""
    chosen = os.environ.get("FILEBRIDGE_IMPORT_CACHE", "").strip()
    if chosen.lower() in ("off", "0", "no"):
        return None
    base = Path(chosen).expanduser() if chosen else root / "import-cache"
    tag = sys.implementation.cache_tag or sys.implementation.name
    return base / tag


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _read_own_file(path: str) -> Optional[bytes]:
    """An entry's bytes, only when this user wrote it and nobody else can have changed it.

    The cache is shared by every session under a root, and a root may serve workers of other
    users: code they wrote must never run here, so an entry owned by another user, writable by
    others, or reached through a link is ignored (and written again by this process).
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        own = not hasattr(os, "getuid") or st.st_uid == os.getuid()
        if not stat.S_ISREG(st.st_mode) or not own or st.st_mode & 0o022:
            return None
        chunks: list[bytes] = []
        left = st.st_size + 1  # one byte more: a file that grew meanwhile is read whole
        while True:
            chunk = os.read(fd, max(left, 1 << 16))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            left -= len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


class _Writer:
    """Writes queued entries on a daemon thread, in order; one per process."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Condition()
        self._queue: deque[tuple[CodeCache, str, str, CodeType]] = deque()
        self._pending: set[str] = set()
        self._thread: Optional[threading.Thread] = None

    def put(self, cache: CodeCache, path: str, source: str, code: CodeType) -> None:
        with self._lock:
            if path in self._pending:
                return
            self._pending.add(path)
            self._queue.append((cache, path, source, code))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="filebridge-code-cache")
                self._thread.start()
            self._lock.notify_all()

    def pending(self, path: str) -> bool:
        with self._lock:
            return path in self._pending

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued entry is written; False when ``timeout`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._lock.wait()
                cache, path, source, code = self._queue[0]
            try:
                cache.write(path, source, code)
            except Exception:  # the thread must outlive one entry that cannot be written
                log.exception("filebridge: could not write a compiled module to %s", path)
            finally:
                with self._lock:
                    self._queue.popleft()
                    self._pending.discard(path)
                    self._lock.notify_all()


_writer = _Writer()
if hasattr(os, "register_at_fork"):
    # The thread does not survive a fork; what the parent queued is the parent's to write.
    os.register_at_fork(after_in_child=_writer._reset)
atexit.register(lambda: _writer.flush(FLUSH_WAIT))


def flush_writes(timeout: Optional[float] = FLUSH_WAIT) -> bool:
    """Write every queued entry now (before another process may want them); False when
    ``timeout`` passed first."""
    return _writer.flush(timeout)


class CodeCache:
    def __init__(self, folder: Optional[Path]) -> None:
        self.folder = folder
        self._prefix = None if folder is None else os.fspath(folder) + os.sep
        self._ready = False
        self._keys: dict[tuple[str, str], str] = {}

    def key(self, content_hash: str, origin: str) -> str:
        known = self._keys.get((content_hash, origin))
        if known is None:
            raw = f"{content_hash}\0{origin}".encode("utf-8", "surrogatepass") + MAGIC_NUMBER
            known = self._keys[(content_hash, origin)] = hashlib.sha256(raw).hexdigest()[:40]
        return known

    def path_of(self, content_hash: str, origin: str) -> Optional[str]:
        return self._path(content_hash, origin)

    def _path(self, content_hash: str, origin: str) -> Optional[str]:
        if self._prefix is None:
            return None
        return self._prefix + self.key(content_hash, origin)

    def has(self, content_hash: str, origin: str) -> bool:
        path = self._path(content_hash, origin)
        return path is not None and (_writer.pending(path) or os.path.exists(path))

    def load(self, content_hash: str, origin: str) -> Optional[tuple[str, CodeType]]:
        """(source, code) of an entry, or None when there is none (or it does not read)."""
        path = self._path(content_hash, origin)
        if path is None:
            return None
        if _writer.pending(path):
            _writer.flush(FLUSH_WAIT)
        data = _read_own_file(path)
        if data is None or not data.startswith(ENTRY_HEADER):
            return None
        try:
            source, code = marshal.loads(data[len(ENTRY_HEADER):])
        except (ValueError, EOFError, TypeError):
            return None
        if not isinstance(source, str) or not isinstance(code, CodeType):
            return None
        return source, code

    def store(self, content_hash: str, origin: str, source: str, code: CodeType) -> None:
        """Queue the entry; it is written on the writer's thread."""
        path = self._path(content_hash, origin)
        if path is not None:
            _writer.put(self, path, source, code)

    def write(self, path: str, source: str, code: CodeType) -> None:
        folder = self.folder
        if folder is None:
            return  # writing failed before: this cache is off for the process
        temporary = f"{path}.{secrets.token_hex(8)}.tmp"
        try:
            if not self._ready:
                os.makedirs(folder, mode=0o700, exist_ok=True)
                self._ready = True
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(ENTRY_HEADER + marshal.dumps((source, code)))
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("filebridge: not caching compiled modules in %s: %s", folder, exc)
            self.folder = self._prefix = None
            try:
                os.unlink(temporary)
            except OSError:
                pass

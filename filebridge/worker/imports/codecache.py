"""Compiled served modules kept in the shared folder, for every later process and session.

An entry is named by the module's content hash, its file name on the host (code objects carry
it for tracebacks) and the interpreter's bytecode magic, so it is written once and never goes
stale: a changed file has another hash. It holds the source (for tracebacks and ``inspect``)
and the marshalled code. Entries are written to a temporary name and renamed, so a reader sees
a whole entry or none; an unreadable entry is ignored and written again.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import secrets
import stat
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Optional

__all__ = ["CodeCache", "cache_folder"]

log = logging.getLogger("filebridge.worker.imports")
ENTRY_HEADER = b"FBC1" + MAGIC_NUMBER


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
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


class CodeCache:
    def __init__(self, folder: Optional[Path]) -> None:
        self.folder = folder
        self._prefix = None if folder is None else os.fspath(folder) + os.sep
        self._ready = False

    def key(self, content_hash: str, origin: str) -> str:
        raw = f"{content_hash}\0{origin}".encode("utf-8", "surrogatepass") + MAGIC_NUMBER
        return hashlib.sha256(raw).hexdigest()[:40]

    def path_of(self, content_hash: str, origin: str) -> Optional[str]:
        return self._path(content_hash, origin)

    def _path(self, content_hash: str, origin: str) -> Optional[str]:
        if self._prefix is None:
            return None
        return self._prefix + self.key(content_hash, origin)

    def has(self, content_hash: str, origin: str) -> bool:
        path = self._path(content_hash, origin)
        return path is not None and os.path.exists(path)

    def load(self, content_hash: str, origin: str) -> Optional[tuple[str, CodeType]]:
        """(source, code) of an entry, or None when there is none (or it does not read)."""
        path = self._path(content_hash, origin)
        if path is None:
            return None
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
        path = self._path(content_hash, origin)
        if path is None or self.folder is None:
            return
        temporary = f"{path}.{secrets.token_hex(8)}.tmp"
        try:
            if not self._ready:
                os.makedirs(self.folder, mode=0o700, exist_ok=True)
                self._ready = True
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(ENTRY_HEADER + marshal.dumps((source, code)))
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("filebridge: not caching compiled modules in %s: %s", self.folder, exc)
            self.folder = self._prefix = None
            try:
                os.unlink(temporary)
            except OSError:
                pass

"""The module index the host publishes into the session folder (docs/protocol-imports.md).

The host replaces ``modules.json`` atomically whenever a served file changes. The worker reads
it again only when the file itself changed (another inode, size or mtime), so looking up a name
costs one ``open`` + ``fstat`` and no parse in the common case.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from filebridge.wire.codec import loads

__all__ = ["INDEX_FILE", "INDEX_VERSION", "IndexEntry", "ModuleIndex", "PublishedIndex",
           "parse_index"]

INDEX_FILE = "modules.json"
INDEX_VERSION = 1
KINDS = ("module", "package", "namespace")
log = logging.getLogger("filebridge.worker.imports")


@dataclass(frozen=True)
class IndexEntry:
    """One servable module: its kind, its local path, the folder it spans and its content hash."""

    name: str
    kind: str
    origin: Optional[str]
    locations: tuple[str, ...]
    hash: str

    @property
    def is_package(self) -> bool:
        return self.kind != "module"


@dataclass(frozen=True)
class ModuleIndex:
    generation: int
    roots: frozenset[str]
    modules: dict[str, IndexEntry]

    def children(self, package: str) -> list[tuple[str, bool]]:
        """(short name, is package) of the modules directly inside ``package``."""
        prefix = package + "."
        found = []
        for name, entry in self.modules.items():
            if name.startswith(prefix) and "." not in name[len(prefix):]:
                found.append((name[len(prefix):], entry.is_package))
        return sorted(found)


def parse_index(data: Any) -> ModuleIndex:
    """Validate a decoded index; raise ValueError saying what is wrong."""
    if not isinstance(data, dict) or data.get("v") != INDEX_VERSION:
        raise ValueError(f"not a version {INDEX_VERSION} module index")
    roots = data.get("roots")
    modules = data.get("modules")
    if not isinstance(roots, dict) or not isinstance(modules, dict):
        raise ValueError("'roots' and 'modules' must be objects")
    entries = {}
    for name, raw in modules.items():
        if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
            raise ValueError(f"bad index entry for {name!r}")
        origin = raw.get("origin")
        locations = raw.get("locations") or []
        entries[name] = IndexEntry(name=name, kind=raw["kind"],
                                   origin=origin if isinstance(origin, str) else None,
                                   locations=tuple(str(p) for p in locations),
                                   hash=str(raw.get("hash", "")))
    generation = data.get("generation", 0)
    return ModuleIndex(generation=generation if isinstance(generation, int) else 0,
                       roots=frozenset(roots), modules=entries)


class PublishedIndex:
    """``<session>/modules.json``, re-read only when the host replaced it."""

    def __init__(self, session_dir: Path) -> None:
        self.path = session_dir / INDEX_FILE
        self._lock = threading.Lock()
        self._key: Optional[tuple[int, int, int]] = None
        self._index: Optional[ModuleIndex] = None
        self._complained: Optional[tuple[int, int, int]] = None

    def current(self) -> Optional[ModuleIndex]:
        """The latest index, or None when the host has published none (or an unreadable one)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            with self._lock:
                if key == self._key:
                    return self._index
                data = _read_all(fd, st.st_size)
                try:
                    self._index = parse_index(loads(data))
                except ValueError as exc:
                    if self._complained != key:
                        log.warning("filebridge: ignoring %s: %s", self.path, exc)
                        self._complained = key
                    self._index = None
                self._key = key
                return self._index
        finally:
            os.close(fd)

    def adopt(self, data: Any) -> Optional[ModuleIndex]:
        """Use an index the host just answered with (fresher than the file may be yet)."""
        try:
            index = parse_index(data)
        except ValueError:
            return self.current()
        with self._lock:
            # The file keeps its key: if the host replaces it later, that newer file wins.
            self._index = index
        return index


def _read_all(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, max(size, 65536))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)

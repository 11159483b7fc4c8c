"""The worker's view of the host's module index (docs/protocol-imports.md).

Two sources feed it: ``<session>/modules.json``, which the host replaces atomically whenever a
served file changes (read again only when the file itself changed: another inode, size or
mtime), and ``module_index`` answers, which carry only what changed since the generation the
worker holds. The newer generation wins.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from filebridge.wire.codec import loads

__all__ = ["INDEX_FILE", "INDEX_VERSION", "IndexEntry", "ModuleIndex", "PublishedIndex",
           "parse_index"]

INDEX_FILE = "modules.json"
INDEX_VERSION = 1
KINDS = ("module", "package", "namespace")
FILE_CHECK_INTERVAL = 0.02
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
    distributions: dict[str, Any] = field(default_factory=dict)

    def children(self, package: str) -> list[tuple[str, bool]]:
        """(short name, is package) of the modules directly inside ``package``."""
        prefix = package + "."
        found = []
        for name, entry in self.modules.items():
            if name.startswith(prefix) and "." not in name[len(prefix):]:
                found.append((name[len(prefix):], entry.is_package))
        return sorted(found)

    def under(self, name: str) -> list[str]:
        """``name`` and every module inside it, in index order."""
        prefix = name + "."
        return [n for n in self.modules if n == name or n.startswith(prefix)]


def _entry(name: str, raw: Any) -> IndexEntry:
    if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
        raise ValueError(f"bad index entry for {name!r}")
    origin = raw.get("origin")
    locations = raw.get("locations") or []
    return IndexEntry(name=name, kind=raw["kind"],
                      origin=origin if isinstance(origin, str) else None,
                      locations=tuple(str(p) for p in locations), hash=str(raw.get("hash", "")))


def _distributions(data: dict[str, Any]) -> dict[str, Any]:
    found = data.get("distributions")
    if not isinstance(found, dict):
        return {}
    return {key: dist for key, dist in found.items()
            if isinstance(dist, dict) and isinstance(dist.get("files"), dict)}


def parse_index(data: Any) -> ModuleIndex:
    """Validate a decoded index; raise ValueError saying what is wrong."""
    if not isinstance(data, dict) or data.get("v") != INDEX_VERSION:
        raise ValueError(f"not a version {INDEX_VERSION} module index")
    roots = data.get("roots")
    modules = data.get("modules")
    if not isinstance(roots, dict) or not isinstance(modules, dict):
        raise ValueError("'roots' and 'modules' must be objects")
    entries = {name: _entry(name, raw) for name, raw in modules.items()}
    generation = data.get("generation", 0)
    return ModuleIndex(generation=generation if isinstance(generation, int) else 0,
                       roots=frozenset(roots), modules=entries,
                       distributions=_distributions(data))


def apply_changes(base: ModuleIndex, data: Any) -> ModuleIndex:
    """``base`` moved forward by a ``module_index`` answer that lists changes since its
    generation (raise ValueError for a malformed one)."""
    changed = data.get("changed") if isinstance(data, dict) else None
    generation = data.get("generation") if isinstance(data, dict) else None
    if not isinstance(changed, dict) or not isinstance(generation, int):
        raise ValueError("not a list of changes")
    modules = dict(base.modules)
    for name, raw in changed.items():
        if raw is None:
            modules.pop(name, None)
        else:
            modules[name] = _entry(name, raw)
    roots = data.get("roots")
    return ModuleIndex(generation=generation,
                       roots=frozenset(roots) if isinstance(roots, dict) else base.roots,
                       modules=modules, distributions=_distributions(data))


class PublishedIndex:
    """The freshest index known: ``<session>/modules.json`` or a newer ``module_index`` answer."""

    def __init__(self, session_dir: Path) -> None:
        self.path = session_dir / INDEX_FILE
        self._lock = threading.Lock()
        self._key: Optional[tuple[int, int, int]] = None
        self._from_file: Optional[ModuleIndex] = None
        self._answered: Optional[ModuleIndex] = None
        self._complained: Optional[tuple[int, int, int]] = None
        self._checked_at = 0.0
        self._published: Optional[ModuleIndex] = None

    def current(self) -> Optional[ModuleIndex]:
        """The latest index, or None when the host has published none (or an unreadable one).

        The file is looked at again at most every FILE_CHECK_INTERVAL: a burst of imports
        costs one ``fstat``, not one per module."""
        now = time.monotonic()
        if now - self._checked_at >= FILE_CHECK_INTERVAL or self._key is None:
            self._checked_at = now
            self._published = self._read_file()
        published = self._published
        with self._lock:
            answered = self._answered
        if answered is None:
            return published
        if published is None or published.generation <= answered.generation:
            return answered
        return published

    @property
    def generation(self) -> Optional[int]:
        index = self.current()
        return None if index is None else index.generation

    def _read_file(self) -> Optional[ModuleIndex]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            with self._lock:
                if key == self._key:
                    return self._from_file
                data = _read_all(fd, st.st_size)
                held = self._answered
                if held is not None and _generation_of(data) == held.generation:
                    # The host wrote what a module_index answer already gave us: no parse.
                    self._key, self._from_file = key, held
                    return held
                try:
                    self._from_file = parse_index(loads(data))
                except ValueError as exc:
                    if self._complained != key:
                        log.warning("filebridge: ignoring %s: %s", self.path, exc)
                        self._complained = key
                    self._from_file = None
                self._key = key
                return self._from_file
        finally:
            os.close(fd)

    def adopt(self, data: Any) -> Optional[ModuleIndex]:
        """Take a ``module_index`` answer (a whole index, or the changes since ours)."""
        try:
            if isinstance(data, dict) and "changed" in data:
                with self._lock:
                    held = [i for i in (self._answered, self._from_file) if i is not None]
                # The base is a view we hold, never the file re-read (a large parse).
                base = max(held, key=lambda i: i.generation) if held else self.current()
                since, generation = data.get("since"), data.get("generation")
                # Every change after ``since`` is listed with its latest entry, so they bring
                # any view from ``since`` on (and not older) to ``generation``.
                if (base is None or not isinstance(since, int) or not isinstance(generation, int)
                        or not since <= base.generation <= generation):
                    return self.current()
                index = apply_changes(base, data)
            else:
                index = parse_index(data)
        except ValueError:
            return self.current()
        with self._lock:
            # A whole index is the host's word as of now, even with a lower generation (a
            # restarted host); changes apply only onto the generation they were made against.
            self._answered = index
        return index


GENERATION = re.compile(rb'^\{"v":\s*1,\s*"generation":\s*(\d+)[,}]')


def _generation_of(data: bytes) -> Optional[int]:
    """The generation of an encoded index when written first, as the host writes it."""
    found = GENERATION.match(data[:80])
    return int(found.group(1)) if found else None


def _read_all(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, max(size, 65536))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)

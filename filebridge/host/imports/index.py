"""The host's index of servable modules, kept current by file events and cheap checks.

A save changes one entry, not the whole tree: ``update(paths)`` re-resolves only the modules
those paths name, and ``verify()`` (run before answering a worker that asks for changes) finds
what the watcher has not reported yet with one ``stat`` per file and folder. Every change
bumps ``generation`` and is remembered, so a worker holding generation G gets only what
changed since G.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from filebridge.host.imports.metadata import distributions_of

if TYPE_CHECKING:
    from filebridge.host.imports.module_source import ModuleSourceProvider

__all__ = ["HISTORY", "HOT_SECONDS", "SWEEP_SLICES", "SourceIndex", "content_hash"]


def content_hash(data: bytes) -> str:
    """128 bits of SHA-256, in hex: names a file's content in the index and in answers."""
    return hashlib.sha256(data).hexdigest()[:32]

# A light look (verify) stats the files changed within this long at every look, and the
# others one slice in turn: a polling watcher sees those within its poll anyway.
HOT_SECONDS = 1800
SWEEP_SLICES = 16
HISTORY = 512  # generations whose changed names are remembered for ``changes_since``
NAMESPACE_HASH = "namespace"
RACY_NS = 2_000_000_000
Entry = dict[str, Any]


class SourceIndex:
    def __init__(self, provider: ModuleSourceProvider) -> None:
        self.provider = provider
        self._mutating = threading.RLock()
        self._lock = threading.Lock()
        self._modules: dict[str, Entry] = {}
        self._hashes: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._folders: dict[str, tuple[str, int]] = {}  # folder -> (package name, mtime_ns)
        self._distributions: dict[str, Any] = {}
        # Starting from the clock, a restarted host never reuses a generation a worker holds.
        self._generation = time.time_ns() // 1_000_000
        self._history: deque[tuple[int, frozenset[str]]] = deque(maxlen=HISTORY)
        self._snapshot: dict[str, Any] = {}
        self._slice = 0  # which files of the cold ones a light look stats
        self.rescan()

    # -- reading ------------------------------------------------------------------------

    def index(self) -> dict[str, Any]:
        with self._lock:
            return self._snapshot

    def module_count(self) -> int:
        with self._lock:
            return len(self._snapshot.get("modules", ()))

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def changes_since(self, generation: int) -> Optional[dict[str, Optional[Entry]]]:
        """Name -> entry (None: gone) of every change after ``generation``; None when that
        generation is unknown or too old to answer from the history (send the whole index)."""
        with self._lock:
            if generation == self._generation:
                return {}
            if generation > self._generation or not self._history:
                return None
            if self._history[0][0] > generation + 1:
                return None
            names: set[str] = set()
            for number, changed in self._history:
                if number > generation:
                    names |= changed
            modules = self._snapshot["modules"]
            return {name: modules.get(name) for name in sorted(names)}

    # -- changing -----------------------------------------------------------------------

    def rescan(self) -> bool:
        """Walk every root; True when a module appeared, went or changed."""
        with self._mutating:
            self._folders.clear()
            modules: dict[str, Entry] = {}
            for name in self.provider.roots:
                self._walk(name, modules, set())
            changed = {n for n in modules.keys() | self._modules.keys()
                       if modules.get(n) != self._modules.get(n)}
            self._modules = modules
            return self._commit(changed, self._read_distributions())

    def update(self, paths: Iterable[str]) -> bool:
        """Re-resolve the modules that ``paths`` (changed files or folders) name."""
        with self._mutating:
            names: set[str] = set()
            metadata = False
            for path in paths:
                name = self._module_of(path)
                if name is not None:
                    names.add(name)
                base = os.path.basename(path)
                metadata = metadata or base == "pyproject.toml" or ".dist-info" in path
            changed: set[str] = set()
            for name in _topmost(names):
                changed |= self._redo(name)
            return self._commit(changed, self._read_distributions() if metadata else None)

    def verify(self, light: bool = False) -> bool:
        """Catch changes no event reported yet: one stat per served file and folder.

        ``light`` (for folders a polling watcher also looks at): every folder, and every
        file of a folder whose listing moved, so a file created, deleted or saved by rename
        is seen; of the other files only those changed in the last HOT_SECONDS and one in
        SWEEP_SLICES of the rest, in turn. An in-place save of a
        file untouched that long is seen by the watcher's next poll or within SWEEP_SLICES
        light looks, whichever comes first."""
        with self._mutating:
            changed: set[str] = set()
            listed: set[str] = set()  # folders whose listing moved: all their files are looked at
            for folder, (name, mtime) in list(self._folders.items()):
                try:
                    now = os.stat(folder).st_mtime_ns
                except OSError:
                    now = -1
                if now != mtime and name in self._modules:
                    listed.add(folder)
                    changed |= self._relisted(name, folder)
            stat, hashes, now_ns = os.stat, self._hashes, time.time_ns()
            racy, cold = now_ns - RACY_NS, now_ns - HOT_SECONDS * 1_000_000_000
            self._slice = (self._slice + 1) % SWEEP_SLICES
            for name, entry in list(self._modules.items()):
                origin = entry["origin"]
                if origin is None:
                    continue
                known = hashes.get(origin)
                if (light and known is not None and known[0][2] < cold
                        and hash(origin) % SWEEP_SLICES != self._slice
                        and os.path.dirname(origin) not in listed):
                    continue
                try:
                    st = stat(origin)
                except OSError:
                    changed |= self._redo(name)
                    continue
                if (known is not None and st.st_mtime_ns < racy
                        and known[0] == (st.st_ino, st.st_size, st.st_mtime_ns)):
                    continue  # the common case, kept to one stat and a compare
                if self._hash_of(origin) != entry["hash"]:
                    changed |= self._redo(name)
            return self._commit(changed, self._read_distributions())

    # -- internals ----------------------------------------------------------------------

    def _commit(self, changed: set[str], distributions: Optional[dict[str, Any]]) -> bool:
        moved_metadata = distributions is not None and distributions != self._distributions
        if not changed and not moved_metadata and self._snapshot:
            return False
        if distributions is not None:
            self._distributions = distributions
        with self._lock:
            self._generation += 1
            self._history.append((self._generation, frozenset(changed)))
            self._snapshot = {
                "v": 1, "generation": self._generation,
                "roots": {name: {"folder": str(root.file or root.folder)}
                          for name, root in self.provider.roots.items()},
                "modules": dict(self._modules),
                "distributions": self._distributions,
            }
        return True

    def _redo(self, name: str) -> set[str]:
        """Resolve ``name`` and everything under it again; the names whose entry moved."""
        parent = name.rpartition(".")[0]
        if parent and parent not in self._modules:
            return self._redo(parent)  # a new folder: resolve from the first known ancestor
        prefix = name + "."
        old = {n: e for n, e in self._modules.items() if n == name or n.startswith(prefix)}
        for folder, (owner, _mtime) in list(self._folders.items()):
            if owner == name or owner.startswith(prefix):
                del self._folders[folder]
        fresh: dict[str, Entry] = {}
        if not parent or self._modules[parent]["kind"] != "module":
            self._walk(name, fresh, set())
        for gone in old.keys() - fresh.keys():
            del self._modules[gone]
        self._modules.update(fresh)
        if parent and name not in fresh:
            self._relist(parent)
        return {n for n in old.keys() | fresh.keys() if old.get(n) != fresh.get(n)}

    def _relist(self, package: str) -> None:
        """Record the current mtime of ``package``'s folder (its listing is up to date)."""
        entry = self._modules.get(package)
        if entry is None or not entry["locations"]:
            return
        folder = entry["locations"][0]
        try:
            self._folders[folder] = (package, os.stat(folder).st_mtime_ns)
        except OSError:
            pass

    def _relisted(self, package: str, folder: str) -> set[str]:
        """A folder's listing moved (a file added, removed or saved by rename): redo only the
        children whose presence or kind changed; changed files are caught by their stat."""
        located = self.provider.locate(package, quiet=True)
        if located is None or located.folder is None or str(located.folder) != folder:
            return self._redo(package)
        now = {f"{package}.{child}": kind for child, kind in self.provider.children(located)}
        prefix = package + "."
        held = {n for n in self._modules
                if n.startswith(prefix) and "." not in n[len(prefix):]}
        changed: set[str] = set()
        for name in sorted(held | now.keys()):
            entry = self._modules.get(name)
            if entry is None or name not in now or entry["kind"] != now[name]:
                changed |= self._redo(name)
        self._relist(package)
        return changed

    def _walk(self, name: str, out: dict[str, Entry], seen: set[str]) -> None:
        located = self.provider.locate(name, quiet=True)
        if located is None:
            return
        digest = self._hash_of(located.origin) if located.origin else NAMESPACE_HASH
        if digest is None:
            return
        out[name] = {
            "kind": located.kind,
            "origin": str(located.origin) if located.origin else None,
            "locations": [str(located.folder)] if located.folder else [],
            "hash": digest,
        }
        if located.folder is None:
            return
        folder = str(located.folder)
        try:
            self._folders[folder] = (name, os.stat(folder).st_mtime_ns)
        except OSError:
            pass
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop inside the root
            return
        seen.add(real)
        for child, _kind in self.provider.children(located):
            self._walk(f"{name}.{child}", out, seen)
        seen.discard(real)

    def _hash_of(self, path: Path | str) -> Optional[str]:
        """The file's content hash, read again only when its size, mtime or inode changed."""

        key_path = str(path)
        try:
            st = os.stat(key_path)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self._hashes.get(key_path)
            # Timestamps are coarse (a few ms): two saves of one size within that time look
            # alike, so a file modified lately is read again ("racy" entries, as git does).
            recent = time.time_ns() - st.st_mtime_ns < RACY_NS
            if cached is not None and cached[0] == key and not recent:
                return cached[1]
            with open(key_path, "rb") as handle:
                digest = content_hash(handle.read())
        except OSError:
            self._hashes.pop(key_path, None)
            return None
        self._hashes[key_path] = (key, digest)
        return digest

    def _module_of(self, path: str) -> Optional[str]:
        """The module a changed path names, or None (a data file, a hidden folder)."""
        for root in self.provider.roots.values():
            if root.file is not None:
                if path == str(root.file):
                    return root.name
                continue
            base = str(root.folder)
            if path == base:
                return root.name
            if not path.startswith(base + os.sep):
                continue
            parts = path[len(base) + 1:].split(os.sep)
            if parts[-1] == "__init__.py":
                parts.pop()
            elif parts[-1].endswith(".py"):
                parts[-1] = parts[-1][:-3]
            if not all(p.isidentifier() for p in parts):
                return None  # a data file, or inside a folder no module can be named after
            return ".".join([root.name, *parts])
        return None

    def _read_distributions(self) -> dict[str, Any]:
        return distributions_of(self.provider.roots.values())


def _topmost(names: set[str]) -> list[str]:
    """``names`` without those inside another of them (their subtree is redone anyway)."""
    kept: list[str] = []
    for name in sorted(names):
        if not any(name.startswith(k + ".") for k in kept):
            kept.append(name)
    return kept

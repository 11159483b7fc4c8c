"""Serving Python source from exposed local folders: ``module_spec`` answers and the index.

The answer has the shape the Deephaven remote file source plugin uses (name, origin,
is_package, submodule_search_locations, source) plus ``kind``, ``hash`` and ``submodules``;
docs/protocol-imports.md is the contract. Every answer reads the file again, so it is never
staler than the disk; the index is rebuilt by ``rescan()`` when the folders change.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from importlib.util import decode_source
from pathlib import Path
from typing import Any, Iterable, Optional

from filebridge.errors import RemoteError
from filebridge.host.source_rules import SourceRoot, SourceRules, is_module_name, roots_by_name

__all__ = ["INDEX_VERSION", "Located", "ModuleSourceProvider"]

INDEX_VERSION = 1
NAMESPACE_HASH = "namespace"
MAX_LOGGED_REFUSALS = 1000  # a worker sending endless bogus names must not grow memory
log = logging.getLogger("filebridge.host.imports")


@dataclass(frozen=True)
class Located:
    """Where a servable module lives: ``origin`` is its file (None for a namespace package)."""

    name: str
    kind: str  # module | package | namespace
    origin: Optional[Path]
    folder: Optional[Path]  # the package's folder, for packages and namespaces

    @property
    def is_package(self) -> bool:
        return self.kind != "module"


class ModuleSourceProvider:
    """Answers which modules the exposed roots hold, and their source, within the rules."""

    def __init__(self, roots: Iterable[SourceRoot], rules: Optional[SourceRules] = None) -> None:
        self.roots = roots_by_name(roots)
        self.rules = rules or SourceRules()
        self._hashes: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self._scanning = threading.Lock()
        self._index: dict[str, Any] = {}
        self._generation = 0
        self.rescan()

    # -- one module -----------------------------------------------------------------------

    def locate(self, name: str) -> Optional[Located]:
        """The module ``name`` resolves to, by the rules the import system uses, or None.

        Precedence as in the standard FileFinder: a folder with ``__init__.py``, then
        ``name.py``, then a folder without one (a namespace package). Only the final path is
        checked for staying inside the root: resolving it resolves every folder on the way.
        """
        if not is_module_name(name):
            return self._refuse(name, "not a dotted name of identifiers")
        parts = name.split(".")
        root = self.roots.get(parts[0])
        if root is None:
            return None
        folder = root.folder
        for depth, part in enumerate(parts[1:], start=1):
            last = depth == len(parts) - 1
            relative = parts[1:depth + 1]
            package = folder / part
            is_dir = package.is_dir()
            dir_excluded = is_dir and self.rules.excludes(relative)
            if is_dir and not dir_excluded and (package / "__init__.py").is_file():
                if last:
                    return self._inside(root, Located(name, "package", package / "__init__.py",
                                                      package))
                folder = package
                continue
            module = folder / f"{part}.py"
            if last and module.is_file():
                if not self.rules.serves_module_file([*relative[:-1], module.name]):
                    return self._refuse(name, f"{module} is excluded")
                return self._inside(root, Located(name, "module", module, None))
            if not is_dir:
                return None
            if dir_excluded:
                return self._refuse(name, f"{package} is excluded")
            folder = package
            if last:
                return self._inside(root, Located(name, "namespace", None, package))
        init = folder / "__init__.py"
        if init.is_file():
            return self._inside(root, Located(name, "package", init, folder))
        return Located(name, "namespace", None, folder)

    def _inside(self, root: SourceRoot, located: Located) -> Optional[Located]:
        target = located.origin or located.folder
        assert target is not None
        if not root.contains(target):
            return self._refuse(located.name, f"{target} resolves outside {root.folder}")
        return located

    def _refuse(self, name: str, why: str) -> Optional[Located]:
        """Log a refusal once per name; the answer is "not found" either way."""
        with self._lock:
            if name in self._refused or len(self._refused) > MAX_LOGGED_REFUSALS:
                return None
            self._refused.add(name)
            last = len(self._refused) > MAX_LOGGED_REFUSALS
        log.warning("not serving module %r: %s%s", name, why,
                    "; further refusals are not logged" if last else "")
        return None

    def find(self, name: str, known_hash: Optional[str] = None) -> dict[str, Any]:
        """The ``module_spec`` answer for ``name``."""
        located = self.locate(name) if isinstance(name, str) else None
        if located is None:
            return {"found": False, "name": name}
        source = ""
        digest = NAMESPACE_HASH
        if located.origin is not None:
            try:
                data = located.origin.read_bytes()
                source = decode_source(data)
            except (OSError, SyntaxError, UnicodeDecodeError) as exc:
                raise RemoteError("unreadable", f"cannot read {located.origin}: {exc}") from None
            digest = content_hash(data)
        answer: dict[str, Any] = {
            "found": True, "name": name, "kind": located.kind, "hash": digest,
            "origin": str(located.origin) if located.origin else None,
            "is_package": located.is_package,
            "submodule_search_locations": [str(located.folder)] if located.folder else None,
        }
        if known_hash is not None and known_hash == digest:
            answer["unchanged"] = True
            return answer
        answer["source"] = source
        if located.folder is not None:
            answer["submodules"] = [[child, is_pkg]
                                    for child, is_pkg in self.submodules(located)]
        return answer

    def submodules(self, package: Located) -> list[tuple[str, bool]]:
        """(name, is package) of what ``package`` holds, as ``pkgutil.iter_modules`` lists.

        One scan of the folder, by the same rules as ``locate``; only symlinks need resolving.
        """
        assert package.folder is not None
        root = self.roots[package.name.partition(".")[0]]
        relative = package.name.split(".")[1:]
        try:
            with os.scandir(package.folder) as scan:
                entries = list(scan)
        except OSError:
            return []
        kinds: dict[str, str] = {}
        for entry in entries:
            try:
                if entry.name.endswith(".py"):
                    stem = entry.name[:-3]
                    if (stem.isidentifier() and stem != "__init__" and entry.is_file()
                            and self.rules.serves_module_file([*relative, entry.name])
                            and (not entry.is_symlink() or root.contains(Path(entry.path)))):
                        kinds[stem] = "package" if kinds.get(stem) == "package" else "module"
                elif (entry.name.isidentifier() and entry.is_dir()
                      and not self.rules.excludes([*relative, entry.name])
                      and (not entry.is_symlink() or root.contains(Path(entry.path)))):
                    if os.path.isfile(os.path.join(entry.path, "__init__.py")):
                        kinds[entry.name] = "package"
                    else:
                        kinds.setdefault(entry.name, "namespace")
            except OSError:
                continue
        return sorted((name, kind != "module") for name, kind in kinds.items())

    # -- the index ------------------------------------------------------------------------

    def index(self) -> dict[str, Any]:
        """The latest published index (docs/protocol-imports.md)."""
        with self._lock:
            return self._index

    def rescan(self) -> bool:
        """Walk the roots again; True when a module appeared, went or changed."""
        with self._scanning:
            modules: dict[str, dict[str, Any]] = {}
            for root in self.roots.values():
                self._scan(root.name, modules, set())
            return self._replace_index(modules)

    def _replace_index(self, modules: dict[str, dict[str, Any]]) -> bool:
        with self._lock:
            if self._index and modules == self._index["modules"]:
                return False
            self._generation += 1
            self._index = {
                "v": INDEX_VERSION, "generation": self._generation,
                "roots": {name: {"folder": str(root.folder)} for name, root in self.roots.items()},
                "modules": modules,
            }
            return True

    def _scan(self, name: str, modules: dict[str, dict[str, Any]], seen: set[str]) -> None:
        located = self.locate(name)
        if located is None:
            return
        entry: dict[str, Any] = {
            "kind": located.kind,
            "origin": str(located.origin) if located.origin else None,
            "locations": [str(located.folder)] if located.folder else [],
            "hash": self._hash_of(located.origin) if located.origin else NAMESPACE_HASH,
        }
        if entry["hash"] is None:
            return
        modules[name] = entry
        if located.folder is None:
            return
        real = os.path.realpath(located.folder)
        if real in seen:  # a symlink loop inside the root
            return
        seen.add(real)
        for child, _is_package in self.submodules(located):
            self._scan(f"{name}.{child}", modules, seen)
        seen.discard(real)

    def _hash_of(self, path: Path) -> Optional[str]:
        """The file's content hash, re-read only when its size, mtime or inode changed."""
        try:
            st = path.stat()
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self._hashes.get(str(path))
            if cached is not None and cached[0] == key:
                return cached[1]
            digest = content_hash(path.read_bytes())
        except OSError:
            return None
        self._hashes[str(path)] = (key, digest)
        return digest


def content_hash(data: bytes) -> str:
    """128 bits of SHA-256, in hex: names a file's content in the index and in answers."""
    return hashlib.sha256(data).hexdigest()[:32]

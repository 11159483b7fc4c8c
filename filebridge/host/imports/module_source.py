"""Serving Python source from exposed local folders: ``module_spec`` answers and the index.

The answer has the shape the Deephaven remote file source plugin uses (name, origin,
is_package, submodule_search_locations, source) plus ``kind``, ``hash`` and ``submodules``;
docs/protocol-imports.md is the contract. Every answer reads the file again, so it is never
staler than the disk; the index (source_index.py) follows file events and ``verify()``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from importlib.util import decode_source
from pathlib import Path
from typing import Any, Iterable, Optional

from filebridge.errors import RemoteError
from filebridge.host.imports.index import SourceIndex, content_hash
from filebridge.host.imports.rules import SourceRoot, SourceRules, is_module_name, roots_by_name

__all__ = ["INDEX_VERSION", "Located", "ModuleSourceProvider", "content_hash"]

INDEX_VERSION = 1
NAMESPACE_HASH = "namespace"
MAX_LOGGED_REFUSALS = 1000  # a worker sending endless bogus names must not grow memory
MAX_BATCH_BYTES = 8 << 20  # source text per ``module_sources`` answer
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


class _Batch:
    """What the answers of one ``module_sources`` request share: the index they were asked
    against, each package's children in it, and the folders resolved so far."""

    def __init__(self, modules: dict[str, Any]) -> None:
        self.modules = modules
        self.folders: dict[str, str] = {}
        self.children: dict[str, list[tuple[str, bool]]] = {}
        for name in sorted(modules):
            parent, _, child = name.rpartition(".")
            if parent in modules:
                self.children.setdefault(parent, []).append(
                    (child, modules[name]["kind"] != "module"))
        for name, entry in modules.items():
            if entry["kind"] != "module":
                self.children.setdefault(name, [])


class ModuleSourceProvider:
    """Answers which modules the exposed roots hold, and their source, within the rules."""

    def __init__(self, roots: Iterable[SourceRoot], rules: Optional[SourceRules] = None) -> None:

        self.roots = roots_by_name(roots)
        self.rules = rules or SourceRules()
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self.tree = SourceIndex(self)

    # -- one module -----------------------------------------------------------------------

    def locate(self, name: str, *, quiet: bool = False) -> Optional[Located]:
        """The module ``name`` resolves to, by the rules the import system uses, or None.

        Precedence as in the standard FileFinder: a folder with ``__init__.py``, then
        ``name.py``, then a folder without one (a namespace package). Only the final path is
        checked for staying inside the root: resolving it resolves every folder on the way.
        ``quiet``: a refusal is not logged (the index walk logs its own).
        """
        if not is_module_name(name):
            return self._refuse(name, "not a dotted name of identifiers", quiet)
        parts = name.split(".")
        root = self.roots.get(parts[0])
        if root is None:
            return None
        if root.file is not None:
            if len(parts) > 1:
                return None
            why = self.rules.module_file_refusal([root.file.name], walked=True)
            if why is not None:
                return self._refuse(name, f"{root.file} is left out by {why}", quiet)
            return self._inside(root, Located(name, "module", root.file, None), quiet)
        folder = root.folder
        for depth, part in enumerate(parts[1:], start=1):
            last = depth == len(parts) - 1
            relative = parts[1:depth + 1]
            package = folder / part
            is_dir = package.is_dir()
            has_init = is_dir and (package / "__init__.py").is_file()
            dir_rule = (self.rules.exclusion(relative, is_package=has_init, walked=True)
                        if is_dir else None)
            if has_init and dir_rule is None:
                if last:
                    return self._inside(root, Located(name, "package", package / "__init__.py",
                                                      package), quiet)
                folder = package
                continue
            module = folder / f"{part}.py"
            if last and module.is_file():
                why = self.rules.module_file_refusal([*relative[:-1], module.name],
                                                     walked=True)
                if why is not None:
                    return self._refuse(name, f"{module} is left out by {why}", quiet)
                return self._inside(root, Located(name, "module", module, None), quiet)
            if not is_dir:
                return None
            if dir_rule is not None:
                return self._refuse(name, f"{package} is left out by {dir_rule}", quiet)
            folder = package
            if last:
                return self._inside(root, Located(name, "namespace", None, package), quiet)
        init = folder / "__init__.py"
        if init.is_file():
            return self._inside(root, Located(name, "package", init, folder), quiet)
        return Located(name, "namespace", None, folder)

    def _inside(self, root: SourceRoot, located: Located, quiet: bool) -> Optional[Located]:
        target = located.origin or located.folder
        assert target is not None
        if not root.contains(target):
            return self._refuse(located.name, f"{target} resolves outside {root.folder}", quiet)
        return located

    def _refuse(self, name: str, why: str, quiet: bool = False) -> Optional[Located]:
        """Log a refusal once per name; the answer is "not found" either way."""
        if not quiet:
            self.log_refusal(name, why, logging.WARNING)
        return None

    def log_refusal(self, name: str, why: str, level: int, kind: str = "module") -> None:
        with self._lock:
            if name in self._refused or len(self._refused) > MAX_LOGGED_REFUSALS:
                return
            self._refused.add(name)
            last = len(self._refused) > MAX_LOGGED_REFUSALS
        log.log(level, "not serving %s %r: %s%s", kind, name, why,
                "; further refusals are not logged" if last else "")

    def find(self, name: str, known_hash: Optional[str] = None, *,
             batch: Optional[_Batch] = None) -> dict[str, Any]:
        """The ``module_spec`` answer for ``name``. ``batch``: one answer of many, whose
        places (and the package's submodules) come from the index when it lists ``name``,
        checking only that the file still resolves inside its root."""
        located = None
        if batch is not None and isinstance(name, str):
            located = self._indexed(name, batch)
        if located is None:
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
            listed = batch.children.get(name) if batch is not None else None
            answer["submodules"] = [[child, is_pkg] for child, is_pkg in (
                listed if listed is not None else self.submodules(located))]
        return answer

    def _indexed(self, name: str, batch: _Batch) -> Optional[Located]:
        entry = batch.modules.get(name)
        if entry is None:
            return None
        origin = Path(entry["origin"]) if entry["origin"] else None
        folder = Path(entry["locations"][0]) if entry["locations"] else None
        target = origin or folder
        root = self.roots[name.partition(".")[0]]
        if target is None or not root.contains(target, batch.folders):
            return None
        return Located(name, entry["kind"], origin, folder)

    def find_many(self, names: list[Any]) -> list[dict[str, Any]]:
        """``module_sources``: the answers for ``names`` in order, up to MAX_BATCH_BYTES of
        source (at least one); the names left over are not answered and are asked again.

        A worker asks right after a look at what changed, which brought the index up to
        date: places and package listings come from it, so a batch costs a read of each
        file, not a resolution of each name and a scan of each folder."""
        answers: list[dict[str, Any]] = []
        size = 0
        batch = _Batch(self.tree.index()["modules"])
        for name in names:
            if answers and size > MAX_BATCH_BYTES:
                break
            try:
                answer = (self.find(name, batch=batch) if isinstance(name, str)
                          else {"found": False, "name": name})
            except RemoteError as exc:
                answer = {"found": False, "name": name, "error": exc.remote_message}
            size += len(answer.get("source") or "")
            answers.append(answer)
        return answers

    def submodules(self, package: Located) -> list[tuple[str, bool]]:
        """(name, is package) of what ``package`` holds, as ``pkgutil.iter_modules`` lists.

        One scan of the folder, by the same rules as ``locate``; only symlinks need resolving.
        """
        return [(name, kind != "module") for name, kind in self.children(package)]

    def children(self, package: Located) -> list[tuple[str, str]]:
        """(name, kind) of the modules directly in ``package``'s folder, sorted by name."""
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
                    if not stem.isidentifier() or stem == "__init__" or not entry.is_file():
                        continue
                    why = self.rules.module_file_refusal([*relative, entry.name], walked=True)
                    if why is not None:
                        self._scan_refusal(f"{package.name}.{stem}", entry.path, why)
                    elif not entry.is_symlink() or root.contains(Path(entry.path)):
                        kinds[stem] = "package" if kinds.get(stem) == "package" else "module"
                elif entry.name.isidentifier() and entry.is_dir():
                    has_init = os.path.isfile(os.path.join(entry.path, "__init__.py"))
                    rule = self.rules.exclusion([*relative, entry.name], is_package=has_init,
                                                walked=True)
                    if rule is not None:
                        self._scan_refusal(f"{package.name}.{entry.name}", entry.path, rule)
                    elif not entry.is_symlink() or root.contains(Path(entry.path)):
                        kinds[entry.name] = "package" if has_init else kinds.get(
                            entry.name, "namespace")
            except OSError:
                continue
        return sorted(kinds.items())

    def _scan_refusal(self, name: str, path: str, why: str) -> None:
        if os.path.basename(path) != "__pycache__":
            self.log_refusal(name, f"{path} is left out by {why}", logging.INFO)

    # -- the index (source_index.py) -----------------------------------------------------

    def index(self) -> dict[str, Any]:
        """The latest index (docs/protocol-imports.md)."""
        return self.tree.index()

    def rescan(self) -> bool:
        """Walk the roots again; True when a module appeared, went or changed."""
        return self.tree.rescan()



"""The ``sys.meta_path`` finder that asks the host for modules under the configured roots.

Lookups for other names return at once. Under a root, the host's published index answers
"does it exist" and "did it change" without a round trip; only new or changed modules are
fetched with a ``module_spec`` request (docs/protocol-imports.md).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Protocol

from filebridge.errors import CallTimeout, FilebridgeError, RemoteError, RemoteImportError
from filebridge.worker.imports.index import ModuleIndex, PublishedIndex
from filebridge.worker.imports.loader import (
    FetchedModule,
    ModuleCache,
    RemoteLoader,
    loaded_modules,
    remember_lines,
)

__all__ = ["ImportStats", "RemoteFinder", "Requester", "ServedPathEntry", "is_dotted_name"]


class Requester(Protocol):
    """What the finder needs from a worker connection."""

    def call(self, command: str, timeout: Optional[float] = None, **args: Any) -> Any: ...


def is_dotted_name(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


class ImportStats:
    """How imports under the roots were answered since install (for tests and benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = {"requests": 0, "fetched": 0, "unchanged": 0, "cache_hits": 0,
                       "index_misses": 0, "not_found": 0}

    def add(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


class RemoteFinder(MetaPathFinder):
    def __init__(self, roots: Iterable[str], connection: Requester, session_dir: Path,
                 timeout: float) -> None:
        self.roots = frozenset(roots)
        self.timeout = timeout
        self.index = PublishedIndex(session_dir)
        self.cache = ModuleCache()
        self.stats = ImportStats()
        self._connection = connection
        self._locations: dict[str, str] = {}  # a served package folder -> the package's name

    # -- the import system's side --------------------------------------------------------

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        root = fullname.partition(".")[0]
        if root not in self.roots or not is_dotted_name(fullname):
            return None
        cached = self.cache.get(fullname)
        index = self.index.current()
        if index is not None:
            entry = index.modules.get(fullname)
            if root not in index.roots or entry is None:
                self.stats.add("index_misses")
                return None
            # A reload (target set) always asks: the index may lag behind a save by a moment.
            if target is None and cached is not None and cached.hash == entry.hash:
                self.stats.add("cache_hits")
                return self._spec(cached)
        fetched = self._fetch(fullname, cached)
        return None if fetched is None else self._spec(fetched)

    def invalidate_caches(self) -> None:
        """``importlib.invalidate_caches()``: nothing to drop, the index is checked per lookup."""

    # -- talking to the host ----------------------------------------------------------------

    def _fetch(self, name: str, cached: Optional[FetchedModule]) -> Optional[FetchedModule]:
        args: dict[str, Any] = {"name": name}
        if cached is not None:
            args["known_hash"] = cached.hash
        self.stats.add("requests")
        try:
            result = self._connection.call("module_spec", timeout=self.timeout, **args)
        except CallTimeout as exc:
            state = ("the host looked alive but did not answer" if exc.host_alive
                     else "the host did not look alive")
            raise RemoteImportError(
                f"filebridge could not import {name!r}: no answer from the host within "
                f"{exc.waited:.1f} s; {state} ({exc}). Raise the limit with "
                f"FILEBRIDGE_IMPORT_TIMEOUT or install(timeout=...).",
                name=name, waited=exc.waited, host_alive=exc.host_alive) from None
        except RemoteError as exc:
            raise RemoteImportError(
                f"filebridge could not import {name!r}: the host answered "
                f"{exc.code}: {exc.remote_message}", name=name, host_alive=True) from None
        except FilebridgeError as exc:
            raise RemoteImportError(f"filebridge could not import {name!r}: {exc}",
                                    name=name) from None
        if not isinstance(result, dict) or not result.get("found"):
            self.stats.add("not_found")
            self.cache.drop(name)
            return None
        if result.get("unchanged") and cached is not None and cached.hash == result.get("hash"):
            self.stats.add("unchanged")
            return cached
        fetched = fetched_from_answer(name, result)
        self.stats.add("fetched")
        self.cache.put(fetched)
        return fetched

    def refresh(self, *, ask_host: bool) -> list[str]:
        """Forget imported modules of every root in which a served file changed; their names.

        A whole root is dropped, not only the changed modules, because unchanged modules may
        hold objects taken from changed ones (``from .a import f``). Re-importing unchanged
        modules costs no request: their source and code are still cached.
        """
        index: Optional[ModuleIndex] = None
        if ask_host:
            try:
                index = self.ask_index()
            except FilebridgeError:
                index = None
        if index is None:
            index = self.index.current()
        if index is None:
            return []
        dropped: list[str] = []
        for root in sorted(self.roots):
            ours = [name for name in loaded_modules(root) if self._served_here(name)]
            if any(self._changed(name, index) for name in ours):
                for name in ours:
                    sys.modules.pop(name, None)
                dropped.extend(ours)
        return sorted(dropped)

    def ask_index(self) -> Optional[ModuleIndex]:
        """Have the host rescan its folders and answer its index (raises FilebridgeError)."""
        return self.index.adopt(self._connection.call("module_index", timeout=self.timeout))

    def _served_here(self, name: str) -> bool:
        module = sys.modules.get(name)
        spec = getattr(module, "__spec__", None)
        loader = getattr(spec, "loader", None)
        return isinstance(loader, RemoteLoader) and loader.fetched.name == name

    @staticmethod
    def _changed(name: str, index: ModuleIndex) -> bool:
        spec = getattr(sys.modules.get(name), "__spec__", None)
        loader = getattr(spec, "loader", None)
        entry = index.modules.get(name)
        return (entry is None or not isinstance(loader, RemoteLoader)
                or entry.hash != loader.fetched.hash)

    # -- specs and package folders ------------------------------------------------------

    def _spec(self, fetched: FetchedModule) -> ModuleSpec:
        spec = ModuleSpec(fetched.name, RemoteLoader(fetched), origin=fetched.origin,
                          is_package=fetched.is_package)
        if fetched.is_package:
            spec.submodule_search_locations = list(fetched.locations)
            for location in fetched.locations:
                self._claim(location, fetched.name)
        spec.has_location = fetched.origin is not None
        if fetched.origin is not None:
            remember_lines(fetched)
        return spec

    def _claim(self, location: str, package: str) -> None:
        if self._locations.get(location) != package:
            self._locations[location] = package
            # A finder cached for this folder (e.g. the stdlib FileFinder, when the path also
            # exists here) would import files the host refused; ours answers from now on.
            cached = sys.path_importer_cache.get(location)
            if cached is not None and not isinstance(cached, ServedPathEntry):
                del sys.path_importer_cache[location]

    def path_hook(self, location: str) -> ServedPathEntry:
        """The ``sys.path_hooks`` entry: claims the folders of served packages."""
        package = self._locations.get(location)
        if package is None:
            raise ImportError("not a served package folder", path=location)
        return ServedPathEntry(self, package)

    def children(self, package: str) -> list[tuple[str, bool]]:
        index = self.index.current()
        if index is not None and package in index.modules:
            return index.children(package)
        cached = self.cache.get(package)
        return list(cached.submodules or []) if cached is not None else []

    def release_locations(self) -> None:
        for location in self._locations:
            if isinstance(sys.path_importer_cache.get(location), ServedPathEntry):
                del sys.path_importer_cache[location]
        self._locations.clear()


class ServedPathEntry:
    """The path-entry finder of a served package folder.

    ``pkgutil.iter_modules(pkg.__path__)`` lists the host's modules through it, and it answers
    "nothing here" for everything else, so a refused file is never imported from a local copy.
    """

    def __init__(self, finder: RemoteFinder, package: str) -> None:
        self.finder = finder
        self.package = package

    def find_spec(self, fullname: str, target: Optional[ModuleType] = None) -> None:
        return None

    def invalidate_caches(self) -> None:
        pass

    def iter_modules(self, prefix: str = "") -> Iterator[tuple[str, bool]]:
        for name, is_package in self.finder.children(self.package):
            yield prefix + name, is_package


def fetched_from_answer(name: str, result: dict[str, Any]) -> FetchedModule:
    """Check a ``module_spec`` answer; a malformed one is an ImportError naming the module."""
    kind = result.get("kind") or ("package" if result.get("is_package") else "module")
    source = result.get("source")
    origin = result.get("origin")
    locations = result.get("submodule_search_locations") or []
    if (result.get("name") != name or kind not in ("module", "package", "namespace")
            or not isinstance(source, str) or not isinstance(locations, list)
            or not (origin is None or isinstance(origin, str))):
        raise RemoteImportError(f"filebridge could not import {name!r}: the host sent a "
                                "malformed module_spec answer", name=name, host_alive=True)
    submodules = result.get("submodules")
    return FetchedModule(
        name=name, kind=kind, origin=origin, locations=tuple(str(p) for p in locations),
        source=source, hash=str(result.get("hash", "")),
        submodules=[(str(n), bool(p)) for n, p in submodules] if isinstance(submodules, list)
        else None)

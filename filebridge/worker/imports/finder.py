"""The ``sys.meta_path`` finder that asks the host for modules under the configured roots.

Lookups for other names return at once. Under a root, the index answers "does it exist" and
"did it change" without a round trip; the finder brings its index up to date with one
``module_index`` request (the changes since the generation it holds) on its first lookup, after
``importlib.invalidate_caches()``, before a reload, and when its view is older than
SYNC_INTERVAL. A module whose hash is known is run from memory or from the shared code cache;
the rest are fetched, many per ``module_sources`` request when the cache is cold.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, Optional, Protocol

from filebridge.errors import (
    CallTimeout,
    FilebridgeError,
    NoHandler,
    RemoteError,
    RemoteImportError,
)
from filebridge.wire.layout import SessionLayout
from filebridge.worker.imports.codecache import CodeCache, cache_folder
from filebridge.worker.imports.index import IndexEntry, ModuleIndex, PublishedIndex
from filebridge.worker.imports.liveness import why_host_is_gone
from filebridge.worker.imports.loader import EXECUTING, FetchedModule, ModuleCache, RemoteLoader

__all__ = ["ImportStats", "RemoteFinder", "Requester", "ServedPathEntry", "is_dotted_name"]

SYNC_INTERVAL = 0.5  # seconds a synced view is trusted for lookups of not yet imported names
BATCH_NAMES = 4000
log = logging.getLogger("filebridge.worker.imports")


class Requester(Protocol):
    """What the finder needs from a worker connection."""

    def call(self, command: str, timeout: Optional[float] = None, **args: Any) -> Any: ...


def is_dotted_name(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


class ImportStats:
    """How imports under the roots were answered since install (for tests and benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = {"requests": 0, "syncs": 0, "batches": 0, "fetched": 0, "unchanged": 0,
                       "cache_hits": 0, "disk_hits": 0, "index_misses": 0, "not_found": 0,
                       "host_gone": 0}

    def add(self, key: str, count: int = 1) -> None:
        with self._lock:
            self.counts[key] += count

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


class _Flag(threading.local):
    active = False


class RemoteFinder(MetaPathFinder):
    def __init__(self, roots: Iterable[str], connection: Requester, session_dir: Path,
                 timeout: float) -> None:
        self.roots = frozenset(roots)
        self.timeout = timeout
        self.session_dir = Path(session_dir)
        self.host_root = SessionLayout(self.session_dir).root
        self.index = PublishedIndex(self.session_dir)
        self.cache = ModuleCache()
        self.codecache = CodeCache(cache_folder(self.host_root.root))
        self.stats = ImportStats()
        self._connection = connection
        self._locations: dict[str, str] = {}  # a served package folder -> the package's name
        self._sync_lock = threading.Lock()
        self._synced_at: Optional[float] = None
        self._complained: Optional[str] = None
        self.refreshing = _Flag()
        self._batches = True
        # The generation every module run is as new as (the last refresh's, else the first
        # view's): what changed since then is all a refresh may need to run again.
        self.refreshed_at: Optional[int] = None

    # -- the import system's side --------------------------------------------------------

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        root = fullname.partition(".")[0]
        if root not in self.roots or not is_dotted_name(fullname):
            return None
        # A reload asks what changed (unless refresh() just did and is re-running modules).
        # An import statement outside served code asks when the view is older than
        # SYNC_INTERVAL; the imports its modules make while running use the same view.
        if target is not None and not self.refreshing.active:
            self.sync()
        elif self._synced_at is None or not EXECUTING.depth:
            self.sync(SYNC_INTERVAL)
        index = self.index.current()
        if index is None:
            fetched = self._fetch(fullname, self.cache.get(fullname))
            return None if fetched is None else self._spec(fetched)
        entry = index.modules.get(fullname)
        if root not in index.roots or entry is None:
            self.stats.add("index_misses")
            return None
        held = self._held(entry)
        if held is not None:
            return self._spec(held)
        fetched = self._fetch_with_siblings(entry, index)
        return None if fetched is None else self._spec(fetched)

    def invalidate_caches(self) -> None:
        """``importlib.invalidate_caches()``: the next lookup asks the host what changed."""
        self._synced_at = None

    def find_distributions(self, context: Any = None) -> Iterator[Any]:
        """``importlib.metadata``: the served roots' distributions, from the index."""
        from filebridge.worker.imports.metadata import matching_distributions

        index = self.index.current()
        if index is None or not index.distributions:
            return iter(())
        return matching_distributions(index.distributions, getattr(context, "name", None))

    # -- keeping the index current ------------------------------------------------------

    def sync(self, max_age: float = 0.0, *, with_sources: bool = False) -> None:
        """Ask the host for the changes since our generation, unless we did within
        ``max_age`` seconds. A host that is gone, or does not answer, leaves the view as is:
        modules already known keep importing. ``with_sources``: the answer also carries the
        changed modules' source (refresh() re-runs them without another request)."""
        synced = self._synced_at
        if synced is not None and time.monotonic() - synced < max_age:
            return
        with self._sync_lock:
            synced = self._synced_at
            if synced is not None and time.monotonic() - synced < max_age:
                return
            self._synced_at = time.monotonic()
            gone = why_host_is_gone(self.host_root)
            if gone is not None:
                self.stats.add("host_gone")
                return
            generation = self.index.generation
            if with_sources and generation is not None and self.refreshed_at is not None:
                # The changes since the view the modules were run against carry the source of
                # each one to re-run, even when our view already moved on (modules.json).
                generation = min(generation, self.refreshed_at)
            args: dict[str, Any] = {} if generation is None else {"since": generation}
            if with_sources and generation is not None:
                args["sources"] = True
            self.stats.add("requests")
            self.stats.add("syncs")
            try:
                answer = self._connection.call("module_index", timeout=self.timeout, **args)
            except FilebridgeError as exc:
                if self._complained != str(exc):
                    self._complained = str(exc)
                    log.warning("filebridge: could not ask the host what changed: %s", exc)
                return
            index = self.index.adopt(answer)
            if self.refreshed_at is None and index is not None:
                self.refreshed_at = index.generation
            sources = answer.get("sources") if isinstance(answer, dict) else None
            if index is not None and isinstance(sources, dict):
                self._keep_sources(index, sources)

    def _keep_sources(self, index: ModuleIndex, sources: dict[str, Any]) -> None:
        for name, sent in sources.items():
            entry = index.modules.get(name)
            if (entry is None or entry.origin is None or not isinstance(sent, dict)
                    or sent.get("hash") != entry.hash or not isinstance(sent.get("source"), str)):
                continue
            self.cache.put(FetchedModule(name, entry.kind, entry.origin, entry.locations,
                                         sent["source"], entry.hash))

    def ask_index(self) -> Optional[ModuleIndex]:
        """The host's index as of now (raises FilebridgeError; at once if the host is gone)."""
        gone = why_host_is_gone(self.host_root)
        if gone is not None:
            raise RemoteError("host_gone", gone)
        self._synced_at = None
        self.sync()
        return self.index.current()

    # -- what this process holds --------------------------------------------------------

    def _held(self, entry: IndexEntry) -> Optional[FetchedModule]:
        """``entry``'s module from memory or the shared code cache, without a request."""
        cached = self.cache.get(entry.name)
        if cached is not None and cached.hash == entry.hash:
            self.stats.add("cache_hits")
            return cached
        if entry.kind == "namespace":
            fetched = FetchedModule(entry.name, entry.kind, None, entry.locations, "", entry.hash)
        else:
            loaded = (self.codecache.load(entry.hash, entry.origin)
                      if entry.origin is not None else None)
            if loaded is None:
                return None
            fetched = FetchedModule(entry.name, entry.kind, entry.origin, entry.locations,
                                    loaded[0], entry.hash, code=loaded[1])
            self.stats.add("disk_hits")
        self.cache.put(fetched)
        return fetched

    def _needs_fetch(self, entry: IndexEntry) -> bool:
        if entry.kind == "namespace" or entry.origin is None:
            return False
        cached = self.cache.get(entry.name)
        if cached is not None and cached.hash == entry.hash:
            return False
        return not self.codecache.has(entry.hash, entry.origin)

    def code_of(self, fetched: FetchedModule) -> CodeType:
        """The module's code object; compiled once, then kept in memory and the code cache.
        A SyntaxError carries the local path and line, as a local import's would."""
        if fetched.code is None:
            filename = fetched.origin or f"<filebridge {fetched.name}>"
            fetched.code = compile(fetched.source, filename, "exec", dont_inherit=True)
            if fetched.origin is not None:
                self.codecache.store(fetched.hash, fetched.origin, fetched.source, fetched.code)
        return fetched.code

    # -- talking to the host ----------------------------------------------------------------

    def _call(self, command: str, about: str, **args: Any) -> Any:
        """One request about module ``about``; every failure is a RemoteImportError naming it."""
        name = about
        gone = why_host_is_gone(self.host_root)
        if gone is not None:
            self.stats.add("host_gone")
            raise RemoteImportError(
                f"filebridge could not import {name!r}: the host did not look alive, so "
                f"nothing was asked ({gone})", name=name, host_alive=False)
        self.stats.add("requests")
        try:
            return self._connection.call(command, timeout=self.timeout, **args)
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

    def _fetch_with_siblings(self, entry: IndexEntry,
                             index: ModuleIndex) -> Optional[FetchedModule]:
        """Fetch ``entry`` and, in the same request, every module inside it that neither
        memory nor the code cache holds: a cold import of a package is a few requests."""
        names = [entry.name]
        if entry.is_package:
            names += [n for n in index.under(entry.name)
                      if n != entry.name and self._needs_fetch(index.modules[n])]
        if len(names) == 1 or not self._batches:
            return self._fetch(entry.name, self.cache.get(entry.name))
        self.stats.add("batches")
        try:
            result = self._call("module_sources", entry.name, names=names[:BATCH_NAMES])
        except RemoteImportError as exc:
            if not isinstance(exc.__context__, NoHandler):
                raise
            self._batches = False  # a host from before module_sources: one at a time
            return self._fetch(entry.name, self.cache.get(entry.name))
        answers = result.get("modules") if isinstance(result, dict) else None
        wanted: Optional[FetchedModule] = None
        for answer in answers if isinstance(answers, list) else []:
            if not isinstance(answer, dict) or not answer.get("found"):
                continue
            name = answer.get("name")
            if not isinstance(name, str) or name not in index.modules:
                continue
            fetched = fetched_from_answer(name, answer)
            self.stats.add("fetched")
            self.cache.put(fetched)
            if name == entry.name:
                wanted = fetched
        return wanted if wanted is not None else self._fetch(entry.name,
                                                             self.cache.get(entry.name))

    def _fetch(self, name: str, cached: Optional[FetchedModule]) -> Optional[FetchedModule]:
        args: dict[str, Any] = {"name": name}
        if cached is not None:
            args["known_hash"] = cached.hash
        result = self._call("module_spec", name, **args)
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

    def resource(self, root: str, parts: list[str], read: bool) -> dict[str, Any]:
        """One ``module_resource`` answer; failures are OSErrors, as for a local file."""
        shown = "/".join([root, *parts])
        try:
            answer = self._call("module_resource", shown, root=root, path=parts, read=read)
        except RemoteImportError as exc:
            message = str(exc).replace("could not import", "could not read", 1)
            raise OSError(message) from None
        return answer if isinstance(answer, dict) else {"found": False}

    def refresh(self, *, ask_host: bool) -> list[str]:
        """Re-run the imported modules whose source changed (and those that took names from
        them); drop those the host no longer serves. Returns the names re-run or dropped."""
        from filebridge.worker.imports.reloading import refresh_modules

        if ask_host:
            self.sync(with_sources=True)
        index = self.index.current()
        if index is None:
            return []
        done = refresh_modules(self, index)
        self.refreshed_at = index.generation
        return done

    # -- specs and package folders ------------------------------------------------------

    def _spec(self, fetched: FetchedModule) -> ModuleSpec:
        spec = ModuleSpec(fetched.name, RemoteLoader(fetched, self), origin=fetched.origin,
                          is_package=fetched.is_package)
        if fetched.is_package:
            spec.submodule_search_locations = list(fetched.locations)
            for location in fetched.locations:
                self._claim(location, fetched.name)
        spec.has_location = fetched.origin is not None
        if fetched.origin is not None:
            # __cached__ names the code cache entry (not a __pycache__ path next to the host's
            # file, which would be computed for every module and mean nothing here).
            spec.cached = self.codecache.path_of(fetched.hash, fetched.origin)
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

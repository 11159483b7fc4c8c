"""Running served source as a module: the loader, and the cache of what was fetched.

Source and compiled code are kept per module name with the content hash they belong to, so a
module whose hash is unchanged is neither fetched nor compiled again. The loader is also the
package's resource provider: ``get_data``, ``get_resource_reader`` (importlib.resources) and,
for Python 3.9, ``files()``.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
from dataclasses import dataclass, field
from importlib.abc import InspectLoader
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any, Optional, Protocol

if TYPE_CHECKING:
    from filebridge.worker.imports.resources import RemoteResourceReader, RemoteTraversable

__all__ = ["EXECUTING", "RAN", "FetchedModule", "ModuleCache", "RemoteLoader"]


class _Depth(threading.local):
    """How many served modules this thread is running (imports nested in a module's body)."""

    depth = 0


EXECUTING = _Depth()


class _Ran:
    """The loader that last ran each served module in this process, and the names run since
    a refresh last looked: a refresh then checks what changed, not every module loaded."""

    def __init__(self) -> None:
        self.loaders: dict[str, RemoteLoader] = {}
        self._since_looked: set[str] = set()
        self._lock = threading.Lock()

    def add(self, loader: RemoteLoader) -> None:
        with self._lock:
            self.loaders[loader.fetched.name] = loader
            self._since_looked.add(loader.fetched.name)

    def forget(self, name: str) -> None:
        with self._lock:
            self.loaders.pop(name, None)

    def take_new(self) -> set[str]:
        with self._lock:
            names, self._since_looked = self._since_looked, set()
            return names


RAN = _Ran()


@dataclass
class FetchedModule:
    """What the host sent for one module (the spec shape of docs/protocol-imports.md)."""

    name: str
    kind: str
    origin: Optional[str]
    locations: tuple[str, ...]
    source: str
    hash: str
    submodules: Optional[list[tuple[str, bool]]] = None
    code: Optional[CodeType] = field(default=None, repr=False)

    @property
    def is_package(self) -> bool:
        return self.kind != "module"

    def root_folder(self) -> Optional[str]:
        """The host folder of this module's root: the module's own folder, up one per dot."""
        if self.is_package:
            place = self.locations[0] if self.locations else None
            ups = self.name.count(".")
        else:
            place = os.path.dirname(self.origin) if self.origin else None
            ups = max(self.name.count(".") - 1, 0)
        if place is None:
            return None
        for _ in range(ups):
            place = os.path.dirname(place)
        return place


class CodeSource(Protocol):
    """Where the loader gets code objects and resources: the finder."""

    def code_of(self, fetched: FetchedModule) -> CodeType: ...

    def resource(self, root: str, parts: list[str], read: bool) -> dict[str, Any]: ...


class ModuleCache:
    """Fetched modules by name; thread-safe."""

    def __init__(self) -> None:
        self._modules: dict[str, FetchedModule] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Optional[FetchedModule]:
        with self._lock:
            return self._modules.get(name)

    def put(self, module: FetchedModule) -> None:
        with self._lock:
            self._modules[module.name] = module

    def drop(self, name: str) -> None:
        with self._lock:
            self._modules.pop(name, None)

    def clear(self) -> None:
        with self._lock:
            self._modules.clear()


class RemoteLoader(InspectLoader):
    """Executes one served module; answers ``get_source`` so tracebacks and inspect show it."""

    def __init__(self, fetched: FetchedModule, source: CodeSource) -> None:
        self.fetched = fetched
        self._source = source

    def create_module(self, spec: object) -> Optional[ModuleType]:
        return None

    def exec_module(self, module: ModuleType) -> None:
        fetched = self.fetched
        RAN.add(self)
        if fetched.kind == "namespace":
            return
        remember_lines(fetched)
        code = self._source.code_of(fetched)
        EXECUTING.depth += 1
        try:
            exec(code, module.__dict__)
        finally:
            EXECUTING.depth -= 1

    def is_package(self, fullname: str) -> bool:
        return self.fetched.is_package

    def get_source(self, fullname: str) -> Optional[str]:
        if self.fetched.kind == "namespace":
            return None
        return self.fetched.source

    def get_code(self, fullname: str) -> Optional[CodeType]:
        if self.fetched.kind == "namespace":
            return None
        remember_lines(self.fetched)
        return self._source.code_of(self.fetched)

    def get_filename(self, fullname: str) -> str:
        if self.fetched.origin is None:
            raise ImportError(f"{fullname} is a namespace package and has no file", name=fullname)
        return self.fetched.origin

    # -- resources --------------------------------------------------------------------

    def _root_parts(self, path: str) -> tuple[str, str, list[str]]:
        """(root name, root folder, parts) of a host path inside this module's root."""
        root = self.fetched.name.partition(".")[0]
        folder = self.fetched.root_folder()
        if folder is None:
            raise FileNotFoundError(f"{self.fetched.name} has no folder on the host")
        relative = os.path.relpath(os.path.normpath(path), folder)
        if relative == os.curdir:
            return root, folder, []
        if relative.startswith(os.pardir) or os.path.isabs(relative):
            raise FileNotFoundError(f"not inside the served root {folder}: {path}")
        return root, folder, relative.replace("\\", "/").split("/")

    def get_data(self, path: str) -> bytes:
        """The bytes of a file of the served root (``pkgutil.get_data``); OSError if none."""
        from filebridge.worker.imports.resources import RemoteTraversable

        root, folder, parts = self._root_parts(os.fspath(path))
        return RemoteTraversable(self._source, root, folder, tuple(parts)).read_bytes()

    def files(self) -> RemoteTraversable:
        """The package's folder as a Traversable (what Python 3.9's resources ask a loader)."""
        from filebridge.worker.imports.resources import RemoteTraversable

        fetched = self.fetched
        folder = fetched.locations[0] if fetched.locations else os.path.dirname(
            fetched.origin or "")
        root, root_folder, parts = self._root_parts(folder)
        return RemoteTraversable(self._source, root, root_folder, tuple(parts))

    def get_resource_reader(self, fullname: str) -> RemoteResourceReader:
        from filebridge.worker.imports.resources import RemoteResourceReader

        return RemoteResourceReader(self.files())

    def __repr__(self) -> str:
        return f"<filebridge.RemoteLoader {self.fetched.name!r} from {self.fetched.origin!r}>"


def remember_lines(fetched: FetchedModule) -> None:
    """Put the served source into linecache under the module's file name.

    An entry whose mtime is None is never invalidated by ``linecache.checkcache``: the local
    path may not exist on this machine, or hold other content, and the served text must win.
    """
    if fetched.origin is None:
        return
    lines = fetched.source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[fetched.origin] = (len(fetched.source), None, lines, fetched.origin)


def forget_lines(origin: Optional[str]) -> None:
    if origin is not None and origin in linecache.cache:
        del linecache.cache[origin]


def loaded_modules(root: str) -> list[str]:
    """Names in sys.modules that belong to ``root``."""
    prefix = root + "."
    return [name for name in list(sys.modules) if name == root or name.startswith(prefix)]

"""Running served source as a module: the loader, and the cache of what was fetched.

Source and compiled code are kept per module name with the content hash they belong to, so a
module whose hash is unchanged is neither fetched nor compiled again.
"""

from __future__ import annotations

import linecache
import sys
import threading
from dataclasses import dataclass, field
from importlib.abc import InspectLoader
from types import CodeType, ModuleType
from typing import Optional

__all__ = ["FetchedModule", "ModuleCache", "RemoteLoader"]


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

    def compiled(self) -> CodeType:
        # A SyntaxError here carries the local path and line, as a local import would.
        if self.code is None:
            filename = self.origin or f"<filebridge {self.name}>"
            self.code = compile(self.source, filename, "exec", dont_inherit=True)
        return self.code


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

    def __init__(self, fetched: FetchedModule) -> None:
        self.fetched = fetched

    def create_module(self, spec: object) -> Optional[ModuleType]:
        return None

    def exec_module(self, module: ModuleType) -> None:
        fetched = self.fetched
        if fetched.kind == "namespace":
            return
        remember_lines(fetched)
        exec(fetched.compiled(), module.__dict__)

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
        return self.fetched.compiled()

    def get_filename(self, fullname: str) -> str:
        if self.fetched.origin is None:
            raise ImportError(f"{fullname} is a namespace package and has no file", name=fullname)
        return self.fetched.origin

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

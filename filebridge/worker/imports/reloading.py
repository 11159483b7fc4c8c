"""Which imported modules to run again after files changed on the host, and running them.

The rule (docs/imports.md): a module whose source changed is re-run in place, in its existing
module object, so every ``import proj.a`` reference elsewhere sees the new code and names the
user set on it that the new code does not assign keep their values. A module that took names
*from* a re-run module (``from .a import f``, ``from proj import VERSION``) holds the old
objects, so it is re-run too, and so on transitively. Every other module keeps its state. A
module the host no longer serves is removed from ``sys.modules``.
"""

from __future__ import annotations

import importlib
import re
import sys
from importlib.util import resolve_name
from typing import TYPE_CHECKING

from filebridge.worker.imports.index import ModuleIndex
from filebridge.worker.imports.loader import RemoteLoader, forget_lines

if TYPE_CHECKING:
    from filebridge.worker.imports.finder import RemoteFinder

__all__ = ["names_taken_from", "refresh_modules"]

FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import\b", re.MULTILINE)
_taken: dict[tuple[str, str], frozenset[str]] = {}


def names_taken_from(name: str, is_package: bool, source: str,
                     content_hash: str) -> frozenset[str]:
    """The modules ``name``'s source imports names from (``from X import y``), resolved."""
    key = (name, content_hash)
    found = _taken.get(key)
    if found is None:
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for spec in FROM_IMPORT.findall(source):
            try:
                targets.add(resolve_name(spec, package) if spec.startswith(".") else spec)
            except (ImportError, ValueError):
                continue
        found = _taken[key] = frozenset(targets)
    return found


def refresh_modules(finder: RemoteFinder, index: ModuleIndex) -> list[str]:
    """Apply the rule above against ``index``; the names re-run or removed, in import order.
    A module that fails to run again is reported after the others were handled."""
    ours: dict[str, RemoteLoader] = {}
    roots = finder.roots
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in roots:
            loader = getattr(getattr(module, "__spec__", None), "loader", None)
            if isinstance(loader, RemoteLoader) and loader.fetched.name == name:
                ours[name] = loader
    gone = [n for n in ours if index.modules.get(n) is None]
    rerun = {n for n, loader in ours.items()
             if n not in gone and index.modules[n].hash != loader.fetched.hash}
    if not rerun and not gone:
        return []
    moved = rerun | set(gone)
    grew = True
    while grew:
        grew = False
        for name, loader in ours.items():
            if name in moved:
                continue
            fetched = loader.fetched
            if names_taken_from(name, fetched.is_package, fetched.source, fetched.hash) & moved:
                moved.add(name)
                rerun.add(name)
                grew = True
    for name in gone:
        forget_lines(ours[name].fetched.origin)
        sys.modules.pop(name, None)
    failure: BaseException | None = None
    order = [n for n in ours if n in rerun]
    finder.refreshing.active = True
    try:
        for name in order:
            current = sys.modules.get(name)
            if current is None:
                continue
            try:
                importlib.reload(current)
            except Exception as exc:  # the others still get their new code
                failure = failure or exc
    finally:
        finder.refreshing.active = False
    if failure is not None:
        raise failure
    return sorted(order + gone)

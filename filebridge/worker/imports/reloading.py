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
import threading
from importlib.util import resolve_name
from typing import TYPE_CHECKING, Optional

from filebridge.worker.imports.index import ModuleIndex
from filebridge.worker.imports.loader import RAN, RemoteLoader, forget_lines

if TYPE_CHECKING:
    from filebridge.worker.imports.finder import RemoteFinder

__all__ = ["names_taken_from", "refresh_modules"]

FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import\b", re.MULTILINE)
_taken: dict[tuple[str, str], frozenset[str]] = {}
# Passes of the substring test over the unread modules one refresh makes before it reads
# them all: a refresh after a few saves stays cheap, one after a checkout stays bounded.
SCANS_PER_REFRESH = 8


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


class _Looked:
    """What the last refresh compared against, and who took names from whom, so a refresh
    checks the modules whose entries moved (and those run since), not every module loaded.

    A module's ``from`` lines are read when a refresh first needs them: when it may take
    names from a module that moved. Until then it waits in ``unread``, and each refresh
    passes over those with a substring test, so a refresh costs about the same whether it
    is the process's first or not. The test never misses a taker of ``a.b``: its ``from``
    line names ``b`` (``from .b import``, ``from a.b import``), or is all dots (``from .
    import``, ``from .. import``), which reaches only packages the taker is inside."""

    def __init__(self) -> None:
        self.index: Optional[ModuleIndex] = None
        self.roots: frozenset[str] = frozenset()
        self.takes: dict[str, frozenset[str]] = {}  # module -> the modules it took names from
        self.takers: dict[str, set[str]] = {}  # module -> the modules that took names from it
        self.unread: set[str] = set()  # run, but its from lines not read since
        self.scans_left = SCANS_PER_REFRESH
        self.lock = threading.RLock()

    def note(self, name: str) -> None:
        """Record what the module that last ran as ``name`` took names from."""
        self.unread.discard(name)
        loader = RAN.loaders.get(name)
        fetched = loader.fetched if loader is not None else None
        now = (names_taken_from(name, fetched.is_package, fetched.source, fetched.hash)
               if fetched is not None else frozenset())
        before = self.takes.get(name, frozenset())
        for target in before - now:
            self.takers.get(target, set()).discard(name)
        for target in now - before:
            self.takers.setdefault(target, set()).add(name)
        self.takes[name] = now

    def takers_of(self, target: str) -> set[str]:
        """The modules that may have taken names from ``target``: those known to, and the
        unread ones the substring test cannot rule out (read now). After SCANS_PER_REFRESH
        passes in one refresh (many modules moved), every unread module is read instead."""
        if self.scans_left > 0:
            self.scans_left -= 1
            loaders, last, inside = RAN.loaders, target.rpartition(".")[2], target + "."
            unread = [n for n in self.unread
                      if (loader := loaders.get(n)) is None or last in loader.fetched.source
                      or n.startswith(inside)]
        else:
            unread = list(self.unread)
        for name in unread:
            self.note(name)
        return set(self.takers.get(target, ()))


_LOOKED = _Looked()


def _ours(name: str, roots: frozenset[str]) -> Optional[RemoteLoader]:
    """The loader of the served module ``name`` as it is in sys.modules now, or None."""
    if name.partition(".")[0] not in roots:
        return None
    module = sys.modules.get(name)
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    if isinstance(loader, RemoteLoader) and loader.fetched.name == name:
        return loader
    return None


def _unchanged(name: str, index: ModuleIndex) -> bool:
    """The module that last ran as ``name`` ran the source the index lists: nothing to do
    (the quick check for most modules; the others go through ``_ours``)."""
    loader = RAN.loaders.get(name)
    entry = index.modules.get(name)
    return loader is not None and entry is not None and entry.hash == loader.fetched.hash


def _moved(before: Optional[ModuleIndex], now: ModuleIndex) -> Optional[set[str]]:
    """Names whose entry differs between two views; None when there is no earlier view."""
    if before is None:
        return None
    old, new = before.modules, now.modules
    if old is new:
        return set()
    moved = set()
    for name, entry in new.items():
        held = old.get(name)
        if held is not entry and held != entry:  # entries carried over are the same object
            moved.add(name)
    moved.update(name for name in old if name not in new)
    return moved


def refresh_modules(finder: RemoteFinder, index: ModuleIndex) -> list[str]:
    """Apply the rule above against ``index``; the names re-run or removed, in import order.
    A module that fails to run again is reported after the others were handled."""
    roots = finder.roots
    with _LOOKED.lock:
        new = RAN.take_new()
        _LOOKED.unread |= new
        _LOOKED.scans_left = SCANS_PER_REFRESH
        moved_entries = _moved(_LOOKED.index if _LOOKED.roots == roots else None, index)
        candidates = new | (set(RAN.loaders) if moved_entries is None else moved_entries)
        _LOOKED.index, _LOOKED.roots = index, roots
        ours = {}
        for name in candidates:
            if _unchanged(name, index):
                continue
            loader = _ours(name, roots)
            if loader is not None:
                ours[name] = loader
        gone = {n for n in ours if index.modules.get(n) is None}
        rerun = {n for n, loader in ours.items()
                 if n not in gone and index.modules[n].hash != loader.fetched.hash}
        if not rerun and not gone:
            return []
        moved = rerun | gone
        waiting = sorted(moved)
        while waiting:
            target = waiting.pop()
            for taker in sorted(_LOOKED.takers_of(target)):
                if taker in moved:
                    continue
                loader = _ours(taker, roots)
                if loader is None:
                    continue
                fetched = loader.fetched
                if target in names_taken_from(taker, fetched.is_package, fetched.source,
                                              fetched.hash):
                    ours[taker] = loader
                    moved.add(taker)
                    rerun.add(taker)
                    waiting.append(taker)
        for name in gone:
            forget_lines(ours[name].fetched.origin)
            sys.modules.pop(name, None)
            RAN.forget(name)
            _LOOKED.note(name)
        order = [n for n in list(sys.modules) if n in rerun]
    failure: BaseException | None = None
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
        with _LOOKED.lock:
            _LOOKED.index = None  # the next refresh checks every module, the failed one too
        raise failure
    return sorted(order + sorted(gone))

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
from bisect import bisect_right
from importlib.util import resolve_name
from typing import TYPE_CHECKING, Optional

from filebridge.worker.imports.index import ModuleIndex
from filebridge.worker.imports.loader import RAN, RemoteLoader, forget_lines

if TYPE_CHECKING:
    from filebridge.worker.imports.finder import RemoteFinder

__all__ = ["names_taken_from", "refresh_modules"]

FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import\b", re.MULTILINE)
_taken: dict[tuple[str, str], frozenset[str]] = {}
# Searches of the unread modules one refresh makes before it reads them all: a refresh
# after a few saves stays cheap, one after a checkout stays bounded.
SCANS_PER_REFRESH = 8
READ_AT_ONCE = 64  # modules run since the last refresh whose from lines it reads at once


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


class _Unread:
    """Modules run but whose ``from`` lines were not read yet, with their sources joined
    into one text (rebuilt when modules are added), so finding those that mention a name is
    one fast substring search over all of them rather than a Python loop."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._joined: Optional[tuple[list[str], list[int], str]] = None

    def add(self, names: set[str]) -> None:
        """Modules that ran (again, perhaps with new source): joined again when searched."""
        self.names |= names
        self._joined = None

    def mentioning(self, word: str, inside: str) -> set[str]:
        """The unread modules whose source contains ``word``, or whose name starts with
        ``inside``."""
        found = {n for n in self.names if n.startswith(inside)}
        order, starts, text = self._text()
        at = text.find(word)
        while at != -1:
            i = bisect_right(starts, at) - 1
            if order[i] in self.names:
                found.add(order[i])
            at = text.find(word, starts[i + 1]) if i + 1 < len(starts) else -1
        return found

    def _text(self) -> tuple[list[str], list[int], str]:
        if self._joined is None:
            order, starts, parts, at = [], [], [], 0
            for name in self.names:
                loader = RAN.loaders.get(name)
                source = loader.fetched.source if loader is not None else ""
                order.append(name)
                starts.append(at)
                parts.append(source)
                at += len(source) + 1
            self._joined = (order, starts, "\0".join(parts))
        return self._joined


class _Looked:
    """What the last refresh compared against, and who took names from whom, so a refresh
    checks the modules whose entries moved (and those run since), not every module loaded.

    A refresh reads the ``from`` lines of the few modules run since the last one. After a
    large import (the first refresh of a process) it leaves them ``unread`` and reads a
    module's lines only when a module it may take names from moved, found by a substring
    search that cannot miss a taker: a module taking names from ``a.b`` names ``b`` in its
    ``from`` line (``from .b import``, ``from a.b import``), or writes ``from . import`` /
    ``from .. import``, which reaches only packages it is inside. So the first refresh costs
    about what later ones do."""

    def __init__(self) -> None:
        self.index: Optional[ModuleIndex] = None
        self.roots: frozenset[str] = frozenset()
        self.takes: dict[str, frozenset[str]] = {}  # module -> the modules it took names from
        self.takers: dict[str, set[str]] = {}  # module -> the modules that took names from it
        self.unread = _Unread()
        self.scans_left = SCANS_PER_REFRESH
        self.lock = threading.RLock()

    def ran(self, names: set[str]) -> None:
        """Modules run since the last refresh: read now when few, else left unread."""
        self.scans_left = SCANS_PER_REFRESH
        if len(names) > READ_AT_ONCE:
            self.unread.add(names)
            return
        for name in names:
            self.note(name)

    def note(self, name: str) -> None:
        """Record what the module that last ran as ``name`` took names from."""
        self.unread.names.discard(name)
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
        unread ones the substring search cannot rule out (read now). After
        SCANS_PER_REFRESH searches in one refresh (many modules moved), every unread module
        is read instead."""
        if self.scans_left > 0:
            self.scans_left -= 1
            unread = (self.unread.mentioning(target.rpartition(".")[2], target + ".")
                      if self.unread.names else set())
        else:
            unread = set(self.unread.names)
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
        _LOOKED.ran(new)
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

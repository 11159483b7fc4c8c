"""Remote imports: ``import proj.x`` in the worker runs ``proj/x.py`` from the host's folder.

    import filebridge.worker.imports as remote
    remote.install(["proj"])      # proj, proj.sub, proj.sub.mod now come from the host
    import proj.sub.mod
    remote.refresh()              # re-run changed modules (and those that took names from them)
    remote.uninstall()            # sys.meta_path and sys.path_hooks as they were

Standard library only. The wire format is docs/protocol-imports.md; the rules are
docs/imports.md.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable
from typing import Any, Optional

from filebridge.errors import FilebridgeError
from filebridge.worker.imports import spawn
from filebridge.worker.imports.finder import RemoteFinder, ServedPathEntry

__all__ = ["DEFAULT_IMPORT_TIMEOUT", "RemoteFinder", "import_timeout", "install", "installed",
           "refresh", "stats", "uninstall"]

DEFAULT_IMPORT_TIMEOUT = 10.0
log = logging.getLogger("filebridge.worker.imports")

_finder: Optional[RemoteFinder] = None
_ipython_callback: Any = None
_lock = threading.Lock()


def import_timeout(timeout: Optional[float] = None) -> float:
    """``timeout``, else FILEBRIDGE_IMPORT_TIMEOUT, else 10 s (generous for NFS at start-up)."""
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"an import timeout must be positive, got {timeout}")
        return float(timeout)
    raw = os.environ.get("FILEBRIDGE_IMPORT_TIMEOUT", "").strip()
    if raw:
        try:
            value = float(raw)
            if value > 0:
                return value
        except ValueError:
            pass
        log.warning("filebridge: FILEBRIDGE_IMPORT_TIMEOUT=%r is not a positive number; "
                    "using %s s", raw, DEFAULT_IMPORT_TIMEOUT)
    return DEFAULT_IMPORT_TIMEOUT


def install(roots: Optional[Iterable[str]] = None, *, connection: Any = None,
            timeout: Optional[float] = None, refresh_each_run: bool = True) -> RemoteFinder:
    """Import the modules under ``roots`` from the host; replaces an earlier install.

    ``roots`` are top-level names (``"proj"`` serves ``proj.sub.mod``); None takes every root
    the host publishes. ``connection`` defaults to ``filebridge.worker.connect()``. With
    ``refresh_each_run``, an IPython kernel runs ``refresh()`` before each cell (one short
    request; none when the host is gone). Spawned and forkserver ``multiprocessing``
    children install the same finder before unpickling anything.
    """
    global _finder
    if connection is None:
        from filebridge.worker.current import connect

        connection = connect()
    limit = import_timeout(timeout)
    with _lock:
        if _finder is not None:
            _uninstall_locked()
        finder = RemoteFinder((), connection, connection.session_dir, limit)
        names = _chosen_roots(roots, finder)
        finder.roots = frozenset(names)
        sys.meta_path.insert(0, finder)
        sys.path_hooks.insert(0, finder.path_hook)
        _finder = finder
        if refresh_each_run:
            _hook_ipython(finder)
        spawn.register({"session_dir": str(connection.session_dir), "roots": sorted(names),
                        "timeout": limit}, install, installed)
        return finder


def _chosen_roots(roots: Optional[Iterable[str]], finder: RemoteFinder) -> list[str]:
    if roots is not None:
        names = [roots] if isinstance(roots, str) else list(roots)
        bad = [name for name in names if not (isinstance(name, str) and name.isidentifier())]
        if bad or not names:
            raise ValueError(f"remote import roots are top-level module names, got {names!r}")
        return names
    index = finder.index.current()
    if index is None:
        try:
            index = finder.ask_index()
        except FilebridgeError as exc:
            raise ValueError("no roots given and the host published no module index "
                             f"({exc}); pass install(['name'])") from None
    if index is None or not index.roots:
        raise ValueError("no roots given and the host serves none; pass install(['name'])")
    return sorted(index.roots)


def uninstall() -> None:
    """Stop importing through the bridge; modules already imported stay in sys.modules."""
    with _lock:
        _uninstall_locked()


def _uninstall_locked() -> None:
    global _finder
    finder = _finder
    if finder is None:
        return
    _finder = None
    _unhook_ipython()
    spawn.unregister()
    sys.meta_path[:] = [f for f in sys.meta_path if f is not finder]
    sys.path_hooks[:] = [h for h in sys.path_hooks if getattr(h, "__self__", None) is not finder]
    for location, entry in list(sys.path_importer_cache.items()):
        if isinstance(entry, ServedPathEntry) and entry.finder is finder:
            del sys.path_importer_cache[location]
    finder.release_locations()


def installed() -> Optional[RemoteFinder]:
    return _finder


def refresh(*, ask_host: bool = True) -> list[str]:
    """Pick up edited files: re-run the imported modules whose source changed, in place.

    Asks the host what changed first (one round trip; the view as it is when the host is gone
    or does not answer). Modules that took names from a re-run module (``from .a import f``)
    are re-run too; every other module keeps its state; modules the host no longer serves are
    removed from sys.modules. Returns the names re-run or removed.
    """
    finder = _finder
    if finder is None:
        return []
    return finder.refresh(ask_host=ask_host)


def stats() -> dict[str, int]:
    """Counters since install: requests, syncs, batches, fetched, cache_hits, disk_hits, ..."""
    finder = _finder
    return finder.stats.snapshot() if finder is not None else {}


def _hook_ipython(finder: RemoteFinder) -> None:
    global _ipython_callback
    ipython_module = sys.modules.get("IPython")
    shell = ipython_module.get_ipython() if ipython_module is not None else None
    if shell is None or not hasattr(shell, "events"):
        return

    def before_cell(info: Any = None) -> None:
        # A module that fails to re-run raises here: IPython shows the traceback and still
        # runs the cell.
        try:
            changed = finder.refresh(ask_host=True)
        except FilebridgeError:  # a cell must run even if the index cannot be read
            log.exception("filebridge: refreshing remote modules failed")
            return
        if changed:
            log.info("filebridge: changed on the host, run again: %s", changed)

    shell.events.register("pre_run_cell", before_cell)
    _ipython_callback = (shell, before_cell)


def _unhook_ipython() -> None:
    global _ipython_callback
    if _ipython_callback is None:
        return
    shell, callback = _ipython_callback
    _ipython_callback = None
    try:
        shell.events.unregister("pre_run_cell", callback)
    except ValueError:
        pass


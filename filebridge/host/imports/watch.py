"""Watching the exposed folders so the published index follows every save."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from filebridge.host.imports.module_source import ModuleSourceProvider

__all__ = ["SourceWatcher"]

log = logging.getLogger("filebridge.host.imports")


class SourceWatcher:
    """Updates the provider's index from file events; calls ``on_change`` if it moved.

    Only the modules the changed paths name are resolved again (SourceIndex.update), so a save
    costs the same at 20 modules or 2,000. watchfiles yields once no event came for ``step_ms``
    (5 ms), at most ``debounce_ms`` after the first; when polling (network filesystems,
    FILEBRIDGE_POLL=1) the folders are looked at every ``poll_ms``. A change made before the
    watch took hold is caught by one rescan on the first timeout, after which ``ready`` is set.
    Workers do not depend on this delay: ``module_index`` looks at the files itself.
    """

    def __init__(self, provider: ModuleSourceProvider, on_change: Callable[[], None], *,
                 debounce_ms: int = 50, step_ms: int = 5, poll_ms: int = 25,
                 force_polling: Optional[bool] = None) -> None:
        self.provider = provider
        self.on_change = on_change
        self._debounce = debounce_ms
        self._step = step_ms
        self._poll = poll_ms
        self._force_polling = force_polling
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="filebridge-source-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        from watchfiles import watch

        folders = [str(root.file or root.folder) for root in self.provider.roots.values()]
        try:
            for changes in watch(*folders, debounce=self._debounce, step=self._step,
                                 stop_event=self._stop, force_polling=self._force_polling,
                                 poll_delay_ms=self._poll, raise_interrupt=False,
                                 rust_timeout=1000, yield_on_timeout=True):
                if not self.ready.is_set():
                    self._rescan()
                elif changes:
                    self._update({path for _change, path in changes})
                self.ready.set()
        except Exception:
            log.exception("watching %s failed; the index is refreshed only on request", folders)

    def _update(self, paths: set[str]) -> None:
        try:
            if self.provider.tree.update(paths):
                self.on_change()
        except Exception:
            log.exception("updating the module index failed")

    def _rescan(self) -> None:
        try:
            if self.provider.rescan():
                self.on_change()
        except Exception:
            log.exception("rescanning the module sources failed")

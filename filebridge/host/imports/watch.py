"""Watching the exposed folders so the index follows every save, and settling a worker's look.

A worker that asks what changed must get every save made before it asked. With file events
that costs no look at the tree: the watcher also watches a private folder of its own, and a
look writes a mark file there. Linux reports events in the order they happened, so once
the mark's event has been applied, so has every save made before the question
(``settle()``). Without events (a source folder on a network filesystem) the only way to see a
save is to ``stat`` each file: the caller falls back to ``SourceIndex.verify()``.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

from filebridge.host.imports.module_source import ModuleSourceProvider
from filebridge.wire.waiting.filesystems import is_remote

__all__ = ["SETTLE_TIMEOUT", "SourceWatcher", "sources_need_polling"]

SETTLE_TIMEOUT = 1.0  # a mark not seen by then: events are not arriving; stat the files
log = logging.getLogger("filebridge.host.imports")


def sources_need_polling(provider: ModuleSourceProvider) -> bool:
    """Whether a served folder is on a filesystem that reports no events for other machines'
    writes (NFS, SMB, SSHFS and other FUSE mounts)."""
    return any(is_remote(Path(root.file or root.folder)) for root in provider.roots.values())


class SourceWatcher:
    """Updates the provider's index from file events; calls ``on_change`` if it moved.

    Only the modules the changed paths name are resolved again (SourceIndex.update), so a save
    costs the same at 20 modules or 2,000. watchfiles yields once no event came for ``step_ms``
    (5 ms), at most ``debounce_ms`` after the first. Served folders on a network filesystem
    (or ``force_polling=True``) are polled every ``poll_ms``, which costs one ``stat`` per file
    each time; ``FILEBRIDGE_POLL=1`` (the session folder's doorbells) does not force it, since
    the served folders are usually on the host's own disk. A change made before the watch took
    hold is caught by one rescan on the first timeout, after which ``ready`` is set.
    """

    def __init__(self, provider: ModuleSourceProvider, on_change: Callable[[], None], *,
                 debounce_ms: int = 50, step_ms: int = 5, poll_ms: int = 100,
                 force_polling: Optional[bool] = None) -> None:
        self.provider = provider
        self.on_change = on_change
        self._debounce = debounce_ms
        self._step = step_ms
        self._poll = poll_ms
        self.polling = (force_polling if force_polling is not None
                        else sources_need_polling(provider))
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._marks: Optional[str] = None
        self._waiting: dict[str, threading.Event] = {}
        self._waiting_lock = threading.Lock()
        self._numbers = itertools.count()
        self._marks_arrive = True

    def start(self) -> None:
        # One inotify descriptor carries every watch in order; other platforms' backends
        # (a handle per folder on Windows) do not promise an order across folders.
        if not self.polling and sys.platform.startswith("linux"):
            try:
                self._marks = os.path.realpath(
                    tempfile.mkdtemp(prefix="filebridge-source-marks-"))
            except OSError as exc:
                log.warning("no folder for look marks (%s): every look stats the files", exc)
        self._thread = threading.Thread(target=self._run, name="filebridge-source-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._marks is not None:
            shutil.rmtree(self._marks, ignore_errors=True)

    @property
    def polls(self) -> bool:
        """Whether a polling watch is running now: it sees any change within a poll."""
        thread = self._thread
        return (self.polling and self.ready.is_set() and thread is not None
                and thread.is_alive())

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        """Wait until every file event that happened before this call is in the index.

        False when that cannot be known (polling, the watch not running, a mark that did not
        arrive in time): the caller must look at the files itself."""
        thread = self._thread
        if (self._marks is None or not self._marks_arrive or not self.ready.is_set()
                or thread is None or not thread.is_alive()):
            return False
        mark = os.path.join(self._marks, f"look-{next(self._numbers)}")
        seen = threading.Event()
        with self._waiting_lock:
            self._waiting[mark] = seen
        try:
            with open(mark, "xb"):
                pass
            if seen.wait(timeout):
                return True
            # Until a late mark shows events still arrive, looks do not wait for them.
            self._marks_arrive = False
            log.warning("no file event within %.1f s of a look; looking at the files instead",
                        timeout)
            return False
        except OSError:
            return False
        finally:
            with self._waiting_lock:
                self._waiting.pop(mark, None)

    def _run(self) -> None:
        from watchfiles import watch

        folders = [str(root.file or root.folder) for root in self.provider.roots.values()]
        watched = folders + ([self._marks] if self._marks is not None else [])
        try:
            for changes in watch(*watched, debounce=self._debounce, step=self._step,
                                 stop_event=self._stop, force_polling=self.polling,
                                 poll_delay_ms=self._poll, raise_interrupt=False,
                                 rust_timeout=1000, yield_on_timeout=True):
                paths = {path for _change, path in changes}
                marks = {p for p in paths if self._is_mark(p)}
                paths -= marks
                if not self.ready.is_set():
                    self._rescan()
                    self.ready.set()
                    self._release(marks)
                elif paths:
                    moved = self._update(paths)
                    self._release(marks)
                    self._publish(moved)
                else:
                    self._release(marks)
        except Exception:
            log.exception("watching %s failed; every look stats the files", folders)

    def _is_mark(self, path: str) -> bool:
        return self._marks is not None and os.path.dirname(path) == self._marks

    def _release(self, marks: set[str]) -> None:
        """The index now holds every event before these marks: wake their looks."""
        if not marks:
            return
        self._marks_arrive = True
        with self._waiting_lock:
            for mark in marks:
                seen = self._waiting.get(mark)
                if seen is not None:
                    seen.set()
        for mark in marks:
            try:
                os.unlink(mark)
            except OSError:
                pass  # already removed: this is its removal's event

    def _update(self, paths: set[str]) -> bool:
        try:
            return self.provider.tree.update(paths)
        except Exception:
            log.exception("updating the module index failed")
            return False

    def _publish(self, moved: bool) -> None:
        if not moved:
            return
        try:
            self.on_change()
        except Exception:
            log.exception("publishing the module index failed")

    def _rescan(self) -> None:
        try:
            if self.provider.rescan():
                self.on_change()
        except Exception:
            log.exception("rescanning the module sources failed")

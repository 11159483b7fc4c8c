"""watchfiles' native backends (FSEvents on macOS, ReadDirectoryChangesW on Windows).

watchfiles' ``watch()`` batches changes for ``step`` milliseconds, so it is the strategy of
platforms without inotify, never the Linux hot path.
"""

from __future__ import annotations

import atexit
import queue
import threading
import weakref
from pathlib import Path
from typing import Any, Optional, Sequence

from filebridge.wire.waiting.base import Change, Pace, Waiter

__all__ = ["NativeWaiter", "native_available"]


_running: weakref.WeakSet[NativeWaiter] = weakref.WeakSet()


@atexit.register
def _halt_all() -> None:
    # A watch thread still inside watchfiles' native code when the interpreter finalizes
    # aborts the process on some Pythons ("exception not rethrown"): stop them all first.
    for waiter in list(_running):
        waiter.close()


def native_available() -> bool:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return False
    return True


class NativeWaiter(Waiter):
    """A watchfiles watch in a background thread, restarted when the folder set changes."""

    name = "native"

    def __init__(self) -> None:
        self._folders: set[Path] = set()
        self._changes: queue.Queue[Optional[Change]] = queue.Queue()
        self._stop: Optional[threading.Event] = None
        self._thread: Optional[threading.Thread] = None

    def watch(self, folder: Path, probe: Sequence[str] = (), *, renames_only: bool = False,
              idle_interval: Optional[float] = None, pace: Pace = "eager") -> None:
        self._folders.add(folder)
        self._restart()

    def unwatch(self, folder: Path) -> None:
        self._folders.discard(folder)
        self._restart()

    def _restart(self) -> None:
        self._halt()
        if not self._folders:
            return
        stop = threading.Event()
        ready = threading.Event()
        folders = sorted(self._folders)
        self._stop = stop
        self._thread = threading.Thread(target=self._run, args=(folders, stop, ready),
                                        name="filebridge-watch", daemon=True)
        self._thread.start()
        _running.add(self)
        ready.wait(2.0)

    def _run(self, folders: list[Path], stop: threading.Event, ready: threading.Event) -> None:
        from watchfiles import watch

        watcher: Any = watch(*folders, debounce=0, step=1, stop_event=stop,
                             yield_on_timeout=True, rust_timeout=100, recursive=False)
        ready.set()
        for batch in watcher:
            for _kind, raw in batch:
                path = Path(raw)
                folder = path.parent if path.parent in self._folders else path
                self._changes.put(Change(folder, path.name if folder != path else None))
            if batch:
                self._changes.put(None)

    def _halt(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._stop = self._thread = None

    def wait(self, timeout: Optional[float]) -> list[Change]:
        try:
            first = self._changes.get(timeout=timeout)
        except queue.Empty:
            return []
        changes = [first] if first is not None else []
        while True:
            try:
                more = self._changes.get_nowait()
            except queue.Empty:
                return changes
            if more is not None:
                changes.append(more)

    def wake(self) -> None:
        self._changes.put(None)

    def close(self) -> None:
        self._halt()

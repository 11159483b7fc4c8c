"""Keep shadows and sources in sync while files change: the loop behind ``open --watch``.

Parent folders are watched, not files: editors save by writing a new file and renaming it over
the old one, which a watch on the file itself would lose. An event syncs only the shadows whose
source or shadow it names, and what changed is decided by content hashes
(``ShadowSession.sync_paths``). Every shadow is also re-checked every ``recheck_ms`` even
without events, because network filesystems deliver none for changes made on other machines and
polling compares mtimes too coarsely to see two saves in one second.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import watchfiles

from filebridge.notebooks.shadow import ShadowSession, SyncEvent

__all__ = ["watch_session"]


def watch_session(
    session: ShadowSession,
    on_event: Callable[[SyncEvent], None],
    *,
    force_polling: bool = False,
    poll_delay_ms: int = 300,
    recheck_ms: int = 2000,
    stop_event: Optional[threading.Event] = None,
) -> None:
    """Sync the shadows of ``session`` on each change until ``stop_event`` is set.

    ``force_polling`` is for network filesystems, where native events never arrive; watchfiles
    also honours ``WATCHFILES_FORCE_POLLING``. ``poll_delay_ms`` is the polling interval then.
    ``recheck_ms`` bounds how late a change the events missed is noticed.
    """
    stop = stop_event or threading.Event()

    def sync_all() -> float:
        for event in session.sync():
            on_event(event)
        return time.monotonic()

    last_full = sync_all()
    while not stop.is_set():
        names = session.folder_names()
        folders = sorted(Path(folder) for folder in names if os.path.isdir(folder))
        if not folders:
            stop.wait(recheck_ms / 1000)
            last_full = sync_all()
            continue
        # The session folder too: a changed state file may mean shadows opened elsewhere.
        watched = {str(folder) for folder in folders} | {str(session.folder)}
        try:
            for changes in watchfiles.watch(
                *sorted(watched),
                recursive=False,
                force_polling=force_polling or None,
                poll_delay_ms=poll_delay_ms,
                debounce=400,
                step=10,
                rust_timeout=recheck_ms,
                yield_on_timeout=True,
                stop_event=stop,
            ):
                if changes:
                    for event in session.sync_paths(path for _, path in changes):
                        on_event(event)
                if time.monotonic() - last_full >= recheck_ms / 1000:
                    last_full = sync_all()
                    if session.watched_folders() != folders:
                        break  # a missing folder came back, or one vanished
                if _folders_changed(changes, watched, names, session):
                    break  # a folder appeared or vanished: watch the new set
        except (OSError, RuntimeError):
            # A watched folder vanished under the watcher; look again after a pause.
            stop.wait(recheck_ms / 1000)


def _folders_changed(
    changes: set[tuple[watchfiles.Change, str]], watched: set[str], names: set[str],
    session: ShadowSession,
) -> bool:
    """Whether the folders to watch differ now: a watched folder itself changed, or the state
    file names other folders (shadows opened or closed by another process)."""
    state = str(session.state_path)
    if any(path in watched for _, path in changes):
        return True
    return any(path == state for _, path in changes) and session.folder_names() != names

"""What the host knows of one session folder."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from filebridge.wire.answers import Outbox, outbox_for
from filebridge.wire.codec import loads
from filebridge.wire.files import (
    atomic_write,
    file_exists,
    read_counter,
    read_file,
    remove_file,
)
from filebridge.wire.layout import SessionLayout
from filebridge.wire.logs import rotation_for

__all__ = ["STALE_AFTER", "SessionInfo", "SessionState"]

STALE_AFTER = 10.0
MAX_SESSION_JSON = 1 << 20
DETACHED_MARK = "detached"


@dataclass(frozen=True)
class SessionInfo:
    """A session as shown to users and handlers."""

    id: str
    folder: Path
    status: str  # alive | stale | detached | refused | broken
    info: dict[str, Any] = field(default_factory=dict)
    refused_reason: str = ""

    @property
    def layout(self) -> SessionLayout:
        return SessionLayout(self.folder)

    @property
    def language(self) -> str:
        return str(self.info.get("language", ""))

    @property
    def pid(self) -> Optional[int]:
        pid = self.info.get("pid")
        return pid if isinstance(pid, int) else None

    @property
    def machine(self) -> str:
        return str(self.info.get("machine", ""))

    @property
    def started(self) -> Optional[float]:
        started = self.info.get("started")
        return float(started) if isinstance(started, (int, float)) else None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "folder": str(self.folder), "status": self.status,
                "language": self.language, "pid": self.pid, "machine": self.machine,
                "started": self.started, "refused_reason": self.refused_reason or None}


class SessionState:
    """Liveness and the per-session queue; the reader and journal live beside it in the host."""

    def __init__(self, layout: SessionLayout, refused_reason: str = "",
                 stale_after: float = STALE_AFTER) -> None:
        self.layout = layout
        self.stale_after = stale_after
        self.refused_reason = refused_reason
        self.broken_reason = ""
        self._reported = ""
        self.info = self._read_info()
        self.detached = file_exists(layout.folder / DETACHED_MARK)
        self._beat = read_counter(layout.heartbeat)
        self._beat_seen = time.monotonic() - self._silence_before_discovery()
        self._snapshot: Optional[SessionInfo] = None
        self.lock = threading.Lock()
        self.backlog: deque[Any] = deque()
        self.busy = False
        self._outbox: Optional[Outbox] = None
        self._reported = self.status()

    @property
    def outbox(self) -> Outbox:
        """Where this session's answers are written, opened on first use."""
        if self._outbox is None:
            self._outbox = self._open_outbox()
        return self._outbox

    @classmethod
    def unreadable(cls, layout: SessionLayout, refused_reason: str = "") -> SessionState:
        """A state for a folder whose files are not read (shown as broken or refused)."""
        state = cls.__new__(cls)
        state.layout = layout
        state.stale_after = STALE_AFTER
        state.refused_reason = refused_reason
        state.broken_reason = ""
        state._reported = ""
        state.info = {}
        state.detached = False
        state._beat = b""
        state._beat_seen = time.monotonic()
        state._snapshot = None
        state.lock = threading.Lock()
        state.backlog = deque()
        state.busy = False
        state._outbox = None
        return state

    def _silence_before_discovery(self) -> float:
        # The only time a file clock is trusted: a heartbeat untouched for minutes at discovery
        # is stale at once rather than after STALE_AFTER; small clock skews cannot matter.
        try:
            age = time.time() - os.stat(self.layout.heartbeat, follow_symlinks=False).st_mtime
        except OSError:
            return 0.0
        return self.stale_after + 1 if age > 6 * self.stale_after else 0.0

    def _read_info(self) -> dict[str, Any]:
        try:
            info = loads(read_file(self.layout.session_json, MAX_SESSION_JSON))
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def _open_outbox(self) -> Outbox:
        layout = self.layout
        return outbox_for(self.info.get("answers"), layout.responses, layout.response_log,
                          layout.response_lock, rotation_for(self.info))

    def reload_info(self) -> None:
        """Read session.json again (a worker rewrites it when it connects)."""
        before = self.info.get("answers")
        self.info = self._read_info()
        self._snapshot = None
        if self.info.get("answers") != before and self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    def check_heartbeat(self) -> bool:
        """Look at the heartbeat; True when the status differs from the one this returned
        last time (going stale by silence alone counts too)."""
        beat = read_counter(self.layout.heartbeat)
        if beat != self._beat:
            self._beat = beat
            self._beat_seen = time.monotonic()
        status = self.status()
        changed = status != self._reported
        self._reported = status
        return changed

    def heard_from(self) -> None:
        """The worker just wrote a request: as good as a heartbeat."""
        self._beat_seen = time.monotonic()

    def mark_detached(self, detached: bool) -> None:
        self.detached = detached
        self._snapshot = None
        mark = self.layout.folder / DETACHED_MARK
        if detached:
            atomic_write(mark, b"")
        else:
            remove_file(mark)

    def status(self) -> str:
        if self.broken_reason:
            return "broken"
        if self.refused_reason:
            return "refused"
        if self.detached:
            return "detached"
        if time.monotonic() - self._beat_seen > self.stale_after:
            return "stale"
        return "alive"

    def snapshot(self) -> SessionInfo:
        """The session as handlers see it; made again only when something in it changed."""
        status = self.status()
        cached = self._snapshot
        if cached is None or cached.status != status:
            cached = SessionInfo(self.layout.id, self.layout.folder, status, dict(self.info),
                                 self.broken_reason or self.refused_reason)
            self._snapshot = cached
        return cached

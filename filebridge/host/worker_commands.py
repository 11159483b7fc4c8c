"""Host -> worker calls: one command channel per session, kept while the session is served.

``Host.command`` asks through one of these; so does the CLI, which has no running host
(``filebridge vars``), so both directions of a call are made the same way.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from filebridge.wire.answers import AnswerFiles
from filebridge.wire.channel import Channel
from filebridge.wire.layout import SessionLayout
from filebridge.wire.messages import Answer

__all__ = ["WorkerCommands"]


class WorkerCommands:
    """``strategy(layout)`` names the waiting strategy for a session's folder."""

    def __init__(self, strategy: Callable[[SessionLayout], str]) -> None:
        self._strategy = strategy
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()

    def call(self, layout: SessionLayout, command: str, args: dict[str, Any],
             timeout: Optional[float], *, rotate_at: Optional[int] = None,
             ) -> tuple[Optional[Answer], float]:
        """Post ``command`` to the worker and wait: (its answer or None in time, seconds
        waited)."""
        with self._lock:
            channel = self._channels.get(layout.id)
            if channel is None:
                channel = Channel(layout.command_log, layout.command_lock,
                                  AnswerFiles(layout.command_responses), self._strategy(layout),
                                  rotate_at=rotate_at)
                self._channels[layout.id] = channel
        _request, answer, waited = channel.call(command, args, timeout)
        return answer, waited

    def forget(self, session_id: str) -> None:
        """Close the session's channel (it is made again if asked again)."""
        with self._lock:
            channel = self._channels.pop(session_id, None)
        if channel is not None:
            channel.close()

    def close(self) -> None:
        with self._lock:
            channels = list(self._channels.values())
            self._channels.clear()
        for channel in channels:
            channel.close()

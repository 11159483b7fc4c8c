"""Per-view capabilities: an unguessable name that opens one view's files and nothing else.

They live in the UI server's memory only (never in the session folder, which the worker
reads), are made when the page first lists a view, and die with the view or the server.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import Optional

__all__ = ["MAX_CAPABILITIES", "ViewCapabilities"]

MAX_CAPABILITIES = 10_000  # the oldest is revoked past this (sessions keep 200 views each)


class ViewCapabilities:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_view: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._by_name: dict[str, tuple[str, str]] = {}

    def grant(self, session_id: str, view_id: str) -> str:
        """The capability of a view, made on first use."""
        key = (session_id, view_id)
        with self._lock:
            name = self._by_view.get(key)
            if name is None:
                name = secrets.token_urlsafe(24)
                self._by_view[key] = name
                self._by_name[name] = key
                while len(self._by_view) > MAX_CAPABILITIES:
                    _, old = self._by_view.popitem(last=False)
                    self._by_name.pop(old, None)
            else:
                self._by_view.move_to_end(key)
            return name

    def lookup(self, name: str) -> Optional[tuple[str, str]]:
        """``(session id, view id)`` that ``name`` opens, or None."""
        with self._lock:
            return self._by_name.get(name)

    def keep_only(self, session_id: str, view_ids: set[str]) -> None:
        """Revoke the capabilities of ``session_id``'s views not in ``view_ids``."""
        with self._lock:
            for key in [k for k in self._by_view if k[0] == session_id and k[1] not in view_ids]:
                self._by_name.pop(self._by_view.pop(key), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_view)

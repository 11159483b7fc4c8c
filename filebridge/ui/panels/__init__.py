"""Panels other features add to the local web page (docs/viewers.md, "Adding a panel").

A panel gives HTTP routes, built once per web server from the running Host, and one
JavaScript file that the page loads after its own script.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from filebridge.wire.codec import dumps

if TYPE_CHECKING:
    from filebridge.host import Host

__all__ = ["Panel", "PanelError", "PanelRequest", "PanelResponse", "PanelRoute",
           "json_response", "panel", "panels", "register_panel", "unregister_panel"]


@dataclass(frozen=True)
class PanelRequest:
    method: str
    route: str
    query: dict[str, str]
    body: bytes = b""

    @property
    def session_id(self) -> Optional[str]:
        return self.query.get("session") or None


PanelResponse = tuple[int, str, bytes]  # status, content type, body
PanelRoute = Callable[[PanelRequest], PanelResponse]


class PanelError(Exception):
    """Raised by a route for a clean error: answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Panel:
    """``name``: URL segment ([a-z0-9_-]); ``routes(host)`` -> {route name: function}."""

    name: str
    title: str
    script: Path
    routes: Callable[[Host], dict[str, PanelRoute]]
    order: int = 100
    meta: dict[str, Any] = field(default_factory=dict)


_panels: dict[str, Panel] = {}
_lock = threading.Lock()


def register_panel(item: Panel) -> None:
    """Add (or replace) a panel; the page picks it up the next time it loads."""
    if not item.name or not all(c.isalnum() or c in "_-" for c in item.name):
        raise ValueError(f"a panel name is letters, digits, '_' and '-': {item.name!r}")
    with _lock:
        _panels[item.name] = item


def unregister_panel(name: str) -> None:
    with _lock:
        _panels.pop(name, None)


def panels() -> list[Panel]:
    with _lock:
        return sorted(_panels.values(), key=lambda p: (p.order, p.name))


def panel(name: str) -> Optional[Panel]:
    with _lock:
        return _panels.get(name)


def json_response(value: Any, status: int = 200) -> PanelResponse:
    return status, "application/json", dumps(value)

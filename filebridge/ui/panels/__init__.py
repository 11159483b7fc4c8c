"""Panels other features add to the local web page (docs/viewers.md, "Adding a panel").

A panel gives HTTP routes, built once per web server from the running Host, and one
JavaScript file that the page loads after its own script.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from filebridge.errors import PanelError
from filebridge.wire.codec import dumps

if TYPE_CHECKING:
    from filebridge.host import Host

__all__ = ["PagePanels", "Panel", "PanelError", "PanelRequest", "PanelResponse", "PanelRoute",
           "json_response"]


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


@dataclass(frozen=True)
class Panel:
    """``name``: URL segment ([a-z0-9_-]); ``routes(host)`` -> {route name: function}."""

    name: str
    title: str
    script: Path
    routes: Callable[[Host], dict[str, PanelRoute]]
    order: int = 100
    meta: dict[str, Any] = field(default_factory=dict)


class PagePanels:
    """The panels of one page (one ``UIServer``, so one host): the features' panels, and any
    a program adds while the page runs. Two hosts in one process each have their own."""

    def __init__(self, panels: Iterable[Panel] = ()) -> None:
        self._panels: dict[str, Panel] = {}
        self._lock = threading.Lock()
        for item in panels:
            self.register(item)

    def register(self, item: Panel) -> None:
        """Add (or replace) a panel; the page picks it up the next time it loads."""
        if not item.name or not all(c.isalnum() or c in "_-" for c in item.name):
            raise ValueError(f"a panel name is letters, digits, '_' and '-': {item.name!r}")
        with self._lock:
            self._panels[item.name] = item

    def unregister(self, name: str) -> None:
        with self._lock:
            self._panels.pop(name, None)

    def all(self) -> list[Panel]:
        with self._lock:
            return sorted(self._panels.values(), key=lambda p: (p.order, p.name))

    def get(self, name: str) -> Optional[Panel]:
        with self._lock:
            return self._panels.get(name)


def json_response(value: Any, status: int = 200) -> PanelResponse:
    return status, "application/json", dumps(value)

"""The variables provider of a host: one per host, made on first use, closed with the host."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from filebridge.host.variables.provider import DEFAULT_TIMEOUT, VariablesProvider

if TYPE_CHECKING:
    from filebridge.host import Host

__all__ = ["provider_for"]

_providers: weakref.WeakKeyDictionary[Host, VariablesProvider] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def provider_for(host: Host, timeout: float = DEFAULT_TIMEOUT) -> VariablesProvider:
    """The host's variables provider (one per host, made on first use)."""
    with _lock:
        provider = _providers.get(host)
        if provider is None:
            provider = _providers[host] = VariablesProvider.for_host(host, timeout=timeout)
            host.on_stop(lambda: _stop(host))
        return provider


def _stop(host: Host) -> None:
    with _lock:
        provider = _providers.pop(host, None)
    if provider is not None:
        provider.close()

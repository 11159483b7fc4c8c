"""The variables provider of a host: one per host, made on first use, closed with the host."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from filebridge.host.variables.provider import DEFAULT_TIMEOUT, VariablesProvider

if TYPE_CHECKING:
    from filebridge.host import Host

__all__ = ["provider_for"]

# Kept in the host's parts under this name: each host has its own provider, closed with it.
PART = "variables"
_making = threading.Lock()  # two first uses at once make one provider


def provider_for(host: Host, timeout: float = DEFAULT_TIMEOUT) -> VariablesProvider:
    """The host's variables provider (one per host, made on first use)."""
    with _making:
        provider = host.parts.get(PART)
        if not isinstance(provider, VariablesProvider):
            provider = host.parts[PART] = VariablesProvider.for_host(host, timeout=timeout)
            host.on_stop(provider.close)
        return provider

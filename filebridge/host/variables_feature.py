"""The variables pane's plug points for ``filebridge serve``: options, install, the provider.

    FEATURES = (..., "filebridge.host.variables_feature")
"""

from __future__ import annotations

import argparse
import logging
import threading
import weakref
from typing import TYPE_CHECKING

from filebridge.host.variables import DEFAULT_TIMEOUT, VariablesChanged, VariablesProvider

if TYPE_CHECKING:
    from filebridge.host import Host

__all__ = ["add_serve_arguments", "install", "provider_for"]

log = logging.getLogger("filebridge.host.variables")

_providers: weakref.WeakKeyDictionary[Host, VariablesProvider] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variables-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds to wait for a worker to answer a variables request "
                        f"(default {DEFAULT_TIMEOUT:g})")


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


def _log_change(change: VariablesChanged) -> None:
    log.debug("session %s: variables version %d (%d assigned, %d removed)", change.session_id,
              change.version, len(change.assigned), len(change.removed))


def install(host: Host, args: argparse.Namespace) -> None:
    """Make the provider and log new snapshots (the web page adds its panel itself)."""
    provider = provider_for(host, getattr(args, "variables_timeout", DEFAULT_TIMEOUT))
    provider.subscribe(_log_change)

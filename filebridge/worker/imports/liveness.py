"""Whether the host can answer at all, told from its files before a request is sent.

A killed host leaves ``host.json`` behind; waiting out the import timeout for it helps nobody.
``filebridge.wire.host_status`` decides from the holder's pid (same machine) or heartbeat.
"""

from __future__ import annotations

from typing import Optional

from filebridge.wire.host_status import holder_is_running, read_holder
from filebridge.wire.layout import RootLayout

__all__ = ["why_host_is_gone"]


def why_host_is_gone(root: RootLayout) -> Optional[str]:
    """None when a host serves ``root``; else a sentence saying what was found instead."""
    holder = read_holder(root)
    if not holder:
        return "no host serves this root (start one with `filebridge serve`)"
    if holder_is_running(root):
        return None
    return (f"the host last seen (pid {holder.get('pid')} on {holder.get('machine')}) is gone; "
            "start one with `filebridge serve`")

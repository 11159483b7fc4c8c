"""One call that turns a running interpreter into a filebridge worker with every feature.

The session templates call ``start``; each feature is imported only when asked for, so a worker
that wants just ``call`` pays for nothing else.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from filebridge.wire.host_status import read_holder
from filebridge.worker.connection import Connection
from filebridge.worker.current import connect

__all__ = ["start"]

log = logging.getLogger("filebridge.worker")


def _in_notebook_kernel() -> bool:
    return "ipykernel" in sys.modules


def host_serves_sources(connection: Connection) -> bool:
    """Whether the host says it serves module source. Asking a host that is not there would
    wait out the import timeout, and asking one started without ``--source`` fails (a false
    error in its request log); a host's record lists the commands it answers (a record
    without that list is from an older host, which is asked)."""
    holder = read_holder(connection.layout.root)
    if not holder:
        return False
    commands = holder.get("commands")
    return not isinstance(commands, list) or "module_index" in commands


def start(session_dir: Optional[str | Path] = None, *, sources: Optional[Iterable[str]] = None,
          variables: bool = True, viewers: bool = True,
          namespace: Optional[dict[str, Any]] = None, hook: bool = True) -> Connection:
    """Connect, then switch on what a session is for.

    ``sources``: root names to import through the bridge; None takes every root the host
    serves (if it serves any), an empty list installs no importer. ``variables``:
    publish the variables pane after each top-level execution (``hook=False`` for hosts without
    one, such as Deephaven scripts: call ``publish_variables()`` yourself). ``viewers``:
    ``webbrowser.open`` goes to the host, and so does ``plt.show()`` except in a notebook
    kernel, where the notebook shows plots itself.
    """
    connection = connect(session_dir)
    if (sources is None and host_serves_sources(connection)) or (
            sources is not None and list(sources)):
        from filebridge.worker import imports

        try:
            imports.install(None if sources is None else list(sources), connection=connection)
        except ValueError:
            if sources is not None:
                raise
            log.debug("the host serves no source roots; no remote imports")
    if viewers:
        from filebridge.worker.viewers import install_integrations

        install_integrations(matplotlib=not _in_notebook_kernel())
    if variables:
        from filebridge.worker import variables as pane

        pane.enable(connection, namespace, hook=hook)
    return connection

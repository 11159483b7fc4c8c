"""The variables pane, worker side: snapshots in workspace.json, children on request.

Standard library only at import; numpy, pandas and polars are described when the session has
imported them, never imported here.

    import filebridge.worker.variables as fv
    fv.enable()                      # hooks IPython's post_run_cell, or the REPL prompt
    fv.publish_variables()           # explicitly (scripts, Deephaven), in any mode
    fv.set_mode("manual")            # only explicit publishes and host refreshes
    fv.register("mypkg.Matrix", display_value=lambda m, width: f"Matrix {m.shape}")
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Optional

from filebridge.worker.variables.commands import COMMANDS, VariableCommands
from filebridge.worker.variables.hooks import (
    install_ipython_hook,
    install_prompt_hook,
    running_ipython,
)
from filebridge.worker.variables.publisher import MODES, Publisher, check_mode
from filebridge.worker.variables.registry import (
    METHOD_NAMES,
    register,
    register_method,
    unregister,
)
from filebridge.worker.variables.snapshot import Snapshotter

__all__ = ["COMMANDS", "METHOD_NAMES", "MODES", "VariablesService", "disable", "enable",
           "publish_variables", "register", "register_method", "retry", "service", "set_mode",
           "unregister"]


class VariablesService:
    """One session's variables: the publisher, the host's commands, the execution hook."""

    def __init__(self, connection: Any, namespace: Callable[[], dict[str, Any]],
                 hidden: Optional[Callable[[str, Any], bool]], mode: str,
                 min_interval: float, require_viewer: bool = True) -> None:
        self.connection = connection
        self.publisher = Publisher(connection.layout, namespace, Snapshotter(hidden),
                                   mode=mode, min_interval=min_interval,
                                   require_viewer=require_viewer)
        self.commands = VariableCommands(self.publisher)
        for name, handler in self.commands.handlers().items():
            connection.on_command(name, handler)
        self._unhook: Optional[Callable[[], None]] = None

    def hook(self, shell: Any) -> str:
        """Publish after each top-level execution; return which hook was installed."""
        if shell is not None:
            self._unhook = install_ipython_hook(shell, self.publisher.after_execution)
            return "ipython"
        self._unhook = install_prompt_hook(self.publisher.after_execution)
        return "prompt"

    def close(self) -> None:
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        self.publisher.close()


_service: Optional[VariablesService] = None
_lock = threading.Lock()


def _ipython_hidden(shell: Any) -> Callable[[str, Any], bool]:
    hidden: dict[str, Any] = getattr(shell, "user_ns_hidden", {}) or {}

    def is_hidden(name: str, value: Any) -> bool:
        return (name in hidden and hidden[name] is value) or name in ("In", "Out", "exit", "quit")

    return is_hidden


def enable(connection: Any = None, namespace: Optional[dict[str, Any]] = None, *,
           mode: str = "auto", hook: bool = True, min_interval: float = 0.05,
           publish: bool = True, require_viewer: bool = True) -> VariablesService:
    """Start the variables pane for this process (again: replace the previous one).

    ``namespace`` defaults to IPython's user namespace when a shell runs, else ``__main__``'s
    globals. ``hook=False`` installs no execution hook (call ``publish_variables()``).
    ``publish``: write a first snapshot now. ``require_viewer=False`` snapshots after every
    execution even while no viewer is subscribed (docs/protocol-variables.md).
    """
    global _service
    check_mode(mode)
    if connection is None:
        from filebridge.worker.current import connect

        connection = connect()
    shell = running_ipython()
    hidden: Optional[Callable[[str, Any], bool]] = None
    if namespace is None:
        if shell is not None:
            namespace = shell.user_ns
            hidden = _ipython_hidden(shell)
        else:
            namespace = sys.modules["__main__"].__dict__
    chosen = namespace
    with _lock:
        if _service is not None:
            _service.close()
        _service = VariablesService(connection, lambda: chosen, hidden, mode, min_interval,
                                    require_viewer)
        if hook:
            _service.hook(shell)
    if publish:
        _service.publisher.publish()
    return _service


def service() -> VariablesService:
    if _service is None:
        raise RuntimeError("the variables pane is not enabled: call "
                           "filebridge.worker.variables.enable() first")
    return _service


def publish_variables(namespace: Optional[dict[str, Any]] = None) -> int:
    """Write a snapshot now, whatever the mode; return its version.

    Enables the pane on first use (with no execution hook when ``namespace`` is given).
    """
    if _service is None:
        enable(namespace=namespace, hook=namespace is None, publish=False)
    current = service()
    if namespace is not None:
        chosen = namespace
        current.publisher.namespace = lambda: chosen
    return int(current.publisher.publish()["version"])


def retry(name: Optional[str] = None) -> int:
    """Describe again the variable ``name`` (or every one) that went over the time limit."""
    args: dict[str, Any] = {} if name is None else {"path": [name]}
    return int(service().commands.retry(args)["version"])


def set_mode(mode: str) -> None:
    """``auto``: publish after each execution (coalesced); ``manual``: only when asked."""
    service().publisher.mode = check_mode(mode)


def disable() -> None:
    global _service
    with _lock:
        if _service is not None:
            _service.close()
            _service = None

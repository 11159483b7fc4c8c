"""Spawned and forkserver ``multiprocessing`` children get the finder before anything else.

Such a child starts a fresh interpreter and unpickles its Process object, whose target may be
a function of a served module. The Process object is therefore sent as a small wrapper: the
child first connects to the same session (without attaching as a new worker) and installs the
finder with the same roots, then unpickles the real object. Pools, queues and the children's
own imports work as in the parent; the children share the code cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from filebridge.errors import CallTimeout
from filebridge.wire.host_status import holder_is_running
from filebridge.wire.layout import SessionLayout
from filebridge.worker.imports.codecache import flush_writes

__all__ = ["ChildConnection", "register", "unregister"]

_registered: list[type] = []


class ChildConnection:
    """Requests into a session from a child process of its worker (no attach, no detach)."""

    def __init__(self, session_dir: Path) -> None:
        from filebridge.worker.channel import session_channel

        self.layout = SessionLayout(session_dir)
        self.session_dir = self.layout.folder
        self._channel = session_channel(self.layout)

    def call(self, command: str, timeout: Optional[float] = None, **args: Any) -> Any:
        limit = 10.0 if timeout is None else timeout
        request, answer, waited = self._channel.call(command, args, limit)
        if answer is None:
            alive = holder_is_running(self.layout.root)
            raise CallTimeout(f"no answer to {command!r} (request {request.id}) within "
                              f"{waited:.3g} s", command=command, waited=waited,
                              host_alive=alive)
        return answer.unwrap()


def _process_classes() -> list[type]:
    from multiprocessing import context

    names = ("SpawnProcess", "ForkServerProcess", "Process")
    return [getattr(context, n) for n in names if isinstance(getattr(context, n, None), type)]


Installer = Callable[..., Any]


def register(config: dict[str, Any], install: Installer, installed: Installer) -> None:
    """Send Process objects to spawned children through ``_start_child`` with ``config``.

    ``install`` and ``installed`` are the package's own functions: pickled by name, so the
    child imports them by itself and this module needs no import of its package.
    """
    from multiprocessing.reduction import ForkingPickler

    def reduce_process(process: Any) -> tuple[Any, tuple[Any, ...]]:
        flush_writes()  # the child finds what this process compiled in the code cache
        state = bytes(ForkingPickler.dumps(process.__dict__))
        return _start_child, (config, type(process), state, install, installed)

    unregister()
    for cls in _process_classes():
        ForkingPickler.register(cls, reduce_process)
        _registered.append(cls)


def unregister() -> None:
    import sys

    if not _registered or "multiprocessing.reduction" not in sys.modules:
        return
    from multiprocessing.reduction import ForkingPickler

    for cls in _registered:
        reducers: dict[type, Any] = getattr(ForkingPickler, "_extra_reducers", {})
        reducers.pop(cls, None)
    _registered.clear()


def _start_child(config: dict[str, Any], cls: Any, state: bytes, install: Installer,
                 installed: Installer) -> Any:
    """In the child: install the finder, then rebuild the Process object."""
    from multiprocessing.reduction import ForkingPickler

    if installed() is None:
        connection = ChildConnection(Path(config["session_dir"]))
        install(config["roots"], connection=connection, timeout=config["timeout"],
                refresh_each_run=False)
    process = cls.__new__(cls)
    process.__dict__.update(ForkingPickler.loads(state))
    return process

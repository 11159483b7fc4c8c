"""Calling the publisher after each top-level execution.

IPython and Jupyter kernels: the ``post_run_cell`` event. A plain ``python -i`` REPL has no
such event, but it turns ``sys.ps1`` into a string before every primary prompt, that is after
each complete top-level statement, whether stdin is a terminal or a pipe: ``PromptHook`` is a
``sys.ps1`` that publishes and then reads as the previous prompt.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

__all__ = ["PromptHook", "install_ipython_hook", "install_prompt_hook", "running_ipython"]

Unhook = Callable[[], None]


def running_ipython() -> Any:
    """The running IPython shell, or None (IPython is never imported here)."""
    module = sys.modules.get("IPython")
    get = getattr(module, "get_ipython", None)
    return get() if get is not None else None


def install_ipython_hook(shell: Any, after: Callable[[], None]) -> Unhook:
    def post_run_cell(*_result: Any) -> None:
        after()

    shell.events.register("post_run_cell", post_run_cell)

    def unhook() -> None:
        try:
            shell.events.unregister("post_run_cell", post_run_cell)
        except ValueError:
            pass

    return unhook


class PromptHook:
    """A ``sys.ps1`` that runs ``after`` each time the prompt is about to be shown."""

    def __init__(self, previous: Any, after: Callable[[], None]) -> None:
        self.previous = previous
        self.after = after

    def __str__(self) -> str:
        try:
            self.after()
        except Exception:  # never break the prompt
            pass
        return str(self.previous)


def install_prompt_hook(after: Callable[[], None]) -> Unhook:
    previous: Optional[Any] = getattr(sys, "ps1", None)
    hook = PromptHook(">>> " if previous is None else previous, after)
    sys.ps1 = hook

    def unhook() -> None:
        if getattr(sys, "ps1", None) is hook:
            if previous is None:
                del sys.ps1
            else:
                sys.ps1 = previous

    return unhook

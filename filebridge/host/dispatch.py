"""Handlers by command name: the plugin point integrations use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from filebridge.wire.layout import SessionLayout
from filebridge.wire.messages import Answer, Request, answer_by_running

if TYPE_CHECKING:
    from filebridge.host.server import Host
    from filebridge.host.session import SessionInfo

__all__ = ["Call", "HandlerFunc", "HandlerSpec", "run_handler"]


class Call(NamedTuple):
    """What a handler gets: the request, its arguments with paths mapped, and its session."""

    request: Request
    args: dict[str, Any]
    session: SessionInfo
    host: Host

    @property
    def command(self) -> str:
        return self.request.command

    @property
    def layout(self) -> SessionLayout:
        return self.session.layout


HandlerFunc = Callable[[Call], Any]


@dataclass(frozen=True)
class HandlerSpec:
    """``idempotent``: safe to run again after a crash cut it short.
    ``inline``: never blocks, so it may run on the loop thread without a thread hop."""

    func: HandlerFunc
    idempotent: bool = False
    inline: bool = False


def run_handler(spec: HandlerSpec, call: Call) -> Answer:
    """Run one handler; whatever it raises becomes an error answer, never a dead host."""
    return answer_by_running(call.request, lambda: spec.func(call))

"""Handlers by command name: the plugin point integrations use."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from filebridge.errors import RemoteError
from filebridge.wire.layout import SessionLayout
from filebridge.wire.messages import Answer, Request

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
    rid = call.request.id
    try:
        return Answer(rid, True, result=spec.func(call))
    except RemoteError as exc:
        return Answer(rid, False, error_code=exc.code, error_message=exc.remote_message,
                      error_details=exc.details)
    except Exception as exc:
        return Answer(rid, False, error_code="handler_error",
                      error_message=f"handler for {call.command!r} failed: "
                                    f"{type(exc).__name__}: {exc}",
                      error_details=traceback.format_exc(limit=8))

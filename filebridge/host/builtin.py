"""The commands every host answers: attach, detach, echo."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from filebridge.host.dispatch import Call

if TYPE_CHECKING:
    from filebridge.host.server import Host

__all__ = ["install_builtins"]

log = logging.getLogger("filebridge.host")


def _attach(call: Call) -> dict[str, Any]:
    call.host.set_detached(call.session.id, False)
    args = call.args
    log.info("session %s attached: %s %s in %s", call.session.id, args.get("language", "?"),
             args.get("versions", ""), args.get("cwd", "?"))
    return {"session": call.session.id}


def _detach(call: Call) -> None:
    call.host.set_detached(call.session.id, True)
    log.info("session %s detached", call.session.id)


def _echo(call: Call) -> dict[str, Any]:
    return call.request.args


def install_builtins(host: Host) -> None:
    host.register("attach", _attach, idempotent=True, inline=True)
    host.register("detach", _detach, idempotent=True, inline=True)
    host.register("echo", _echo, idempotent=True, inline=True)

"""Call a host's handler directly: no session folder, no log, no thread hop.

``call_handler(host, "dataview", title="t")`` runs the handler ``host`` has for the command as
the host would run it for a worker's request (arguments path-mapped, whatever it raises turned
into the answer a worker gets) and returns the result, or raises what the worker's ``call``
would raise. Only the transport is left out: for a test of a handler's logic in
milliseconds. A handler that reads files of its session reads them in ``folder`` (a folder
under the host's root by default, made on first use).
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any, Optional

from filebridge.errors import error_from_answer
from filebridge.host import Host
from filebridge.host.dispatch import Call, run_handler
from filebridge.host.session import SessionInfo
from filebridge.wire.messages import Request

__all__ = ["call_handler"]

_ids = itertools.count(1)


def call_handler(host: Host, command: str, *, session: str = "direct",
                 folder: Optional[Path] = None, info: Optional[dict[str, Any]] = None,
                 **args: Any) -> Any:
    """The result of ``host``'s handler for ``command`` called with ``args``, as session
    ``session`` (whose ``session.json`` would say ``info``) asked for it.

    Raises ``NoHandler`` when ``host`` has none, and the ``RemoteError`` of the handler's
    error answer (``HandlerFailed`` for an unexpected exception) otherwise.
    """
    spec = host.handler_spec(command)
    if spec is None:
        raise error_from_answer("no_handler", f"no handler for {command!r}")
    where = folder if folder is not None else host.root.session(session).folder
    where.mkdir(parents=True, exist_ok=True)
    number = next(_ids)
    request = Request(id=f"{number:08x}", seq=number, time=time.time(),
                      pid=os.getpid(), command=command, answer=True, args=args)
    call = Call(request, host.path_map.args(args),
                SessionInfo(session, where, "alive", dict(info or {})), host)
    answer = run_handler(spec, call)
    if not answer.ok:
        raise error_from_answer(answer.error_code or "handler_error", answer.error_message,
                                answer.error_details)
    return answer.result

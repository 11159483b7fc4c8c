"""The host side: serve every worker session under a root.

    from filebridge.host import Host, Call

    host = Host("~/.filebridge")

    @host.handler("webview", idempotent=True)
    def show(call: Call) -> None:
        print(call.session.id, call.args["file"])

    host.serve_forever()
"""

from filebridge.host.dispatch import Call, HandlerSpec
from filebridge.host.server import Host, HostEvent
from filebridge.host.session import SessionInfo
from filebridge.host.sessions import (
    new_session,
    observe_sessions,
    prune_sessions,
    recover_session,
)
from filebridge.host.variables.protocols import DapVariables, PositronVariables
from filebridge.host.variables.provider import VariablesProvider

__all__ = ["Call", "DapVariables", "HandlerSpec", "Host", "HostEvent", "PositronVariables",
           "SessionInfo", "VariablesProvider", "new_session", "observe_sessions", "prune_sessions",
           "recover_session"]

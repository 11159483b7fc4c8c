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
from filebridge.host.variables import VariablesProvider
from filebridge.host.variables_protocols import DapVariables, PositronVariables

__all__ = ["Call", "DapVariables", "HandlerSpec", "Host", "HostEvent", "PositronVariables",
           "SessionInfo", "VariablesProvider"]

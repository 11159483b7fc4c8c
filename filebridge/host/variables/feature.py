"""The variables pane in ``filebridge serve``: its option, its provider, its page panel."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from filebridge.features import DemoStep, Feature
from filebridge.host.variables.cli import register as register_command
from filebridge.host.variables.demo import demo_step
from filebridge.host.variables.provider import DEFAULT_TIMEOUT, VariablesChanged
from filebridge.host.variables.service import provider_for

if TYPE_CHECKING:
    from filebridge.host import Host

__all__ = ["FEATURE", "add_serve_arguments", "install"]

log = logging.getLogger("filebridge.host.variables")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variables-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds to wait for a worker to answer a variables request "
                        f"(default {DEFAULT_TIMEOUT:g})")


def _log_change(change: VariablesChanged) -> None:
    log.debug("session %s: variables version %d (%d assigned, %d removed)", change.session_id,
              change.version, len(change.assigned), len(change.removed))


def install(host: Host, args: argparse.Namespace) -> None:
    """Make the provider (it closes with the host) and log new snapshots."""
    provider = provider_for(host, getattr(args, "variables_timeout", DEFAULT_TIMEOUT))
    provider.subscribe(_log_change)


FEATURE = Feature(
    name="variables",
    summary="the variables pane: a worker's variables for editors and the page",
    install=install,
    add_serve_arguments=add_serve_arguments,
    commands=(register_command,),
    panels=("filebridge.host.variables.panel:PANEL",),
    demo=DemoStep("variables: list, expand a nested one, a big array's shape", demo_step),
    benchmarks=("variables",),
)

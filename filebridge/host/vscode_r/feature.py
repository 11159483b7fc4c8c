"""Legacy vscode-R sessions in ``filebridge serve``: ``--vscode-r [--watcher-dir DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from filebridge.features import Feature
from filebridge.host.server import Host
from filebridge.host.vscode_r.watcher import LegacyWatcher

__all__ = ["FEATURE", "add_serve_arguments", "install"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("legacy vscode-R sessions")
    group.add_argument("--vscode-r", action="store_true",
                       help="also serve R sessions started with vscode-R 2.8's session code")
    group.add_argument("--watcher-dir", metavar="DIR", type=Path, default=None,
                       help="their watcher folder (default: $VSCODE_WATCHER_DIR or ~/.vscode-R)")


def install(host: Host, args: argparse.Namespace) -> Optional[LegacyWatcher]:
    """Start the adapter when ``--vscode-r`` was given; returns it (stop it with the host)."""
    if not getattr(args, "vscode_r", False):
        return None
    watcher = LegacyWatcher(host, getattr(args, "watcher_dir", None),
                            force_poll=getattr(args, "poll", None) or None)
    watcher.start()
    return watcher


FEATURE = Feature(
    name="vscode-r",
    summary="R sessions started with vscode-R's own session code, served as filebridge sessions",
    install=install,
    add_serve_arguments=add_serve_arguments,
)

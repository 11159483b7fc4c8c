"""Files that live beside the package code: the session templates and the benchmarks."""

from __future__ import annotations

from pathlib import Path

import filebridge
from filebridge.cli.output import CommandFailed

__all__ = ["checkout_dir", "find_session_templates", "session_templates_dir"]

PACKAGE = Path(filebridge.__file__).resolve().parent


def find_session_templates() -> Path | None:
    """``session_templates``: packaged as ``filebridge/templates`` (a link to it in a checkout,
    the files themselves in a wheel), else beside the package in a checkout without links."""
    for folder in (PACKAGE / "templates", PACKAGE.parent / "session_templates"):
        if folder.is_dir():
            return folder
    return None


def session_templates_dir() -> Path:
    folder = find_session_templates()
    if folder is None:
        raise CommandFailed("the session templates are missing from this installation of "
                            "filebridge; reinstall it (pip install filebridge, or pip install -e . "
                            "from a checkout)")
    return folder


def checkout_dir(name: str) -> Path:
    """``benchmarks`` of the checkout filebridge runs from (not part of a wheel)."""
    folder = PACKAGE.parent / name
    if not folder.is_dir():
        raise CommandFailed(f"{name}/ was not found beside the filebridge package; install "
                            "filebridge from its source checkout (pip install -e .)")
    return folder

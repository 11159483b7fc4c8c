"""Files that live beside the package in a source checkout: templates and benchmarks."""

from __future__ import annotations

from pathlib import Path

import filebridge
from filebridge.cli.output import CommandFailed

__all__ = ["checkout_dir"]


def checkout_dir(name: str) -> Path:
    """``session_templates`` or ``benchmarks`` of the checkout filebridge runs from."""
    folder = Path(filebridge.__file__).resolve().parent.parent / name
    if not folder.is_dir():
        raise CommandFailed(f"{name}/ was not found beside the filebridge package; install "
                            "filebridge from its source checkout (pip install -e .)")
    return folder

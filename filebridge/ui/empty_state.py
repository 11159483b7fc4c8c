"""The commands the page suggests when no session is there yet, for this host's root.

Each is a complete command line that works as printed (tests run them): make a session folder,
then print the line that connects an R (or Python) worker to it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["start_commands"]

EXAMPLE_SESSION = "mywork"


def start_commands(root: Path) -> list[dict[str, str]]:
    """``[{"command": ..., "does": ...}]`` in the order a person runs them."""
    folder = shlex.quote(str(root))
    session = shlex.quote(str(root / "sessions" / EXAMPLE_SESSION))
    return [
        {"command": f"filebridge new-session --root {folder} --id {EXAMPLE_SESSION}",
         "does": "makes a session folder and prints the line to paste into Python"},
        {"command": f"filebridge template r --session {session}",
         "does": "then prints the line to paste into R instead"},
    ]

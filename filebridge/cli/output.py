"""How every command reports: JSON for scripts, plain lines for people, one-line failures."""

from __future__ import annotations

import json
import sys
from typing import Any

from filebridge.errors import CommandFailed

__all__ = ["CommandFailed", "emit"]


# Exit codes of every command (docs/architecture.md, "The command line"); 2 is argparse's
# own, for a usage mistake.
EXIT_FAILED = 1  # the command could not do what was asked; the line says why
EXIT_LEASE = 3  # another host serves the root, or took it over
EXIT_NO_ANSWER = 4  # no answer came in time
EXIT_ERROR_ANSWER = 5  # the other side answered with an error
EXIT_FILES = 6  # a file or folder could not be used (missing, unreadable, full disk)


def emit(data: Any, as_json: bool, text: str = "") -> None:
    if as_json:
        json.dump(data, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    elif text:
        print(text)

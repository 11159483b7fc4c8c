"""How every command reports: JSON for scripts, plain lines for people, one-line failures."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["CommandFailed", "emit"]


class CommandFailed(Exception):
    """Ends a command with its message on stderr and a non-zero exit."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def emit(data: Any, as_json: bool, text: str = "") -> None:
    if as_json:
        json.dump(data, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    elif text:
        print(text)

"""Editing JSON-with-comments settings files (VS Code's settings.json) without losing comments.

Comments and trailing commas are blanked to spaces of the same length, so offsets in the
blanked text are offsets in the original: a value can be replaced in place, text around it kept.
"""

from __future__ import annotations

import json
from typing import Any, Optional

__all__ = ["JsoncObject", "blank_comments"]


def blank_comments(text: str) -> str:
    """``text`` with // and /* */ comments and trailing commas replaced by spaces."""
    out = list(text)
    i, n = 0, len(text)
    in_string = False
    last_comma: Optional[int] = None
    while i < n:
        c = text[i]
        if in_string:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
            continue
        if c == '"':
            in_string = True
            last_comma = None
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out[i:end] = [ch if ch == "\n" else " " for ch in text[i:end]]
            i = end
            continue
        elif c == ",":
            last_comma = i
        elif c in "}]":
            if last_comma is not None:
                out[last_comma] = " "
            last_comma = None
        elif not c.isspace():
            last_comma = None
        i += 1
    return "".join(out)


class JsoncObject:
    """A settings file whose top level is an object; ``set`` rewrites one key's value only."""

    def __init__(self, text: str) -> None:
        self.text = text if text.strip() else "{}\n"
        self._blank = blank_comments(self.text)
        try:
            self.data = json.loads(self._blank)
        except ValueError as exc:
            raise ValueError(f"not JSON (with comments): {exc}") from None
        if not isinstance(self.data, dict):
            raise ValueError("the top level is not an object")

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> str:
        """The file's text with ``key`` set to ``value``; everything else unchanged."""
        rendered = json.dumps(value, indent=4).replace("\n", "\n    ")
        span = self._value_span(key)
        if span is not None:
            start, end = span
            return self.text[:start] + rendered + self.text[end:]
        brace = self._blank.index("{")
        entry = f'\n    {json.dumps(key)}: {rendered}'
        if self.data:
            entry += ","
        else:
            entry += "\n"
        return self.text[:brace + 1] + entry + self.text[brace + 1:]

    def _value_span(self, key: str) -> Optional[tuple[int, int]]:
        decoder = json.JSONDecoder()
        blank = self._blank
        i = blank.index("{") + 1
        while True:
            i = _skip_space(blank, i)
            if blank[i] == "}":
                return None
            name, i = decoder.raw_decode(blank, i)
            i = _skip_space(blank, i) + 1  # the colon
            start = _skip_space(blank, i)
            _value, end = decoder.raw_decode(blank, start)
            if name == key:
                return start, end
            i = _skip_space(blank, end)
            if blank[i] == ",":
                i += 1


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i

"""What the legacy vscode-R adapter answers by itself: rstudioapi without an editor, and the
children of legacy variables.

Legacy R reads an rstudioapi answer with ``jsonlite::read_json(response.log)`` and has no error
channel: an error object comes back to the caller as a list, which then fails far away (a
``strsplit`` on a missing field). So an action filebridge cannot perform is answered with text
that is not JSON, built so that jsonlite's parse error shows the action and the reason in its
30-character window: ``"active_editor_context" not available in filebridge``.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from filebridge.errors import RemoteError

__all__ = ["EDITOR_ACTIONS", "builtin_rstudioapi", "legacy_children", "not_available_body"]

_STR_LINE = re.compile(r"^\$ ([^:]+):(.*)$")

# The actions vscode-R's session code sends; all but the project path need an editor.
EDITOR_ACTIONS = ("active_editor_context", "insert_or_modify_text",
                  "replace_text_in_current_selection", "show_dialog", "navigate_to_file",
                  "set_selection_ranges", "document_save", "document_save_all",
                  "document_context", "document_new", "restart_r", "send_to_console")


def builtin_rstudioapi(action: str, args: Any, wd: Optional[str]) -> Optional[Any]:
    """The answer to an action that needs no editor, or None when it needs one.

    The project of a session without an editor is its working directory.
    """
    if action == "get_project_path":
        return {"path": wd} if wd else {"path": None}
    return None


def not_available_body(action: str, reason: str) -> bytes:
    """A response.log body that makes legacy R stop with the action and the reason shown."""
    quoted = '"' + "".join(c for c in action if c.isalnum() or c in "_.-")[:40] + '"'
    return f"{quoted} {reason}".encode()


def _str_lines(entry: dict[str, Any]) -> list[str]:
    text = entry.get("str")
    if not isinstance(text, str):
        return []
    return [" ".join(line.split()) for line in text.split("\n")[1:] if line.strip()]


def legacy_children(workspace: Any, args: dict[str, Any]) -> dict[str, Any]:
    """An ``inspect`` answer for a legacy session, from its last ``workspace.json``.

    Legacy R answers nothing: the children are what the file holds, as vscode-R showed them:
    the lines of ``str()`` after the first, else the ``names`` (or S4 ``slots``) with no value.
    Only the top level's children are known.
    """
    path = args.get("path")
    if path is None and isinstance(args.get("names"), list):
        path = args["names"]
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise RemoteError("bad_request", "'path' must be a list of access keys")
    env = workspace.get("globalenv") if isinstance(workspace, dict) else None
    if not isinstance(env, dict):
        raise RemoteError("not_available", "this legacy session has not written its variables")
    if len(path) != 1:
        raise RemoteError("not_available", "a legacy vscode-R session describes only the "
                          "children of top-level variables (from its workspace.json)")
    entry = env.get(path[0])
    if not isinstance(entry, dict):
        raise RemoteError("not_found", f"no variable {path[0]!r} in the legacy workspace")
    start = args.get("start", 0)
    count = args.get("count", 100)
    start = start if isinstance(start, int) and start >= 0 else 0
    count = count if isinstance(count, int) and count >= 0 else 100
    children = [_str_child(path[0], i, text) for i, text in enumerate(_str_lines(entry))]
    kind = "indexed"
    if not children:
        for field, prefix in (("names", "$"), ("slots", "@")):
            names = entry.get(field)
            if isinstance(names, list) and names:
                children = [_child(path[0], str(n), "", prefix + str(n)) for n in names]
                kind = "named"
                break
    return {"path": path, "evaluate_name": path[0], "length": len(children), "start": start,
            "children_kind": kind, "children": children[start:start + count]}


def _str_child(parent: str, index: int, line: str) -> dict[str, Any]:
    """A line of ``str()`` such as ``$ a: num 1 2 3`` (a named child) or ``- attr(...)``."""
    match = _STR_LINE.match(line)
    if match:
        return _child(parent, str(index), match.group(2).strip(), "$" + match.group(1).strip())
    return _child(parent, str(index), line, "")


def _child(parent: str, key: str, text: str, suffix: str) -> dict[str, Any]:
    name = suffix[1:] if suffix else key
    return {"access_key": key, "display_name": name, "display_value": text,
            "display_type": "", "type_info": "", "kind": "other", "length": 0,
            "shape": [], "size": None, "has_children": False, "children_kind": None,
            "has_viewer": False, "is_truncated": False, "updated_time": 0,
            "evaluate_name": f"{parent}{suffix}" if suffix else None}

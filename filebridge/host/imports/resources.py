"""Files of served packages that are not modules (``module_resource``): data, grammars, schemas.

The same refusal rules as modules: a path is given as parts under a root, each part a plain
name; excluded folders and files, and anything that resolves outside the root, are "not found".
A file larger than the limit is refused with ``too_large`` rather than sent in part.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filebridge.errors import RemoteError

if TYPE_CHECKING:
    from filebridge.host.imports.module_source import ModuleSourceProvider

__all__ = ["MAX_RESOURCE_BYTES", "read_resource"]

MAX_RESOURCE_BYTES = 16 << 20


def _plain(part: Any) -> bool:
    return (isinstance(part, str) and part not in ("", ".", "..") and "/" not in part
            and "\\" not in part and "\0" not in part)


def read_resource(provider: ModuleSourceProvider, root_name: Any, parts: Any, *,
                  read: bool = True, limit: int = MAX_RESOURCE_BYTES) -> dict[str, Any]:
    """The ``module_resource`` answer for ``parts`` under root ``root_name``."""
    if not isinstance(root_name, str) or not isinstance(parts, list):
        raise RemoteError("bad_request", "module_resource needs a string 'root' and a list "
                                         "'path'")
    missing = {"found": False, "root": root_name, "path": parts}
    root = provider.roots.get(root_name)
    if root is None or root.file is not None or not all(_plain(p) for p in parts):
        return missing
    rules = provider.rules
    path = root.folder
    for depth, part in enumerate(parts, start=1):
        path = path / part
        relative = parts[:depth]
        is_dir = path.is_dir()
        has_init = is_dir and (path / "__init__.py").is_file()
        rule = rules.exclusion(relative, is_package=has_init, walked=True)
        if rule is None and not is_dir and part.endswith(".py"):
            rule = rules.module_file_refusal(relative, walked=True)
        if rule is not None:
            provider.log_refusal(f"{root_name}/{'/'.join(parts)}",
                                 f"{path} is left out by {rule}", logging.WARNING, "resource")
            return missing
    if not path.exists() or not root.contains(path):
        return missing
    if path.is_dir():
        return {"found": True, "kind": "dir", "root": root_name, "path": parts,
                "entries": _entries(provider, root_name, parts, path)}
    try:
        size = path.stat().st_size
        if size > limit:
            raise RemoteError("too_large", f"{path} is {size} bytes; resources are served up "
                                           f"to {limit} bytes")
        answer: dict[str, Any] = {"found": True, "kind": "file", "root": root_name,
                                  "path": parts, "size": size}
        if read:
            data = path.read_bytes()[:limit + 1]
            if len(data) > limit:
                raise RemoteError("too_large", f"{path} grew past {limit} bytes")
            answer["size"] = len(data)
            answer["data"] = base64.b64encode(data).decode("ascii")
        return answer
    except OSError as exc:
        raise RemoteError("unreadable", f"cannot read {path}: {exc}") from None


def _entries(provider: ModuleSourceProvider, root_name: str, parts: list[str],
             folder: Path) -> list[list[Any]]:
    root = provider.roots[root_name]
    found = []
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except OSError:
        return []
    for entry in entries:
        relative = [*parts, entry.name]
        try:
            is_dir = entry.is_dir()
            has_init = is_dir and os.path.isfile(os.path.join(entry.path, "__init__.py"))
            rules = provider.rules
            if rules.exclusion(relative, is_package=has_init, walked=True) is not None:
                continue
            if (not is_dir and entry.name.endswith(".py")
                    and rules.module_file_refusal(relative, walked=True) is not None):
                continue
            if entry.is_symlink() and not root.contains(Path(entry.path)):
                continue
        except OSError:
            continue
        found.append([entry.name, is_dir])
    return sorted(found)

"""Package metadata of served roots, so ``importlib.metadata.version("proj")`` works remotely.

For each folder root, the host looks beside the package folder (and above a ``src/`` folder)
for a ``*.dist-info`` folder naming the root, else a ``pyproject.toml`` with a static
``[project]`` name and version, and publishes what ``importlib.metadata`` reads: ``METADATA``,
``entry_points.txt`` and ``top_level.txt``.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Optional

from filebridge.host.imports.rules import SourceRoot

__all__ = ["distributions_of", "normalized"]

MAX_METADATA_BYTES = 1 << 20
DIST_INFO_FILES = ("METADATA", "entry_points.txt", "top_level.txt")
log = logging.getLogger("filebridge.host.imports")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - depends on the Python running the host
    import tomli as tomllib


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions_of(roots: Iterable[SourceRoot]) -> dict[str, Any]:
    """Normalized name -> {name, version, root, files} for every root that has metadata."""
    found: dict[str, Any] = {}
    for root in roots:
        dist = _distribution(root)
        if dist is not None:
            found.setdefault(normalized(dist["name"]), dist)
    return found


def _places(root: SourceRoot) -> list[Path]:
    folder = root.folder
    if root.file is not None:
        return [folder]
    places = [folder, folder.parent]
    if folder.parent.name == "src":
        places.append(folder.parent.parent)
    return places


def _distribution(root: SourceRoot) -> Optional[dict[str, Any]]:
    for place in _places(root):
        for info in sorted(place.glob("*.dist-info")):
            dist = _from_dist_info(info, root.name)
            if dist is not None:
                return dist
        pyproject = place / "pyproject.toml"
        if pyproject.is_file():
            return _from_pyproject(pyproject, root.name)
    return None


def _read(path: Path) -> Optional[str]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_METADATA_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_METADATA_BYTES:
        log.warning("ignoring %s: larger than %d bytes", path, MAX_METADATA_BYTES)
        return None
    return data.decode("utf-8", "replace")


def _from_dist_info(info: Path, root_name: str) -> Optional[dict[str, Any]]:
    files = {name: text for name in DIST_INFO_FILES
             if (text := _read(info / name)) is not None}
    metadata = files.get("METADATA")
    if metadata is None:
        return None
    fields = _header_fields(metadata)
    name, version = fields.get("name"), fields.get("version")
    tops = (files.get("top_level.txt") or "").split()
    if not name or not version:
        return None
    if root_name not in tops and normalized(name) != normalized(root_name):
        return None
    return {"name": name, "version": version, "root": root_name, "files": files,
            "source": str(info)}


def _header_fields(metadata: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in metadata.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not key.startswith((" ", "\t")):
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _from_pyproject(path: Path, root_name: str) -> Optional[dict[str, Any]]:
    text = _read(path)
    if text is None:
        return None
    try:
        project = tomllib.loads(text).get("project")
    except tomllib.TOMLDecodeError as exc:
        log.warning("no metadata for %r: %s does not parse: %s", root_name, path, exc)
        return None
    if not isinstance(project, dict):
        return None
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        log.info("no metadata for %r: %s has no static [project] name and version",
                 root_name, path)
        return None
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if isinstance(project.get("description"), str):
        lines.append(f"Summary: {project['description']}")
    if isinstance(project.get("requires-python"), str):
        lines.append(f"Requires-Python: {project['requires-python']}")
    for requirement in project.get("dependencies") or []:
        if isinstance(requirement, str):
            lines.append(f"Requires-Dist: {requirement}")
    files = {"METADATA": "\n".join(lines) + "\n", "top_level.txt": root_name + "\n"}
    entry_points = _entry_points(project)
    if entry_points:
        files["entry_points.txt"] = entry_points
    return {"name": name, "version": version, "root": root_name, "files": files,
            "source": str(path)}


def _entry_points(project: dict[str, Any]) -> str:
    groups: dict[str, Any] = {}
    for key, group in (("scripts", "console_scripts"), ("gui-scripts", "gui_scripts")):
        if isinstance(project.get(key), dict):
            groups[group] = project[key]
    if isinstance(project.get("entry-points"), dict):
        groups.update(project["entry-points"])
    sections = []
    for group, entries in groups.items():
        if isinstance(entries, dict):
            body = "".join(f"{k} = {v}\n" for k, v in entries.items() if isinstance(v, str))
            sections.append(f"[{group}]\n{body}")
    return "\n".join(sections)

"""``%run`` cells resolved against the local tree, so an integration can open what a cell runs.

Databricks resolves ``%run ./x`` and ``%run ../lib/x`` against the folder of the notebook that
runs it, and names notebooks without an extension; an absolute path (``/Workspace/...``,
``/Repos/user/repo/...``, ``/Users/...``) names a workspace object, which is looked for here by
the longest trailing part of it that exists under the local workspace folder.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from filebridge.notebooks.ipynb import to_ipynb
from filebridge.notebooks.languages import SOURCE_EXTENSIONS, language_for_path

__all__ = ["RunTarget", "parse_run_line", "resolve_run", "run_targets", "runs_of_source"]

_HEADERS = ("# Databricks notebook source", "-- Databricks notebook source",
            "// Databricks notebook source")


@dataclass
class RunTarget:
    """One ``%run`` cell: what it names, the local file it runs (if found), and why not."""

    cell: int
    cell_id: str
    target: str
    arguments: str
    path: Optional[str]
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_run_line(source: str) -> Optional[tuple[str, str]]:
    """``(path, arguments)`` of a cell whose first line is ``%run PATH [ARGS]``, else None."""
    first = source.split("\n", 1)[0].strip()
    if not first.startswith("%run") or first[4:5] not in (" ", "\t"):
        return None
    rest = first[4:].strip()
    if not rest:
        return None
    if rest[0] in "\"'":
        try:
            parts = shlex.split(rest)
        except ValueError:
            return rest, ""
        quoted = parts[0] if parts else ""
        return quoted, " ".join(parts[1:])
    path, _, arguments = rest.partition(" ")
    return path, arguments.strip()


def resolve_run(
    target: str, caller: Union[str, os.PathLike[str]], workspace: Union[str, os.PathLike[str]]
) -> tuple[Optional[Path], str]:
    """The local notebook ``target`` names when run from ``caller``, or None and the reason."""
    if "$" in target or "{{" in target:
        return None, "the path is computed when the notebook runs"
    root = Path(os.path.realpath(workspace))
    caller_path = Path(os.path.realpath(caller))
    if target.startswith("/"):
        parts = [part for part in target.split("/") if part]
        for start in range(len(parts)):
            found = _notebook_file(root.joinpath(*parts[start:]), caller_path.suffix)
            if found is not None:
                return found, ""
        return None, f"no trailing part of {target} is a notebook under the workspace"
    candidate = Path(os.path.normpath(caller_path.parent / target))
    found = _notebook_file(candidate, caller_path.suffix)
    if found is None:
        return None, f"no notebook {candidate.name} in {candidate.parent}"
    if root not in found.parents:
        return None, f"{found} is outside the workspace {root}"
    return found, ""


def run_targets(
    cells: list[dict[str, Any]], caller: Union[str, os.PathLike[str]],
    workspace: Union[str, os.PathLike[str]],
) -> list[RunTarget]:
    """Every ``%run`` code cell of an nbformat cell list, resolved (see ``resolve_run``)."""
    out: list[RunTarget] = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = source if isinstance(source, str) else "".join(source)
        parsed = parse_run_line(text)
        if parsed is None:
            continue
        path, reason = resolve_run(parsed[0], caller, workspace)
        out.append(RunTarget(index, str(cell.get("id", "")), parsed[0], parsed[1],
                             str(path) if path else None, reason))
    return out


def runs_of_source(
    source: Union[str, os.PathLike[str]], workspace: Union[str, os.PathLike[str]]
) -> list[RunTarget]:
    """The ``%run`` cells of a source notebook as it is on disk now, resolved."""
    text = Path(source).read_bytes().decode("utf-8", "surrogateescape")
    notebook = to_ipynb(text, language_for_path(os.fspath(source)))
    return run_targets(notebook["cells"], source, workspace)


def _notebook_file(base: Path, preferred_suffix: str) -> Optional[Path]:
    """``base`` itself if it is a notebook file, else ``base`` plus a notebook extension."""
    if base.suffix.lower() in (*SOURCE_EXTENSIONS, ".ipynb") and base.is_file():
        return base
    suffixes = [preferred_suffix, *SOURCE_EXTENSIONS, ".R", ".ipynb"]
    for suffix in dict.fromkeys(suffixes):
        candidate = base.with_name(base.name + suffix)
        if candidate.is_file() and (suffix == ".ipynb" or _is_source_notebook(candidate)):
            return Path(os.path.realpath(candidate))
    return None


def _is_source_notebook(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            first = handle.readline(200).decode("utf-8", "replace").lstrip("\ufeff").rstrip()
    except OSError:
        return False
    return first in _HEADERS

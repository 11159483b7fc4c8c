"""``filebridge editor-config``: make Pylance / pyright resolve served roots to local files.

The worker imports ``proj.x`` from the host's ``--source DIR=proj``; the editor must find the
same file for completion and go-to-definition. A source whose folder is named NAME needs its
parent folder among ``extraPaths``; one served under another name gets a symlink named NAME in
``<workspace>/.filebridge-paths/``, and that folder goes to ``extraPaths``.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filebridge.cli.jsonc import JsoncObject
from filebridge.cli.output import CommandFailed, emit
from filebridge.host.source_rules import SourceRoot, parse_source, roots_by_name

__all__ = ["EditorPlan", "plan_editor_config", "register"]

VSCODE_KEY = "python.analysis.extraPaths"
PYRIGHT_KEY = "extraPaths"
LINK_FOLDER = ".filebridge-paths"


@dataclass
class EditorPlan:
    settings: Path
    key: str
    workspace: Path
    paths: list[str] = field(default_factory=list)  # entries the settings must hold
    links: dict[Path, Path] = field(default_factory=dict)  # symlink -> source folder
    already: list[str] = field(default_factory=list)  # roots the editor resolves unaided


def workspace_of(settings: Path) -> Path:
    return settings.parent.parent if settings.parent.name == ".vscode" else settings.parent


def _entry(path: Path, workspace: Path) -> str:
    """Relative to the workspace when inside it (settings stay portable), else absolute."""
    try:
        return path.relative_to(workspace).as_posix() or "."
    except ValueError:
        return str(path)


def plan_editor_config(sources: list[SourceRoot], settings: Path) -> EditorPlan:
    settings = Path(os.path.abspath(settings))
    key = PYRIGHT_KEY if settings.name == "pyrightconfig.json" else VSCODE_KEY
    workspace = workspace_of(settings)
    plan = EditorPlan(settings, key, workspace)
    # The workspace folder and its src/ are import roots for Pylance without any setting.
    implicit = {workspace, workspace / "src"}
    for root in sources:
        if root.folder.name == root.name:
            if root.folder.parent in implicit:
                plan.already.append(root.name)
                continue
            entry = _entry(root.folder.parent, workspace)
        else:
            links = workspace / LINK_FOLDER
            plan.links[links / root.name] = root.folder
            entry = _entry(links, workspace)
        if entry not in plan.paths:
            plan.paths.append(entry)
    return plan


def merged_paths(existing: Any, wanted: list[str], key: str, settings: Path) -> list[str]:
    if existing is None:
        existing = []
    if not isinstance(existing, list) or not all(isinstance(p, str) for p in existing):
        raise CommandFailed(f"{settings}: {key!r} is not a list of paths; fix it by hand first")
    return existing + [p for p in wanted if p not in existing]


def make_links(links: dict[Path, Path]) -> None:
    for link, target in links.items():
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.exists() or link.is_symlink():
            raise CommandFailed(f"{link} exists and does not point to {target}; remove it first")
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(target, target_is_directory=True)
        except OSError as exc:
            raise CommandFailed(f"cannot create the link {link} -> {target}: {exc}") from None


def _editor_config(args: argparse.Namespace) -> int:
    sources = list(roots_by_name(parse_source(text) for text in args.source).values())
    settings = Path(args.settings) if args.settings else Path(".vscode") / "settings.json"
    plan = plan_editor_config(sources, settings)
    try:
        text = plan.settings.read_text(encoding="utf-8") if plan.settings.exists() else ""
        document = JsoncObject(text)
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"cannot read {plan.settings}: {exc}") from None
    existing = document.get(plan.key)
    paths = merged_paths(existing, plan.paths, plan.key, plan.settings)
    added = [p for p in paths if p not in (existing or [])]
    written = False
    if not args.print and (added or plan.links):
        make_links(plan.links)
        if added:
            plan.settings.parent.mkdir(parents=True, exist_ok=True)
            plan.settings.write_text(document.set(plan.key, paths), encoding="utf-8")
            written = True
    report = {"settings": str(plan.settings), "key": plan.key, "extra_paths": paths,
              "added": added, "written": written,
              "links": {str(k): str(v) for k, v in plan.links.items()},
              "already_resolvable": plan.already}
    if args.print and not args.json:
        print(json.dumps({plan.key: paths}, indent=4))
        for link, target in plan.links.items():
            print(f"# and a link {link} -> {target}")
        return 0
    emit(report, args.json, _describe(plan, added, written))
    return 0


def _describe(plan: EditorPlan, added: list[str], written: bool) -> str:
    lines = [f"{name}: the folder's own name is already resolvable from the workspace"
             for name in plan.already]
    lines += [f"linked {link} -> {target}" for link, target in plan.links.items()]
    if written:
        lines.append(f"added {', '.join(added)} to {plan.key} in {plan.settings}")
    elif plan.paths:
        lines.append(f"{plan.settings} already lists what {plan.key} needs")
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "editor-config",
        help="make Pylance/pyright resolve served module roots to the local files",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    parser.add_argument("--source", action="append", required=True, metavar="DIR[=NAME]",
                        help="a folder served with `filebridge serve --source`; repeatable")
    parser.add_argument("--settings", metavar="PATH",
                        help="the settings file to merge into: .vscode/settings.json (the "
                             "default) or a pyrightconfig.json")
    parser.add_argument("--print", action="store_true",
                        help="print the setting instead of writing it (no links are made)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_editor_config)

"""``filebridge editor-config``: make Pylance / pyright resolve served roots to local files.

The worker imports ``proj.x`` from the host's ``--source DIR=proj``; the editor must find the
same file for completion and go-to-definition, and no other. A source whose folder is named NAME
needs its parent folder among ``extraPaths``; one served under another name gets a symlink named
NAME in ``<workspace>/.filebridge-paths/``, and that folder goes to ``extraPaths``. When the host
leaves out modules of a source (exclude or include globs, symlinks out of it), or for a
single-file source, ``.filebridge-paths/NAME`` is instead a tree of links to exactly the served
files, so the editor resolves exactly what the worker may import.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from filebridge.cli.jsonc import JsoncObject
from filebridge.cli.output import CommandFailed, emit
from filebridge.host.imports.module_source import ModuleSourceProvider
from filebridge.host.imports.rules import SourceRoot, SourceRules, parse_source, roots_by_name

__all__ = ["EditorPlan", "plan_editor_config", "register"]

VSCODE_KEY = "python.analysis.extraPaths"
PYRIGHT_KEY = "extraPaths"
LINK_FOLDER = ".filebridge-paths"
MIRROR_MARK = ".filebridge-mirror"


@dataclass
class EditorPlan:
    settings: Path
    key: str
    workspace: Path
    paths: list[str] = field(default_factory=list)  # entries the settings must hold
    links: dict[Path, Path] = field(default_factory=dict)  # symlink -> source folder
    mirrors: dict[Path, dict[str, Path]] = field(default_factory=dict)  # folder -> links in it
    already: list[str] = field(default_factory=list)  # roots the editor resolves unaided


def workspace_of(settings: Path) -> Path:
    return settings.parent.parent if settings.parent.name == ".vscode" else settings.parent


def _entry(path: Path, workspace: Path) -> str:
    """Relative to the workspace when inside it (settings stay portable), else absolute."""
    try:
        return path.relative_to(workspace).as_posix() or "."
    except ValueError:
        return str(path)


def served_files(root: SourceRoot, rules: SourceRules) -> Optional[dict[str, Path]]:
    """Relative link path -> served file, when the host serves less than the editor would
    resolve from the folder (or the root is one file); None when the folder as is matches."""
    index = ModuleSourceProvider([root], rules).index()["modules"]
    served: dict[str, Path] = {}
    for name, entry in index.items():
        origin = entry["origin"]
        if origin is None:
            continue
        parts = name.split(".")[1:]
        relative = "/".join([*parts, "__init__.py"] if entry["kind"] == "package"
                            else [*parts[:-1], parts[-1] + ".py"] if parts else [])
        served[relative] = Path(origin)
    if root.file is not None:
        return {"": root.file}
    for folder, dirs, files in os.walk(root.folder):
        dirs[:] = [d for d in dirs if d.isidentifier()]
        base = Path(folder).relative_to(root.folder)
        for name in files:
            if name.endswith(".py") and name[:-3].isidentifier():
                relative = (base / name).as_posix()
                if served.get(relative) != Path(folder) / name:
                    return served
    return None


def plan_editor_config(sources: list[SourceRoot], settings: Path,
                       rules: Optional[SourceRules] = None) -> EditorPlan:
    settings = Path(os.path.abspath(settings))
    key = PYRIGHT_KEY if settings.name == "pyrightconfig.json" else VSCODE_KEY
    workspace = workspace_of(settings)
    plan = EditorPlan(settings, key, workspace)
    # The workspace folder and its src/ are import roots for Pylance without any setting.
    implicit = {workspace, workspace / "src"}
    for root in sources:
        mirror = served_files(root, rules or SourceRules())
        if mirror is not None:
            links = workspace / LINK_FOLDER
            if root.file is not None:
                plan.links[links / f"{root.name}.py"] = root.file
            else:
                plan.mirrors[links / root.name] = mirror
            entry = _entry(links, workspace)
        elif root.folder.name == root.name:
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


def make_mirrors(mirrors: dict[Path, dict[str, Path]]) -> None:
    """Make each folder a tree of links to exactly its served files (replacing an earlier
    tree made by this command; anything else in the way is an error)."""
    for folder, files in mirrors.items():
        if folder.is_symlink() or (folder.exists() and not (folder / MIRROR_MARK).exists()):
            raise CommandFailed(f"{folder} exists and was not made by editor-config; remove it "
                                "first")
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / MIRROR_MARK).write_text("made by filebridge editor-config; run it again "
                                          "after adding modules\n")
        for relative, target in files.items():
            link = folder / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(target)
            except OSError as exc:
                raise CommandFailed(f"cannot create the link {link} -> {target}: {exc}") from None


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
    rules = SourceRules(args.include or [], args.exclude or [])
    plan = plan_editor_config(sources, settings, rules)
    try:
        text = plan.settings.read_text(encoding="utf-8") if plan.settings.exists() else ""
        document = JsoncObject(text)
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"cannot read {plan.settings}: {exc}") from None
    existing = document.get(plan.key)
    paths = merged_paths(existing, plan.paths, plan.key, plan.settings)
    added = [p for p in paths if p not in (existing or [])]
    written = False
    if not args.print and (added or plan.links or plan.mirrors):
        make_links(plan.links)
        make_mirrors(plan.mirrors)
        if added:
            plan.settings.parent.mkdir(parents=True, exist_ok=True)
            plan.settings.write_text(document.set(plan.key, paths), encoding="utf-8")
            written = True
    report = {"settings": str(plan.settings), "key": plan.key, "extra_paths": paths,
              "added": added, "written": written,
              "links": {str(k): str(v) for k, v in plan.links.items()},
              "mirrors": {str(k): sorted(v) for k, v in plan.mirrors.items()},
              "already_resolvable": plan.already}
    if args.print and not args.json:
        print(json.dumps({plan.key: paths}, indent=4))
        for link, target in plan.links.items():
            print(f"# and a link {link} -> {target}")
        for folder, files in plan.mirrors.items():
            print(f"# and {folder}: links to the {len(files)} served files")
        return 0
    emit(report, args.json, _describe(plan, added, written))
    return 0


def _describe(plan: EditorPlan, added: list[str], written: bool) -> str:
    lines = [f"{name}: the folder's own name is already resolvable from the workspace"
             for name in plan.already]
    lines += [f"linked {link} -> {target}" for link, target in plan.links.items()]
    lines += [f"{folder}: links to exactly the {len(files)} served files"
              for folder, files in plan.mirrors.items()]
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
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="the --include globs given to `filebridge serve`")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="the --exclude globs given to `filebridge serve`")
    parser.add_argument("--print", action="store_true",
                        help="print the setting instead of writing it (no links are made)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_editor_config)

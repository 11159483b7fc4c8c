"""What the module source may serve: exposed roots, module names, include and exclude globs.

A glob without ``/`` matches one path component (a folder or file name); a glob with ``/``
matches the path relative to the exposed folder, written with ``/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Sequence

from filebridge.errors import SourceConfigError

__all__ = ["DEFAULT_EXCLUDES", "SourceRoot", "SourceRules", "is_module_name", "parse_source",
           "roots_by_name"]

DEFAULT_EXCLUDES = (".*", "__pycache__", ".venv", "venv", "node_modules", "build", "dist")


def is_module_name(name: str) -> bool:
    """Dotted names whose every part is an identifier: nothing like ``a/../b`` or ``a..b``."""
    return isinstance(name, str) and bool(name) and all(p.isidentifier() for p in name.split("."))


@dataclass(frozen=True)
class SourceRoot:
    """A folder exposed under a top-level module name."""

    name: str
    folder: Path  # absolute, as the user named it: what __file__ shows
    real: Path  # symlinks resolved: what served files must stay inside

    @classmethod
    def of(cls, folder: str | Path, name: str | None = None) -> SourceRoot:
        path = Path(os.path.abspath(os.path.expanduser(str(folder))))
        if not path.is_dir():
            raise SourceConfigError(f"--source {folder}: not a folder")
        chosen = name or path.name
        if not chosen.isidentifier():
            raise SourceConfigError(
                f"--source {folder}: {chosen!r} is not a Python module name; "
                f"give one with --source {folder}=NAME")
        return cls(chosen, path, Path(os.path.realpath(path)))

    def contains(self, path: Path) -> bool:
        """Whether ``path``, symlinks resolved, stays inside this root."""
        real = os.path.realpath(path)
        base = str(self.real)
        return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def parse_source(text: str) -> SourceRoot:
    """``DIR`` or ``DIR=NAME``; NAME defaults to the folder's name."""
    folder, sep, name = text.rpartition("=")
    if sep and folder and name.isidentifier():
        return SourceRoot.of(folder, name)
    return SourceRoot.of(text)


def roots_by_name(roots: Iterable[SourceRoot]) -> dict[str, SourceRoot]:
    """The roots keyed by name; two roots with one name is an error, not an override."""
    found: dict[str, SourceRoot] = {}
    for root in roots:
        if root.name in found:
            raise SourceConfigError(
                f"two sources are named {root.name!r}: {found[root.name].folder} and "
                f"{root.folder}; rename one with --source DIR=NAME")
        found[root.name] = root
    if not found:
        raise SourceConfigError("no module sources given (use --source DIR[=NAME])")
    return found


class SourceRules:
    """Include and exclude globs; the defaults leave out environments, builds and dot folders."""

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = (),
                 default_excludes: bool = True) -> None:
        self.include = tuple(include)
        self.exclude = (DEFAULT_EXCLUDES if default_excludes else ()) + tuple(exclude)

    def excludes(self, relative: Sequence[str]) -> bool:
        """Whether the folder or file at ``relative`` (path parts under the root) is left out."""
        joined = "/".join(relative)
        for glob in self.exclude:
            if "/" in glob:
                if fnmatchcase(joined, glob):
                    return True
            elif any(fnmatchcase(part, glob) for part in relative):
                return True
        return False

    def serves_module_file(self, relative: Sequence[str]) -> bool:
        """A module file is served unless excluded and, when includes are given, if one matches.

        Includes apply to module files only: a package's ``__init__.py`` follows its folder.
        """
        if self.excludes(relative):
            return False
        if not self.include or relative[-1] == "__init__.py":
            return True
        joined = "/".join(relative)
        return any(fnmatchcase(joined if "/" in glob else relative[-1], glob)
                   for glob in self.include)

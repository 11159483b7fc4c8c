"""What the module source may serve: exposed roots, module names, include and exclude globs.

A glob without ``/`` matches one path component (a folder or file name); a glob with ``/``
matches the path relative to the exposed folder, written with ``/``. The default ``build`` and
``dist`` globs leave out build output, not a real subpackage: they skip a folder that holds
``__init__.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Optional, Sequence

from filebridge.errors import SourceConfigError

__all__ = ["DEFAULT_EXCLUDES", "SourceRoot", "SourceRules", "is_module_name", "parse_source",
           "roots_by_name"]

DEFAULT_EXCLUDES = (".*", "__pycache__", ".venv", "venv", "node_modules", "build", "dist")
# Default globs that do not apply to a regular package (a folder with __init__.py).
OUTPUT_FOLDERS = frozenset({"build", "dist"})


def is_module_name(name: str) -> bool:
    """Dotted names whose every part is an identifier: nothing like ``a/../b`` or ``a..b``."""
    return isinstance(name, str) and bool(name) and all(p.isidentifier() for p in name.split("."))


@dataclass(frozen=True)
class SourceRoot:
    """A folder (or one ``.py`` file) exposed under a top-level module name."""

    name: str
    folder: Path  # absolute, as the user named it: what __file__ shows
    real: Path  # symlinks resolved: what served files must stay inside
    file: Optional[Path] = None  # set for a single-module root; ``folder`` is then its folder

    @classmethod
    def of(cls, folder: str | Path, name: str | None = None) -> SourceRoot:
        path = Path(os.path.abspath(os.path.expanduser(str(folder))))
        single = path.suffix == ".py" and path.is_file()
        if not single and not path.is_dir():
            raise SourceConfigError(f"--source {folder}: not a folder or a .py file")
        chosen = name or (path.stem if single else path.name)
        if not chosen.isidentifier():
            raise SourceConfigError(
                f"--source {folder}: {chosen!r} is not a Python module name; "
                f"give one with --source {folder}=NAME")
        if single:
            return cls(chosen, path.parent, Path(os.path.realpath(path.parent)), path)
        return cls(chosen, path, Path(os.path.realpath(path)))

    def contains(self, path: Path, folders: Optional[dict[str, str]] = None) -> bool:
        """Whether ``path``, symlinks resolved, stays inside this root.

        ``folders``: the resolved folders of earlier calls, kept by a caller that checks many
        files at once (one ``realpath`` per folder instead of one per file)."""
        real = os.path.realpath(path) if folders is None else _resolved(str(path), folders)
        if self.file is not None:
            return real == os.path.realpath(self.file)
        base = str(self.real)
        return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _resolved(path: str, folders: dict[str, str]) -> str:
    """``realpath(path)``, taking the folder's from ``folders`` (filled as it goes) when
    ``path`` itself is not a symlink."""
    if os.path.islink(path):
        return os.path.realpath(path)
    head, tail = os.path.split(path)
    real_head = folders.get(head)
    if real_head is None:
        real_head = folders[head] = os.path.realpath(head)
    return os.path.join(real_head, tail)


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
        self.user_exclude = tuple(exclude)
        self.exclude = (DEFAULT_EXCLUDES if default_excludes else ()) + self.user_exclude

    def excludes(self, relative: Sequence[str], *, is_package: bool = False) -> bool:
        """Whether the folder or file at ``relative`` (path parts under the root) is left out."""
        return self.exclusion(relative, is_package=is_package) is not None

    def exclusion(self, relative: Sequence[str], *, is_package: bool = False,
                  walked: bool = False) -> Optional[str]:
        """The rule that leaves ``relative`` out (e.g. ``exclude glob 'build' (default)``).

        ``is_package``: the last part is a folder with ``__init__.py``. ``walked``: the folders
        above were checked at their own step (so a ``build`` among them is a package), and a
        default output-folder glob is matched against the last part only.
        """
        joined = "/".join(relative)
        defaults = len(self.exclude) - len(self.user_exclude)
        for position, glob in enumerate(self.exclude):
            default = position < defaults
            if "/" in glob:
                hit = fnmatchcase(joined, glob)
            elif default and glob in OUTPUT_FOLDERS:
                hit = ((not is_package and bool(relative) and fnmatchcase(relative[-1], glob))
                       or (not walked and any(fnmatchcase(p, glob) for p in relative[:-1])))
            else:
                hit = any(fnmatchcase(part, glob) for part in relative)
            if hit:
                return f"exclude glob {glob!r}{' (default)' if default else ''}"
        return None

    def serves_module_file(self, relative: Sequence[str]) -> bool:
        """A module file is served unless excluded and, when includes are given, if one matches.

        Includes apply to module files only: a package's ``__init__.py`` follows its folder.
        """
        return self.module_file_refusal(relative) is None

    def module_file_refusal(self, relative: Sequence[str], *,
                            walked: bool = False) -> Optional[str]:
        """Why the module file at ``relative`` is not served, or None when it is."""
        rule = self.exclusion(relative, walked=walked)
        if rule is not None:
            return rule
        if not self.include or relative[-1] == "__init__.py":
            return None
        joined = "/".join(relative)
        if any(fnmatchcase(joined if "/" in glob else relative[-1], glob)
               for glob in self.include):
            return None
        return f"no include glob matches ({', '.join(map(repr, self.include))})"

"""filebridge's own source, parsed once per test process: each module's imports and classes.

The architecture and error checks look at every module of the package; importing them all
would load every optional dependency, so they read the source instead.
"""

from __future__ import annotations

import ast
import builtins
import functools
import gc
import importlib
import importlib.util
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import filebridge

PACKAGE = Path(filebridge.__file__).resolve().parent


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


@dataclass(frozen=True)
class ClassSummary:
    """A class statement without its body."""

    name: str
    bases: list[ast.expr]


@dataclass(frozen=True)
class Summary:
    """What the checks need of one source file; the whole tree is not kept, since every
    collection of the garbage collector would walk its hundreds of thousands of objects."""

    imports: list[Union[ast.Import, ast.ImportFrom]]
    """Every import statement, in functions too, except those only type checkers run."""
    top_level: list[Union[ast.Import, ast.ImportFrom, ClassSummary]]
    """Imports and classes run at the top level (also in ``if``/``try``/``with``), the
    classes without their bodies."""


@functools.cache
def summary(path: Path) -> Summary:
    """One source file, parsed once per process."""
    text = path.read_text(encoding="utf-8")
    # While the tree is made nothing in it is garbage: collecting then only walks it again
    # and again.
    paused = gc.isenabled()
    gc.disable()
    try:
        tree = ast.parse(text, filename=str(path))
        imports: list[Union[ast.Import, ast.ImportFrom]] = []
        pending: list[ast.stmt] = list(reversed(tree.body))
        while pending:
            node = pending.pop()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(node)
            elif _only_for_type_checkers(node):
                assert isinstance(node, ast.If)
                pending.extend(reversed(node.orelse))
            else:
                pending.extend(reversed(nested_blocks(node)))
        top_level: list[Union[ast.Import, ast.ImportFrom, ClassSummary]] = []
        for node in module_level(tree.body):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                top_level.append(node)
            elif isinstance(node, ast.ClassDef):
                top_level.append(ClassSummary(node.name, node.bases))
        return Summary(imports, top_level)
    finally:
        if paused:
            gc.enable()


def _only_for_type_checkers(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return getattr(test, "id", getattr(test, "attr", "")) == "TYPE_CHECKING"


def nested_blocks(node: ast.stmt) -> list[ast.stmt]:
    """The statements directly inside ``node``'s blocks, in source order."""
    blocks: list[ast.stmt] = []
    for field in ("body", "orelse", "finalbody"):
        blocks.extend(getattr(node, field, None) or [])
    for handler in getattr(node, "handlers", None) or []:
        blocks.extend(handler.body)
    for case in getattr(node, "cases", None) or []:
        blocks.extend(case.body)
    return blocks


def module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at a module's top level (inside ``if``/``try``/``with``, not in
    functions or classes)."""
    out: list[ast.stmt] = []
    pending = list(reversed(body))
    while pending:
        node = pending.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            pending.extend(reversed(nested_blocks(node)))
    return out


def absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The module an ``from ... import`` in ``module`` names, made absolute."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts[: len(parts) - node.level + is_package]
    return ".".join([*base, *([node.module] if node.module else [])])


# --- which classes are exceptions, read from the source ------------------------------------

Reference = Union[type, tuple[str, str], str, None]
"""What a name stands for: a class already loaded, ``(module, class)`` for a class to read
from its source, a module's dotted name (``str``), or ``None`` when the source does not say."""


def _loaded_cheaply(module: str) -> bool:
    return module in sys.modules or _in_standard_library(module.split(".")[0])


@functools.cache
def _in_standard_library(top: str) -> bool:
    names = getattr(sys, "stdlib_module_names", None)  # Python 3.10 and later
    if names is not None:
        return top in names
    spec = importlib.util.find_spec(top)
    origin = (spec.origin or "") if spec is not None else ""
    return origin in ("built-in", "frozen") or (
        origin.startswith(sysconfig.get_paths()["stdlib"]) and "site-packages" not in origin)


class ClassReader:
    """Tells from the source whether a class derives from ``Exception``.

    filebridge's modules are read, never imported; a base from the standard library or from a
    module already loaded is looked at directly; a base from another package is read from
    its source too (so that finding out costs no import of, say, matplotlib).
    """

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def source_of(self, module: str) -> Optional[Path]:
        """A module's source file, found without importing it or the packages above it."""
        if module in self.sources:
            return self.sources[module]
        if module.split(".")[0] == "filebridge":
            return None
        top, *rest = module.split(".")
        spec = importlib.util.find_spec(top)
        if spec is None:
            return None
        if not rest:
            return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
        for folder in spec.submodule_search_locations or []:
            base = Path(folder).joinpath(*rest)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None

    def module_attribute(self, module: str, name: str) -> Reference:
        """What ``module.name`` is."""
        if module not in self.sources and _loaded_cheaply(module):
            try:
                value = getattr(importlib.import_module(module), name, None)
            except ImportError:
                return None
            entries = getattr(value, "__mro_entries__", None)  # typing.NamedTuple, TypedDict
            if not isinstance(value, type) and entries is not None:
                value = next((c for c in entries((value,)) if isinstance(c, type)), None)
            if isinstance(value, type):
                return value
            submodule = f"{module}.{name}"
            return submodule if submodule in sys.modules or value is not None else None
        if self.source_of(f"{module}.{name}") is not None:
            return f"{module}.{name}"
        return self.name_in(module, name)

    def name_in(self, module: str, name: str) -> Reference:
        """What the top-level ``name`` of ``module`` stands for, read from its source."""
        source = self.source_of(module)
        if source is None:
            if module in self.sources or not _loaded_cheaply(module):
                try:
                    importlib.import_module(module)  # no source to read: a compiled module
                except ImportError:
                    return None
            return self.module_attribute(module, name)
        is_package = source.name == "__init__.py"
        for node in summary(source).top_level:
            if isinstance(node, ClassSummary) and node.name == name:
                return (module, name)
            if isinstance(node, ast.ImportFrom):
                origin = absolute(module, is_package, node)
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        return self.module_attribute(origin, alias.name)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname == name:
                        return alias.name
                    if alias.asname is None and alias.name.split(".")[0] == name:
                        return name
        value = getattr(builtins, name, None)
        return value if isinstance(value, type) else None

    def expression(self, module: str, node: ast.expr) -> Reference:
        """What a base-class expression in ``module`` stands for."""
        if isinstance(node, ast.Subscript):  # Generic[T], Protocol[T]
            return self.expression(module, node.value)
        if isinstance(node, ast.Name):
            return self.name_in(module, node.id)
        if isinstance(node, ast.Attribute):
            owner = self.expression(module, node.value)
            if isinstance(owner, str):
                return self.module_attribute(owner, node.attr)
            if isinstance(owner, type):
                value = getattr(owner, node.attr, None)
                return value if isinstance(value, type) else None
        return None

    def is_exception(self, module: str, name: str,
                     seen: frozenset[tuple[str, str]] = frozenset()) -> Optional[bool]:
        """Whether the top-level class ``name`` of ``module`` derives from ``Exception``;
        ``None`` when one of its bases cannot be told from the source."""
        source = self.source_of(module)
        if source is None or (module, name) in seen:
            return None
        node = next((n for n in summary(source).top_level
                     if isinstance(n, ClassSummary) and n.name == name), None)
        if node is None:
            return None
        answer: Optional[bool] = False
        for base in node.bases:
            found = self.expression(module, base)
            if isinstance(found, type):
                verdict: Optional[bool] = issubclass(found, Exception)
            elif isinstance(found, tuple):
                verdict = self.is_exception(*found, seen=seen | {(module, name)})
            else:
                verdict = None
            if verdict:
                return True
            if verdict is None:
                answer = None
        return answer

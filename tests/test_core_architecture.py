"""The shape of the package: no import cycles, and the public API is the documented one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import source_support

import filebridge.host
import filebridge.worker

DOCS = source_support.PACKAGE.parent / "docs" / "architecture.md"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules ``name`` imports anywhere (functions included, TYPE_CHECKING blocks not):
    the imported module itself, not the packages above it, which Python only initialises."""
    named: set[str] = set()
    for node in source_support.summary(path).imports:
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
            continue
        origin = source_support.absolute(name, path.name == "__init__.py", node)
        for alias in node.names:
            child = f"{origin}.{alias.name}"
            named.add(child if child in modules else origin)
    edges = set()
    for target in named:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            edges.add(target)
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_one_that_imports_it_back_even_inside_a_function() -> None:
    modules = source_support.modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []
    # The check itself sees a cycle made of function-level imports.
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_the_public_api_is_the_documented_one() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for package in (filebridge.host, filebridge.worker):
        for name in package.__all__:
            assert hasattr(package, name), f"{package.__name__}.{name} is exported but missing"
            assert re.search(rf"\b{name}\b", text), f"{package.__name__}.{name} is not documented"
    for used in re.findall(r"\bfb\.([a-z_]+)\(", text):
        assert used in filebridge.worker.__all__, f"the docs use fb.{used}, which is not public"
    for names in re.findall(r"from filebridge\.host import ([A-Za-z_, ]+)", text):
        for name in (n.strip() for n in names.split(",")):
            assert name in filebridge.host.__all__, f"the docs import {name} from filebridge.host"

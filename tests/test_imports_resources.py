"""Package data and metadata of served packages, as real projects read them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from imports_support import Bridge

from filebridge.errors import RemoteError
from filebridge.host.imports.module_source import ModuleSourceProvider
from filebridge.host.imports.resources import read_resource
from filebridge.host.imports.rules import SourceRoot, SourceRules

SCHEMA = '{"title": "order", "type": "object", "required": ["id"]}\n'
GRAMMAR = "start: expr\nexpr: NUMBER (\"+\" NUMBER)*\n%import common.NUMBER\n"

GRAM = {
    "pyproject.toml": '[project]\nname = "gram-proj"\nversion = "2.3.1"\n'
                      'description = "A grammar and its schemas"\n'
                      'dependencies = ["attrs>=22"]\n\n'
                      '[project.scripts]\ngram = "gram.cli:main"\n',
    "gram/__init__.py": 'from importlib.metadata import version\n\n'
                        '__version__ = version("gram-proj")\n',
    "gram/schemas/__init__.py": "",
    "gram/schemas/order.json": SCHEMA,
    "gram/schemas/item.json": '{"title": "item"}\n',
    "gram/schemas/secret_key.json": '{"key": "hunter2"}\n',
    "gram/grammar/expr.lark": GRAMMAR,
    "gram/registry.py": (
        "import json\n"
        "from importlib.resources import files\n\n"
        "SCHEMAS = {p.name[:-5]: json.loads(p.read_text())\n"
        "           for p in files('gram.schemas').iterdir() if p.name.endswith('.json')}\n"),
    "gram/parser.py": (
        "from importlib import resources\n\n"
        "GRAMMAR = resources.files(__package__).joinpath('grammar/expr.lark').read_text()\n"
        "with resources.files(__package__).joinpath('grammar', 'expr.lark').open('rb') as f:\n"
        "    FIRST_LINE = f.readline()\n"),
}


def write_gram(base: Path) -> Path:
    for relative, text in GRAM.items():
        path = base / "gramproj" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base / "gramproj" / "gram"


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    gram = write_gram(tmp_path)
    bridge = Bridge(tmp_path, [str(tmp_path / "proj"), str(gram)])
    try:
        yield bridge
    finally:
        bridge.stop()


def test_a_package_reads_its_schemas_and_grammar_through_importlib_resources(
        bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import os, pkgutil
        from importlib import resources
        remote.install(["gram"])
        import gram.registry, gram.parser
        print(json.dumps({
            "schemas": gram.registry.SCHEMAS,
            "grammar": gram.parser.GRAMMAR,
            "first": gram.parser.FIRST_LINE.decode(),
            "get_data": pkgutil.get_data("gram", "schemas/order.json").decode(),
            "nested_get_data": pkgutil.get_data("gram.schemas", "item.json").decode(),
            "is_dir": resources.files("gram").joinpath("grammar").is_dir(),
            "is_file": resources.files("gram").joinpath("grammar/expr.lark").is_file(),
            "missing": resources.files("gram").joinpath("nope.txt").is_file(),
        }))
    """)
    assert got == {
        "schemas": {"order": {"title": "order", "type": "object", "required": ["id"]},
                    "item": {"title": "item"}},  # secret_key.json is excluded: not listed
        "grammar": GRAMMAR, "first": GRAMMAR.splitlines()[0] + "\n",
        "get_data": SCHEMA, "nested_get_data": '{"title": "item"}\n',
        "is_dir": True, "is_file": True, "missing": False}


def test_as_file_gives_a_real_file_and_refused_or_missing_files_raise(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        from importlib import resources
        remote.install(["gram"])
        import gram
        with resources.as_file(resources.files("gram") / "schemas" / "order.json") as path:
            copied = open(path).read()
        errors = []
        for name in ["schemas/secret_key.json", "nope.json", "../pyproject.toml"]:
            try:
                resources.files("gram").joinpath(name).read_bytes()
                errors.append("read")
            except OSError as exc:
                errors.append(type(exc).__name__)
        print(json.dumps([copied, errors]))
    """)
    # "../pyproject.toml" stays at the root folder: there is no gram/pyproject.toml.
    assert got == [SCHEMA, ["FileNotFoundError"] * 3]


def test_version_in_init_comes_from_pyproject_metadata(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        from importlib import metadata
        remote.install(["gram"])
        import gram
        dist = metadata.distribution("gram_proj")
        scripts = [(e.name, e.value) for e in dist.entry_points if e.group == "console_scripts"]
        print(json.dumps([gram.__version__, metadata.version("Gram.Proj"), dist.requires,
                          dist.metadata["Summary"], scripts]))
    """)
    assert got == ["2.3.1", "2.3.1", ["attrs>=22"], "A grammar and its schemas",
                   [["gram", "gram.cli:main"]]]


def test_dist_info_beside_the_package_gives_its_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "site" / "lib"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    info = tmp_path / "site" / "lib_pkg-0.4.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lib-pkg\nVersion: 0.4\n")
    (info / "top_level.txt").write_text("lib\n")
    provider = ModuleSourceProvider([SourceRoot.of(folder)])
    dists = provider.index()["distributions"]
    assert list(dists) == ["lib-pkg"]
    assert dists["lib-pkg"]["version"] == "0.4"
    assert dists["lib-pkg"]["files"]["top_level.txt"] == "lib\n"


def test_resources_follow_the_module_rules_and_have_a_size_limit(tmp_path: Path) -> None:
    gram = write_gram(tmp_path)
    (tmp_path / "outside.txt").write_text("outside")
    (gram / "link.txt").symlink_to(tmp_path / "outside.txt")
    (gram / "build").mkdir()
    (gram / "build" / "out.txt").write_text("built")
    provider = ModuleSourceProvider([SourceRoot.of(gram)], SourceRules(exclude=["secret_*"]))
    for path in (["schemas", "secret_key.json"], ["link.txt"], ["build", "out.txt"],
                 ["..", "pyproject.toml"], ["schemas/../../x"], ["grammar", ""]):
        assert read_resource(provider, "gram", path)["found"] is False, path
    listing = read_resource(provider, "gram", [])
    assert listing["kind"] == "dir"
    assert [name for name, _ in listing["entries"]] == [
        "__init__.py", "grammar", "parser.py", "registry.py", "schemas"]
    with pytest.raises(RemoteError, match="served up to 10 bytes") as raised:
        read_resource(provider, "gram", ["schemas", "order.json"], limit=10)
    assert raised.value.code == "too_large"
    with pytest.raises(RemoteError, match="module_resource needs"):
        read_resource(provider, "gram", "schemas/order.json")

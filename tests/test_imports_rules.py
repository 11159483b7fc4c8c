"""What the host agrees to serve, checked on real folders without a worker."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from filebridge.errors import SourceConfigError
from filebridge.host import Host
from filebridge.host.imports.feature import add_serve_arguments, install
from filebridge.host.imports.module_source import ModuleSourceProvider, content_hash
from filebridge.host.imports.rules import SourceRoot, SourceRules, is_module_name, parse_source


def make_tree(base: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def test_source_name_defaults_to_the_folder_and_can_be_given(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "my_lib", {"__init__.py": ""})
    assert parse_source(str(folder)).name == "my_lib"
    assert parse_source(f"{folder}=other").name == "other"
    assert parse_source(f"{folder}=other").folder == folder


def test_folder_names_that_are_not_module_names_need_an_explicit_name(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "my-lib", {"__init__.py": ""})
    with pytest.raises(SourceConfigError, match="my-lib=NAME"):
        parse_source(str(folder))
    assert parse_source(f"{folder}=my_lib").name == "my_lib"


def test_a_missing_source_folder_is_an_error_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="not a folder"):
        parse_source(str(tmp_path / "absent"))


def test_two_sources_with_one_name_are_an_error_not_an_override(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "a" / "proj", {"__init__.py": ""})
    second = make_tree(tmp_path / "b" / "proj", {"__init__.py": ""})
    with pytest.raises(SourceConfigError, match="two sources are named 'proj'"):
        ModuleSourceProvider([SourceRoot.of(first), SourceRoot.of(second)])


def test_serve_options_reject_duplicate_names_before_serving(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "a" / "proj", {"__init__.py": ""})
    second = make_tree(tmp_path / "b" / "lib", {"__init__.py": ""})
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(["--source", str(first), "--source", f"{second}=proj",
                              "--exclude", "tests"])
    assert args.exclude == ["tests"]
    with pytest.raises(SourceConfigError, match="two sources are named 'proj'"):
        install(Host(tmp_path / "root"), args)


def test_dotted_names_must_be_identifiers_all_the_way() -> None:
    assert is_module_name("proj.sub.mod")
    for bad in ["", "proj.", ".proj", "proj..x", "proj.a/../b", "proj.a-b", "proj. x", "1x"]:
        assert not is_module_name(bad), bad


def test_default_excludes_leave_out_environments_builds_and_dot_folders() -> None:
    rules = SourceRules()
    for parts in [[".venv", "x.py"], ["venv", "x.py"], ["node_modules", "x.py"],
                  ["__pycache__", "x.py"], ["build", "x.py"], ["dist", "x.py"],
                  [".git", "x.py"], ["sub", ".hidden", "x.py"]]:
        assert rules.excludes(parts), parts
    assert not rules.excludes(["sub", "build.py"])
    assert not SourceRules(default_excludes=False).excludes(["build", "x.py"])


def test_include_globs_limit_module_files_but_not_package_inits() -> None:
    rules = SourceRules(include=["api_*.py", "core/*"], exclude=["*_test.py"])
    assert rules.serves_module_file(["api_users.py"])
    assert rules.serves_module_file(["core", "deep", "x.py"])
    assert rules.serves_module_file(["other", "__init__.py"])
    assert not rules.serves_module_file(["other", "helpers.py"])
    assert not rules.serves_module_file(["api_users_test.py"])


def test_provider_follows_the_import_systems_precedence(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "proj", {
        "__init__.py": "", "both/__init__.py": "PKG = 1\n", "both.py": "MOD = 1\n",
        "modns.py": "MOD = 1\n", "modns/data.txt": "", "ns/leaf.py": "",
    })
    provider = ModuleSourceProvider([SourceRoot.of(root)])
    assert provider.find("proj.both")["kind"] == "package"
    assert provider.find("proj.modns")["kind"] == "module"
    assert provider.find("proj.ns")["kind"] == "namespace"
    assert provider.find("proj.ns.leaf")["kind"] == "module"
    assert provider.find("proj.nothing") == {"found": False, "name": "proj.nothing"}
    assert provider.find("other.root") == {"found": False, "name": "other.root"}


def test_answer_without_source_when_the_worker_holds_the_same_hash(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "proj", {"__init__.py": "", "m.py": "X = 1\n"})
    provider = ModuleSourceProvider([SourceRoot.of(root)])
    full = provider.find("proj.m")
    assert full["hash"] == content_hash(b"X = 1\n") and full["source"] == "X = 1\n"
    short = provider.find("proj.m", known_hash=full["hash"])
    assert short["unchanged"] is True and "source" not in short
    assert "source" in provider.find("proj.m", known_hash="0" * 32)


def test_source_with_a_coding_cookie_is_decoded_as_python_would(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "proj", {"__init__.py": ""})
    (root / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nNAME = '\xe9t\xe9'\n")
    answer = ModuleSourceProvider([SourceRoot.of(root)]).find("proj.latin")
    assert "NAME = 'été'" in answer["source"]


def test_index_lists_every_servable_module_and_changes_with_the_files(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "proj", {
        "__init__.py": "", "a.py": "", "sub/__init__.py": "", "sub/b.py": "", "ns/c.py": "",
        "build/d.py": "", ".git/e.py": "", "not-a-name.py": "",
    })
    (tmp_path / "outside.py").write_text("")
    (root / "escape.py").symlink_to(tmp_path / "outside.py")
    (root / "loop").symlink_to(root)
    provider = ModuleSourceProvider([SourceRoot.of(root)])
    index = provider.index()
    # A symlink that stays inside the root is served; a loop is listed once, not walked again.
    assert sorted(index["modules"]) == ["proj", "proj.a", "proj.loop", "proj.ns", "proj.ns.c",
                                        "proj.sub", "proj.sub.b"]
    assert index["roots"] == {"proj": {"folder": str(root)}}
    assert index["modules"]["proj.sub"]["locations"] == [str(root / "sub")]
    generation = index["generation"]
    assert provider.rescan() is False
    (root / "a.py").write_text("CHANGED = 1\n")
    assert provider.rescan() is True
    assert provider.index()["generation"] == generation + 1
    assert provider.index()["modules"]["proj.a"]["hash"] == content_hash(b"CHANGED = 1\n")


def test_a_refused_name_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_tree(tmp_path / "proj", {"__init__.py": ""})
    provider = ModuleSourceProvider([SourceRoot.of(root)])
    with caplog.at_level("WARNING", logger="filebridge.host.imports"):
        for _ in range(3):
            assert provider.find("proj.a/../../etc")["found"] is False
    assert [r.getMessage() for r in caplog.records] == [
        "not serving module 'proj.a/../../etc': not a dotted name of identifiers"]


def test_import_timeout_comes_from_the_argument_then_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from filebridge.worker.imports import DEFAULT_IMPORT_TIMEOUT, import_timeout

    monkeypatch.setenv("FILEBRIDGE_IMPORT_TIMEOUT", "2.5")
    assert import_timeout(7) == 7.0
    assert import_timeout() == 2.5
    monkeypatch.setenv("FILEBRIDGE_IMPORT_TIMEOUT", "soon")
    assert import_timeout() == DEFAULT_IMPORT_TIMEOUT
    with pytest.raises(ValueError, match="positive"):
        import_timeout(0)

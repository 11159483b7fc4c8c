"""``filebridge editor-config``: settings that let Pylance find what the worker imports."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from filebridge.cli import editor_config
from filebridge.cli.jsonc import JsoncObject, blank_comments
from filebridge.cli.output import CommandFailed


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    editor_config.register(parser.add_subparsers())
    args = parser.parse_args(["editor-config", *argv, "--json"])
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def package(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "__init__.py").write_text("")
    return path


def test_a_root_inside_the_workspace_under_its_own_name_needs_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "ws"
    package(workspace / "proj")
    package(workspace / "src" / "lib")
    settings = workspace / ".vscode" / "settings.json"
    got = run(["--source", str(workspace / "proj"), "--source", str(workspace / "src" / "lib"),
               "--settings", str(settings)], capsys)
    assert got["already_resolvable"] == ["proj", "lib"]
    assert got["extra_paths"] == [] and got["written"] is False
    assert not settings.exists()


def test_a_root_elsewhere_adds_its_parent_and_keeps_comments_and_other_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "ws"
    package(tmp_path / "shared" / "proj")
    settings = workspace / ".vscode" / "settings.json"
    settings.parent.mkdir(parents=True)
    original = ('{\n    // the user\'s own comment\n    "editor.fontSize": 14,\n'
                '    "python.analysis.extraPaths": ["vendor"], /* kept */\n}\n')
    settings.write_text(original)
    got = run(["--source", str(tmp_path / "shared" / "proj"), "--settings", str(settings)],
              capsys)
    assert got["added"] == [str(tmp_path / "shared")]
    text = settings.read_text()
    assert "// the user's own comment" in text and "/* kept */" in text
    data = json.loads(blank_comments(text))
    assert data == {"editor.fontSize": 14,
                    "python.analysis.extraPaths": ["vendor", str(tmp_path / "shared")]}
    again = run(["--source", str(tmp_path / "shared" / "proj"), "--settings", str(settings)],
                capsys)
    assert again["added"] == [] and again["written"] is False


def test_a_root_served_under_another_name_gets_a_link_named_like_the_import(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "ws"
    source = package(tmp_path / "checkout" / "proj-v2")
    config = workspace / "pyrightconfig.json"
    workspace.mkdir()
    got = run(["--source", f"{source}=proj", "--settings", str(config)], capsys)
    link = workspace / ".filebridge-paths" / "proj"
    assert got["key"] == "extraPaths"
    assert json.loads(config.read_text()) == {"extraPaths": [".filebridge-paths"]}
    assert link.is_symlink() and link.resolve() == source.resolve()
    assert (link / "__init__.py").is_file()


def test_print_shows_the_setting_and_writes_nothing(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    package(tmp_path / "elsewhere" / "proj")
    settings = tmp_path / "ws" / ".vscode" / "settings.json"
    parser = argparse.ArgumentParser()
    editor_config.register(parser.add_subparsers())
    args = parser.parse_args(["editor-config", "--source", str(tmp_path / "elsewhere" / "proj"),
                              "--settings", str(settings), "--print"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == {
        "python.analysis.extraPaths": [str(tmp_path / "elsewhere")]}
    assert not settings.exists()


def test_a_setting_that_is_not_a_list_is_reported_not_overwritten(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package(tmp_path / "elsewhere" / "proj")
    settings = tmp_path / "ws" / ".vscode" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"python.analysis.extraPaths": "oops"}')
    with pytest.raises(CommandFailed, match="not a list of paths"):
        run(["--source", str(tmp_path / "elsewhere" / "proj"), "--settings", str(settings)],
            capsys)
    assert settings.read_text() == '{"python.analysis.extraPaths": "oops"}'


def test_jsonc_set_inserts_into_an_empty_or_commented_object() -> None:
    assert json.loads(JsoncObject("").set("k", [1])) == {"k": [1]}
    text = JsoncObject('{ // c\n  "a": 1,\n}').set("k", ["x"])
    assert "// c" in text
    assert json.loads(blank_comments(text)) == {"k": ["x"], "a": 1}
    url = '{"u": "http://x//y", "v": [1,]}'
    assert json.loads(blank_comments(url)) == {"u": "http://x//y", "v": [1]}


def test_a_root_with_excluded_modules_gets_links_to_exactly_the_served_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "ws"
    source = package(tmp_path / "shared" / "proj")
    (source / "core.py").write_text("")
    (source / "secret_keys.py").write_text("")
    package(source / "sub")
    (source / "sub" / "leaf.py").write_text("")
    (source / "dist").mkdir()
    (source / "dist" / "out.py").write_text("")
    settings = workspace / ".vscode" / "settings.json"
    got = run(["--source", str(source), "--exclude", "secret_*", "--settings", str(settings)],
              capsys)
    mirror = workspace / ".filebridge-paths" / "proj"
    assert got["extra_paths"] == [".filebridge-paths"]
    assert got["mirrors"] == {str(mirror): ["__init__.py", "core.py", "sub/__init__.py",
                                            "sub/leaf.py"]}
    assert (mirror / "sub" / "leaf.py").resolve() == (source / "sub" / "leaf.py").resolve()
    assert not (mirror / "secret_keys.py").exists() and not (mirror / "dist").exists()
    # Run again after adding a module: the tree is made again, with the new file.
    (source / "added.py").write_text("")
    run(["--source", str(source), "--exclude", "secret_*", "--settings", str(settings)], capsys)
    assert (mirror / "added.py").is_symlink()


def test_a_single_file_root_is_linked_under_its_module_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "ws"
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "helpers.py").write_text("")
    (tools / "other.py").write_text("")
    got = run(["--source", f"{tools / 'helpers.py'}=h", "--settings",
               str(workspace / ".vscode" / "settings.json")], capsys)
    link = workspace / ".filebridge-paths" / "h.py"
    assert got["links"] == {str(link): str(tools / "helpers.py")}
    assert link.resolve() == (tools / "helpers.py").resolve()

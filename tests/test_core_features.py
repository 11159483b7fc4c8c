"""The feature registry: ``serve``, the CLI, the demo and the page collect every feature from it,
a feature another package declares with an entry point included, and what a feature installs
stops with the host."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import filebridge.features as registry
from filebridge.cli.main import build_parser
from filebridge.cli.serve import build_host, build_parser_for_serve
from filebridge.demo import demo_steps

EXTENSION = '''
import threading

from filebridge.features import Feature

started = []


class Ticker:
    def __init__(self, host, every):
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.stopped.wait, name="fbext-ticker",
                                       daemon=True)
        self.thread.start()
        host.register("fbext_every", lambda call: every, inline=True)
        started.append(self)

    def stop(self):
        self.stopped.set()
        self.thread.join(5)


def add_serve_arguments(parser):
    parser.add_argument("--fbext-every", type=float, default=1.0)


def register_command(subparsers):
    command = subparsers.add_parser("fbext", help="the extension's own command")
    command.set_defaults(func=lambda args: 0)


FEATURE = Feature(name="fbext", summary="a feature from another package",
                  install=lambda host, args: Ticker(host, args.fbext_every),
                  add_serve_arguments=add_serve_arguments, commands=(register_command,))
'''


@pytest.fixture
def extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package on sys.path whose distribution declares a feature entry point."""
    (tmp_path / "fbext.py").write_text(textwrap.dedent(EXTENSION))
    info = tmp_path / "fbext-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fbext\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{registry.ENTRY_POINT_GROUP}]\nfbext = fbext:FEATURE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", None)
    yield "fbext"
    sys.modules.pop("fbext", None)
    registry._loaded = None


def test_every_builtin_feature_loads_under_its_own_name() -> None:
    loaded = registry.features()
    names = [f.name for f in loaded]
    assert names[:len(registry.BUILTIN)] == ["imports", "viewers", "variables", "notebooks", "r",
                                             "vscode-r", "recording"]
    assert len(set(names)) == len(names)
    steps = [step.title for step in demo_steps()]
    assert steps[0].startswith("core:")
    assert steps[1:] == [f.demo.title for f in loaded if f.demo is not None]
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"vars", "views", "table", "notebook", "record", "replay", "serve"} <= commands


def test_a_feature_from_another_package_is_served_commanded_and_stopped_with_the_host(
        extension: str, tmp_path: Path) -> None:
    assert extension in [f.name for f in registry.features()]
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert extension in commands
    args = build_parser_for_serve().parse_args(["--root", str(tmp_path / "root"),
                                                "--fbext-every", "2.5"])
    host = build_host(args)
    spec = host.handler_spec("fbext_every")
    assert spec is not None and spec.func(None) == 2.5  # type: ignore[arg-type]
    ticker = sys.modules["fbext"].started[-1]
    assert ticker.thread.is_alive()
    host.start()
    host.stop()
    assert not ticker.thread.is_alive()


def test_a_broken_feature_is_left_out_with_a_reason_and_the_rest_still_load(
        extension: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "fbext.py").write_text("raise ImportError('fbext needs a library it lacks')\n")
    names = [f.name for f in registry.features()]
    assert extension not in names and "imports" in names
    assert "fbext:FEATURE could not be loaded" in caplog.text
    assert "fbext needs a library it lacks" in caplog.text

"""The command line end to end, as a shell script or an integration test would use it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from core_support import python_env, wait_until

from filebridge.cli.main import COMMANDS, build_parser, main

FILEBRIDGE = [sys.executable, "-m", "filebridge"]


def fb(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*FILEBRIDGE, *args], capture_output=True, text=True,
                          timeout=timeout, env=python_env())
    if check:
        assert done.returncode == 0, f"filebridge {' '.join(args)} failed: {done.stderr}"
    return done


@pytest.fixture()
def served(tmp_path: Path):
    root = tmp_path / "root"
    server = subprocess.Popen([*FILEBRIDGE, "serve", "--root", str(root)], env=python_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: (root / "host.json").exists(), "the host to take the root")
    yield root, server
    server.terminate()
    server.wait(timeout=20)


def _subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "subcommand"]
    return sorted(actions[0].choices)  # type: ignore[arg-type]


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(COMMANDS) >= 8
    assert "usage: filebridge" in fb("--help").stdout
    # In this process: a process each would mostly wait for its imports.
    for name in _subcommands():
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0, name
        assert capsys.readouterr().out.startswith(f"usage: filebridge {name}"), name


def test_a_worker_with_nothing_installed_is_served(served, tmp_path: Path) -> None:
    root, _server = served
    created = json.loads(fb("new-session", "--root", str(root), "--id", "plain", "--json").stdout)
    snippet = fb("template", "python", "--session", created["folder"]).stdout.strip()
    # -S: no site-packages, so only the bootstrap copy in the session folder can be imported.
    worker = subprocess.Popen(
        [sys.executable, "-S", "-c", snippet + "\nimport sys; print('up', flush=True); "
         "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=python_env())
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "up", \
            worker.stderr.read() if worker.stderr else ""
        answer = json.loads(fb("send", "echo", "text=hi", "n=3", "--root", str(root),
                               "--session", "plain", "--wait", "--json").stdout)
        assert answer["ok"] is True and answer["result"] == {"text": "hi", "n": 3}
        wait_until(lambda: any(s["id"] == "plain" and s["status"] == "alive" for s in
                               json.loads(fb("sessions", "--root", str(root), "--json").stdout)),
                   "the session to be listed alive")
        failed = fb("send", "no_such", "--root", str(root), "--session", "plain", "--wait",
                    check=False)
        assert failed.returncode == 5  # an error answer, not argparse's usage error
        assert failed.stderr.strip().count("\n") == 0
        assert failed.stderr.startswith("filebridge send: ")
        assert "no handler for 'no_such'" in failed.stderr
    finally:
        worker.stdin.close()  # type: ignore[union-attr]
        worker.wait(timeout=20)
    wait_until(lambda: any(s["id"] == "plain" and s["status"] == "detached" for s in
                           json.loads(fb("sessions", "--root", str(root), "--json").stdout)),
               "the worker's exit to detach it")
    pruned = json.loads(fb("prune", "--root", str(root), "--json").stdout)
    assert pruned["removed"] == ["plain"] and not (root / "sessions" / "plain").exists()


def test_a_second_serve_says_who_holds_the_root(served) -> None:
    root, server = served
    second = fb("serve", "--root", str(root), check=False)
    assert second.returncode == 3
    assert f"already served by pid {server.pid}" in second.stderr
    assert second.stderr.strip().count("\n") == 0


def test_send_without_a_host_times_out_with_exit_4(tmp_path: Path) -> None:
    root = tmp_path / "root"
    fb("new-session", "--root", str(root), "--id", "alone")
    (root / "sessions" / "alone" / "request.lock").write_bytes(b"0" * 20)
    done = fb("send", "echo", "--root", str(root), "--session", "alone", "--wait",
              "--timeout", "0.5", check=False)
    assert done.returncode == 4 and "no answer to 'echo' within 0.5 s" in done.stderr


def test_everyday_mistakes_end_with_one_line_naming_the_command(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cases = [
        (["serve", "--root", str(blocker / "root")], 6),
        (["sessions", "--root", str(tmp_path / "missing")], 1),
        (["prune", "--root", str(tmp_path / "missing")], 1),
        (["template", "python", "--session", str(tmp_path / "typo")], 1),
        (["send", "echo", "--root", str(tmp_path / "missing"), "--session", "x"], 1),
    ]
    for argv, code in cases:
        done = fb(*argv, check=False)
        assert done.returncode == code, (argv, done.stderr)
        assert done.stderr.startswith(f"filebridge {argv[0]}: "), (argv, done.stderr)
        assert done.stderr.strip().count("\n") == 0, (argv, done.stderr)
    assert not (tmp_path / "typo").exists(), "a mistyped session folder is not created"


def test_failures_are_one_line_with_a_non_zero_exit(tmp_path: Path) -> None:
    for args in (["template", "cobol", "--session", str(tmp_path)],
                 ["send", "echo", "--root", str(tmp_path), "--session", "missing"],
                 ["serve", "--root", str(tmp_path), "--map", "nonsense"],
                 ["bench", "nothing_like_this"]):
        done = fb(*args, check=False)
        assert done.returncode != 0, args
        assert done.stderr.startswith("filebridge ") and done.stderr.count("\n") == 1, args


def _python39() -> str:
    candidates = [shutil.which("python3.9") or "",
                  *map(str, sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return ""


PYTHON39 = _python39()


@pytest.mark.skipif(not PYTHON39, reason="no Python 3.9 on this machine")
def test_the_bootstrap_runs_on_python_3_9_without_site_packages(served) -> None:
    root, _server = served
    created = json.loads(fb("new-session", "--root", str(root), "--json").stdout)
    snippet = fb("template", "python", "--session", created["folder"]).stdout.strip()
    done = subprocess.run([PYTHON39, "-S", "-c", snippet + "\nprint(fb.call('echo', v=39))"],
                          capture_output=True, text=True, timeout=60, env=python_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'v': 39}"


def test_a_wheel_carries_the_session_templates(tmp_path: Path) -> None:
    checkout = Path(__file__).resolve().parents[1]
    # Built from a copy: setuptools writes its build folders into the tree it builds, where
    # another test run's build (another Python's suite beside this one) may be writing too.
    tree = tmp_path / "tree"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(checkout / name, tree / name)
    for name in ("filebridge", "session_templates"):
        shutil.copytree(checkout / name, tree / name, symlinks=True, ignore=skip)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "dist"), str(tree)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("filebridge-*.whl")
    installed = tmp_path / "installed"
    shutil.unpack_archive(wheel, installed, format="zip")
    env = {**python_env(), "PYTHONPATH": str(installed)}
    (tmp_path / "s").mkdir()
    done = subprocess.run(
        [*FILEBRIDGE, "template", "r", "--session", str(tmp_path / "s")], cwd=tmp_path,
        capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "filebridge_connect(" in done.stdout
    assert (tmp_path / "s" / "bootstrap" / "filebridge.R").read_bytes() == (
        checkout / "session_templates" / "r" / "filebridge.R").read_bytes()
    where = subprocess.run([sys.executable, "-c", "import filebridge; print(filebridge.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, check=True)
    assert Path(where.stdout.strip()).is_relative_to(installed)

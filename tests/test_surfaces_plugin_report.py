"""The plugin as another project sees it: loaded by name, a failing test's report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import filebridge

CHECKOUT = Path(filebridge.__file__).resolve().parents[1]

FAILING = '''
def test_waits_for_what_never_comes(fb_python_worker):
    fb_python_worker.run("fb.send('plot', file='/tmp/p.png')")
    fb_python_worker.log.wait_for_request("plot")
    fb_python_worker.log.wait_for_request("dataview", timeout=0.2)
'''


def test_a_failing_test_reports_the_sessions_request_log(tmp_path: Path) -> None:
    (tmp_path / "test_users.py").write_text(FAILING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "filebridge.testing.pytest_plugin",
                           "-q", "-p", "no:cacheprovider", "test_users.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "1 failed" in out
    assert re.search(r"-+ filebridge session python\d+ -+", out), out
    assert re.search(r"\+ *\d+\.\d+s plot\(file='/tmp/p.png'\)", out), out
    assert "waited 0.2 s for request 'dataview'" in out


def test_the_guide_shows_the_worked_example_word_for_word() -> None:
    guide = (CHECKOUT / "docs" / "testing.md").read_text()
    example = (CHECKOUT / "tests" / "test_surfaces_example.py").read_text()
    body = example.split('"""', 2)[2].lstrip("\n")
    assert f"```python\n{body}```" in guide

"""The commands the empty page suggests work as shown: each is run here, and the lines they
print connect a real Python worker and a real R session."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from viewers_support import REPO, api, running_host, wait_for


def _run(command: str) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command)
    assert words[0] == "filebridge"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                                     os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "filebridge", *words[1:]], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_empty_page_suggests_commands_that_start_workers(tmp_path: Path) -> None:
    root = tmp_path / "a root with spaces"
    with running_host(root) as (host, viewers):
        state = api(viewers, "api/state")
        assert state["sessions"] == []
        commands = [c["command"] for c in state["start_commands"]]
        assert commands and all(c.startswith("filebridge ") for c in commands)

        made = _run(commands[0])
        assert made.returncode == 0, made.stderr
        python_line = made.stdout.strip().splitlines()[-1]
        worker = subprocess.run([sys.executable, "-c", python_line + "\nfb.call('echo', x=1)"],
                                capture_output=True, text=True, timeout=120)
        assert worker.returncode == 0, worker.stderr
        wait_for(lambda: [s for s in host.sessions() if s.id == "mywork"],
                 what="the suggested session served")

        r_line = _run(commands[1])
        assert r_line.returncode == 0, r_line.stderr
        rscript = shutil.which("Rscript")
        if rscript is not None:
            connected = subprocess.run([rscript, "--vanilla", "-e", r_line.stdout.strip()],
                                       capture_output=True, text=True, timeout=120)
            assert connected.returncode == 0, connected.stderr

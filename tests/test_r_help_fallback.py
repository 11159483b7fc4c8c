"""R help without help_pages.R beside the worker (an old bootstrap copy): still styled."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from r_support import R_WORKER, Recorder, needs_r, r_string

from filebridge.host import Host

pytestmark = needs_r


def test_help_page_rendered_without_the_help_site_links_r_css_beside_it(
        host: Host, recorder: Recorder, tmp_path: Path) -> None:
    recorder.record("help", {"shown": True})
    alone = tmp_path / "worker"
    alone.mkdir()
    shutil.copy(R_WORKER, alone / "filebridge.R")  # no help_pages.R: the page-only path
    session = host.root.sessions / "rfallback"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["FILEBRIDGE_SESSION"] = str(session)
    script = (f"source({r_string(alone / 'filebridge.R')})\nfilebridge_connect()\n"
              'print(help("median", package = "stats"))\n')
    done = subprocess.run(["Rscript", "--vanilla", "-e", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    recorder.wait_for(lambda: len(recorder.received("help")) == 1, timeout=60)
    page = Path(recorder.received("help")[0].args["file"])
    assert 'href="R.css"' in page.read_text()
    style = (page.parent / "R.css").read_text()
    assert "h2" in style and "color" in style  # R's own style sheet, beside the page

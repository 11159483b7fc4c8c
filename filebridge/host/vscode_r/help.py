"""Help pages for legacy vscode-R sessions, rendered by R on the adapter's machine.

Legacy R asks for a path on R's dynamic help server (``/library/stats/html/lm.html``,
``/doc/html/Search?pattern=...``), which the extension fetched from a help server of its own.
The adapter runs where R runs (it reads R's temporary folder), so it renders the page to files
with ``session_templates/r/help_pages.R``: the page, the pages it links to, and R's style sheet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Optional

from filebridge.cli.paths import session_templates_dir
from filebridge.errors import RemoteError

__all__ = ["RENDER_TIMEOUT", "render_help"]

RENDER_TIMEOUT = 60.0


def render_help(request_path: str, out_dir: Path, *,
                rscript: Optional[str] = None) -> dict[str, Any]:
    """Render ``request_path`` under ``out_dir``; returns page (relative), title, topic, package.

    Returns once the page itself is written; R goes on rendering the pages it links to.
    """
    program = rscript or shutil.which("Rscript")
    if program is None:
        raise RemoteError("not_available", "rendering R help needs Rscript on the host's machine")
    script = session_templates_dir() / "r" / "help_pages.R"
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    process = subprocess.Popen([program, "--vanilla", str(script), request_path, str(out_dir)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    timer = threading.Timer(RENDER_TIMEOUT, process.kill)
    timer.daemon = True
    timer.start()
    try:
        line = process.stdout.readline()
    finally:
        threading.Thread(target=_finish, args=(process, timer), daemon=True).start()
    try:
        answer = json.loads(line)
    except ValueError:
        raise RemoteError("handler_error", f"R could not render help {request_path!r}") from None
    if not isinstance(answer, dict) or "error" in answer:
        message = answer.get("error") if isinstance(answer, dict) else answer
        raise RemoteError("not_found", f"R help {request_path!r}: {message}")
    return answer


def _finish(process: subprocess.Popen[bytes], timer: threading.Timer) -> None:
    try:
        assert process.stdout is not None
        process.stdout.read()
        process.wait()
    finally:
        timer.cancel()

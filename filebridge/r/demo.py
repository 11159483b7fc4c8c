"""The R step of `filebridge demo`: a real Rscript worker on the same wire as Python's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Optional, Protocol

from filebridge.cli.paths import find_session_templates
from filebridge.host import Host, HostEvent

__all__ = ["INSTALL_HINT", "demo_step", "r_worker_script"]

INSTALL_HINT = ("install R and jsonlite to see it: apt-get install -y r-base-core "
                "r-cran-jsonlite (Debian/Ubuntu), brew install r (macOS), then "
                "install.packages(\"jsonlite\") in R")

DEMO_R = r'''
filebridge_connect()
echoed <- filebridge_call("echo", greeting = "hello from R", n = 42L)
cat("echo answered:", echoed$greeting, echoed$n, "\n")
measurements <- data.frame(
  reading = c(1.5, NA, Inf, -3),
  level = factor(c("low", "high", NA, "low")),
  day = as.Date("2026-01-01") + 0:3)
View(measurements)
plot(cumsum(c(0, rnorm(99))), type = "l", main = "a random walk")
nested <- list(name = "demo", values = 1:5)
r <- tryCatch(filebridge_call("no_such_command"), error = function(e) conditionMessage(e))
cat("error answer:", r, "\n")
filebridge_publish_variables()  # no viewer watches a script: its snapshot is written when asked
'''


class DemoContext(Protocol):
    host: Host
    root: Path
    workdir: Path

    def say(self, text: str) -> None: ...


def r_worker_script() -> Path:
    """session_templates/r/filebridge.R, from a checkout or from the installed package."""
    templates = find_session_templates()
    if templates is None or not (templates / "r" / "filebridge.R").is_file():
        raise FileNotFoundError("the R worker (session_templates/r/filebridge.R) is not installed")
    return templates / "r" / "filebridge.R"


def demo_step(ctx: DemoContext) -> None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        ctx.say(f"R: skipped, Rscript is not on PATH; {INSTALL_HINT}")
        return
    session = ctx.root / "sessions" / "demo-r"
    seen: list[str] = []
    lock = threading.Lock()

    def on_event(event: HostEvent) -> None:
        if event.session_id == session.name and event.kind == "request" and event.request:
            with lock:
                seen.append(event.request.command)

    ctx.host.subscribe(on_event)
    ctx.say("R: starting an Rscript worker with session_templates/r/filebridge.R")
    script = f"source({json.dumps(str(r_worker_script()))})\n{DEMO_R}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["FILEBRIDGE_SESSION"] = str(session)
    done = subprocess.run([rscript, "--vanilla", "-e", script], cwd=ctx.workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"the R worker failed: {done.stderr.strip()[-400:]}")
    for line in done.stdout.splitlines():
        ctx.say(f"R: {line}")
    wanted = ["attach", "echo", "dataview", "plot", "no_such_command", "detach"]
    if not _wait_for(lambda: all(c in seen for c in wanted), 15):
        raise RuntimeError(f"the host saw {seen} from the R worker, expected {wanted}")
    ctx.say(f"R: the host received {', '.join(dict.fromkeys(seen))}")
    snapshot = _read_json(session / "workspace.json")
    if snapshot:
        names = ", ".join(f"{v['display_name']} ({v['display_type']})"
                          for v in snapshot["variables"])
        ctx.say(f"R: variables pane: {names}")
    plot = session / "plot.png"
    if plot.exists():
        ctx.say(f"R: plot.png published ({plot.stat().st_size:,} bytes)")
    ctx.say(f"R: session is {ctx.host.session(session.name).status}")


def _wait_for(ready: Any, timeout: float) -> bool:
    event = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if ready():
            return True
        event.wait(0.05)
    return bool(ready())


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None

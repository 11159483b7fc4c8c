"""Real worker processes for tests: a Python interpreter, a Jupyter kernel, an R session.

Each one connects to a session folder when it starts and then runs code it is sent, in its own
language, so a test drives a worker the way a user at its prompt would::

    worker = PythonWorker(session_folder)
    worker.run("import filebridge.worker as fb; fb.send('webview', file='/tmp/x.html')")
    worker.stop()

``missing(kind)`` says why a kind cannot start here (None when it can).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Optional

import filebridge
from filebridge.errors import WorkerFailed
from filebridge.testing.session_log import SessionLog

__all__ = ["KINDS", "JupyterWorker", "PythonWorker", "RWorker", "Worker", "WorkerFailed",
           "missing", "start_worker"]

KINDS = ("python", "jupyter", "r")
PACKAGE_PARENT = Path(filebridge.__file__).resolve().parent.parent
START_TIMEOUT = 60.0


def worker_env(session: Path, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment of a worker process: this filebridge importable, one session chosen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["FILEBRIDGE_SESSION"] = str(session)
    env["FILEBRIDGE_ROOT"] = str(session.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_PARENT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def r_worker_script() -> Optional[Path]:
    from filebridge.cli.paths import find_session_templates

    templates = find_session_templates()
    script = templates / "r" / "filebridge.R" if templates else None
    return script if script is not None and script.is_file() else None


def missing(kind: str) -> Optional[str]:
    """Why a worker of ``kind`` cannot start on this machine, or None."""
    if kind == "python":
        return None
    if kind == "jupyter":
        for module in ("jupyter_client", "ipykernel"):
            try:
                __import__(module)
            except ImportError:
                return f"{module} is not installed (pip install {module})"
        return None
    if kind == "r":
        if shutil.which("Rscript") is None:
            return "Rscript not found (apt-get install r-base-core r-cran-jsonlite)"
        if r_worker_script() is None:
            return "the R worker (session_templates/r/filebridge.R) is not installed"
        return None
    return f"no worker kind {kind!r} (there are: {', '.join(KINDS)})"


class Worker:
    """A worker process connected to ``session``; ``run`` executes code in it."""

    kind = ""
    log: SessionLog  # set by whoever knows the host (the pytest plugin's worker factory)

    def __init__(self, session: Path) -> None:
        self.session = session
        self.started_in = 0.0  # seconds from spawn to connected and ready for code

    @property
    def session_id(self) -> str:
        return self.session.name

    def run(self, code: str, timeout: float = 60.0) -> str:
        """Run ``code`` in the worker; its printed output, or WorkerFailed with the error."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def pid(self) -> Optional[int]:
        raise NotImplementedError

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Runs in the Python worker: connect, say so, then run each JSON line of code from stdin,
# answering on the real stdout with one JSON line (the code's own prints go to a buffer).
_PY_LOOP = r"""
import contextlib, io, json, sys, traceback
import filebridge.worker as fb
fb.start() if sys.argv[1] == "start" else fb.connect()
reply = sys.stdout
reply.write(json.dumps({"ready": fb.current().session_id}) + "\n"); reply.flush()
scope = {"__name__": "__main__", "fb": fb}
for line in sys.stdin:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(json.loads(line), "<test>", "exec"), scope)
        answer = {"ok": True, "out": out.getvalue()}
    except BaseException:
        answer = {"ok": False, "out": out.getvalue(), "error": traceback.format_exc()}
    reply.write(json.dumps(answer) + "\n"); reply.flush()
"""

# The same loop in R: code arrives as a JSON string a line, answers leave as JSON lines.
_R_LOOP = r"""
source({script})
filebridge_connect({session})
cat(jsonlite::toJSON(list(ready = {session}), auto_unbox = TRUE), "\n", sep = "")
input <- file("stdin", "r")
repeat {{
  line <- readLines(input, n = 1)
  if (length(line) == 0) break
  code <- jsonlite::fromJSON(line)
  error <- NULL
  out <- utils::capture.output(tryCatch(eval(parse(text = code), envir = globalenv()),
                                        error = function(e) error <<- conditionMessage(e)))
  answer <- list(ok = is.null(error), out = paste(c(out, ""), collapse = "\n"))
  if (!is.null(error)) answer$error <- error
  cat(jsonlite::toJSON(answer, auto_unbox = TRUE), "\n", sep = "")
  flush(stdout())
}}
"""


def _r_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _LineWorker(Worker):
    """A subprocess that takes code as JSON lines on stdin and answers with JSON lines."""

    def __init__(self, session: Path, argv: list[str], env: dict[str, str]) -> None:
        super().__init__(session)
        began = time.perf_counter()
        session.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"filebridge-{self.kind}-worker-", suffix=".stderr")
        self._stderr_path = Path(name)
        self._stderr = os.fdopen(fd, "w+b")
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, env=env, text=True, bufsize=1)
        try:
            first = self._reply(START_TIMEOUT)
            if "ready" not in first:
                raise WorkerFailed(f"the {self.kind} worker did not start: {first}")
        except BaseException:
            self.stop()
            raise
        self.started_in = time.perf_counter() - began

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    def _reply(self, timeout: float) -> dict[str, Any]:
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise WorkerFailed(f"the {self.kind} worker gave no answer within {timeout:g} s"
                                   f"{self._stderr_tail()}")
        line = stdout.readline()
        if not line:
            self.process.wait(5)
            raise WorkerFailed(f"the {self.kind} worker exited ({self.process.returncode})"
                               f"{self._stderr_tail()}")
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError:
            raise WorkerFailed(f"the {self.kind} worker printed {line!r}") from None
        return answer

    def _stderr_tail(self) -> str:
        try:
            self._stderr.flush()
            text = self._stderr_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""
        return f"; its error output:\n{text}" if text.strip() else ""

    def run(self, code: str, timeout: float = 60.0) -> str:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        try:
            stdin.write(json.dumps(code) + "\n")
            stdin.flush()
        except (BrokenPipeError, ValueError):
            raise WorkerFailed(f"the {self.kind} worker is gone{self._stderr_tail()}") from None
        answer = self._reply(timeout)
        if not answer.get("ok"):
            raise WorkerFailed(f"{self.kind} worker: {answer.get('error')}")
        return str(answer.get("out", ""))

    def stop(self) -> None:
        """Close stdin (the worker detaches and exits), then kill it if it lingers."""
        if self._stderr.closed:
            return
        if self.process.poll() is None:
            try:
                if self.process.stdin:
                    self.process.stdin.close()
                self.process.wait(10)
            except (subprocess.TimeoutExpired, OSError):
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout:
            self.process.stdout.close()
        self._stderr.close()
        try:
            self._stderr_path.unlink()
        except OSError:
            pass


class PythonWorker(_LineWorker):
    """``python`` running ``filebridge.worker.connect()`` (or ``start()`` with ``features``)."""

    kind = "python"

    def __init__(self, session: Path, *, features: bool = False,
                 env: Optional[dict[str, str]] = None) -> None:
        argv = [sys.executable, "-u", "-c", _PY_LOOP, "start" if features else "connect"]
        super().__init__(session, argv, worker_env(session, env))


class RWorker(_LineWorker):
    """``Rscript`` sourcing the R worker and connecting with ``filebridge_connect``."""

    kind = "r"

    def __init__(self, session: Path, *, env: Optional[dict[str, str]] = None) -> None:
        why = missing("r")
        if why:
            raise WorkerFailed(why)
        script = r_worker_script()
        code = _R_LOOP.format(script=_r_string(str(script)), session=_r_string(str(session)))
        super().__init__(session, ["Rscript", "--vanilla", "-e", code], worker_env(session, env))


class JupyterWorker(Worker):
    """A real ipykernel started by jupyter_client, connected when its first cell runs."""

    kind = "jupyter"

    def __init__(self, session: Path, *, features: bool = False,
                 env: Optional[dict[str, str]] = None) -> None:
        super().__init__(session)
        why = missing("jupyter")
        if why:
            raise WorkerFailed(why)
        from jupyter_client.manager import KernelManager

        began = time.perf_counter()
        session.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=worker_env(session, env))
        self.client = self.manager.client()
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=START_TIMEOUT)
            self.run("import filebridge.worker as fb\n"
                     + ("fb.start()" if features else "fb.connect()"))
        except BaseException:
            self.stop()
            raise
        self.started_in = time.perf_counter() - began

    @property
    def pid(self) -> Optional[int]:
        provisioner = getattr(self.manager, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def run(self, code: str, timeout: float = 60.0) -> str:
        printed: list[str] = []
        errors: list[str] = []

        def output(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                printed.append(content.get("text", ""))
            elif kind == "error":
                errors.append("\n".join(content.get("traceback", [])))

        try:
            reply = self.client.execute_interactive(code, timeout=timeout, output_hook=output)
        except TimeoutError:
            raise WorkerFailed(f"the kernel did not finish within {timeout:g} s") from None
        if reply["content"]["status"] != "ok":
            raise WorkerFailed("jupyter worker: " + ("\n".join(errors) or str(reply["content"])))
        return "".join(printed)

    def stop(self) -> None:
        try:
            self.client.stop_channels()
        finally:
            if self.manager.has_kernel:
                self.manager.shutdown_kernel(now=True)


def start_worker(kind: str, session: Path, **options: Any) -> Worker:
    """A started worker of ``kind`` ("python", "jupyter" or "r") on ``session``."""
    why = missing(kind)
    if why:
        raise WorkerFailed(why)
    worker_class: type[Worker] = {"python": PythonWorker, "jupyter": JupyterWorker,
                                  "r": RWorker}[kind]
    return worker_class(session, **options)

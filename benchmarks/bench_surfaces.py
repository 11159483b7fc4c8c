"""The surfaces for test suites and editors: worker start-up per kind, notifications via stdio.

Start-up: the pytest plugin's worker of each kind (Python process, Jupyter kernel, R session),
from spawn to connected and ready for code, against the bare interpreter of that kind started in
the same run (``python -c pass``, a kernel with no filebridge, ``Rscript -e 0``).

Notifications: a worker sends requests as fast as it can to a ``serve --stdio`` process whose
editor subscribed to every finished request (``request/done``); the figure is notifications per
second read by the editor (target 1,000/s), and the host's own request rate beside the same run
with no topic subscribed (the baseline: the editor must not slow the host down).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

from benchmarks._stats import percentile, print_report

__all__ = ["main", "run"]
from filebridge.editor.framing import frame, read_message
from filebridge.host import Host
from filebridge.testing.workers import KINDS, missing, start_worker
from filebridge.wire.codec import dumps, loads
from filebridge.worker.connection import open_connection


def _bare_start(kind: str, folder: Path) -> float:
    began = time.perf_counter()
    if kind == "python":
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    elif kind == "r":
        subprocess.run(["Rscript", "--vanilla", "-e", "invisible(0)"], check=True)
    else:
        from jupyter_client.manager import KernelManager

        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(env={k: v for k, v in os.environ.items()})
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        elapsed = time.perf_counter() - began
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        return elapsed
    return time.perf_counter() - began


def startup(folder: Path, rounds: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    began = time.perf_counter()
    host = Host(folder / "root")
    host.start()
    result["host_start_ms"] = (time.perf_counter() - began) * 1000
    try:
        for kind in KINDS:
            if missing(kind):
                result[f"{kind}_skipped"] = missing(kind)
                continue
            worker_times, bare_times = [], []
            for n in range(rounds):
                bare_times.append(_bare_start(kind, folder))
                worker = start_worker(kind, host.root.sessions / f"{kind}{n}")
                worker_times.append(worker.started_in)
                worker.stop()
            worker_ms = percentile(worker_times, 0.5) * 1000
            bare_ms = percentile(bare_times, 0.5) * 1000
            result[f"{kind}_worker_ms"] = worker_ms
            result[f"{kind}_bare_ms"] = bare_ms
            result[f"{kind}_ratio"] = worker_ms / bare_ms
    finally:
        host.stop()
    return result


class _Editor:
    """The least an editor does: initialize, subscribe, count request/done notifications."""

    def __init__(self, root: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "filebridge", "serve", "--stdio", "--root", str(root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.done = 0
        self.last_at = 0.0
        self.answers: dict[int, Any] = {}
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            body = read_message(self.process.stdout, "lines")  # type: ignore[arg-type]
            if body is None:
                return
            message = loads(body)
            with self._changed:
                if message.get("method") == "request/done":
                    self.done += 1
                    self.last_at = time.perf_counter()
                elif "id" in message:
                    self.answers[message["id"]] = message
                self._changed.notify_all()

    def request(self, rid: int, method: str, params: Optional[dict[str, Any]] = None) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(frame(dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                              "params": params or {}}), "lines"))
        self.process.stdin.flush()
        with self._changed:
            while rid not in self.answers:
                self._changed.wait(1)
            return self.answers.pop(rid)

    def wait_done(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.done < count and time.monotonic() < deadline:
                self._changed.wait(0.1)

    def close(self) -> None:
        self.request(99, "shutdown")
        assert self.process.stdin is not None
        self.process.stdin.write(frame(dumps({"jsonrpc": "2.0", "method": "exit"}), "lines"))
        self.process.stdin.close()
        self.process.wait(30)


def notifications(folder: Path, count: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for subscribed in (False, True):
        root = folder / ("root-sub" if subscribed else "root-base")
        editor = _Editor(root)
        try:
            editor.request(1, "initialize")
            editor.request(2, "subscribe", {"topics": ["requests"] if subscribed else []})
            connection = open_connection(root / "sessions" / "bench")
            try:
                connection.call("echo", timeout=30)  # the host serves it: the clock starts
                seen = editor.done
                began = time.perf_counter()
                for n in range(count):
                    connection.send("echo", n=n)
                connection.call("echo", timeout=120)  # answered after every request before it
                host_seconds = time.perf_counter() - began
                if subscribed:
                    editor.wait_done(seen + count + 1, 120)
                    received = editor.done - seen
                    result["notifications_received"] = received
                    result["notifications_per_s"] = received / (editor.last_at - began)
                    result["host_requests_per_s_with_editor"] = (count + 1) / host_seconds
                else:
                    result["host_requests_per_s_baseline"] = (count + 1) / host_seconds
            finally:
                connection.close()
        finally:
            editor.close()
    result["host_rate_ratio"] = (result["host_requests_per_s_with_editor"]
                                 / result["host_requests_per_s_baseline"])
    return result


def run(full: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fb-bench-surfaces-") as tmp:
        folder = Path(tmp)
        result = startup(folder, 5 if full else 2)
        result.update(notifications(folder, 20_000 if full else 3_000))
    return result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench surfaces")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.full)
    rows = [(name, value) for name, value in result.items()]
    print_report("surfaces: worker start-up (median) and notifications through stdio", rows,
                 result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

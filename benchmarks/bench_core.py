"""The core channel against a Unix socket, measured in one run.

Round trips per waiting strategy, a 10,000-request burst from 4 processes, the host's idle CPU
per strategy, and round trips while 100 sessions are attached and 10 of them send.
Every peer is a separate Python process, as in real use.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from benchmarks._stats import percentile, print_report

HOST_CODE = """
import sys
from filebridge.host import Host
host = Host(sys.argv[1])
seen = []
host.register("bench_record", lambda call: seen.append(call.request.id), inline=True)
host.register("bench_count", lambda call: {"n": len(seen), "unique": len(set(seen))},
              inline=True)
print("ready", flush=True)
host.serve_forever()
"""

CALLER_CODE = """
import json, sys, time
import filebridge.worker as fb
fb.connect(sys.argv[1])
warm, count = int(sys.argv[2]), int(sys.argv[3])
for _ in range(warm):
    fb.call("echo", x=1, text="hello")
samples = []
for _ in range(count):
    t = time.perf_counter_ns()
    fb.call("echo", x=1, text="hello")
    samples.append((time.perf_counter_ns() - t) / 1000)
print(json.dumps(samples))
"""

LOOP_CALLER_CODE = """
import sys, time
import filebridge.worker as fb
fb.connect(sys.argv[1])
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    fb.call("echo", x=1)
"""

BURST_CODE = """
import sys, time
import filebridge.worker as fb
fb.connect(sys.argv[1])
start_at, count = float(sys.argv[2]), int(sys.argv[3])
while time.time() < start_at:
    time.sleep(0.001)
for i in range(count):
    fb.send("bench_record", i=i)
print(time.time())
"""

SOCKET_SERVER_CODE = """
import socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen()
print("ready", flush=True)
conn, _ = server.accept()
buffer = b""
while True:
    data = conn.recv(65536)
    if not data:
        break
    buffer += data
    while b"\\n" in buffer:
        line, buffer = buffer.split(b"\\n", 1)
        conn.sendall(line + b"\\n")
"""

PAIRED_CALLER_CODE = """
import json, socket, sys, time
import filebridge.worker as fb
# The socket and the file channel in alternating batches from one process, so that both see
# the same machine load.
fb.connect(sys.argv[1])
client = socket.socket(socket.AF_UNIX)
client.connect(sys.argv[2])
warm, count = int(sys.argv[3]), int(sys.argv[4])
message = json.dumps({"v": 1, "id": "0" * 32, "command": "echo",
                      "args": {"x": 1, "text": "hello"}}).encode() + b"\\n"
def socket_round_trip():
    client.sendall(message)
    got = b""
    while not got.endswith(b"\\n"):
        got += client.recv(65536)
def file_round_trip():
    fb.call("echo", x=1, text="hello")
samples = {"socket": [], "file": []}
for _ in range(warm):
    socket_round_trip()
    file_round_trip()
for batch in range(count // 100):
    for name, trip in (("socket", socket_round_trip), ("file", file_round_trip)):
        for _ in range(100):
            t = time.perf_counter_ns()
            trip()
            samples[name].append((time.perf_counter_ns() - t) / 1000)
print(json.dumps(samples))
"""

IDLE_SESSIONS_CODE = """
import sys, time
from pathlib import Path
from filebridge.wire.answers import AnswerLog
from filebridge.wire.channel import Channel
from filebridge.wire.files import Doorbell
from filebridge.wire.layout import SessionLayout
from filebridge.worker.session_files import prepare_session, python_identity
# Attached sessions that only beat, as idle workers do; written with the wire primitives so
# that 90 of them cost one process.
beats = []
for i in range(int(sys.argv[2])):
    layout = SessionLayout(Path(sys.argv[1]) / f"idle{i:03d}")
    prepare_session(layout, python_identity())
    channel = Channel(layout.request_log, layout.request_lock,
                      AnswerLog(layout.response_log, layout.response_lock), "polling")
    channel.post("attach", {"language": "python"})
    beats.append(Doorbell(layout.heartbeat))
print("ready", flush=True)
n = 0
while True:
    n += 1
    for bell in beats:
        bell.ring(n)
    time.sleep(2)
"""


def _python(code: str, *args: str, env: Optional[dict[str, str]] = None,
            wait_ready: bool = False) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                               stdout=subprocess.PIPE, text=True, env=env)
    if wait_ready:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            process.kill()
            raise RuntimeError(f"helper process failed to start: {line!r}")
    return process


def _env(strategy: str) -> dict[str, str]:
    return {**os.environ, "FILEBRIDGE_WAIT": strategy}


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, _ = process.communicate(timeout=timeout)
    if process.returncode:
        raise RuntimeError(f"benchmark process exited with {process.returncode}")
    return out


@contextmanager
def _host(root: Path, strategy: str) -> Iterator[subprocess.Popen[str]]:
    process = _python(HOST_CODE, str(root), env=_env(strategy), wait_ready=True)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(samples: list[float]) -> dict[str, float]:
    p50 = percentile(samples, 0.5)
    return {"p50_us": p50, "p99_us": percentile(samples, 0.99),
            "per_second": len(samples) / (sum(samples) / 1e6)}


def round_trips(work: Path, strategy: str, count: int) -> dict[str, float]:
    root = work / f"rt-{strategy}"
    with _host(root, strategy):
        caller = _python(CALLER_CODE, str(root / "sessions" / "caller"), str(count // 10),
                         str(count), env=_env(strategy))
        return _summary(json.loads(_finish(caller)))


def paired_round_trips(work: Path, count: int) -> tuple[dict[str, float], dict[str, float]]:
    """The inotify file channel and a Unix socket, interleaved: (file, socket)."""
    root = work / "paired"
    path = str(work / "echo.sock")
    server = _python(SOCKET_SERVER_CODE, path, wait_ready=True)
    try:
        with _host(root, "inotify"):
            caller = _python(PAIRED_CALLER_CODE, str(root / "sessions" / "caller"), path,
                             str(count // 10), str(count), env=_env("inotify"))
            samples = json.loads(_finish(caller))
    finally:
        server.kill()
        server.wait()
    return _summary(samples["file"]), _summary(samples["socket"])


def burst(work: Path, total: int = 10_000, writers: int = 4) -> dict[str, Any]:
    root = work / "burst"
    with _host(root, "inotify"):
        start_at = time.time() + 1.5
        procs = [_python(BURST_CODE, str(root / "sessions" / "burst"), str(start_at),
                         str(total // writers)) for _ in range(writers)]
        last_write = max(float(_finish(p)) for p in procs)
        from filebridge.worker.connection import open_connection

        counter = open_connection(root / "sessions" / "counter")
        try:
            deadline = time.monotonic() + 60
            while True:
                counts = counter.call("bench_count", timeout=30)
                if counts["n"] >= total or time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            drained = time.time()
        finally:
            counter.close(detach=False)
    return {"burst_sent": total, "burst_lost": total - counts["unique"],
            "burst_duplicated": counts["n"] - counts["unique"],
            "burst_drain_ms": max(0.0, (drained - last_write) * 1000)}


def idle_cpu(work: Path, seconds: float) -> dict[str, float]:
    """Each strategy's host, all idle at once beside one attached, beating session."""
    result = {}
    hosts = {}
    workers = []
    try:
        for strategy in ("inotify", "polling", "native"):
            root = work / f"idle-{strategy}"
            hosts[strategy] = _python(HOST_CODE, str(root), env=_env(strategy), wait_ready=True)
            workers.append(_python(IDLE_SESSIONS_CODE, str(root / "sessions"), "1",
                                   wait_ready=True))
        time.sleep(1.0)
        before = {s: _cpu_seconds(p.pid) for s, p in hosts.items()}
        time.sleep(seconds)
        for strategy, process in hosts.items():
            used = _cpu_seconds(process.pid) - before[strategy]
            result[f"idle_cpu_{strategy}_percent"] = 100 * used / seconds
    finally:
        for process in [*hosts.values(), *workers]:
            process.kill()
            process.wait()
    return result


def many_sessions(work: Path, count: int) -> dict[str, float]:
    root = work / "many"
    with _host(root, "inotify"):
        idle = _python(IDLE_SESSIONS_CODE, str(root / "sessions"), "90", wait_ready=True)
        senders = [_python(LOOP_CALLER_CODE, str(root / "sessions" / f"send{i}"), "30")
                   for i in range(9)]
        try:
            time.sleep(1.0)
            caller = _python(CALLER_CODE, str(root / "sessions" / "measured"), str(count // 10),
                             str(count), env=_env("inotify"))
            samples = json.loads(_finish(caller))
        finally:
            for process in [idle, *senders]:
                process.kill()
                process.wait()
    summary = _summary(samples)
    return {"many_sessions_p50_us": summary["p50_us"], "many_sessions_p99_us": summary["p99_us"]}


def run(full: bool = False) -> dict[str, Any]:
    scale = 3 if full else 1
    with tempfile.TemporaryDirectory(prefix="filebridge-bench-") as tmp:
        work = Path(tmp)
        inotify, sock = paired_round_trips(work, 3000 * scale)
        polling = round_trips(work, "polling", 1000 * scale)
        native = round_trips(work, "native", 200 * scale)
        result: dict[str, Any] = {
            "socket_p50_us": sock["p50_us"], "socket_p99_us": sock["p99_us"],
            "socket_per_second": sock["per_second"],
            "file_p50_us": inotify["p50_us"], "file_p99_us": inotify["p99_us"],
            "file_per_second": inotify["per_second"],
            "ratio_p50": inotify["p50_us"] / sock["p50_us"],
            "polling_p50_us": polling["p50_us"], "polling_p99_us": polling["p99_us"],
            "native_p50_us": native["p50_us"], "native_p99_us": native["p99_us"],
        }
        result.update(burst(work))
        result.update(idle_cpu(work, 10.0))
        result.update(many_sessions(work, 1000 * scale))
    return result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench core", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--full", action="store_true", help="three times the samples")
    args = parser.parse_args(argv)
    result = run(full=args.full)
    rows = [
        ("Unix socket round trip p50 / p99 (us)",
         f"{result['socket_p50_us']:.1f} / {result['socket_p99_us']:.1f}"),
        ("file channel, inotify p50 / p99 (us)",
         f"{result['file_p50_us']:.1f} / {result['file_p99_us']:.1f}"),
        ("  ratio to the socket (p50)", f"{result['ratio_p50']:.2f}x (target <= 3x)"),
        ("  round trips per second (file / socket)",
         f"{result['file_per_second']:.0f} / {result['socket_per_second']:.0f}"),
        ("file channel, polling p50 / p99 (us)",
         f"{result['polling_p50_us']:.1f} / {result['polling_p99_us']:.1f}"),
        ("file channel, watchfiles p50 / p99 (us)",
         f"{result['native_p50_us']:.1f} / {result['native_p99_us']:.1f}"),
        ("burst of 10,000 from 4 processes: lost / duplicated",
         f"{result['burst_lost']} / {result['burst_duplicated']}"),
        ("  drain after the last write (ms)", f"{result['burst_drain_ms']:.1f}"),
        ("host idle CPU % (inotify / polling / watchfiles)",
         f"{result['idle_cpu_inotify_percent']:.3f} / {result['idle_cpu_polling_percent']:.3f}"
         f" / {result['idle_cpu_native_percent']:.3f}"),
        ("100 sessions, 10 sending: p50 / p99 (us)",
         f"{result['many_sessions_p50_us']:.1f} / {result['many_sessions_p99_us']:.1f}"),
    ]
    print_report("filebridge core channel (same run, same machine)", rows, result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

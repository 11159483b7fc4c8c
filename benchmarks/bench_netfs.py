"""filebridge over a real sshfs mount with default options, against the mount's own round trip.

A private sshd on 127.0.0.1 and an sshfs mount of a fresh folder (filebridge.testing); then,
for each direction (host on the mount and workers on the real folder, or the other way round),
with every peer a separate process: call p50/p99/max and how many calls took over 100 ms, a
2,000-request burst from two processes (lost, duplicated, drain time), how long a new session
waits for its first answer, and for 100 idle sessions the host's CPU and the sftp-server's
read+write system calls per second (from /proc/PID/io syscr+syscw: about two per SFTP operation,
one read of the request and one write of the reply, plus one for an operation that reads or
writes file data; requests that arrive together may share a read). The baseline, measured in
the same run on the same mount: a fresh open + read + close of a small file through the mount,
once at the start and again around each direction's calls (half just before them, half just
after, no host running): a call's ratio is to the round trip of the same minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from benchmarks._stats import percentile, print_report
from filebridge.testing.loopback_mount import LoopbackSshd, SshfsMount, missing, scratch_dir

DIRECTIONS = ("host-on-mount", "worker-on-mount")

HOST_CODE = """
import sys
from filebridge.host import Host
host = Host(sys.argv[1])
seen = []
host.register("bench_record", lambda call: seen.append(call.request.id), inline=True)
host.register("bench_count", lambda call: {"n": len(seen), "unique": len(set(seen))},
              inline=True)
host.start()  # on a mount the lease settles first (2.5 s): sessions are timed from here
print("ready", flush=True)
host.join()
"""

# Timed calls until ``count`` are done or ``budget`` seconds have passed (a call stuck behind a
# stale cache takes about 21 s: the figures must still come back).
CALLER_CODE = """
import json, sys, time
import filebridge.worker as fb
from filebridge.errors import CallTimeout
start = time.perf_counter()
fb.connect(sys.argv[1])
fb.call("echo", timeout=60, first=True)
first = time.perf_counter() - start
count, budget = int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + budget
samples, failed = [], 0
while len(samples) < count and time.monotonic() < end:
    t = time.perf_counter_ns()
    try:
        fb.call("echo", timeout=30, x=1, text="hello")
    except CallTimeout:
        failed += 1
        continue
    samples.append((time.perf_counter_ns() - t) / 1e6)
# Where the caller paces its looks (on the mount): how many calls' first look missed.
looks = fb.current()._requests.first_looks()
print(json.dumps({"first_ms": first * 1000, "samples_ms": samples, "timeouts": failed,
                  "first_looks": looks}))
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

IDLE_SESSIONS_CODE = """
import sys, time
from pathlib import Path
from filebridge.wire.answers import AnswerLog
from filebridge.wire.channel import Channel
from filebridge.wire.files import Doorbell
from filebridge.wire.logs import AppendLog
from filebridge.wire.layout import SessionLayout
from filebridge.worker.session_files import prepare_session, python_identity
# Attached sessions that only beat every 2 s, as idle workers do, in one process; each is
# announced and rings the wake bell at its attach, as a worker's connection does.
beats = []
for i in range(int(sys.argv[2])):
    layout = SessionLayout(Path(sys.argv[1]) / f"idle{i:03d}")
    prepare_session(layout, python_identity())
    AppendLog(layout.root.started_log).append(layout.id.encode() + b"\\n")
    channel = Channel(layout.request_log, layout.request_lock,
                      AnswerLog(layout.response_log, layout.response_lock), "polling",
                      wake=(layout.root.wake_bell, layout.id))
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


def _python(code: str, *args: str, wait_ready: bool = False) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                               stdout=subprocess.PIPE, text=True,
                               env={k: v for k, v in os.environ.items()
                                    if not k.startswith("FILEBRIDGE_")})
    if wait_ready:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            process.kill()
            process.wait()
            raise RuntimeError(f"helper process failed to start: {line!r}")
    return process


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    if process.returncode:
        raise RuntimeError(f"benchmark process exited with {process.returncode}")
    return out


@contextmanager
def _host(root: Path) -> Iterator[subprocess.Popen[str]]:
    process = _python(HOST_CODE, str(root), wait_ready=True)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _io_syscalls(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("syscr", "syscw"):
                    total += int(value)
        except OSError:
            continue
    return total


def mount_round_trips(mounted: Path, real: Path, count: int) -> list[float]:
    """Fresh open + read + close through the mount of a small file the real side rewrites (ms)."""
    name = "round-trip.txt"
    samples = []
    for n in range(count):
        (real / name).write_text(f"{n:020d}")
        t = time.perf_counter_ns()
        with open(mounted / name, "rb") as f:
            f.read()
        samples.append((time.perf_counter_ns() - t) / 1e6)
    return samples


def calls(host_root: Path, worker_root: Path, count: int, budget: float) -> dict[str, Any]:
    with _host(host_root):
        caller = _python(CALLER_CODE, str(worker_root / "sessions" / "caller"), str(count),
                         str(budget))
        told = json.loads(_finish(caller, timeout=budget + 180))
    samples = told["samples_ms"]
    return {"call_p50_ms": percentile(samples, 0.5), "call_p99_ms": percentile(samples, 0.99),
            "call_max_ms": max(samples, default=float("nan")), "calls": len(samples),
            "calls_over_100ms": sum(s > 100 for s in samples),
            "call_timeouts": told["timeouts"], "first_call_ms": told["first_ms"],
            "first_looks_missed": None if told["first_looks"] is None else
            told["first_looks"][1] / max(1, told["first_looks"][0])}


def discovery(host_root: Path, worker_root: Path, sessions: int) -> dict[str, Any]:
    """How long a new session waits for its first answer, connect included, host running."""
    waits = []
    with _host(host_root):
        time.sleep(0.5)
        for n in range(sessions):
            caller = _python(CALLER_CODE, str(worker_root / "sessions" / f"new{n}"), "0", "0")
            waits.append(json.loads(_finish(caller))["first_ms"])
    return {"discovery_median_ms": percentile(waits, 0.5), "discovery_max_ms": max(waits)}


def burst(host_root: Path, worker_root: Path, total: int = 2000,
          writers: int = 2) -> dict[str, Any]:
    session = worker_root / "sessions" / "burst"
    with _host(host_root):
        start_at = time.time() + 1.5
        procs = [_python(BURST_CODE, str(session), str(start_at), str(total // writers))
                 for _ in range(writers)]
        last_write = max(float(_finish(p)) for p in procs)
        from filebridge.worker.connection import open_connection

        counter = open_connection(worker_root / "sessions" / "counter")
        try:
            deadline = time.monotonic() + 90
            while True:
                counts = counter.call("bench_count", timeout=60)
                if counts["n"] >= total or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            drained = time.time()
        finally:
            counter.close(detach=False)
    return {"burst_sent": total, "burst_lost": total - counts["unique"],
            "burst_duplicated": counts["n"] - counts["unique"],
            "burst_drain_ms": max(0.0, (drained - last_write) * 1000)}


def idle(host_root: Path, worker_root: Path, sshd: LoopbackSshd, sessions: int,
         seconds: float) -> dict[str, Any]:
    """The host's CPU and the sftp-server's system calls while ``sessions`` sessions only beat."""
    with _host(host_root) as host:
        beating = _python(IDLE_SESSIONS_CODE, str(worker_root / "sessions"), str(sessions),
                          wait_ready=True)
        try:
            time.sleep(5.0)  # the host finds them and their doorbells go quiet
            servers = sshd.sftp_servers()
            cpu, calls_before, start = _cpu_seconds(host.pid), _io_syscalls(servers), \
                time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - start
            used = _cpu_seconds(host.pid) - cpu
            syscalls = _io_syscalls(servers) - calls_before
        finally:
            beating.kill()
            beating.wait()
    try:
        seen = len(json.loads((worker_root / "host-sessions.json").read_bytes()))
    except (OSError, ValueError):
        seen = 0
    return {"idle_sessions": sessions, "idle_sessions_seen_by_host": seen,
            "idle_host_cpu_percent": 100 * used / elapsed,
            "idle_sftp_syscalls_per_second": syscalls / elapsed}


def run(full: bool = False) -> dict[str, Any]:
    reason = missing("sshfs")
    if reason:
        return {"skipped": f"no sshfs mount can be made here: {reason}"}
    scale = 3 if full else 1
    work = scratch_dir("filebridge-bench-netfs-")
    sshd = LoopbackSshd(work / "sshd")
    real, mountpoint = work / "real", work / "mnt"
    real.mkdir()
    mount = SshfsMount(sshd, real, mountpoint)
    result: dict[str, Any] = {"mount": "sshfs, default options, loopback sshd"}
    try:
        sshd.start()
        mount.mount()
        baseline = mount_round_trips(mountpoint, real, 300 * scale)
        result["mount_open_read_p50_ms"] = percentile(baseline, 0.5)
        result["mount_open_read_p99_ms"] = percentile(baseline, 0.99)
        for direction in DIRECTIONS:
            figures: dict[str, Any] = {}
            for part in ("calls", "discovery", "burst", "idle"):
                (real / direction / part).mkdir(parents=True)
                mounted = mountpoint / direction / part
                sides = (mounted, real / direction / part)
                host_root, worker_root = sides if direction == "host-on-mount" else sides[::-1]
                if part == "calls":
                    around = mount_round_trips(mountpoint, real, 150 * scale)
                    figures.update(calls(host_root, worker_root, 300 * scale, 30.0 * scale))
                    around += mount_round_trips(mountpoint, real, 150 * scale)
                    figures["mount_open_read_around_calls_p50_ms"] = percentile(around, 0.5)
                elif part == "discovery":
                    figures.update(discovery(host_root, worker_root, 3 * scale))
                elif part == "burst":
                    figures.update(burst(host_root, worker_root))
                else:
                    figures.update(idle(host_root, worker_root, sshd, 100, 10.0 * scale))
            figures["call_p50_ratio_to_mount"] = \
                figures["call_p50_ms"] / figures["mount_open_read_around_calls_p50_ms"]
            result[direction] = figures
    finally:
        mount.unmount()
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
    return result


def _rows(result: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("mount: fresh open+read p50 / p99 (ms), run start",
         f"{result['mount_open_read_p50_ms']:.2f} / {result['mount_open_read_p99_ms']:.2f}")]
    for direction in DIRECTIONS:
        f = result[direction]
        rows += [
            (direction, ""),
            ("  call p50 / p99 / max (ms)",
             f"{f['call_p50_ms']:.2f} / {f['call_p99_ms']:.2f} / {f['call_max_ms']:.1f}"
             "  (targets: p99 < 50)"),
            ("  mount: fresh open+read p50 around the calls (ms)",
             f"{f['mount_open_read_around_calls_p50_ms']:.2f}"),
            ("  call p50 / mount open+read", f"{f['call_p50_ratio_to_mount']:.2f}x (target <= 3x)"),
            ("  caller's first look for the answer missed",
             "n/a (not paced)" if f["first_looks_missed"] is None
             else f"{100 * f['first_looks_missed']:.0f}% of calls"),
            ("  calls done / over 100 ms / timed out",
             f"{f['calls']} / {f['calls_over_100ms']} / {f['call_timeouts']} (target 0 over)"),
            ("  burst of 2,000 from 2 processes: lost / duplicated",
             f"{f['burst_lost']} / {f['burst_duplicated']} (target 0 / 0)"),
            ("  burst drain after the last write (ms)", f"{f['burst_drain_ms']:.1f}"),
            ("  new session's first answer median / max (ms)",
             f"{f['discovery_median_ms']:.0f} / {f['discovery_max_ms']:.0f} (target < 1000)"),
            ("  100 idle sessions: host CPU % of a core",
             f"{f['idle_host_cpu_percent']:.2f} (target < 2), "
             f"{f['idle_sessions_seen_by_host']} seen"),
            ("  100 idle sessions: sftp-server syscalls/s",
             f"{f['idle_sftp_syscalls_per_second']:.0f} (syscr+syscw)"),
        ]
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="filebridge bench netfs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--full", action="store_true", help="three times the samples")
    args = parser.parse_args(argv)
    result = run(full=args.full)
    if "skipped" in result:
        print(json.dumps(result) if args.json else result["skipped"])
        return 0
    print_report("filebridge over sshfs with default options (same run, same mount)",
                 _rows(result), result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

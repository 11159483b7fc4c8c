"""The hard time limit, the memory of slow values, fair budgets and subscriptions, on real
threads, real signals and real files."""

from __future__ import annotations

import gc
import json
import os
import random
import select
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest
from variables_support import wait_for

from filebridge.errors import RemoteError
from filebridge.wire.layout import SessionLayout
from filebridge.worker.variables.commands import VariableCommands
from filebridge.worker.variables.guarded import describe_guarded
from filebridge.worker.variables.publisher import Publisher
from filebridge.worker.variables.snapshot import Snapshotter
from filebridge.worker.variables.timelimit import (
    OWN_WAIT_SHARE,
    Limiter,
    Overtime,
    SlowMemory,
    run_limited,
    signals_usable,
)
from filebridge.worker.variables.waiting import ThreadClock


class Forked:
    """``fn()`` in a forked child of this process: a fresh main thread with SIGALRM's default
    action (ending the process), as in a plain interpreter, without starting one. A forked
    child inherits no interval timer."""

    def __init__(self, fn: Callable[[], str]) -> None:
        self.output, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            code, text = 1, ""
            try:
                os.close(self.output)
                # A collection would walk (and so copy) every object this process inherited.
                gc.disable()
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                text = fn()
                code = 0
            except BaseException:
                text = traceback.format_exc()
            finally:
                os.write(write_end, text.encode()[-4000:])
                os._exit(code)
        os.close(write_end)

    def result(self, timeout: float = 60) -> tuple[int, str]:
        """The child's exit code (the signal's number, negated, when one ended it) and the
        text ``fn`` returned (or the traceback of what it raised)."""
        deadline = time.monotonic() + timeout
        chunks = []
        with os.fdopen(self.output, "rb") as pipe:
            while True:
                ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    raise AssertionError(f"the child did not finish within {timeout} s")
                chunk = os.read(pipe.fileno(), 4096)
                if not chunk:
                    break
                chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def interrupt_main_thread_waits() -> str:
    results: dict[str, Any] = {"usable": signals_usable()}

    def spin() -> None:
        end = time.perf_counter() + 30
        while time.perf_counter() < end:
            pass

    for name, fn in {"python_loop": spin,
                     "event_wait": lambda: threading.Event().wait(30),
                     "sleep": lambda: time.sleep(30)}.items():
        started = time.perf_counter()
        try:
            run_limited(fn, 0.05)
            results[name] = "returned"
        except Overtime:
            results[name] = round(time.perf_counter() - started, 3)
    return json.dumps(results)


@pytest.mark.integration
def test_the_timer_signal_interrupts_loops_sleeps_and_waits_on_the_main_thread() -> None:
    code, out = Forked(interrupt_main_thread_waits).result(120)
    assert code == 0, out
    results = json.loads(out)
    assert results["usable"] is True
    for name in ("python_loop", "event_wait", "sleep"):
        assert isinstance(results[name], float), (name, results[name])


def test_the_watchdog_interrupts_python_code_on_another_thread() -> None:
    outcome: list[Any] = []

    def spin() -> None:
        try:
            run_limited(lambda: [None for _ in iter(int, 1)], 0.05)
            outcome.append("returned")
        except Overtime:
            outcome.append("overtime")

    worker = threading.Thread(target=spin)
    worker.start()
    worker.join(30)
    assert outcome == ["overtime"]


def test_values_under_the_limit_are_never_interrupted_however_many_run() -> None:
    ran = []
    # 10 values of 12 ms: the stretch outlasts the 100 ms limit, each value stays well under
    # it (a busy machine can stretch a 12 ms sleep by tens of milliseconds).
    with Limiter(0.1) as limiter:
        for i in range(10):
            ran.append(limiter.run(lambda i=i: (time.sleep(0.012), i)[1]))
    assert ran == list(range(10))


def test_an_interrupt_by_the_user_is_remembered_and_reraised() -> None:
    calls = []

    class Interrupted:
        def __repr__(self) -> str:
            calls.append(1)
            raise KeyboardInterrupt

    value = Interrupted()
    snapshotter = Snapshotter()
    with pytest.raises(KeyboardInterrupt):
        snapshotter.build({"v": value})
    after = snapshotter.build({"v": value})
    assert calls == [1]
    assert after["variables"][0]["not_described"] == "over_limit"
    slow = SlowMemory()
    with pytest.raises(KeyboardInterrupt), Limiter(0.05) as limiter:
        describe_guarded(value, limiter, slow, name="v", access_key="v", evaluate_name="v",
                         top_level=True)
    assert slow.slow_ms(value) is not None


def publisher_for(tmp_path: Path, namespace: dict[str, Any], **options: Any) -> Publisher:
    layout = SessionLayout(tmp_path / "sessions" / "unit")
    layout.folder.mkdir(parents=True)
    return Publisher(layout, lambda: namespace, Snapshotter(**options), min_interval=0)


def read(publisher: Publisher) -> Any:
    try:
        return json.loads(publisher.layout.workspace_json.read_text())
    except (OSError, ValueError):
        return None


class Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        time.sleep(self.seconds)
        return "slow"


class Busy(Slow):
    """Computes, rather than waits, for ``seconds``: an overrun the machine may be blamed for."""

    def __repr__(self) -> str:
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass
        return "slow"


def test_no_snapshot_while_no_viewer_is_subscribed(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"a": 1}
    publisher = publisher_for(tmp_path, namespace)
    commands = VariableCommands(publisher)
    publisher.after_execution()
    assert read(publisher) is None
    answer = commands.subscribe({"viewer": "page", "seconds": 5})
    assert answer["viewers"] == 1 and read(publisher)["version"] == answer["version"]
    namespace["b"] = 2
    began = time.perf_counter()
    publisher.after_execution()
    wait_for(lambda: "b" in [v["display_name"] for v in read(publisher)["variables"]], 10,
             "a snapshot after the execution")
    watched_s = time.perf_counter() - began
    assert commands.unsubscribe({"viewer": "page"})["viewers"] == 0
    namespace["c"] = 3
    publisher.after_execution()
    # Five times as long as the snapshot took to appear while watched (0.05 s at least).
    time.sleep(max(0.05, 5 * watched_s))
    assert "c" not in [v["display_name"] for v in read(publisher)["variables"]]
    with pytest.raises(RemoteError, match="seconds"):
        commands.subscribe({"viewer": "page", "seconds": -1})
    publisher.close()


def test_subscriptions_end_unless_renewed(tmp_path: Path) -> None:
    publisher = publisher_for(tmp_path, {"a": 1})
    publisher.viewers.subscribe("short", 0.05)
    assert publisher.viewers.active()
    wait_for(lambda: not publisher.viewers.active(), 10, "the subscription to end")
    publisher.close()


# Once in a fresh-clone `.ci/run` (both cores busy) a value was not described in the final
# snapshot; the cause is not found yet (what it showed is now in the failure's message). Run
# again (pytest reports the rerun) rather than let it fail a run it does not belong to.
@pytest.mark.flaky(reruns=1)
def test_follow_up_snapshots_describe_every_variable_with_each_under_budget(
        tmp_path: Path) -> None:
    # Values of 5 ms under a 100 ms limit: a busy machine's delays neither take one over its
    # limit nor make it look blocked by itself for 60% of it (60 ms).
    namespace = {f"v{i:02d}": Slow(0.005) for i in range(25)}
    publisher = publisher_for(tmp_path, namespace, budget=0.15, value_limit=0.1)
    publisher.viewers.subscribe("page", 60)
    versions: dict[int, dict[str, Any]] = {}

    def settled() -> bool:
        snapshot = read(publisher)
        if snapshot is not None:
            versions[snapshot["version"]] = snapshot
        return snapshot is not None and not snapshot["unevaluated"]

    publisher.after_execution()
    wait_for(settled, 30, "every variable described")
    final = versions[max(versions)]
    assert [v for v in final["variables"] if v["display_value"] != "slow"] == []
    # Each snapshot describes ~ (budget - one value's limit) / 5 ms = 10 values; 25 need 3,
    # so at least two are follow-ups (up to 5 where a busy machine stretches the sleeps).
    assert 3 <= final["version"] <= 5
    assert all(s["elapsed_ms"] <= 150 for s in versions.values())
    publisher.close()


def test_retry_describes_again_a_value_over_the_limit(tmp_path: Path) -> None:
    value = Busy(0.5)  # computes until interrupted at the limit, even late
    namespace: dict[str, Any] = {"late": value}
    # A 50 ms limit: the moments a busy machine keeps a computing value off the interpreter
    # (counted as blocking) stay under 60% of it.
    publisher = publisher_for(tmp_path, namespace, value_limit=0.05)
    commands = VariableCommands(publisher)
    first = publisher.publish()
    assert first["variables"][0]["not_described"] == "over_limit"
    assert not publisher.snapshotter.slow.slow_ms(value), "a first overrun is tried again"
    assert publisher.publish()["variables"][0]["not_described"] == "over_limit"
    assert publisher.snapshotter.slow.slow_ms(value), "the second one is remembered"
    value.seconds = 0.001
    assert publisher.publish()["variables"][0]["not_described"] == "over_limit"
    answer = commands.retry({"path": ["late"]})
    assert answer["still_over_limit"] == []
    assert read(publisher)["variables"][0]["display_value"] == "slow"
    publisher.close()


def test_a_child_stuck_in_c_code_does_not_hold_the_request(tmp_path: Path) -> None:
    release = threading.Event()

    class Stuck:
        def __repr__(self) -> str:
            release.wait(30)  # a lock's wait: the watchdog cannot interrupt it
            return "late"

    namespace: dict[str, Any] = {"box": {"ok": 1, "stuck": Stuck()}}
    publisher = publisher_for(tmp_path, namespace)
    commands = VariableCommands(publisher, request_limit=0.25)  # REQUEST_LIMIT_S is 3 s
    try:
        with pytest.raises(RemoteError, match="abandoned") as failure:
            commands.inspect({"path": ["box"]})
        assert failure.value.code == "timeout"
        again = commands.inspect({"path": ["box"]})
        shown = {c["display_name"]: c for c in again["children"]}
        assert shown["'ok'"]["display_value"] == "1"
        assert shown["'stuck'"]["not_described"] == "over_limit"
    finally:
        release.set()
        publisher.close()


def late_ticks(seed: int, stretches: int) -> str:
    chance = random.Random(seed)
    interrupted = 0
    for _ in range(stretches):
        with Limiter(0.0005) as limiter:
            for _ in range(3):
                try:
                    limiter.run(lambda: time.sleep(chance.uniform(0, 0.001)))
                except Overtime:
                    interrupted += 1
        sum(range(chance.randint(0, 2000)))  # between stretches, where a late tick may land
    return f"survived {interrupted}"


@pytest.mark.integration
def test_a_late_timer_tick_never_outlives_its_stretch() -> None:
    # 3000 stretches, in six processes at once: the stretches mostly sleep. A tick that
    # outlived its stretch would end its process (SIGALRM's default action) or raise Overtime
    # between stretches.
    runs = [Forked(lambda seed=seed: late_ticks(seed, 500)) for seed in range(7, 13)]
    for run in runs:
        code, out = run.result(120)
        assert code == 0, (code, out[-500:])
        assert out.startswith("survived ") and int(out.split()[1]) > 0, out


def test_the_thread_clock_tells_blocking_from_running() -> None:
    clock = ThreadClock()
    try:
        start = clock.mark()
        began = time.perf_counter()
        time.sleep(0.1)
        slept = time.perf_counter() - began
        # The sleep is blocking, however long a busy machine then kept the thread waiting for a
        # CPU (which is busy time, not blocking).
        ran, queued = clock.split_s(start, clock.mark())
        assert slept - ran - queued > 0.1 / 2
        start = clock.mark()
        began = time.perf_counter()
        cpu_began = time.thread_time()
        while time.perf_counter() < began + 0.1 or time.thread_time() < cpu_began + 0.05:
            pass
        spun = time.perf_counter() - began
        ran, queued = clock.split_s(start, clock.mark())
        # A virtual machine's stolen time is neither running nor queued, so some of a spin can
        # look blocked: never as much as the share that makes a value count as waiting.
        assert spun - ran - queued < OWN_WAIT_SHARE * (spun - queued)
        assert 0.05 * 0.9 < ran <= spun + 0.01, "running is told apart from waiting for a CPU"
    finally:
        clock.close()

"""The host: watches a root's sessions, reads their requests, runs handlers, writes answers."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from filebridge.errors import (
    CallTimeout,
    FilebridgeError,
    JournalDamaged,
    LeaseLost,
    LogDamaged,
    UnsafeFile,
)
from filebridge.host.dispatch import HandlerFunc, HandlerSpec
from filebridge.host.lease import SETTLE, HostLease
from filebridge.host.pathmap import PathMap
from filebridge.host.runner import RETRY_DELAYS, RequestRunner, ServedSession
from filebridge.host.safety import issued_tokens, why_refused
from filebridge.host.session import STALE_AFTER, SessionInfo, SessionState
from filebridge.host.worker_commands import WorkerCommands
from filebridge.wire.channel import open_waiter
from filebridge.wire.codec import dumps
from filebridge.wire.files import (
    MOUNT_ERRORS,
    Doorbell,
    WakeBell,
    atomic_write,
    confine_to,
    file_exists,
    read_counter,
    read_from,
    release_folder,
    set_fresh_reads,
)
from filebridge.wire.layout import (
    RootLayout,
    SessionLayout,
    is_valid_session_id,
    make_private_dir,
)
from filebridge.wire.logs import rotation_for
from filebridge.wire.messages import Answer, Request
from filebridge.wire.pacing import FirstLook
from filebridge.wire.waiting import Change, choose_strategy
from filebridge.wire.waiting.base import SPIN_SECONDS, yield_cpu
from filebridge.wire.waiting.filesystems import is_remote_type

__all__ = ["Host", "HostEvent"]

log = logging.getLogger("filebridge.host")

MAX_REQUEST_BYTES = 16 << 20
TICK = 1.0  # heartbeats, rescans and a safety read of every log, whatever the watcher says
# Where reads go to a server (polling), looking at every session's files each tick would cost
# several network round trips per session per second: idle sessions are looked at this
# seldom, and a worker wakes the host through the root's wake bell instead.
SLOW_LOOK = 20.0
IDLE_POLL = 10.0  # an idle session's doorbell, when polling
# ... of a session whose worker rang the wake bell: it rings it again after going quiet, and a
# ring that another one covered up is found by the sweep that follows (SWEEP_EVERY).
IDLE_POLL_RINGER = 30.0
WAKE_POLL = 0.1  # the root's wake bell, when polling (a new session waits this long at most)
SWEEP_EVERY = 1.0  # at most this often a wake makes the host look at every session
RESCAN_POLLING = 5.0  # a host that polls lists sessions/ this often
MAX_STARTED = 256  # new sessions taken from started.log in one look
BROKEN_RETRY = 3.0
HANDLER_DEADLINE = 120.0
# A look that takes longer than this means another process ran on the host's core meanwhile.
SHARED_CORE_SIGN = 20e-6
# A host that polls reads a busy session's log itself instead of its doorbell (one open per
# look instead of two): first at a learnt time after it served a request (when that session's
# next request tends to come), at once again after a look that missed, then less and less
# often from BUSY_FIRST up to BUSY_LONGEST, and back to the doorbell once BUSY_FOR seconds
# passed without a request.
BUSY_FIRST, BUSY_LONGEST, BUSY_GROWTH, BUSY_FOR = 0.0002, 0.02, 1.3, 1.0


class _Busy:
    """When to look at a busy session's log next."""

    __slots__ = ("due", "first", "heard", "interval", "missed")

    def __init__(self, first: FirstLook) -> None:
        self.first = first
        self.heard_now()

    def heard_now(self) -> None:
        self.interval = BUSY_FIRST
        self.heard = time.monotonic()
        self.due = self.heard + self.first.delay
        self.missed = 0

    def found(self, looked: float) -> None:
        """The look that started at ``looked`` found requests."""
        self.first.learn(self.missed == 0, looked - self.heard)

    def found_nothing(self) -> None:
        now = time.monotonic()
        if self.missed:
            self.interval = min(self.interval * BUSY_GROWTH, BUSY_LONGEST)
            self.due = now + self.interval
        else:
            self.due = now  # the miss took a round trip itself: the request may be there now
        self.missed += 1


@dataclass(frozen=True)
class HostEvent:
    """``kind``: session_added, attached, detached, request, status or session_removed."""

    kind: str
    session_id: str
    request: Optional[Request] = None
    answer: Optional[Answer] = None


def _not_a_file(path: Path) -> str:
    """Why ``path`` can never be a session file (a link, a FIFO, a folder), or ""."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return ""
    return "" if stat.S_ISREG(mode) else f"{path.name} is not a regular file"


def _connected(layout: SessionLayout) -> bool:
    """A worker writes session.json last, after request.lock: both mean it is ready."""
    return file_exists(layout.session_json) and file_exists(layout.request_lock)


class Host:
    """Serves every session under one root. One host per root, enforced by a lease."""

    def __init__(self, root: Path | str, *, force_poll: Optional[bool] = None,
                 path_map: Iterable[tuple[str, str]] = (),
                 max_request_bytes: int = MAX_REQUEST_BYTES,
                 stale_after: float = STALE_AFTER,
                 handler_threads: int = 32,
                 handler_deadline: float = HANDLER_DEADLINE,
                 lease_settle: float = SETTLE,
                 write_retry_delays: Sequence[float] = RETRY_DELAYS,
                 tick: float = TICK, busy_for: float = BUSY_FOR,
                 sweep_every: float = SWEEP_EVERY) -> None:
        """``stale_after``: seconds without a heartbeat change before a session shows stale.
        ``handler_deadline``: seconds a handler may run before the host answers its request
        with ``timeout`` and runs the session's next requests on another thread.
        ``lease_settle``: seconds a host whose root is on a network filesystem (or polled)
        waits after taking the lease, to see a second host that took it at the same moment.
        ``write_retry_delays``: the pauses before each new try to write an answer or the
        journal when writing fails (a full disk); the last one repeats.
        ``tick``: seconds between the host's rounds of heartbeat, rescan, a safety read of
        every log and the check of handlers past their deadline.
        ``busy_for``: seconds without a request after which a host that polls goes back from
        reading a busy session's log to its doorbell.
        ``sweep_every``: at most this often a ring of the root's wake bell makes a host that
        polls look at every session."""
        self.tick = tick
        self.busy_for = busy_for
        self.sweep_every = sweep_every
        self.handler_deadline = handler_deadline
        self.write_retry_delays = tuple(write_retry_delays)
        self.root = RootLayout(Path(root).expanduser())
        make_private_dir(self.root.root)
        make_private_dir(self.root.sessions)
        make_private_dir(self.root.host_state)
        confine_to(self.root.sessions)
        self.strategy = choose_strategy(self.root.sessions, force_poll)
        self.polling = self.strategy == "polling"
        if self.polling:
            set_fresh_reads(self.root.sessions, True)
        self.path_map = PathMap(path_map)
        self.max_request_bytes = max_request_bytes
        self.stale_after = stale_after
        self._handlers: dict[str, HandlerSpec] = {}
        self._served: dict[str, ServedSession] = {}
        self._refused: dict[str, SessionState] = {}
        self._broken: dict[str, tuple[SessionState, float]] = {}
        self._slow_look = 0.0
        self._beat_look = 0.0
        self._next_rescan = 0.0
        self._complained = 0.0
        self._next_sweep = 0.0
        self._sweep_at: Optional[float] = None  # a sweep put off by SWEEP_EVERY
        self._ringers: set[str] = set()  # sessions whose worker rang the wake bell
        self._wake_seen = b""
        self._started_offset = 0
        self._lagging: dict[str, float] = {}
        self._busy: dict[str, _Busy] = {}
        self._first_looks: dict[str, FirstLook] = {}  # learnt per session, kept while served
        self.failure: Optional[BaseException] = None
        self._pending: set[Path] = set()
        self._commands = WorkerCommands(lambda layout: self.strategy)
        self._subscribers: list[Callable[[HostEvent], None]] = []
        self._stop_callbacks: list[Callable[[], None]] = []
        # What features keep on this host (a store, a provider, the page), by feature name:
        # per host, so two hosts in one process share nothing; emptied when the host stops.
        self.parts: dict[str, Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=handler_threads,
                                        thread_name_prefix="filebridge-handler")
        self._runner = RequestRunner(self, self._handlers, self._pool, self.path_map,
                                     self._request_done)
        self._lease = HostLease(self.root, lambda: self._handlers.copy().keys(), lease_settle)
        self._waiter = open_waiter(self.strategy)
        self._heartbeat = Doorbell(self.root.host_heartbeat)
        self._beats = 0
        self.last_beat = 0.0  # time.monotonic() of the last heartbeat (0: none yet)
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._published: bytes = b""
        self._published_infos: list[SessionInfo] = []
        self._lock = threading.Lock()
        from filebridge.host.builtin import install_builtins

        install_builtins(self)

    # -- handlers and events -------------------------------------------------------------

    def register(self, command: str, func: HandlerFunc, *, idempotent: bool = False,
                 inline: bool = False) -> None:
        """Answer ``command`` with ``func``; registering a name again replaces its handler."""
        known = command in self._handlers
        self._handlers[command] = HandlerSpec(func, idempotent, inline)
        if not known:
            self._lease.advertise()

    def handler_spec(self, command: str) -> Optional[HandlerSpec]:
        """The handler registered for ``command`` now, if any (to hand calls on to it)."""
        return self._handlers.get(command)

    def handler(self, command: str, *, idempotent: bool = False,
                inline: bool = False) -> Callable[[HandlerFunc], HandlerFunc]:
        def decorate(func: HandlerFunc) -> HandlerFunc:
            self.register(command, func, idempotent=idempotent, inline=inline)
            return func

        return decorate

    def subscribe(self, callback: Callable[[HostEvent], None]) -> None:
        self._subscribers.append(callback)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the host stops (features stop their own threads here); a
        callback already registered is not added twice."""
        if callback not in self._stop_callbacks:
            self._stop_callbacks.append(callback)

    def _emit(self, event: HostEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.kind)

    def _request_done(self, session_id: str, request: Request, answer: Answer) -> None:
        if self._subscribers:
            self._emit(HostEvent("request", session_id, request, answer))

    def map_path(self, path: str) -> str:
        return self.path_map.path(path)

    # -- sessions ------------------------------------------------------------------------

    def sessions(self) -> list[SessionInfo]:
        with self._lock:
            states = ([s.state for s in self._served.values()] + list(self._refused.values())
                      + [state for state, _ in self._broken.values()])
        return sorted((s.snapshot() for s in states),
                      key=lambda info: (info.started or 0, info.id))

    def session(self, session_id: str) -> SessionInfo:
        with self._lock:
            served = self._served.get(session_id)
            state = served.state if served else self._refused.get(session_id)
            if state is None and session_id in self._broken:
                state = self._broken[session_id][0]
        if state is None:
            raise FilebridgeError(f"no session {session_id!r} under {self.root.root}")
        return state.snapshot()

    def command(self, session_id: str, command: str, timeout: Optional[float] = 10.0,
                **args: Any) -> Any:
        """Ask the worker of ``session_id`` (host -> worker) and return its result."""
        info = self.session(session_id)
        answer, waited = self._commands.call(info.layout, command, args, timeout,
                                             rotate_at=rotation_for(info.info))
        if answer is None:
            status = self.session(session_id).status
            raise CallTimeout(f"worker of session {session_id} did not answer {command!r} "
                              f"within {waited:.3g} s (session is {status})",
                              command=command, waited=waited, host_alive=status == "alive")
        return answer.unwrap()

    # -- running -------------------------------------------------------------------------

    def start(self, wait_for_lease: Optional[float] = 0) -> None:
        """Take the lease (LeaseHeld if another host has it) and serve in a thread."""
        self._startup(wait_for_lease)
        self._thread = threading.Thread(target=self._loop, name="filebridge-host", daemon=True)
        self._thread.start()

    def serve_forever(self, wait_for_lease: Optional[float] = 0) -> None:
        self._startup(wait_for_lease)
        self._loop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def join(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._waiter.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def __enter__(self) -> Host:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _startup(self, wait_for_lease: Optional[float]) -> None:
        self._lease.acquire(wait_for_lease)
        log.info("serving %s (waiting by %s)", self.root.root, self.strategy)
        if self.polling:  # a listing is no news where it is cached: workers ring instead
            self._waiter.watch(self.root.wake_bell, idle_interval=WAKE_POLL, pace="steady")
        else:
            self._waiter.watch(self.root.sessions)
        self._beat()
        self._rescan()
        if self.polling:
            self._woken()  # sessions that started while this host took the lease

    def _loop(self) -> None:
        next_tick = time.monotonic() + self.tick
        try:
            while not self._stopping.is_set():
                try:
                    due = min([next_tick, *self._lagging.values(),
                               *(busy.due for busy in self._busy.values()),
                               *([self._sweep_at] if self._sweep_at is not None else [])])
                    changes = self._waiter.wait(max(0.0, due - time.monotonic()))
                    if self._sweep_at is not None and time.monotonic() >= self._sweep_at:
                        self._sweep(None)
                    if self._lagging:
                        self._read_lagging()
                    if self._busy:
                        self._read_busy()
                    while changes:
                        self._route(changes)
                        changes = self._spin()
                    if time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + self.tick
                        self._tick()
                except LeaseLost as exc:
                    log.error("%s", exc)
                    self.failure = exc
                    self._stopping.set()
                except OSError as exc:  # the root itself is away (a dropped mount)
                    now = time.monotonic()
                    if now - self._complained > 30:
                        self._complained = now
                        log.warning("cannot reach %s now (%s); trying again",
                                    self.root.root, exc.strerror or exc)
                    time.sleep(0.05)
                except Exception as exc:  # one bad look must never end the host's loop
                    log.exception("the host's loop hit an error; it carries on: %s", exc)
                    time.sleep(0.05)
        finally:
            self._shutdown()

    def _route(self, changes: list[Change]) -> None:
        for change in changes:
            if change.folder == self.root.sessions:
                self._rescan()
                continue
            if change.folder == self.root.wake_bell:
                self._woken()
                continue
            served = self._served.get(change.folder.parent.name)
            if served is not None and change.folder == served.state.layout.request_log:
                self._read(served, rung=True)
                self._waiter.watch(change.folder)  # a new generation is a new file to watch
            elif served is not None and change.folder == served.state.layout.request_lock:
                self._read(served, rung=True)
            elif change.folder in self._pending:
                self._consider(change.folder.name)  # not by listing: it may lag the folder
            else:
                self._rescan()

    def _read_started(self) -> None:
        """Serve the sessions new lines of ``sessions/started.log`` name (a listing of the
        folder lags on network mounts); at most MAX_STARTED a look, each checked by name."""
        try:
            data = read_from(self.root.started_log, self._started_offset, 1 << 16)
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._started_offset += end
        known = set(self._served) | set(self._refused) | set(self._broken)
        for raw in data[:end].split(b"\n")[:MAX_STARTED]:
            name = raw.strip().decode("ascii", "replace")
            if name and name not in known and is_valid_session_id(name):
                known.add(name)
                self._consider(name)

    def _woken(self) -> None:
        """A worker rang the root's wake bell with its session id: look at that session now
        (serving it first if it is new), then at every other, in case two rang at once."""
        ring = read_counter(self.root.wake_bell, WakeBell.WIDTH)
        if ring == self._wake_seen:
            return
        self._wake_seen = ring
        self._read_started()
        name = ring[20:].strip().decode("ascii", "replace")
        served = self._served.get(name)
        if served is None and is_valid_session_id(name):
            self._consider(name)
            served = self._served.get(name)
        if served is not None:
            self._ringers.add(name)
            self._waiter.hurry(served.state.layout.request_lock)
            self._read(served, rung=True)
        # Two rings at once leave one id: a session still setting up that rang too is looked
        # at now rather than at its own probe's next, slower look.
        for folder in list(self._pending):
            self._consider(folder.name)
        if time.monotonic() >= self._next_sweep:
            self._sweep(served)
        else:  # two rings at once leave one id: look at all, now and then
            self._sweep_at = self._next_sweep

    def _sweep(self, looked_at: Optional[ServedSession]) -> None:
        """Read every session's log but ``looked_at``'s (just read)."""
        self._next_sweep = time.monotonic() + self.sweep_every
        self._sweep_at = None
        for other in list(self._served.values()):
            if other is not looked_at:
                self._read(other)

    def _idle_poll(self, state: SessionState) -> float:
        """How seldom a polling host looks at the doorbell of ``state``'s session when idle."""
        ringer = state.info.get("wake_bell") == 1 or state.layout.id in self._ringers
        return IDLE_POLL_RINGER if ringer else IDLE_POLL

    def _read(self, served: ServedSession, rung: bool = False, busy: bool = False) -> int:
        """Run what arrived in a session's log; a fault there is that session's alone.
        ``rung``: its doorbell was just seen to change; ``busy``: a look at a busy session's
        log, made without its doorbell. Returns how many lines there were.

        The doorbell of a session that is busy is never read: its log is looked at anyway."""
        sid = served.state.layout.id
        looked = time.monotonic()
        try:
            lines = self._runner.read(served, skip_bell=rung or busy or sid in self._busy)
            if lines:
                served.state.heard_from()
                if self.polling:
                    self._keep_busy(served, looked if busy else None)
                    self._lagging.pop(sid, None)
            elif busy:
                pass  # looked at again soon; its doorbell is not read meanwhile
            elif served.reader.behind():
                self._lagging.setdefault(sid, time.monotonic() + 0.002)
            else:
                self._lagging.pop(sid, None)
            if served.reader.budget_spent and not served.deferred:
                self._lagging[sid] = time.monotonic()  # the read stopped at its slice: read on
            return lines
        except OSError as exc:
            self.session_fault(served, exc)
            return 0

    def _keep_busy(self, served: ServedSession, looked: Optional[float]) -> None:
        """A session that just posted is looked at through its log from now on, for a while;
        its doorbell is not watched meanwhile. ``looked``: when the busy look that found the
        requests started (None: they were found another way)."""
        sid = served.state.layout.id
        busy = self._busy.get(sid)
        if busy is None:
            first = self._first_looks.setdefault(sid, FirstLook(BUSY_FIRST))
            self._busy[sid] = _Busy(first)
            self._waiter.unwatch(served.state.layout.request_lock)
            return
        if looked is not None:
            busy.found(looked)
        busy.heard_now()

    def _read_busy(self) -> None:
        """Look at the logs of busy sessions that are due; a session quiet for ``busy_for`` goes
        back to its doorbell."""
        now = time.monotonic()
        for sid, busy in list(self._busy.items()):
            served = self._served.get(sid)
            if served is None:
                self._busy.pop(sid, None)
            elif busy.due <= now and not self._read(served, busy=True):
                if now - busy.heard < self.busy_for:
                    busy.found_nothing()
                    continue
                self._busy.pop(sid, None)
                self._waiter.watch(served.state.layout.request_lock,
                                   idle_interval=self._idle_poll(served.state))
                # A request posted between the last look and the doorbell's first reading
                # rang a value the probe took as its start: the log is read once more.
                self._read(served, busy=True)

    def _read_lagging(self) -> None:
        """Read again the logs whose doorbell announced more than a read returned."""
        now = time.monotonic()
        for sid, due in list(self._lagging.items()):
            served = self._served.get(sid)
            if served is None:
                self._lagging.pop(sid, None)
            elif due <= now:
                self._lagging[sid] = now + 0.002
                self._read(served)

    def session_fault(self, served: ServedSession, exc: OSError) -> None:
        """A session's files failed: a passing fault (a dropped mount) is logged, anything
        else breaks that session alone."""
        sid = served.state.layout.id
        passing = exc.errno in MOUNT_ERRORS or not os.path.isdir(self.root.sessions)
        if passing and not isinstance(exc, (UnsafeFile, LogDamaged)):
            log.warning("session %s: cannot read its files now (%s); trying again",
                        sid, exc.strerror or exc)
            return
        reason = str(exc) if isinstance(exc, UnsafeFile) else (exc.strerror or str(exc))
        if isinstance(exc, LogDamaged):
            reason += "; run `filebridge recover` to resume"
        self._break(served.state, reason)
        self._drop_served(sid)

    def _spin(self) -> list[Change]:
        """Right after serving, look for the next request for a moment before sleeping.

        Each look gives the core away. When that takes long, another process ran on this core:
        likely the worker, and one that cannot give the core back (R polls) runs its next
        request sooner when the host sleeps and its doorbell wakes it.
        """
        until = time.perf_counter() + SPIN_SECONDS
        while True:
            looked = time.perf_counter()
            if looked >= until:
                return []
            changes = self._waiter.wait(0)
            if changes:
                return changes
            yield_cpu()
            if time.perf_counter() - looked > SHARED_CORE_SIGN:
                return []

    def _tick(self) -> None:
        self._beat()
        self._lease.renew()
        now = time.monotonic()
        # A host that polls finds new sessions through started.log and the wake bell; the
        # listing (cached by network mounts anyway, and a lookup per session it lacks) is the
        # fallback, taken less often.
        if not self.polling or now >= self._next_rescan:
            self._next_rescan = now + RESCAN_POLLING
            self._rescan()
        if self.polling:
            self._read_started()
        slow_look = not self.polling or now >= self._slow_look
        if slow_look:
            self._slow_look = now + SLOW_LOOK
        beat_look = now >= self._beat_look
        if beat_look:
            self._beat_look = now + (min(SLOW_LOOK, self.stale_after / 2) if self.polling
                                     else self.stale_after / 4)
        for served in list(self._served.values()):
            self._runner.enforce_deadline(served, self.handler_deadline)
            try:
                served.journal.flush()
            except OSError as exc:
                log.warning("session %s: cannot record progress now: %s",
                            served.state.layout.id, exc)
            if beat_look and served.state.check_heartbeat():
                self._emit(HostEvent("status", served.state.layout.id))
            if not slow_look:
                continue
            try:
                unread = served.reader.check()
                served.journal.save_mirror()
            except OSError as exc:
                self.session_fault(served, exc)
                continue
            if unread:
                self._read(served)
        self._retry_broken()
        try:
            self._publish_sessions()
        except OSError as exc:
            log.warning("cannot write host-sessions.json: %s", exc)

    def _beat(self) -> None:
        self._beats += 1
        self.last_beat = time.monotonic()
        try:
            self._heartbeat.ring(self._beats)
        except OSError as exc:
            if self._beats % 60 == 1:  # once a minute while the root stays unreachable
                log.warning("cannot ring host.heartbeat: %s", exc)

    def _shutdown(self) -> None:
        for callback in self._stop_callbacks:
            try:
                callback()
            except Exception:
                log.exception("a stop callback failed")
        self.parts.clear()
        self._pool.shutdown(wait=True)
        for served in self._served.values():
            try:
                served.close()
            except OSError:
                pass
            release_folder(served.state.layout.folder)
        self._commands.close()
        self._waiter.close()
        self._heartbeat.close()
        try:
            self._lease.release()
        except OSError as exc:
            log.warning("cannot release the lease: %s", exc)
        log.info("stopped serving %s", self.root.root)

    def _publish_sessions(self) -> None:
        """host-sessions.json lets `filebridge sessions` show what this host sees."""
        infos = self.sessions()
        # A session's snapshot is made again whenever it changes: the same snapshots as at
        # the last write mean the same file (each tick, whatever the number of sessions).
        if len(infos) == len(self._published_infos) and all(
                a is b for a, b in zip(infos, self._published_infos)):
            return
        data = dumps([info.as_json() for info in infos])
        if data != self._published:
            atomic_write(self.root.root / "host-sessions.json", data)
            self._published = data
        self._published_infos = infos

    # -- discovering sessions ------------------------------------------------------------

    def _rescan(self) -> None:
        try:
            names = {entry.name for entry in os.scandir(self.root.sessions) if entry.is_dir()}
        except OSError:
            return
        for missing in set(self._served) - names:
            # A listing is cached on network filesystems (20 s on sshfs): a session it does
            # not show yet may be one a worker rang about; only a failed lookup means gone.
            if not os.path.lexists(self.root.sessions / missing / "session.json"):
                self._forget(missing)
            else:
                names.add(missing)
        for folder in [f for f in self._pending if f.name not in names]:
            self._pending.discard(folder)
            self._waiter.unwatch(folder)
        with self._lock:
            self._refused = {k: v for k, v in self._refused.items() if k in names}
            self._broken = {k: v for k, v in self._broken.items() if k in names}
        for name in sorted(names - set(self._served) - set(self._refused) - set(self._broken)):
            self._consider(name)

    def _consider(self, name: str) -> None:
        """Serve the folder ``name`` if its worker is ready and it may be served."""
        layout = self.root.session(name)
        try:
            if not _connected(layout):
                unusable = _not_a_file(layout.session_json) or _not_a_file(layout.request_lock)
                if unusable:
                    self._refuse(layout, unusable)
                    return
                self._watch_pending(layout)
                if not _connected(layout):  # it may have become ready before the watch began
                    return
        except OSError:
            return
        if layout.folder in self._pending:
            self._pending.discard(layout.folder)
            self._waiter.unwatch(layout.folder)
        self._add(layout, issued_tokens(self.root))

    def _break(self, state: SessionState, reason: str) -> None:
        """Stop serving a session whose files cannot be trusted; other sessions carry on."""
        log.error("session %s is broken: %s", state.layout.id, reason)
        state.broken_reason = reason
        state._snapshot = None
        with self._lock:
            self._broken[state.layout.id] = (state, time.monotonic() + BROKEN_RETRY)
        self._emit(HostEvent("status", state.layout.id))

    def _retry_broken(self) -> None:
        now = time.monotonic()
        for name, (_state, retry_at) in list(self._broken.items()):
            if retry_at <= now:
                with self._lock:
                    self._broken.pop(name, None)
                self._consider(name)

    def _watch_pending(self, layout: SessionLayout) -> None:
        """Watch a folder whose worker is still setting up, to serve it the moment it is ready."""
        if layout.folder in self._pending:
            return
        try:
            self._waiter.watch(layout.folder, probe=("session.json", "request.lock"),
                               idle_interval=IDLE_POLL if self.polling else None)
        except OSError:
            return  # the next tick's rescan finds it
        self._pending.add(layout.folder)

    def wait_for_session(self, session_id: str, timeout: float = 10.0) -> SessionInfo:
        """The session once the host serves it (FilebridgeError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.session(session_id)
            except FilebridgeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _refuse(self, layout: SessionLayout, reason: str) -> None:
        log.warning("refusing session %s: %s", layout.id, reason)
        with self._lock:
            self._refused[layout.id] = SessionState.unreadable(layout, refused_reason=reason)

    def _add(self, layout: SessionLayout, trusted: set[str]) -> None:
        reason = why_refused(layout, trusted)
        if reason:
            self._refuse(layout, reason)
            return
        state: Optional[SessionState] = None
        try:
            state = SessionState(layout, stale_after=self.stale_after)
            served = ServedSession(state, self.max_request_bytes,
                                   self.root.journal_mirror(layout.id))
            self._waiter.watch(layout.request_lock,
                               idle_interval=self._idle_poll(state) if self.polling
                               else None)
            if not self.polling and is_remote_type(str(state.info.get("filesystem", ""))):
                # A worker on a mount rings its doorbell after it went back to waiting: the
                # log's own change, seen here by events, comes a round trip sooner.
                self._waiter.watch(layout.request_log)
        except (JournalDamaged, UnsafeFile, LogDamaged) as exc:
            reason = str(exc)
            if isinstance(exc, LogDamaged):
                reason = f"{exc.strerror}; run `filebridge recover` to resume"
            self._break(state or SessionState.unreadable(layout), reason)
            release_folder(layout.folder)
            return
        except OSError as exc:
            if exc.errno in MOUNT_ERRORS:
                log.warning("session %s: cannot open its files now (%s)", layout.id, exc)
                return
            self._break(state or SessionState.unreadable(layout), exc.strerror or str(exc))
            release_folder(layout.folder)
            return
        with self._lock:
            self._served[layout.id] = served
        info = served.state.info
        log.info("session %s: %s pid %s on %s (worker on %s, waiting by %s)", layout.id,
                 info.get("language", "?"), info.get("pid"), info.get("machine"),
                 info.get("filesystem") or "?", info.get("strategy") or "?")
        self._emit(HostEvent("session_added", layout.id))
        self._read(served)

    def _drop_served(self, session_id: str) -> Optional[ServedSession]:
        with self._lock:
            served = self._served.pop(session_id, None)
        self._busy.pop(session_id, None)
        self._first_looks.pop(session_id, None)
        self._ringers.discard(session_id)
        self._commands.forget(session_id)
        if served is not None:
            self._waiter.unwatch(served.state.layout.request_lock)
            self._waiter.unwatch(served.state.layout.request_log)
            try:
                served.close()
            except OSError:
                pass
            release_folder(served.state.layout.folder)
        return served

    def _forget(self, session_id: str) -> None:
        if self._drop_served(session_id) is not None:
            log.info("session %s: folder removed", session_id)
            self._emit(HostEvent("session_removed", session_id))

    # -- reading and dispatching ---------------------------------------------------------

    # -- used by the built-in handlers -----------------------------------------------------

    def _state(self, session_id: str) -> Optional[SessionState]:
        served = self._served.get(session_id)
        return served.state if served else None

    def set_detached(self, session_id: str, detached: bool) -> None:
        state = self._state(session_id)
        if state is None:
            return
        state.reload_info()
        state.mark_detached(detached)
        self._emit(HostEvent("detached" if detached else "attached", session_id))

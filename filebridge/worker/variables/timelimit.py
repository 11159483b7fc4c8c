"""A hard time limit on the user code the pane runs, and the memory of values that went over it.

``run_limited(fn, seconds)`` calls ``fn()`` and raises ``Overtime`` when it takes longer:

- On the main thread, when signals are usable (SIGALRM and ``setitimer`` exist, nobody else's
  handler is installed and no real-time timer is armed), a timer signal raises ``Overtime``
  inside ``fn``. This interrupts anything that lets Python handle signals: Python loops,
  ``time.sleep``, waiting on locks, most I/O.
- On any other thread (the host's requests, deferred snapshots), a watchdog thread asks the
  interpreter to raise ``Overtime`` in the calling thread (``PyThreadState_SetAsyncExc``). That
  interrupts Python code at its next bytecode, but not a C call that never returns; callers on
  those threads therefore also run under ``run_abandonable``, which stops waiting.

Nested calls inside a limited call run under the outer limit. ``SlowMemory`` remembers values
(by object and by type) whose description went over the limit or was interrupted by any
``BaseException``, so the next snapshot does not run their code again until the user asks.
Whether a value over the limit waited by itself (``Limiter.waited``, waiting.py) is judged the
same on both paths, by its thread's clocks: the timer signal cuts a wait short where the
watchdog cannot, so how long the value went on is no measure.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
import weakref
from typing import Any, Callable, Optional, TypeVar

from filebridge.worker.variables.waiting import Mark, ThreadClock

__all__ = ["Limiter", "Overtime", "SlowMemory", "run_abandonable", "run_limited",
           "signals_usable"]

T = TypeVar("T")

# A value that blocked by itself (sleeping, on a lock, a socket or a pipe) for most of the
# time it had went over its limit by its own doing, not a busy machine's. The time it had is
# its time less what it spent waiting for a CPU: on a loaded machine each wake-up (the timer's
# ticks included) may wait tens of milliseconds of a 50 ms limit for one.
OWN_WAIT_SHARE = 0.6


class Overtime(BaseException):
    """Raised inside the pane's own calls of user code; never escapes the pane.

    A BaseException so that ``except Exception`` in the user's code does not swallow it.
    """


_local = threading.local()


def signals_usable() -> bool:
    """Whether a timer signal can interrupt this thread without disturbing anyone else's."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if not hasattr(signal, "setitimer") or not hasattr(signal, "SIGALRM"):
        return False
    try:
        handler = signal.getsignal(signal.SIGALRM)
        armed = signal.getitimer(signal.ITIMER_REAL)
    except (ValueError, OSError):
        return False
    return handler in (signal.SIG_DFL, signal.SIG_IGN, None) and armed == (0.0, 0.0)


class Limiter:
    """One stretch of describing on one thread: each ``run`` gets at most ``seconds``.

    The timer is armed once for the stretch, not once per value: when it fires, the handler
    compares the running value's start with the limit and re-arms for the rest of it, so the
    cost per value is a clock read.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._seq = 0
        self._fired_seq = -1
        self._started = 0.0
        self._clock: Optional[ThreadClock] = None
        self._mark: Mark = 0.0
        self._active = False
        self._signal = False
        self._previous: Any = None
        self._ident = 0
        self._watched = False
        self._closed = False
        self._outer: Optional[Limiter] = None

    def __enter__(self) -> Limiter:
        self._outer = getattr(_local, "limiter", None)
        _local.limiter = self
        if self._outer is not None:
            return self
        self._ident = threading.get_ident()
        self._signal = signals_usable()
        self._watched = False
        self._closed = False
        self._clock = ThreadClock()
        if self._signal:
            self._previous = signal.signal(signal.SIGALRM, self._tick)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: Any) -> None:
        _local.limiter = self._outer
        if self._outer is not None:
            return
        if self._signal:
            # Closed first: a tick already pending must not arm the timer again, or it would
            # fire after the default action (ending the process) is back.
            self._closed = True
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)
        elif self._watched:
            _watchdog.unwatch(self)
        if self._clock is not None:
            self._clock.close()

    def _tick(self, signum: int, frame: Any) -> None:
        """The timer signal (main thread): raise when the running value is over its limit."""
        if self._closed:
            return
        left = self.seconds
        if self._active:
            left = self._started + self.seconds - time.perf_counter()
            if left <= 0:
                self._active = False
                signal.setitimer(signal.ITIMER_REAL, self.seconds)
                raise Overtime()
        signal.setitimer(signal.ITIMER_REAL, max(left, 1e-4))

    def elapsed_ms(self) -> float:
        """How long the value running (or run last) has taken."""
        return (time.perf_counter() - self._started) * 1000

    def waited(self) -> bool:
        """Whether the value run last (on this thread) blocked by itself for most of its time."""
        if self._outer is not None:
            return self._outer.waited()
        clock = self._clock
        if clock is None:
            return False
        elapsed = time.perf_counter() - self._started
        ran, queued = clock.split_s(self._mark, clock.mark())
        blocked = elapsed - ran - queued
        return blocked >= OWN_WAIT_SHARE * (elapsed - queued)

    def overdue(self, now: float) -> Optional[float]:
        """The watchdog's question: seconds until the running value is over (<= 0: it is)."""
        return self._started + self.seconds - now if self._active else None

    def fire(self) -> None:
        """The watchdog's action: raise Overtime in the describing thread (lock held)."""
        self._fired_seq = self._seq
        self._active = False
        _watchdog.raise_in(self._ident, Overtime)

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()``, or Overtime once it ran ``seconds``."""
        if self._outer is not None:
            return fn()
        if self._signal:  # the handler runs on this thread: no lock needed
            self._mark = self._clock.mark() if self._clock else 0.0
            self._started = time.perf_counter()
            self._active = True
            try:
                return fn()
            finally:
                self._active = False
        if not self._watched and _watchdog.available:
            # Watched from the first value that needs it: a stretch of values that run no
            # user code never wakes the watchdog.
            _watchdog.watch(self)
            self._watched = True
        with self._lock:
            self._seq += 1
            self._mark = self._clock.mark() if self._clock else 0.0
            self._started = time.perf_counter()
            self._active = True
        try:
            result = fn()
        finally:
            with self._lock:
                self._active = False
                fired = self._fired_seq == self._seq
                if fired:
                    _watchdog.raise_in(self._ident, None)  # not yet delivered: drop it
        if fired:
            raise Overtime()
        return result


class _Watchdog:
    """One daemon thread raising Overtime in threads whose running value is over its limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._limiters: set[Limiter] = set()
        self._thread: Optional[threading.Thread] = None
        self._set_async: Any = None
        try:
            import ctypes

            self._set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
            self._ctypes: Any = ctypes
        except (ImportError, AttributeError):
            pass

    @property
    def available(self) -> bool:
        return self._set_async is not None

    def raise_in(self, ident: int, exc: Optional[type]) -> None:
        ctypes = self._ctypes
        self._set_async(ctypes.c_ulong(ident), ctypes.py_object(exc) if exc else None)

    def watch(self, limiter: Limiter) -> None:
        with self._lock:
            self._limiters.add(limiter)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="filebridge-variables-watchdog")
                self._thread.start()
            self._wake.notify()

    def unwatch(self, limiter: Limiter) -> None:
        with self._lock:
            self._limiters.discard(limiter)

    def _run(self) -> None:
        with self._lock:
            while True:
                wait = 1.0
                now = time.perf_counter()
                for limiter in list(self._limiters):
                    with limiter._lock:
                        left = limiter.overdue(now)
                        if left is not None and left <= 0:
                            limiter.fire()
                            left = None
                    wait = min(wait, left if left is not None else limiter.seconds)
                self._wake.wait(max(0.001, wait))


_watchdog = _Watchdog()


def run_limited(fn: Callable[[], T], seconds: float) -> T:
    """``fn()``, interrupted with ``Overtime`` after ``seconds`` (see the module's text)."""
    with Limiter(seconds) as limiter:
        return limiter.run(fn)


class _Helper:
    """A reusable helper thread: runs one call at a time, handed over through a queue."""

    def __init__(self, what: str) -> None:
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], _Call]] = queue.SimpleQueue()
        self.busy = False
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"filebridge-variables-{what}")
        self.thread.start()

    def _run(self) -> None:
        while True:
            fn, call = self.jobs.get()
            try:
                call.result = fn()
            except BaseException as exc:  # handed to the caller
                call.failure = exc
            call.done.set()


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.failure: Optional[BaseException] = None


_helpers: dict[str, _Helper] = {}
_helpers_lock = threading.Lock()


def run_abandonable(fn: Callable[[], T], seconds: float, what: str,
                    on_abandon: Optional[Callable[[int], None]] = None) -> T:
    """``fn()`` on a helper thread; stop waiting after ``seconds`` and raise ``Overtime``.

    For the worker's background threads: a C call that never returns keeps its helper thread,
    never the caller. One helper per ``what`` is kept for the next calls; a stuck one is
    abandoned and replaced.
    """
    with _helpers_lock:
        helper = _helpers.get(what)
        if helper is None:
            helper = _helpers[what] = _Helper(what)
        elif helper.busy:  # a call from another thread runs: never queue behind it
            helper = _Helper(what)
        helper.busy = True
    call = _Call()
    try:
        helper.jobs.put((fn, call))
        finished = call.done.wait(seconds)
    finally:
        with _helpers_lock:
            if not call.done.is_set():
                if _helpers.get(what) is helper:
                    del _helpers[what]  # stuck, or the wait was interrupted: never reuse it
            else:
                helper.busy = False
    if not finished:
        if on_abandon is not None and helper.thread.ident is not None:
            on_abandon(helper.thread.ident)
        raise Overtime()
    if call.failure is not None:
        raise call.failure
    return call.result  # type: ignore[no-any-return]


class SlowMemory:
    """Values whose description went over the limit or was interrupted, by object and by type.

    An object is remembered by ``id`` with a weak reference where the type allows one (so a
    reused id is not mistaken for it) and its type otherwise. A type is remembered once
    ``TYPE_STRIKES`` different objects of it were slow: its other instances are then not
    described either. An object counts from its second overrun (``remember``); built-in
    types never count as types. ``forget`` (the user's "try again") clears all of it.
    """

    TYPE_STRIKES = 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[int, tuple[Any, type, float]] = {}
        self._types: dict[type, tuple[int, float]] = {}
        self._running: dict[int, tuple[Any, float]] = {}
        self._first_strike: dict[int, type] = {}

    def running(self, value: Any) -> None:
        """This thread starts running ``value``'s code (see ``abandoned``)."""
        self._running[threading.get_ident()] = (value, time.perf_counter())

    def done(self) -> None:
        self._running.pop(threading.get_ident(), None)

    def abandoned(self, ident: int) -> None:
        """Thread ``ident`` was given up on: remember the value it was running, if any."""
        found = self._running.pop(ident, None)
        if found is not None:
            self.remember(found[0], (time.perf_counter() - found[1]) * 1000, at_once=True)

    def remember(self, value: Any, took_ms: float, *, at_once: bool = False) -> bool:
        """Note an overrun; True when the value is now remembered.

        A first overrun may be the machine's fault (a busy machine stretches 10 ms into
        20), so only an object's second one counts, unless ``at_once`` (the user
        interrupted it, its thread had to be abandoned, or it was waiting). Built-in types
        never count against the type: their slowness comes from their items.
        """
        cls = type(value)
        try:
            ref: Any = weakref.ref(value)
        except TypeError:
            ref = None
        with self._lock:
            if not at_once and self._first_strike.pop(id(value), None) is not cls:
                self._first_strike[id(value)] = cls
                return False
            if cls.__module__ == "builtins":
                self._objects[id(value)] = (ref, cls, took_ms)
                return True
            known = self._objects.get(id(value))
            self._objects[id(value)] = (ref, cls, took_ms)
            if known is None or known[1] is not cls:
                strikes, _ = self._types.get(cls, (0, 0.0))
                self._types[cls] = (strikes + 1, took_ms)
            return True

    def slow_ms(self, value: Any) -> Optional[float]:
        """How long the value (or its type) took when it was remembered, or None."""
        if not self._objects and not self._types:  # the usual case, without the lock
            return None
        cls = type(value)
        with self._lock:
            known = self._objects.get(id(value))
            if known is not None:
                ref, kind, took = known
                if kind is cls and (ref is None or ref() is value):
                    return took
                del self._objects[id(value)]
            strikes = self._types.get(cls)
            if strikes is not None and strikes[0] >= self.TYPE_STRIKES:
                return strikes[1]
        return None

    def forget(self, value: Any = None) -> None:
        """Forget one value and its type, or everything when ``value`` is None."""
        with self._lock:
            if value is None:
                self._objects.clear()
                self._types.clear()
                self._first_strike.clear()
                return
            self._objects.pop(id(value), None)
            self._types.pop(type(value), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

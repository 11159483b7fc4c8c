"""The variables pane, host side: a provider shaped like VS Code's and DAP's, and change events.

    from filebridge.host.variables.provider import VariablesProvider
    provider = VariablesProvider.for_host(host)
    for var in provider.provide_variables(session_id):              # the top level
        if var.has_named_children or var.indexed_children_count:
            kind = "indexed" if var.indexed_children_count else "named"
            page = list(provider.provide_variables(session_id, var, kind, start=0, count=100))
    provider.subscribe(lambda change: print(change.session_id, change.version))

The top level comes from ``workspace.json`` (no round trip); children, views, deletions and
refreshes go to the worker through its command channel (docs/protocol-variables.md).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Union

from filebridge.errors import (
    CallTimeout,
    FilebridgeError,
    NoSnapshot,
)
from filebridge.host.worker_commands import WorkerCommands
from filebridge.wire.channel import open_waiter
from filebridge.wire.codec import loads
from filebridge.wire.files import read_counter, read_file
from filebridge.wire.layout import RootLayout, SessionLayout, is_valid_session_id
from filebridge.wire.waiting import choose_strategy

if TYPE_CHECKING:
    from filebridge.host import Host, SessionInfo

__all__ = ["DirectCommands", "NoSnapshot", "ProvidedVariable", "VariablesChanged",
           "VariablesProvider", "WorkspaceWatcher", "child_counts", "read_snapshot"]

log = logging.getLogger("filebridge.host.variables.provider")

DEFAULT_TIMEOUT = 10.0
# A viewer's subscription lasts this long on the worker; it is renewed every third of it.
WATCH_SECONDS = 30.0
RENEW_TIMEOUT = 2.0
# Closing tells each watched worker it is no longer watched, so it stops snapshotting at once
# rather than when the subscription lapses (WATCH_SECONDS): a worker that is gone cannot
# answer, and a host's stop must not wait for it.
CLOSE_TIMEOUT = 0.5
# Subscribing to a worker that does not answer (busy, stopped, or without subscriptions) is
# tried again this often, each time waiting at most WATCH_TIMEOUT.
WATCH_RETRY = 60.0
WATCH_TIMEOUT = 2.0
# The host finds new session folders within its rescan tick (about a second).
DISCOVERY_WAIT = 3.0
PAGE = 100
Sender = Callable[[str, str, dict[str, Any], Optional[float]], Any]
SessionRef = Union[str, "SessionInfo"]


MAX_SNAPSHOT_BYTES = 256 << 20


def read_snapshot(layout: SessionLayout) -> dict[str, Any]:
    """The session's latest snapshot, as the worker wrote it."""
    try:
        data = read_file(layout.workspace_json, MAX_SNAPSHOT_BYTES)
    except FileNotFoundError:
        raise NoSnapshot(f"session {layout.id} has published no variables yet (its worker has "
                         "not enabled filebridge.worker.variables)") from None
    try:
        snapshot = loads(data)
    except ValueError as exc:
        raise NoSnapshot(f"session {layout.id}: workspace.json is not JSON ({exc})") from None
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("variables"), list):
        raise NoSnapshot(f"session {layout.id}: workspace.json has no 'variables' list")
    return snapshot


class DirectCommands:
    """Asks workers through their session folders without a running Host (for the CLI)."""

    def __init__(self, root: Path | str) -> None:
        self.root = RootLayout(Path(root).expanduser())
        self._commands = WorkerCommands(lambda layout: choose_strategy(layout.folder))

    def __call__(self, session_id: str, command: str, args: dict[str, Any],
                 timeout: Optional[float]) -> Any:
        answer, waited = self._commands.call(self.root.session(session_id), command, args,
                                             timeout)
        if answer is None:
            raise CallTimeout(f"the worker of session {session_id} did not answer {command!r} "
                              f"within {waited:.3g} s; is it still running?",
                              command=command, waited=waited, host_alive=False)
        return answer.unwrap()

    def close(self) -> None:
        self._commands.close()


@dataclass(frozen=True)
class ProvidedVariable:
    """One variable as VS Code's provider and DAP show it; ``reference`` expands it."""

    name: str
    value: str
    type: str
    expression: Optional[str]
    has_named_children: bool
    named_children_count: int
    indexed_children_count: int
    reference: tuple[str, ...]
    kind: str
    size: Optional[int]
    shape: Optional[list[int]]
    has_viewer: bool
    language: str = "python"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_entry(cls, entry: dict[str, Any], parent: tuple[str, ...],
                   language: str) -> ProvidedVariable:
        named, indexed = child_counts(entry)
        return cls(
            name=str(entry.get("display_name", "")),
            value=str(entry.get("display_value", "")),
            type=str(entry.get("display_type", "")),
            expression=entry.get("evaluate_name"),
            has_named_children=named > 0,
            named_children_count=named,
            indexed_children_count=indexed,
            reference=(*parent, str(entry.get("access_key", ""))),
            kind=str(entry.get("kind", "other")),
            size=entry.get("size"),
            shape=entry.get("shape"),
            has_viewer=bool(entry.get("has_viewer")),
            language=language,
            raw=entry,
        )


def child_counts(entry: dict[str, Any]) -> tuple[int, int]:
    """(named, indexed) children of an entry; from ``children_kind`` and ``length`` for
    workers that do not send the two counts."""
    if not entry.get("has_children"):
        return 0, 0
    named, indexed = entry.get("named_children"), entry.get("indexed_children")
    if isinstance(named, int) and isinstance(indexed, int):
        return named, indexed
    length = entry.get("length")
    count = length if isinstance(length, int) and not isinstance(length, bool) else 0
    return (0, count) if entry.get("children_kind") == "indexed" else (count, 0)


@dataclass(frozen=True)
class VariablesChanged:
    """A new snapshot landed in a session folder."""

    session_id: str
    version: int
    assigned: list[str]
    removed: list[str]
    length: int


def _await_discovery(host: Host, session_id: str, limit: float) -> None:
    """Give the host a moment to find a session folder that exists but is not served yet."""
    folder = host.root.session(session_id).folder
    deadline = time.monotonic() + limit
    while (folder / "session.json").exists() and time.monotonic() < deadline:
        if any(info.id == session_id for info in host.sessions()):
            return
        time.sleep(0.02)


def _session_id(session: SessionRef) -> str:
    session_id = session if isinstance(session, str) else session.id
    if not is_valid_session_id(session_id):
        raise FilebridgeError(f"{session_id!r} is not a session id")
    return session_id


def _path(parent: Any) -> list[str]:
    if parent is None:
        return []
    if isinstance(parent, ProvidedVariable):
        return list(parent.reference)
    if isinstance(parent, (list, tuple)) and all(isinstance(p, str) for p in parent):
        return list(parent)
    raise TypeError("parent is a ProvidedVariable, a list of access keys, or None")


class VariablesProvider:
    """Variables of every session under a root: snapshots from files, the rest by command."""

    def __init__(self, root: Path | str, send: Sender, *,
                 timeout: Optional[float] = DEFAULT_TIMEOUT, auto_watch: bool = False) -> None:
        self.root = RootLayout(Path(root).expanduser())
        # Reading a session's variables makes this provider one of its viewers (watch).
        self.auto_watch = auto_watch
        self._watch_tried: dict[str, float] = {}
        self.timeout = timeout
        self._send = send
        self._watcher: Optional[WorkspaceWatcher] = None
        self._subscribers: list[Callable[[VariablesChanged], None]] = []
        self._lock = threading.Lock()
        self.viewer_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._watched: dict[str, float] = {}
        self._renewer: Optional[threading.Thread] = None
        self._stop_renewing = threading.Event()

    @classmethod
    def for_host(cls, host: Host, *, timeout: Optional[float] = DEFAULT_TIMEOUT
                 ) -> VariablesProvider:
        def send(session_id: str, command: str, args: dict[str, Any],
                 limit: Optional[float]) -> Any:
            _await_discovery(host, session_id, DISCOVERY_WAIT)
            return host.command(session_id, command, timeout=limit, **args)

        return cls(host.root.root, send, timeout=timeout, auto_watch=True)

    @classmethod
    def direct(cls, root: Path | str, *, timeout: Optional[float] = DEFAULT_TIMEOUT
               ) -> VariablesProvider:
        return cls(root, DirectCommands(root), timeout=timeout)

    def _ask(self, session: SessionRef, command: str, **args: Any) -> Any:
        return self._send(_session_id(session), command, args, self.timeout)

    def snapshot(self, session: SessionRef) -> dict[str, Any]:
        """The latest snapshot; with ``auto_watch``, the first read subscribes (so a worker
        that snapshots only while watched writes a current one first)."""
        session_id = _session_id(session)
        if self.auto_watch:
            self._ensure_watched(session_id)
        return read_snapshot(self.root.session(session_id))

    def _ensure_watched(self, session_id: str) -> None:
        now = time.monotonic()
        if session_id in self._watched or now - self._watch_tried.get(session_id, -WATCH_RETRY) \
                < WATCH_RETRY:
            return
        self._watch_tried[session_id] = now
        if not (self.root.session(session_id).folder / "session.json").exists():
            return
        try:
            self.watch(session_id, timeout=WATCH_TIMEOUT)
        except FilebridgeError as exc:  # old, busy or stopped: its last snapshot will do
            log.debug("could not subscribe to %s: %s", session_id, exc)

    def list(self, session: SessionRef, *, start: int = 0, count: Optional[int] = None,
             sort: Optional[str] = None, filter: Optional[str] = None) -> dict[str, Any]:
        """The top level from the latest snapshot, sorted and filtered here: no round trip."""
        snapshot = self.snapshot(session)
        entries = sort_and_filter(snapshot["variables"], sort, filter)
        stop = None if count is None else start + count
        return {"version": snapshot.get("version"), "length": len(entries), "start": start,
                "children_kind": "named", "children": entries[start:stop],
                "unevaluated": snapshot.get("unevaluated", []), "time": snapshot.get("time")}

    def inspect(self, session: SessionRef, path: List[str], *, start: int = 0,
                count: int = PAGE, sort: Optional[str] = None,
                filter: Optional[str] = None) -> dict[str, Any]:
        """A page of the children at ``path`` (a list of access keys), asked of the worker."""
        return self._inspect(session, {"path": list(path)}, start, count, sort, filter)

    def inspect_names(self, session: SessionRef, names: List[str], *, start: int = 0,
                      count: int = PAGE, sort: Optional[str] = None,
                      filter: Optional[str] = None) -> dict[str, Any]:
        """Like ``inspect``, with the path given by display names (``["cfg", "servers", "0"]``)."""
        return self._inspect(session, {"names": list(names)}, start, count, sort, filter)

    def _inspect(self, session: SessionRef, where: dict[str, Any], start: int, count: int,
                 sort: Optional[str], filter: Optional[str]) -> dict[str, Any]:
        args: dict[str, Any] = {**where, "start": start, "count": count}
        if sort:
            args["sort"] = sort
        if filter:
            args["filter"] = filter
        return dict(self._ask(session, "inspect", **args))

    def view(self, session: SessionRef, path: List[str], open: bool = False) -> dict[str, Any]:
        """The value as a data-view table (docs/variables.md); refused when it has no viewer.
        ``open``: the worker also shows it as a data view (its id in ``view``, when it says)."""
        if open:
            return dict(self._ask(session, "view", path=list(path), open=True))
        return dict(self._ask(session, "view", path=list(path)))

    def clipboard_format(self, session: SessionRef, path: List[str],
                         mime: str = "text/plain") -> dict[str, Any]:
        return dict(self._ask(session, "clipboard_format", path=list(path), mime=mime))

    def delete(self, session: SessionRef, names: List[str]) -> dict[str, Any]:
        return dict(self._ask(session, "delete", names=list(names)))

    def refresh(self, session: SessionRef) -> dict[str, Any]:
        return dict(self._ask(session, "refresh"))

    def retry(self, session: SessionRef, path: Optional[List[str]] = None) -> dict[str, Any]:
        """Describe again a value that went over the time limit (every such value without
        ``path``); answers the new snapshot's version and what is still over the limit."""
        args: dict[str, Any] = {} if path is None else {"path": list(path)}
        return dict(self._ask(session, "retry", **args))

    def clear(self, session: SessionRef, include_hidden_objects: bool = False) -> dict[str, Any]:
        return dict(self._ask(session, "clear", include_hidden_objects=include_hidden_objects))

    def query_table_summary(self, session: SessionRef, path: List[str]) -> dict[str, Any]:
        return dict(self._ask(session, "query_table_summary", path=list(path)))

    def provide_variables(self, session: SessionRef, parent: Any = None, kind: str = "named",
                          start: int = 0, count: int = PAGE) -> Iterator[ProvidedVariable]:
        """Variables under ``parent`` (None: the top level) of one kind, paged as VS Code asks.

        ``kind="indexed"`` yields the elements of lists, arrays and series; ``"named"`` the
        entries of dicts, attributes and columns, and an array's or series' own attributes.
        """
        if kind not in ("named", "indexed"):
            raise ValueError("kind is 'named' or 'indexed'")
        path = _path(parent)
        if not path:
            if kind == "indexed":
                return
            snapshot = self.snapshot(session)
            language = str(snapshot.get("language", "python"))
            for entry in snapshot["variables"][start:start + count]:
                yield ProvidedVariable.from_entry(entry, (), language)
            return
        if isinstance(parent, ProvidedVariable):
            wanted = (parent.indexed_children_count if kind == "indexed"
                      else parent.named_children_count)
            if not wanted:
                return
        page = dict(self._ask(session, "inspect", path=path, start=start, count=count,
                              children=kind))
        if page.get("children_kind", kind) != kind:
            return  # a worker that pages one kind only answered the other
        for entry in page["children"]:
            yield ProvidedVariable.from_entry(entry, tuple(path), "python")

    def watch(self, session: SessionRef, seconds: float = WATCH_SECONDS,
              timeout: Optional[float] = None) -> int:
        """Tell the worker a viewer is looking (it snapshots only then); renewed in the
        background until ``unwatch`` or ``close``. Returns the snapshot version."""
        session_id = _session_id(session)
        answer = self._send(session_id, "subscribe",
                            {"viewer": self.viewer_id, "seconds": seconds},
                            self.timeout if timeout is None else timeout)
        with self._lock:
            self._watched[session_id] = seconds
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew, daemon=True,
                                                 name="filebridge-variables-renew")
                self._renewer.start()
        return int(answer.get("version") or 0)

    def freshen(self, session: SessionRef, timeout: float = 2.0) -> bool:
        """Ask the worker for an up-to-date snapshot as a one-second viewer (a worker that
        snapshots only while watched may hold a stale one); False when it did not answer."""
        try:
            self._send(_session_id(session), "subscribe",
                       {"viewer": self.viewer_id, "seconds": 1.0}, timeout)
        except FilebridgeError:
            return False
        return True

    def unwatch(self, session: SessionRef, timeout: Optional[float] = None) -> None:
        """Tell the worker this viewer no longer watches it (``timeout``: this provider's)."""
        session_id = _session_id(session)
        with self._lock:
            self._watched.pop(session_id, None)
        try:
            self._send(session_id, "unsubscribe", {"viewer": self.viewer_id},
                       self.timeout if timeout is None else timeout)
        except FilebridgeError:
            pass

    def watching(self, session: SessionRef) -> bool:
        return _session_id(session) in self._watched

    def _renew(self) -> None:
        while not self._stop_renewing.wait(WATCH_SECONDS / 3):
            with self._lock:
                watched = dict(self._watched)
            for session_id, seconds in watched.items():
                if not self.root.session(session_id).folder.is_dir():
                    with self._lock:
                        self._watched.pop(session_id, None)  # the session ended
                    continue
                try:
                    self._send(session_id, "subscribe",
                               {"viewer": self.viewer_id, "seconds": seconds}, RENEW_TIMEOUT)
                except FilebridgeError as exc:
                    log.debug("could not renew the subscription to %s: %s", session_id, exc)

    def subscribe(self, callback: Callable[[VariablesChanged], None]) -> None:
        """Call ``callback`` whenever a session publishes a new snapshot (starts a watcher)."""
        with self._lock:
            self._subscribers.append(callback)
            if self._watcher is None:
                self._watcher = WorkspaceWatcher(self.root, self._emit)
                self._watcher.start()

    def _emit(self, change: VariablesChanged) -> None:
        for callback in list(self._subscribers):
            try:
                callback(change)
            except Exception:
                log.exception("variables subscriber failed")

    def close(self) -> None:
        self._stop_renewing.set()
        for session_id in list(self._watched):
            self.unwatch(session_id, CLOSE_TIMEOUT)
        with self._lock:
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher = None
        closer = getattr(self._send, "close", None)
        if closer is not None:
            closer()


def sort_and_filter(entries: list[dict[str, Any]], sort: Optional[str],
                    text: Optional[str]) -> list[dict[str, Any]]:
    """Entries whose name contains ``text`` (any case), ordered by name, size or type."""
    if text:
        needle = text.lower()
        entries = [e for e in entries if needle in str(e.get("display_name", "")).lower()]
    if sort == "name":
        entries = sorted(entries, key=lambda e: str(e.get("display_name", "")).lower())
    elif sort == "size":
        entries = sorted(entries, key=lambda e: -(e.get("size") or -1))
    elif sort == "type":
        entries = sorted(entries, key=lambda e: str(e.get("display_type", "")).lower())
    elif sort is not None:
        raise ValueError("sort is one of name, size, type")
    return entries


class WorkspaceWatcher:
    """Watches every session's workspace.lock under a root; reports each new snapshot once.

    Session folders are rescanned every ``rescan`` seconds; the doorbells are waited on the
    fastest way the filesystem allows (inotify, or polling on network filesystems).
    """

    def __init__(self, root: RootLayout, callback: Callable[[VariablesChanged], None], *,
                 force_poll: Optional[bool] = None, rescan: float = 1.0) -> None:
        self.root = root
        self.callback = callback
        self.rescan = rescan
        self._waiter = open_waiter(choose_strategy(root.sessions, force_poll))
        self._bells: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._scan(report=False)
        self._thread = threading.Thread(target=self._run, name="filebridge-variables",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._waiter.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._waiter.close()

    def _scan(self, report: bool) -> None:
        try:
            folders = [p for p in self.root.sessions.iterdir() if p.is_dir()]
        except OSError:
            return
        for folder in folders:
            if folder.name not in self._bells and is_valid_session_id(folder.name):
                try:
                    self._waiter.watch(folder, probe=["workspace.lock"])
                except OSError as exc:
                    log.warning("cannot watch %s: %s", folder, exc)
                    continue
                self._bells[folder.name] = b"" if report else read_counter(
                    folder / "workspace.lock")
            self._check(folder.name)

    def _check(self, session_id: str) -> None:
        layout = self.root.session(session_id)
        bell = read_counter(layout.workspace_lock)
        if not bell or bell == self._bells.get(session_id):
            return
        self._bells[session_id] = bell
        try:
            snapshot = read_snapshot(layout)
        except NoSnapshot:
            return
        self.callback(VariablesChanged(session_id, int(snapshot.get("version") or 0),
                                       list(snapshot.get("assigned") or []),
                                       list(snapshot.get("removed") or []),
                                       int(snapshot.get("length") or 0)))

    def _run(self) -> None:
        next_scan = time.monotonic() + self.rescan
        while not self._stop.is_set():
            changes = self._waiter.wait(max(0.0, next_scan - time.monotonic()))
            if self._stop.is_set():
                return
            try:
                for change in changes:
                    if change.name in (None, "workspace.lock", "workspace.json"):
                        self._check(change.folder.name)
                if time.monotonic() >= next_scan:
                    self._scan(report=True)
                    next_scan = time.monotonic() + self.rescan
            except Exception:  # the watcher must outlive one unreadable folder
                log.exception("variables watcher failed")

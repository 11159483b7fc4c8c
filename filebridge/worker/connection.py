"""A worker's connection to its session folder: send, call, and the host's requests."""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any, Optional

from filebridge.errors import CallTimeout, NotConnected
from filebridge.wire.answers import AnswerFiles, AnswerLog, Inbox
from filebridge.wire.channel import Channel
from filebridge.wire.files import (
    CounterReader,
    file_size,
    read_counter,
    read_from,
    set_fresh_reads,
)
from filebridge.wire.host_status import HostWatch, holder_is_running, read_holder
from filebridge.wire.layout import SessionLayout, default_root, new_session_id
from filebridge.wire.logs import AppendLog, read_by_host, rotation_limit
from filebridge.wire.messages import Request
from filebridge.wire.waiting import choose_strategy, filesystem_type
from filebridge.worker.background import BackgroundService, CommandHandler, ping
from filebridge.worker.session_files import prepare_session, python_identity

__all__ = ["DEFAULT_TIMEOUT", "Connection", "open_connection"]

DEFAULT_TIMEOUT = float(os.environ.get("FILEBRIDGE_CALL_TIMEOUT") or 10.0)


class Connection:
    """One worker process's (or fork's) link to a session folder."""

    def __init__(self, layout: SessionLayout, *, strategy: str,
                 identity: Optional[dict[str, Any]] = None) -> None:
        self.layout = layout
        self.strategy = strategy
        self._handlers: dict[str, CommandHandler] = {"ping": ping}
        self._service: BackgroundService

        def start_reading() -> None:
            # The command reader starts where the log ends before session.json tells the host
            # the session is here: the host may send a command the moment it sees it.
            self._service = BackgroundService(layout, strategy, self._handlers)

        try:
            self.info = prepare_session(layout, identity or python_identity(), strategy,
                                        before_announcing=start_reading)
        except BaseException:
            if hasattr(self, "_service"):  # session.json could not be written (a full disk)
                self._service.stop()
            raise
        inbox: Inbox = (AnswerFiles(layout.responses) if self.info["answers"] == "files"
                        else AnswerLog(layout.response_log, layout.response_lock))
        self._requests = Channel(layout.request_log, layout.request_lock, inbox, strategy,
                                 wake=(layout.root.wake_bell, layout.id),
                                 rotate_at=rotation_limit(),
                                 released=read_by_host(layout.host_offset))
        self._host_heartbeat = CounterReader(layout.root.host_heartbeat)
        self._closed = False

    @property
    def session_id(self) -> str:
        return self.layout.id

    @property
    def session_dir(self) -> Path:
        return self.layout.folder

    def start(self) -> None:
        self._service.start()
        self._announce()
        self.send("attach", language=self.info.get("language", "python"),
                  versions=self.info.get("versions", {}), cwd=self.info["cwd"],
                  machine=self.info["machine"])

    def _announce(self) -> None:
        """Tell a host that polls about this new session (docs/protocol.md, "Waking a host
        that polls"); the attach that follows rings the wake bell."""
        started = AppendLog(self.layout.root.started_log)
        try:
            started.append(self.layout.id.encode() + b"\n")
        except OSError:
            pass  # a host still finds the folder by listing, only later
        finally:
            started.close()

    def send(self, command: str, **args: Any) -> str:
        """Fire and forget; return the request id."""
        self._check_open()
        return self._requests.post(command, args, answer=False).id

    def call(self, command: str, timeout: Optional[float] = None, **args: Any) -> Any:
        """Ask the host and wait for the answer to this very request.

        Raises CallTimeout (saying how long it waited and whether a host looked alive), or the
        host's error as a RemoteError (NoHandler for an unknown command).
        """
        self._check_open()
        # Where every read is a round trip (a mount), the host's heartbeat is first read once
        # the call has waited a while, not before every call.
        beats: list[bytes] = [] if self._host_heartbeat.fresh else [self._host_heartbeat.read()]
        watch = HostWatch(self.layout.root)

        def gone() -> bool:
            if not beats:
                beats.append(self._host_heartbeat.read())
            return watch.gone()

        limit = DEFAULT_TIMEOUT if timeout is None else timeout
        request, answer, waited = self._requests.call(command, args, limit, gone=gone)
        if answer is None:
            if waited < limit:
                raise self._host_left(command, request, waited)
            raise self._timeout(command, request, waited, beats[0] if beats else None)
        return answer.unwrap()

    def on_command(self, name: str, handler: CommandHandler) -> None:
        """Answer the host's ``name`` requests with ``handler(args)`` on the background thread."""
        self._handlers[name] = handler

    def close(self, detach: bool = True) -> None:
        if self._closed:
            return
        if detach:
            try:
                self.send("detach")
            except OSError:
                pass
        self._closed = True
        atexit.unregister(self.close)  # nothing of a closed connection is kept until exit
        self._service.stop()
        self._host_heartbeat.close()
        self._requests.close()

    def _check_open(self) -> None:
        if self._closed:
            raise NotConnected("this filebridge connection is closed")

    def _timeout(self, command: str, request: Request, waited: float,
                 host_beat: Optional[bytes]) -> CallTimeout:
        if self._answer_was_written(request.id):
            kind = filesystem_type(self.layout.folder) or "this filesystem"
            message = (f"no answer to {command!r} (request {request.id}) seen within "
                       f"{waited:.3g} s, though the host wrote it: {kind} hid the host's write "
                       "from this worker; set FILEBRIDGE_POLL=1 so it reads afresh")
            return CallTimeout(message, command=command, waited=waited, host_alive=True)
        alive, why = self._host_status(host_beat)
        message = (f"no answer to {command!r} (request {request.id}) within {waited:.3g} s: "
                   f"{why}")
        return CallTimeout(message, command=command, waited=waited, host_alive=alive)

    def _host_left(self, command: str, request: Request, waited: float) -> CallTimeout:
        holder = read_holder(self.layout.root)
        what = (f"the host (pid {holder.get('pid')} on {holder.get('machine')}) is gone"
                if holder else "the host stopped")
        return CallTimeout(f"no answer to {command!r} (request {request.id}): {what} while "
                           f"this call waited ({waited:.2g} s); start one with "
                           "`filebridge serve`", command=command, waited=waited,
                           host_alive=False)

    def _answer_was_written(self, request_id: str) -> bool:
        """Whether the answer is in response.log after all, read afresh from the server."""
        try:
            size = file_size(self.layout.response_log)
            tail = read_from(self.layout.response_log, max(0, size - (1 << 20)), 1 << 20)
        except OSError:
            return False
        return f'"id":"{request_id}"'.encode() in tail

    def _host_status(self, beat_before: Optional[bytes]) -> tuple[bool, str]:
        """``beat_before``: the host's heartbeat early in the wait (None: not read)."""
        root = self.layout.root
        if beat_before is not None and read_counter(root.host_heartbeat) not in (b"",
                                                                                 beat_before):
            return True, "a host is serving this root but did not answer in time"
        holder = read_holder(root)
        if not holder:
            return False, "no host serves this root (start one with `filebridge serve`)"
        where = f"pid {holder.get('pid')} on {holder.get('machine')}"
        if holder_is_running(root):
            return True, f"the host ({where}) is running but did not answer in time"
        return False, f"the host last seen ({where}) is gone; start one with `filebridge serve`"


def open_connection(session_dir: Optional[str | Path] = None, *,
                    force_poll: Optional[bool] = None,
                    identity: Optional[dict[str, Any]] = None) -> Connection:
    """Open (and create when needed) a session folder and start its background thread."""
    chosen = session_dir or os.environ.get("FILEBRIDGE_SESSION")
    if chosen:
        layout = SessionLayout(Path(chosen).expanduser())
    else:
        layout = SessionLayout(default_root() / "sessions" / new_session_id())
    layout.folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    strategy = choose_strategy(layout.folder.parent, force_poll)
    if strategy == "polling":  # no events to trust: no cached attributes either
        for folder in (layout.folder, layout.folder.parent, layout.root.root):
            set_fresh_reads(folder, True)
    connection = Connection(layout, strategy=strategy, identity=identity)
    connection.start()
    atexit.register(connection.close)
    return connection

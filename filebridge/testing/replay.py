"""Play a recording's worker side against a host, and compare the answers with the recorded ones.

The replaying worker is a real connection to a new session folder under the host's root: it
attaches and detaches itself (the recorded ``attach`` and ``detach`` are not sent again), then
sends each recorded request in order, waiting as the recording did (``speed`` 2 halves every
gap; 0 sends at once). Files the recording carries for a request are written into the new
session folder first. A request whose outcome was recorded is sent wanting an answer, even
where the worker wanted none, so the host's outcome can be compared; the handler runs the same.

Answers are compared after one normalisation: the request's own id, wherever it appears in an
answer (a view is named after the request that opened it), reads as ``<request id>`` on both
sides. Anything else that differs is a difference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from filebridge.testing.recording import Recording, outcome_of
from filebridge.wire.layout import new_session_id
from filebridge.worker.connection import open_connection

__all__ = ["Difference", "ReplayReport", "replay"]

SKIPPED = ("attach", "detach")
ID_MARK = "<request id>"


@dataclass
class Difference:
    index: int
    command: str
    recorded: Any
    replayed: Any

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "command": self.command, "recorded": self.recorded,
                "replayed": self.replayed}


@dataclass
class ReplayReport:
    session: str
    requests: int = 0  # sent again
    compared: int = 0  # with an answer recorded and one received
    same: int = 0
    unanswered: int = 0  # fire and forget, or no answer recorded
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0
    recorded_seconds: float = 0.0

    @property
    def fidelity(self) -> float:
        """The share of compared answers that came back the same (1.0 when none compared)."""
        return self.same / self.compared if self.compared else 1.0

    def as_json(self) -> dict[str, Any]:
        return {"session": self.session, "requests": self.requests, "compared": self.compared,
                "same": self.same, "unanswered": self.unanswered, "fidelity": self.fidelity,
                "seconds": round(self.seconds, 6),
                "recorded_seconds": round(self.recorded_seconds, 6),
                "differences": [d.as_json() for d in self.differences]}

    def summary(self) -> str:
        text = (f"replayed {self.requests} request(s) into session {self.session} in "
                f"{self.seconds:.3f} s (recorded over {self.recorded_seconds:.3f} s): "
                f"{self.same} of {self.compared} answer(s) the same")
        if self.unanswered:
            text += f", {self.unanswered} without an answer to compare"
        return text


def _normalise(value: Any, request_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(request_id, ID_MARK) if request_id else value
    if isinstance(value, list):
        return [_normalise(item, request_id) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item, request_id) for key, item in value.items()}
    return value


def replay(recording: Recording, root: Path | str, *, session_id: Optional[str] = None,
           speed: float = 1.0, timeout: float = 30.0,
           force_poll: Optional[bool] = None) -> ReplayReport:
    """Send the recording's requests into a new session under ``root``; compare answers."""
    session_id = session_id or new_session_id()
    folder = Path(root).expanduser() / "sessions" / session_id
    identity = {k: v for k, v in recording.info.items()
                if k in ("language", "versions")} or None
    report = ReplayReport(session_id)
    wanted = [r for r in recording.requests if r.command not in SKIPPED]
    if recording.requests:
        report.recorded_seconds = recording.requests[-1].t - recording.requests[0].t
    connection = open_connection(folder, force_poll=force_poll, identity=identity)
    began = time.monotonic()
    try:
        first_t = wanted[0].t if wanted else 0.0
        for index, entry in enumerate(wanted):
            if speed > 0:
                delay = (entry.t - first_t) / speed - (time.monotonic() - began)
                if delay > 0:
                    time.sleep(delay)
            report.requests += 1
            entry.write_files(folder)
            if entry.outcome is None:
                connection.send(entry.command, **entry.args)
                report.unanswered += 1
                continue
            # The connection's own channel, for the id of the request it posts: the answer
            # names that id where the recorded answer named the recorded one.
            request, answer, waited = connection._requests.call(entry.command, entry.args,
                                                                timeout)
            got = outcome_of(answer) or {"ok": False, "error": {
                "code": "timeout", "message": f"no answer within {waited:.3g} s"}}
            report.compared += 1
            before = _normalise(entry.outcome, entry.id)
            after = _normalise(got, request.id)
            if before == after:
                report.same += 1
            else:
                report.differences.append(Difference(index, entry.command, before, after))
    finally:
        report.seconds = time.monotonic() - began
        connection.close()
    return report

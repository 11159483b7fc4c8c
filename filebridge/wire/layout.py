"""Where each file of a root and of a session folder lives (docs/protocol.md)."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

__all__ = [
    "DEFAULT_ROOT",
    "RootLayout",
    "SessionLayout",
    "default_root",
    "is_valid_session_id",
    "make_private_dir",
    "new_session_id",
]

DEFAULT_ROOT = "~/.filebridge"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


def default_root() -> Path:
    """FILEBRIDGE_ROOT, else ~/.filebridge."""
    return Path(os.environ.get("FILEBRIDGE_ROOT") or os.path.expanduser(DEFAULT_ROOT))


def is_valid_session_id(name: str) -> bool:
    return _SESSION_ID.fullmatch(name) is not None


def new_session_id() -> str:
    return secrets.token_hex(6)


def make_private_dir(path: Path) -> None:
    """Create a folder (and missing parents) readable by its owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


class RootLayout:
    """The paths of one filebridge root."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.sessions = self.root / "sessions"
        self.host_json = self.root / "host.json"
        self.host_lease = self.root / "host.lease"
        self.host_heartbeat = self.root / "host.heartbeat"
        self.issued_tokens = self.root / "issued-tokens.json"
        self.host_state = self.root / "host-state"
        # Rung (with its session id) by a worker the host may be polling slowly: see
        # docs/protocol.md, "Waking a host that polls".
        self.wake_bell = self.sessions / "wake.lock"
        # A line per session a worker started (its id), appended before it rings the bell:
        # a listing of sessions/ lags on network mounts, and two new sessions ringing at once
        # would leave only one id in the bell.
        self.started_log = self.sessions / "started.log"

    def journal_mirror(self, session_id: str) -> Path:
        return self.host_state / f"{session_id}.offset"

    def session(self, session_id: str) -> SessionLayout:
        return SessionLayout(self.sessions / session_id)


class SessionLayout:
    """The paths of one session folder."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.id = self.folder.name
        self.session_json = self.folder / "session.json"
        self.request_log = self.folder / "request.log"
        self.request_lock = self.folder / "request.lock"
        self.responses = self.folder / "responses"
        self.response_log = self.folder / "response.log"
        self.response_lock = self.folder / "response.lock"
        self.command_log = self.folder / "command.log"
        self.command_lock = self.folder / "command.lock"
        self.command_responses = self.folder / "command_responses"
        self.command_response_lock = self.folder / "command_response.lock"
        self.heartbeat = self.folder / "heartbeat"
        self.host_offset = self.folder / "host.offset"
        self.workspace_json = self.folder / "workspace.json"
        self.workspace_lock = self.folder / "workspace.lock"
        self.plot_png = self.folder / "plot.png"
        self.plot_lock = self.folder / "plot.lock"

    @property
    def root(self) -> RootLayout:
        return RootLayout(self.folder.parent.parent)

    def response_file(self, request_id: str) -> Path:
        return self.responses / f"{request_id}.json"

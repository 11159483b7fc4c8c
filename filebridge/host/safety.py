"""Which session folders the host agrees to serve."""

from __future__ import annotations

import os
import stat
from typing import Optional

from filebridge.wire.codec import loads
from filebridge.wire.layout import RootLayout, SessionLayout, is_valid_session_id

__all__ = ["check_root", "issued_tokens", "why_refused"]


def issued_tokens(root: RootLayout) -> set[str]:
    try:
        tokens = loads(root.issued_tokens.read_bytes())
    except (OSError, ValueError):
        return set()
    return {t for t in tokens if isinstance(t, str)} if isinstance(tokens, list) else set()


def _token(layout: SessionLayout) -> Optional[str]:
    try:
        token = loads(layout.session_json.read_bytes()).get("token")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def why_refused(layout: SessionLayout, trusted_tokens: set[str]) -> Optional[str]:
    """A sentence saying why the folder must not be served, or None when it may be."""
    if not is_valid_session_id(layout.id):
        return "its name is not a valid session id ([A-Za-z0-9_.-], at most 64 characters)"
    if not hasattr(os, "getuid"):
        return None
    for path in (layout.folder, layout.request_log):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{path.name} cannot be read: {exc.strerror}"
        if stat.S_ISLNK(st.st_mode):
            return f"{path.name} is a symbolic link"
        if st.st_mode & 0o022:
            mode = stat.S_IMODE(st.st_mode)
            return (f"{path.name} is writable by group or others (mode {mode:o});"
                    f" run: chmod go-w {path}")
        if st.st_uid != os.getuid():
            token = _token(layout)
            if token is None or token not in trusted_tokens:
                return (f"{path.name} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}),"
                        " and its token was not issued by `filebridge new-session` on this root")
    return None


def check_root(root: RootLayout) -> Optional[str]:
    """Why the root itself is unsafe to serve, or None."""
    try:
        st = os.stat(root.root)
    except OSError as exc:
        return f"{root.root} cannot be read: {exc.strerror}"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{root.root} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
    if st.st_mode & 0o022:
        return f"{root.root} is writable by group or others; run: chmod 700 {root.root}"
    return None

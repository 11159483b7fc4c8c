"""A channel into a session's request log that follows the session's answer mode."""

from __future__ import annotations

from filebridge.wire.answers import AnswerFiles, AnswerLog, Inbox
from filebridge.wire.channel import Channel
from filebridge.wire.codec import loads
from filebridge.wire.layout import SessionLayout, make_private_dir
from filebridge.wire.logs import read_by_host, rotation_limit
from filebridge.wire.waiting import choose_strategy

__all__ = ["session_channel", "session_inbox"]


def session_inbox(layout: SessionLayout) -> Inbox:
    """Where the host writes this session's answers, as its session.json asks."""
    try:
        mode = loads(layout.session_json.read_bytes()).get("answers")
    except (OSError, ValueError, AttributeError):
        mode = None
    if mode == "log":
        return AnswerLog(layout.response_log, layout.response_lock)
    make_private_dir(layout.responses)
    return AnswerFiles(layout.responses)


def session_channel(layout: SessionLayout) -> Channel:
    return Channel(layout.request_log, layout.request_lock, session_inbox(layout),
                   choose_strategy(layout.folder), rotate_at=rotation_limit(),
                   released=read_by_host(layout.host_offset))

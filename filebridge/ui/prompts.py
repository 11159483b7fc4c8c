"""Prompts the web page answers: rstudioapi's ``showPrompt`` and ``askForPassword``.

A worker's ``rstudioapi`` call with action ``show_prompt`` or ``ask_for_password`` waits here
until a page answers it (a value, or cancel: ``None``), nobody does in time, or no page is open.
Pages learn of pending prompts from ``api/state`` (each one bumps the activity version, so a
long poll returns at once) and answer with ``POST api/prompts/<id>``; the first answer wins.
A page counts as open while one of its long polls is waiting, or one ended moments ago.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from filebridge.errors import RemoteError
from filebridge.host import Call, Host
from filebridge.host.dispatch import HandlerSpec
from filebridge.ui.activity import Activity

__all__ = ["DEFAULT_TIMEOUT", "PAGE_GONE_AFTER", "PROMPT_ACTIONS", "PagePrompts",
           "install_prompt_handler"]

PROMPT_ACTIONS = ("show_prompt", "ask_for_password")
DEFAULT_TIMEOUT = 100.0
# A page between two long polls is still open; a page gone for longer than this is closed.
PAGE_GONE_AFTER = 5.0
MAX_TEXT = 2000


@dataclass
class _Prompt:
    id: str
    session_id: str
    action: str
    title: str
    message: str
    default: str
    created: float
    answered: threading.Event = field(default_factory=threading.Event)
    value: Optional[str] = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "session": self.session_id, "action": self.action,
                "masked": self.action == "ask_for_password", "title": self.title,
                "message": self.message, "default": self.default, "created": self.created}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # R's character vectors arrive as lists when longer than one
        value = "\n".join(str(v) for v in value)
    return str(value)[:MAX_TEXT]


class PagePrompts:
    """The prompts waiting for a page, and whether a page is there to answer them."""

    def __init__(self, activity: Activity, page_gone_after: float = PAGE_GONE_AFTER) -> None:
        self.activity = activity
        self.page_gone_after = page_gone_after
        self._lock = threading.Lock()
        self._pending: dict[str, _Prompt] = {}
        self._numbers = itertools.count(1)
        self._polls_waiting = 0
        self._last_poll_end = 0.0

    # -- the page's presence -------------------------------------------------------------

    def poll_started(self) -> None:
        with self._lock:
            self._polls_waiting += 1

    def poll_ended(self) -> None:
        with self._lock:
            self._polls_waiting -= 1
            self._last_poll_end = time.monotonic()

    def page_open(self) -> bool:
        with self._lock:
            return (self._polls_waiting > 0
                    or time.monotonic() - self._last_poll_end < self.page_gone_after)

    # -- prompts -------------------------------------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.as_json() for p in self._pending.values()]

    def ask(self, session_id: str, action: str, args: dict[str, Any],
            timeout: float) -> Optional[str]:
        """Show a prompt on the page and wait for its answer; None when it is cancelled.

        Raises ``RemoteError`` ``not_available`` when no page is open (at once, or when the
        page goes away while the prompt waits) and ``timeout`` when nobody answers in time.
        """
        if not self.page_open():
            raise RemoteError("not_available", "no web page is open to show the prompt: open "
                                               "the address `filebridge serve --ui` printed")
        if action == "ask_for_password":
            title, message, default = "Password", _text(args.get("prompt")), ""
        else:
            title, message = _text(args.get("title")), _text(args.get("message"))
            default = _text(args.get("default"))
        prompt = _Prompt(f"p{next(self._numbers)}", session_id, action, title, message,
                         default, time.time())
        with self._lock:
            self._pending[prompt.id] = prompt
        self.activity.bump()
        deadline = time.monotonic() + timeout
        try:
            while not prompt.answered.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    raise RemoteError("timeout", f"nobody answered the prompt on the web page "
                                                 f"within {timeout:.0f} s")
                if not self.page_open():
                    raise RemoteError("not_available", "the web page was closed before the "
                                                       "prompt was answered")
            return prompt.value
        finally:
            with self._lock:
                self._pending.pop(prompt.id, None)
            self.activity.bump()  # other pages take the dialog down

    def answer(self, prompt_id: str, value: Optional[str]) -> bool:
        """Answer a pending prompt (``None``: cancelled); False if it is no longer waiting."""
        with self._lock:
            prompt = self._pending.pop(prompt_id, None)
        if prompt is None:
            return False
        prompt.value = value
        prompt.answered.set()
        return True


def install_prompt_handler(host: Host, prompts: PagePrompts) -> None:
    """Answer rstudioapi's prompts on the page; every other action (and prompts while no page
    is open) goes to the ``rstudioapi`` handler registered before, if any.

    A handler registered later replaces this one: an editor integration that does so answers
    prompts itself.
    """
    previous: Optional[HandlerSpec] = host.handler_spec("rstudioapi")
    limit = max(1.0, host.handler_deadline - 2.0)

    def rstudioapi(call: Call) -> Any:
        action = call.args.get("action")
        if action in PROMPT_ACTIONS and (previous is None or prompts.page_open()):
            args = call.args.get("args")
            wanted = call.args.get("timeout")
            timeout = float(wanted) if isinstance(wanted, (int, float)) and wanted > 0 \
                else DEFAULT_TIMEOUT
            value = prompts.ask(call.session.id, str(action),
                                args if isinstance(args, dict) else {}, min(timeout, limit))
            return {"value": value}
        if previous is None:
            raise RemoteError("no_handler", f"no editor integration answers rstudioapi "
                                            f"action {action!r} on this host")
        return previous.func(call)

    host.register("rstudioapi", rstudioapi)

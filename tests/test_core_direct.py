"""Handlers called directly through ``filebridge.testing.direct``: the host's own dispatch
(path mapping, errors turned into what a worker sees) without a session folder's logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.errors import HandlerFailed, NoHandler, RemoteError
from filebridge.host import Call, Host
from filebridge.host.viewers.service import install_viewers
from filebridge.testing.direct import call_handler


def test_a_handler_answers_with_mapped_arguments_and_its_session(tmp_path: Path) -> None:
    host = Host(tmp_path / "root", path_map=[("/home/u/proj", "/mnt/box/proj")])
    seen: list[Call] = []
    host.register("where", lambda call: (seen.append(call), call.args)[1])
    got = call_handler(host, "where", session="s1", info={"language": "python"},
                       file="/home/u/proj/a.py", other="/elsewhere/b.py")
    assert got == {"file": "/mnt/box/proj/a.py", "other": "/elsewhere/b.py"}
    (call,) = seen
    assert call.command == "where" and call.request.answer
    assert call.request.args == {"file": "/home/u/proj/a.py", "other": "/elsewhere/b.py"}
    assert call.session.id == "s1" and call.session.language == "python"
    assert call.layout.folder == host.root.session("s1").folder
    assert call.layout.folder.is_dir()


def test_errors_are_what_a_worker_would_see(tmp_path: Path) -> None:
    host = Host(tmp_path / "root")

    def refuse(call: Call) -> None:
        raise RemoteError("bad_request", "'n' must be positive", {"n": call.args["n"]})

    host.register("refuse", refuse)
    host.register("crash", lambda call: 1 / 0)
    with pytest.raises(RemoteError, match="must be positive") as refused:
        call_handler(host, "refuse", n=-1)
    assert refused.value.code == "bad_request" and refused.value.details == {"n": -1}
    with pytest.raises(HandlerFailed, match="ZeroDivisionError") as crashed:
        call_handler(host, "crash")
    assert crashed.value.code == "handler_error"
    with pytest.raises(NoHandler, match="frobnicate"):
        call_handler(host, "frobnicate")


def test_a_feature_handler_runs_without_a_worker(tmp_path: Path) -> None:
    host = Host(tmp_path / "root")
    viewers = install_viewers(host)
    call_handler(host, "browser", session="web", view="0000abcd", url="https://example.org/",
                 title="t" * 1000)
    (view,) = viewers.store.views("web")
    assert view.id == "0000abcd" and view.url == "https://example.org/"
    assert len(view.title) < 1000, "the title is cut as for a worker's call"
    with pytest.raises(RemoteError) as refused:
        call_handler(host, "webview", session="web", file="/etc/hostname", dir="/")
    assert refused.value.code != "handler_error", "a refusal, not a crash"

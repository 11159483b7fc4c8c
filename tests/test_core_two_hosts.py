"""Two hosts in one process (an editor that embeds Host and restarts it) share nothing: each
has its own features' parts, page panels and variables provider, and stopping one leaves the
other serving with nothing of the stopped one running."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

from filebridge.cli.serve import build_host, build_parser_for_serve
from filebridge.host import Host
from filebridge.host.variables.service import provider_for
from filebridge.host.viewers.service import Viewers, viewers_of
from filebridge.ui.panels import Panel, PanelRequest, PanelResponse, PanelRoute, json_response
from filebridge.worker.connection import open_connection


def serve(root: Path) -> tuple[Host, Viewers, set[int]]:
    """A host built and started the way ``filebridge serve --ui`` does it, and the threads
    it started."""
    before = {t.ident for t in threading.enumerate()}
    host = build_host(build_parser_for_serve().parse_args(["--root", str(root), "--ui"]))
    host.start()
    viewers = viewers_of(host)
    assert viewers is not None and viewers.ui is not None
    provider_for(host)  # the variables pane's watcher runs too
    started = {t.ident for t in threading.enumerate() if t.ident is not None} - before
    return host, viewers, started


def page_state(viewers: Viewers) -> dict[str, object]:
    assert viewers.ui is not None
    with urllib.request.urlopen(f"{viewers.ui.url}api/state", timeout=30) as response:
        state = json.loads(response.read())
    assert isinstance(state, dict)
    return state


def panel_names(viewers: Viewers) -> list[str]:
    panels = page_state(viewers)["panels"]
    assert isinstance(panels, list)
    return [str(item["name"]) for item in panels]


def ports_of(viewers: Viewers) -> list[int]:
    assert viewers.ui is not None
    return [viewers.ui.port, viewers.ui.view_port]


def only_a_panel(tmp_path: Path) -> Panel:
    script = tmp_path / "only_a.js"
    script.write_text("filebridge.registerPanel({name: 'only_a', title: 'A', render() {}});\n")

    def routes(host: Host) -> dict[str, PanelRoute]:
        def root(request: PanelRequest) -> PanelResponse:
            return json_response({"root": str(host.root.root)})
        return {"root": root}

    return Panel(name="only_a", title="A", script=script, routes=routes)


def test_two_hosts_in_one_process_share_nothing_and_one_stops_alone(tmp_path: Path) -> None:
    first, first_viewers, first_threads = serve(tmp_path / "a")
    second, second_viewers, _ = serve(tmp_path / "b")
    worker = None
    try:
        assert first_viewers is not second_viewers
        assert first_viewers.store is not second_viewers.store
        assert provider_for(first) is not provider_for(second)
        assert first.parts is not second.parts
        assert first_viewers.ui is not None and second_viewers.ui is not None
        assert first_viewers.ui.panels is not second_viewers.ui.panels

        first_viewers.ui.panels.register(only_a_panel(tmp_path))
        assert "only_a" in panel_names(first_viewers)
        assert "only_a" not in panel_names(second_viewers), "a panel leaked to the other page"
        assert "variables" in panel_names(second_viewers)
        with urllib.request.urlopen(f"{first_viewers.ui.url}api/panels/only_a/root",
                                    timeout=30) as response:
            assert json.loads(response.read()) == {"root": str(first.root.root)}
        try:
            urllib.request.urlopen(f"{second_viewers.ui.url}api/panels/only_a/root", timeout=30)
            raise AssertionError("the other page answered a panel it does not have")
        except urllib.error.HTTPError as error:
            assert error.code == 404

        first_ports = ports_of(first_viewers)
        first_provider = provider_for(first)
        first.stop()

        left = [t.name for t in threading.enumerate()
                if t.ident in first_threads and t.is_alive()]
        assert left == [], f"threads of the stopped host still run: {left}"
        for port in first_ports:
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
        assert viewers_of(first) is None and first.parts == {}
        assert first_provider._stop_renewing.is_set(), "the stopped host's provider still runs"

        # The other host serves on: its page, its panels, its provider and a worker's call.
        assert viewers_of(second) is second_viewers
        assert "variables" in panel_names(second_viewers)
        assert provider_for(second) is not first_provider
        worker = open_connection(second.root.session("still").folder)
        assert worker.call("echo", text="hi", timeout=30) == {"text": "hi"}
        sessions = page_state(second_viewers)["sessions"]
        assert isinstance(sessions, list) and [s["id"] for s in sessions] == ["still"]
    finally:
        if worker is not None:
            worker.close()
        first.stop()
        second.stop()

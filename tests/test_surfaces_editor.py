"""`filebridge serve --stdio` driven by the reference editor client, every message checked
against the protocol's JSON Schemas; and `filebridge events --json`."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from editor_client import SCHEMAS, EditorClient, RpcFailure, check, clean_env

from filebridge.testing.workers import PythonWorker

# Worker code that makes ``png``, a 3x2 grey PNG, without an imaging library.
TINY_PNG = """
import struct, zlib
def chunk(kind, data):
    body = kind + data
    return struct.pack('>I', len(data)) + body + struct.pack('>I', zlib.crc32(body))
png = (b'\\x89PNG\\r\\n\\x1a\\n'
       + chunk(b'IHDR', struct.pack('>IIBBBBB', 3, 2, 8, 0, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(b'\\0\\0\\0\\0' * 2)) + chunk(b'IEND', b''))
"""


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def editor(root: Path) -> Iterator[EditorClient]:
    client = EditorClient(root)
    try:
        yield client
    finally:
        client.kill()


def test_an_editor_opens_a_data_view_page_and_shuts_down_leaving_no_process(
        editor: EditorClient, root: Path) -> None:
    caps = editor.request("initialize", {"client": {"name": "reference", "version": "1"}})
    assert caps["root"] == str(root)
    assert "view/tablePage" in caps["methods"] and caps["protocolVersion"] == 1
    assert editor.request("subscribe", {}) == {"topics": ["sessions", "variables", "views"]}

    worker = PythonWorker(root / "sessions" / "py1")
    try:
        added = editor.wait_notification("session/added")
        assert added["session"]["id"] == "py1" and added["session"]["language"] == "python"
        editor.wait_notification("session/attached")
        worker.run("import filebridge.worker.viewers as v\n"
                   "v.dataview([{'city': c, 'n': i} for i, c in enumerate('abcdefghij')], 'towns')")
        opened = editor.wait_notification("view/opened")
        assert opened["view"]["kind"] == "table" and opened["view"]["title"] == "towns"
        view_id = opened["view"]["id"]

        first = editor.request("view/tablePage", {"session": "py1", "view": view_id})
        fields = {column["name"]: column["field"] for column in first["columns"]}
        assert first["total"] == 10 and first["rows"][0][-2:] == ["a", 0]
        page = editor.request("view/tablePage", {"session": "py1", "view": view_id, "start": 2,
                                                 "count": 3, "sort": f"{fields['n']}:desc"})
        assert [row[-1] for row in page["rows"]] == [7, 6, 5]
        filtered = editor.request("view/tablePage", {"session": "py1", "view": view_id,
                                                     "columnFilters": {fields["city"]: "c"}})
        assert [row[-2:] for row in filtered["rows"]] == [["c", 2]]
        with pytest.raises(RpcFailure) as unsortable:
            editor.request("view/tablePage", {"session": "py1", "view": view_id, "sort": "zz"})
        assert unsortable.value.code == -32602
        session = editor.request("session/get", {"session": "py1"})
        assert [v["id"] for v in session["views"]] == [view_id]
        assert editor.request("sessions/list")["sessions"][0]["status"] == "alive"
        log = editor.request("requests/log", {"session": "py1", "limit": 2})["requests"]
        assert [entry["command"] for entry in log] == ["dataview", "attach"]
        pong = editor.request("session/command", {"session": "py1", "command": "ping"})
        assert pong["result"]["pid"] == worker.pid
        assert editor.request("view/close", {"session": "py1", "view": view_id}) == {"closed": True}
        assert editor.wait_notification("view/closed")["view"] == view_id

        worker.run(TINY_PNG +
                   "v.plot(png)\n"
                   "v.webview(html='<h1>hello</h1>', title='greeting')\n"
                   "v.dataview({'servers': ['a', 'b'], 'port': 80}, 'cfg')")
        plot = editor.wait_notification("plot/added")["plot"]
        assert (plot["number"], plot["width"], plot["height"]) == (1, 3, 2)
        png = base64.b64decode(editor.request("plot/get", {"session": "py1"})["png"])
        assert png.startswith(b"\x89PNG") and len(png) == plot["bytes"]
        page = editor.wait_notification("view/opened", lambda p: p["view"]["kind"] == "webview")
        served = editor.request("view/file", {"session": "py1", "view": page["view"]["id"]})
        assert base64.b64decode(served["data"]) == b"<h1>hello</h1>"
        with pytest.raises(RpcFailure) as outside:
            editor.request("view/file", {"session": "py1", "view": page["view"]["id"],
                                         "path": ["..", "session.json"]})
        assert outside.value.code == -32003 and outside.value.data["code"] == "refused"
        tree = editor.wait_notification("view/opened", lambda p: p["view"]["kind"] == "tree")
        content = editor.request("view/content", {"session": "py1", "view": tree["view"]["id"]})
        assert json.loads(content["text"]) == {"servers": ["a", "b"], "port": 80}
    finally:
        worker.stop()
    assert editor.wait_notification("session/detached")["session"]["status"] == "detached"
    assert editor.invalid == []

    pid = editor.process.pid
    assert editor.shutdown() == 0
    assert processes_mentioning(str(root)) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_content_length_framing_and_out_of_order_answers(root: Path) -> None:
    client = EditorClient(root, framing="content-length")
    try:
        assert client.request("initialize")["framing"] == "content-length"
        worker = PythonWorker(root / "sessions" / "slow1")
        try:
            deadline = time.monotonic() + 30  # the host finds the session on its own time
            while not client.request("sessions/list")["sessions"]:
                assert time.monotonic() < deadline, "the host never served slow1"
                time.sleep(0.05)
            worker.run("import time\n"
                       "fb.on_command('nap', lambda args: time.sleep(args['s']) or 'rested')")
            slow = client.start("session/command", {"session": "slow1", "command": "nap",
                                                    "args": {"s": 1.5}})
            quick = client.start("sessions/list", {})
            assert client.answer(quick, 5)["result"]["sessions"][0]["id"] == "slow1"
            assert client.answer(slow, 10)["result"] == {"result": "rested"}
            failed = client.answer(client.start("session/command", {
                "session": "slow1", "command": "nap", "args": {"s": 3}, "timeout": 0.2}))
            assert failed["error"]["code"] == -32002
            assert "did not answer 'nap'" in failed["error"]["message"]
        finally:
            worker.stop()
        assert client.invalid == []
        assert client.shutdown() == 0
    finally:
        client.kill()


def test_bad_messages_get_json_rpc_errors_and_the_server_carries_on(editor: EditorClient) -> None:
    with pytest.raises(RpcFailure) as early:
        editor.request("sessions/list")
    assert early.value.code == -32004
    editor.request("initialize")
    assert editor.process.stdin is not None
    editor.process.stdin.write(b"{not json\n")
    editor.process.stdin.flush()
    parse_error = editor.answer(None)
    assert parse_error["error"]["code"] == -32700
    editor.send({"jsonrpc": "1.0", "id": 99, "method": "x"})
    assert editor.answer(99)["error"]["code"] == -32600
    for method, params, code in (("no/such", {}, -32601),
                                 ("session/get", {"session": 5}, -32602),
                                 ("view/tablePage", {"session": "a", "view": "b", "start": -1},
                                  -32602),
                                 ("subscribe", {"topics": ["weather"]}, -32602),
                                 ("session/get", {"session": "nobody"}, -32001),
                                 ("plot/get", {"session": "nobody"}, -32001)):
        with pytest.raises(RpcFailure) as failed:
            editor.request(method, params, check_params=False)
        assert failed.value.code == code, (method, failed.value)
    editor.send([{"jsonrpc": "2.0", "id": "a", "method": "sessions/list"},
                 {"jsonrpc": "2.0", "id": "b", "method": "no/such"}])
    assert editor.answer("a")["result"] == {"sessions": []}
    assert editor.answer("b")["error"]["code"] == -32601
    assert editor.invalid == []
    # The editor closing its pipe without shutdown stops the server too, with code 1.
    assert editor.process.stdin is not None
    editor.process.stdin.close()
    assert editor.process.wait(30) == 1


def test_variables_changes_and_inspection(editor: EditorClient, root: Path) -> None:
    editor.request("initialize")
    editor.request("subscribe", {"topics": ["variables"]})
    worker = PythonWorker(root / "sessions" / "vars1")
    try:
        worker.run("from filebridge.worker.variables import publish_variables\n"
                   "cfg = {'servers': ['a', 'b'], 'port': 80}\nn = 3\n"
                   "publish_variables(globals())")
        change = editor.wait_notification("variables/changed")
        assert change["session"] == "vars1" and "cfg" in change["assigned"]
        listed = editor.request("variables/list", {"session": "vars1", "sort": "name"})
        names = [entry["display_name"] for entry in listed["children"]]
        assert "cfg" in names and "n" in names
        cfg = listed["children"][names.index("cfg")]
        inner = editor.request("variables/inspect", {"session": "vars1",
                                                     "path": [cfg["access_key"]]})
        assert sorted(c["display_name"] for c in inner["children"]) == ["'port'", "'servers'"]
    finally:
        worker.stop()
    assert editor.invalid == []
    assert "session/added" not in editor.methods_seen()  # only the topic subscribed to
    assert editor.shutdown() == 0


def test_notebook_open_and_status(root: Path, tmp_path: Path) -> None:
    # Shadow notebooks keep their state in the temporary folder: this test's own.
    (tmp_path / "tmp").mkdir()
    editor = EditorClient(root, env={"TMPDIR": str(tmp_path / "tmp")})
    try:
        _notebook_open_and_status(editor, tmp_path)
    finally:
        editor.kill()


def _notebook_open_and_status(editor: EditorClient, tmp_path: Path) -> None:
    editor.request("initialize")
    source = tmp_path / "work" / "etl.py"
    source.parent.mkdir()
    source.write_text("# Databricks notebook source\nprint(1)\n\n# COMMAND ----------\n\nx = 2\n")
    params = {"source": str(source), "notebookSession": "editortest"}
    opened = editor.request("notebook/open", params)
    assert opened["kind"] == "opened" and opened["shadow"].endswith("etl.ipynb")
    cells = json.loads(Path(opened["shadow"]).read_text())["cells"]
    assert [c["source"] for c in cells] == [["print(1)"], ["x = 2"]]
    status = editor.request("notebook/status", {"notebookSession": "editortest"})
    assert [(n["source"], n["status"]) for n in status["notebooks"]] == [(str(source), "synced")]
    with pytest.raises(RpcFailure) as missing:
        editor.request("notebook/open", {"source": str(tmp_path / "nope.py"),
                                         "notebookSession": "editortest"})
    assert missing.value.code == -32003
    assert editor.invalid == []
    assert editor.shutdown() == 0


def test_events_json_streams_the_same_notifications(root: Path) -> None:
    events = subprocess.Popen([sys.executable, "-m", "filebridge", "events", "--json",
                               "--root", str(root), "--topics", "sessions,views,requests"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=clean_env())
    try:
        assert events.stdout is not None
        worker = PythonWorker(root / "sessions" / "ev1")
        worker.run("fb.call('echo', x=1)")
        worker.stop()
        seen: list[dict[str, object]] = []
        while not any(line["method"] == "session/detached" for line in seen):
            line = events.stdout.readline()
            assert line, events.stderr.read() if events.stderr else ""
            seen.append(json.loads(line))
        for line in seen:
            assert set(line) == {"method", "params"}
            check("notifications", str(line["method"]), "params", line["params"])
        methods = [line["method"] for line in seen]
        assert methods[:2] == ["session/added", "session/attached"]
        commands = [line["params"]["command"] for line in seen  # type: ignore[index]
                    if line["method"] == "request/done"]
        assert commands[:2] == ["attach", "echo"]
        events.send_signal(signal.SIGTERM)
        assert events.wait(30) == 0
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()


def test_the_schemas_are_valid_json_schemas() -> None:
    for schema in SCHEMAS.values():
        jsonschema.validators.validator_for(schema).check_schema(schema)
    with pytest.raises(jsonschema.ValidationError):
        check("requests", "view/tablePage", "params", {"session": "a"})


def test_an_editor_is_told_when_another_host_takes_the_root(editor: EditorClient,
                                                            root: Path) -> None:
    editor.request("initialize")
    holder = json.loads((root / "host.json").read_text())
    holder["nonce"] = "another-host"
    (root / "host.json").write_text(json.dumps(holder))
    stopped = editor.wait_notification("host/stopped")
    assert "was taken over" in stopped["reason"]
    assert editor.invalid == []
    assert editor.request("shutdown") is None
    editor.notify("exit")
    assert editor.process.wait(30) == 3
    assert "was taken over" in editor.stderr()


def test_a_root_already_served_is_refused_with_the_lease_exit_code(root: Path) -> None:
    from filebridge.host import Host

    with Host(root):
        client = EditorClient(root)
        try:
            assert client.process.wait(30) == 3
            message = client.stderr().strip().splitlines()[-1]
            assert message.startswith("filebridge serve:") and "--wait-for-lease" in message
        finally:
            client.kill()


def test_events_speaks_plain_lines_and_refuses_an_unknown_topic(root: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "filebridge", "events", "--root", str(root),
                           "--topics", "sessions,weather"], capture_output=True, text=True,
                          env=clean_env(), timeout=60)
    assert done.returncode == 2
    assert done.stderr == ("filebridge events: no topic 'weather'; there are: sessions, views, "
                           "variables, requests\n")
    events = subprocess.Popen([sys.executable, "-m", "filebridge", "events", "--root", str(root)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=clean_env())
    try:
        worker = PythonWorker(root / "sessions" / "plain1")
        worker.stop()
        assert events.stdout is not None
        lines = [events.stdout.readline() for _ in range(3)]
        assert lines[0].startswith('session/added plain1 status="alive"')
        assert lines[1].startswith("session/attached plain1")
        assert lines[2].startswith('session/detached plain1 status="detached"')
        events.send_signal(signal.SIGTERM)
        assert events.wait(30) == 0, events.stderr.read() if events.stderr else ""
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()


def test_a_session_whose_heartbeat_stops_is_notified_stale_then_alive(tmp_path: Path) -> None:
    """The relay `serve --stdio` uses, on a host that calls a session stale after 1.5 s; the
    worker's heartbeat rings are dropped by an injected fault, then let through again."""
    import threading

    from filebridge.editor.events import EventRelay
    from filebridge.host import Host
    from filebridge.testing.faults import env

    seen: list[tuple[str, dict[str, object]]] = []
    changed = threading.Condition()

    def sink(method: str, params: dict[str, object]) -> None:
        check("notifications", method, "params", params)
        with changed:
            seen.append((method, params))
            changed.notify_all()

    def wait_for(method: str, timeout: float = 30) -> dict[str, object]:
        with changed:
            assert changed.wait_for(lambda: any(m == method for m, _ in seen), timeout), seen
            return next(p for m, p in seen if m == method)

    with Host(tmp_path / "root", stale_after=1.5) as host:
        relay = EventRelay(host, sink)
        relay.subscribe(["sessions"])
        worker = PythonWorker(host.root.sessions / "quiet1",
                              env=env("drop_doorbell:heartbeat*all"))
        try:
            assert wait_for("session/stale")["session"]["status"] == "stale"  # type: ignore[index]
            worker.run("from filebridge.testing import faults\nfaults.clear()")
            alive = wait_for("session/status")
            assert alive["session"]["status"] == "alive"  # type: ignore[index]
        finally:
            worker.stop()
        assert wait_for("session/detached")


def test_sigterm_stops_the_server_and_releases_the_root(editor: EditorClient,
                                                        root: Path) -> None:
    editor.request("initialize")
    assert (root / "host.json").exists()
    editor.process.send_signal(signal.SIGTERM)
    assert editor.process.wait(30) == 0
    assert not (root / "host.json").exists()  # the lease is released: another host may serve
    assert processes_mentioning(str(root)) == []

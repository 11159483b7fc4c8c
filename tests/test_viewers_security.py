"""Hostile sessions against the viewers and the page: what a worker names or plants in its
session folder never makes the host read, serve or write anything outside it, never hangs it,
and a healthy session keeps working throughout (docs/security.md, "The page and viewers")."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from pathlib import Path

from viewers_support import (
    host_png_path,
    http_get,
    page_origin,
    run_in_process,
    running_host,
    wait_for,
)

from filebridge.host.viewers.store import MAX_CONTENT_BYTES, MAX_IMPORT_BYTES, MAX_TITLE, MAX_VIEWS

# Each case: a name and the call the hostile worker makes; ``S`` is its session folder.
HOSTILE_SETUP = """
import os, json
from pathlib import Path
import filebridge.worker as fb
from filebridge.errors import RemoteError
conn = fb.connect()
S = conn.session_dir
OUT = Path({outside!r})
(S / "views" / "t").mkdir(parents=True, exist_ok=True)
os.mkfifo(S / "fifo.html")
os.mkfifo(S / "views" / "t" / "meta.json")
(S / "link.html").symlink_to(OUT / "secret.html")
(S / "zero.txt").symlink_to("/dev/zero")
(S / "linkdir").symlink_to(OUT)
(S / "host.png").symlink_to({host_png!r})
with open(S / "huge.txt", "wb") as f:
    f.truncate({huge_text})
with open(S / "huge.json", "wb") as f:
    f.truncate({huge_import})
(S / "good").mkdir()
(S / "good" / "page.html").write_text("<p>ok</p>")
(S / "good" / "escape.css").symlink_to(OUT / "secret.html")
(S / "tbl").mkdir()
(S / "tbl" / "meta.json").write_text(json.dumps({{"format": "filebridge.table", "version": 1,
    "title": "t", "columns": [{{"name": "a", "field": "a", "type": "string"}}], "rows": 1,
    "chunks": [{{"file": "rows-00000.jsonl", "start": 0, "rows": 1}}], "complete": True}}))
(S / "tbl" / "rows-00000.jsonl").symlink_to(OUT / "rows.jsonl")
os.mkfifo(S / "fifo.png")
CASES = [
    ("webview of folder /", "webview", dict(file="/etc/hostname", dir="/")),
    ("webview of a host file", "webview", dict(file=str(OUT / "secret.html"))),
    ("webview of a folder outside", "webview",
     dict(file_in_session="good/page.html", dir=str(OUT))),
    ("webview through a symlink out", "webview", dict(file_in_session="link.html")),
    ("webview in a symlinked folder", "webview", dict(file_in_session="linkdir/secret.html")),
    ("webview of a FIFO", "webview", dict(file_in_session="fifo.html")),
    ("webview of /dev/zero", "webview", dict(file="/dev/zero", dir="/dev")),
    ("text view of /dev/zero", "dataview", dict(source="object", type="txt", file="/dev/zero")),
    ("text view through a symlink to /dev/zero", "dataview",
     dict(source="object", type="txt", file_in_session="zero.txt")),
    ("text view of a FIFO", "dataview",
     dict(source="object", type="txt", file_in_session="fifo.html")),
    ("text view of a host file", "dataview",
     dict(source="object", type="txt", file=str(OUT / "secret.html"))),
    ("text view of a huge file", "dataview",
     dict(source="object", type="txt", file_in_session="huge.txt")),
    ("tree view of /etc/passwd", "dataview", dict(source="list", type="json", file="/etc/passwd")),
    ("table folder outside", "dataview",
     dict(source="table", type="filebridge.table", dir=str(OUT))),
    ("table folder /", "dataview", dict(source="table", type="filebridge.table", dir="/")),
    ("table with a FIFO meta.json", "dataview",
     dict(source="table", type="filebridge.table", dir_in_session="views/t")),
    ("vscode-R table of /dev/zero", "dataview", dict(source="table", type="json",
                                                     file="/dev/zero")),
    ("vscode-R table of a FIFO", "dataview", dict(source="table", type="json",
                                                  file_in_session="fifo.html")),
    ("vscode-R table too large", "dataview", dict(source="table", type="json",
                                                  file_in_session="huge.json")),
    ("plot of a host PNG", "plot", dict(file={host_png!r})),
    ("plot through a symlink to a host PNG", "plot", dict(file_in_session="host.png")),
    ("plot of a FIFO", "plot", dict(file_in_session="fifo.png")),
    ("plot of /dev/zero", "plot", dict(file="/dev/zero")),
]
results = {{}}
for name, command, args in CASES:
    try:
        fb.call(command, timeout=20, **args)
        results[name] = "accepted"
    except RemoteError as exc:
        results[name] = exc.code
# accepted on purpose: a page whose asset is a symlink out, and a table whose chunk is one;
# serving them is what must refuse
fb.call("webview", timeout=20, view="cafe0001", file_in_session="good/page.html")
fb.call("dataview", timeout=20, view="cafe0002", source="table", type="filebridge.table",
        dir_in_session="tbl")
print(json.dumps(results))
"""

HEALTHY = """
import filebridge.worker as fb
from filebridge.worker import viewers
fb.connect()
assert fb.call("echo", timeout=20, n={n}) == {{"n": {n}}}
viewers.webview(html="<p id=ok>healthy {n}</p>", title="healthy {n}")
viewers.dataview([{{"a": {n}}}], title="rows {n}")
print("ok")
"""


def _snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its content hash (or link target)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path)] = "->" + os.readlink(path)
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "dir"
    return found


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.html").write_text("<p>host secret</p>")
    (outside / "rows.jsonl").write_text('{"a": "host secret row"}\n')
    (outside / "meta.json").write_text('{"columns": []}')
    return outside


def test_hostile_viewer_arguments_are_refused_and_nothing_outside_changes(
        tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    before = _snapshot(outside)
    host_png = host_png_path().read_bytes()
    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        # The workers run in this process: what is checked is what the host does.
        assert run_in_process(root, "healthy", HEALTHY.format(n=1)).strip() == "ok"
        printed = run_in_process(root, "evil", HOSTILE_SETUP.format(
            outside=str(outside), host_png=str(host_png_path()),
            huge_text=MAX_CONTENT_BYTES + 1, huge_import=MAX_IMPORT_BYTES + 1))
        results = json.loads(printed.strip().splitlines()[-1])
        assert len(results) == 23
        assert {name: code for name, code in results.items()
                if code not in ("refused", "too_large")} == {}
        assert results["text view of a huge file"] == "too_large"
        assert results["vscode-R table too large"] == "too_large"
        assert viewers.store.plots("evil") == []
        kept = {v.id: v for v in viewers.store.views("evil")}
        assert sorted(kept) == ["cafe0001", "cafe0002"]

        # what those two views lead to is refused when served
        page_url = viewers.ui.view_url("evil", "cafe0001")
        status, _, body = http_get(page_url)
        assert status == 200 and body == b"<p>ok</p>"
        status, _, body = http_get(page_url.rsplit("/", 1)[0] + "/escape.css")
        assert status == 403 and b"host secret" not in body
        status, _, body = http_get(f"{viewers.ui.url}api/sessions/evil/tables/cafe0002")
        assert status == 403 and b"host secret" not in body

        # a healthy session kept working throughout
        assert run_in_process(root, "healthy", HEALTHY.format(n=2)).strip() == "ok"
        healthy = ["healthy 1", "rows 1", "healthy 2", "rows 2"]  # views are sent, not called
        wait_for(lambda: [v.title for v in viewers.store.views("healthy")] == healthy,
                 what="the healthy session's four views")
    assert _snapshot(outside) == before
    assert host_png_path().read_bytes() == host_png
    assert not list((root / "sessions" / "evil").glob("host-views/plots/*.png"))


def _tamper(session: Path, outside: Path) -> None:
    """What a hostile session does to the host's records in its folder while no host runs."""
    index = session / "host-views" / "index.json"
    saved = json.loads(index.read_text())
    base = dict(saved["views"][0])
    saved["views"] = [
        dict(base, id="aa01", kind="webview", folder="/", page="etc/passwd"),
        dict(base, id="aa02", kind="text", folder="/etc", page="passwd"),
        dict(base, id="aa03", kind="webview", folder=str(outside), page="secret.html"),
        dict(base, id="aa04", kind="table", folder=str(outside)),
        dict(base, id="aa05", kind="webview", folder=str(session / "good"),
             page="../../../etc/passwd"),
        dict(base, id="aa06", kind="nonsense", folder="/"),
        dict(base, id="../x", kind="webview", folder="/"),
    ]
    saved["plots"] = [dict(saved["plots"][0], file="../../../../etc/passwd"), saved["plots"][0]]
    index.write_text(json.dumps(saved))
    plot = session / "host-views" / "plots" / saved["plots"][1]["file"]
    plot.unlink()
    plot.symlink_to(host_png_path())


def test_a_tampered_view_list_and_plot_store_serve_nothing_outside(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    before = _snapshot(outside)
    root = tmp_path / "root"
    session = root / "sessions" / "tamper"
    with running_host(root, ui=False) as (_host, viewers):
        run_in_process(root, "tamper", f"""
from filebridge.worker import viewers
viewers.webview(html="<p>mine</p>")
viewers.plot(open({str(host_png_path())!r}, "rb").read())
""")
        wait_for(lambda: viewers.store.plots("tamper"), what="the plot")
    (session / "good").mkdir()
    _tamper(session, outside)
    with running_host(root) as (_host, viewers):
        assert viewers.ui is not None
        status, _, body = http_get(f"{viewers.ui.url}api/sessions/tamper")
        state = json.loads(body)
        assert status == 200
        assert [v["id"] for v in state["views"]] == ["aa01", "aa02", "aa03", "aa04", "aa05"]
        assert len(state["plots"]) == 1  # the record naming ../../etc/passwd was dropped
        for view in state["views"]:
            if view["kind"] == "webview":
                status, _, body = http_get(view["frame"])
                assert status in (403, 404), view
                assert b"root:" not in body and b"host secret" not in body
        status, _, body = http_get(f"{viewers.ui.url}api/sessions/tamper/views/aa02/content")
        assert status == 403 and b"root:" not in body
        status, _, body = http_get(f"{viewers.ui.url}api/sessions/tamper/tables/aa04")
        assert status == 403
        number = state["plots"][0]["number"]
        status, _, body = http_get(f"{viewers.ui.url}plot/tamper/{number}.png")
        assert status == 403 and not body.startswith(b"\x89PNG")
    assert _snapshot(outside) == before


def test_a_symlinked_host_views_folder_is_never_written_through(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    before = _snapshot(outside)
    root = tmp_path / "root"
    with running_host(root, ui=False) as (_host, viewers):
        printed = run_in_process(root, "planted", f"""
import filebridge.worker as fb
from filebridge.worker import viewers
from filebridge.errors import RemoteError
conn = fb.connect()
(conn.session_dir / "host-views").symlink_to({str(outside)!r})
png = open({str(host_png_path())!r}, "rb").read()
(conn.session_dir / "mine.png").write_bytes(png)
try:
    fb.call("plot", timeout=20, file_in_session="mine.png")
except RemoteError as exc:
    print(exc.code)
viewers.dataview([{{"a": 1}}], title="rows")
print(fb.call("echo", timeout=20, alive=True))
""")
        assert printed.splitlines()[0] == "refused"
        assert "'alive': True" in printed
        wait_for(lambda: viewers.store.views("planted"), what="the data view")
    assert _snapshot(outside) == before


def _request(port: int, method: str, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_forged_host_and_origin_headers_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        ui = viewers.ui
        assert ui is not None
        run_in_process(root, "web", """
from filebridge.worker import viewers
viewers.webview(html="<p>one</p>", title="one")
viewers.webview(html="<p>two</p>", title="two")
viewers.dataview([{"a": 1}], title="rows")
""")
        one, two, rows = wait_for(lambda: len(viewers.store.views("web")) == 3
                                  and viewers.store.views("web"), what="three views")
        port, vport, token = ui.port, ui.view_port, ui.token
        own = f"127.0.0.1:{port}"
        state = f"/{token}/api/state"
        close = f"/{token}/api/sessions/web/views/{rows.id}/close"
        frame = ui.view_url("web", one.id)
        capability = frame.split("/")[3]
        outcomes = {
            # DNS rebinding: any other Host is refused on both ports
            "page, Host evil": _request(port, "GET", state, {"Host": f"evil.example:{port}"}),
            "page, Host rebinding name": _request(port, "GET", state,
                                                  {"Host": f"127.0.0.1.evil.example:{port}"}),
            "page, Host of another port": _request(port, "GET", state,
                                                   {"Host": f"127.0.0.1:{port + 1}"}),
            "page, Host 0.0.0.0": _request(port, "GET", state, {"Host": f"0.0.0.0:{port}"}),
            "page, no Host": _request(port, "GET", state, {}),
            "views, Host evil": _request(vport, "GET", f"/{capability}/index.html",
                                         {"Host": f"evil.example:{vport}"}),
            "views, Host of the page": _request(vport, "GET", f"/{capability}/index.html",
                                                {"Host": own}),
            # state changes need the page's own Origin
            "close, no Origin": _request(port, "POST", close, {"Host": own,
                                                               "Content-Length": "0"}),
            "close, Origin evil": _request(port, "POST", close, {
                "Host": own, "Origin": "http://evil.example", "Content-Length": "0"}),
            "close, Origin null": _request(port, "POST", close, {
                "Host": own, "Origin": "null", "Content-Length": "0"}),
            "close, Origin of the views": _request(port, "POST", close, {
                "Host": own, "Origin": f"http://127.0.0.1:{vport}", "Content-Length": "0"}),
            "close, Origin localhost for Host 127.0.0.1": _request(port, "POST", close, {
                "Host": own, "Origin": f"http://localhost:{port}", "Content-Length": "0"}),
            "close, cross-site fetch": _request(port, "POST", close, {
                "Host": own, "Origin": f"http://{own}", "Sec-Fetch-Site": "cross-site",
                "Content-Length": "0"}),
            "PUT": _request(port, "PUT", close, {"Host": own, "Origin": f"http://{own}"}),
            "DELETE": _request(port, "DELETE", close, {"Host": own, "Origin": f"http://{own}"}),
            "GET from another origin": _request(port, "GET", state, {
                "Host": own, "Origin": "http://evil.example"}),
            "GET cross-site": _request(port, "GET", state, {"Host": own,
                                                            "Sec-Fetch-Site": "cross-site"}),
            # capabilities: one view's opens only that view
            "views, no capability": _request(vport, "GET", "/", {"Host": f"127.0.0.1:{vport}"}),
            "views, page token": _request(vport, "GET", f"/{token}/index.html",
                                          {"Host": f"127.0.0.1:{vport}"}),
            "views, other view by path": _request(
                vport, "GET", f"/{capability}/..%2f{two.id}%2findex.html",
                {"Host": f"127.0.0.1:{vport}"}),
            "views, POST": _request(vport, "POST", f"/{capability}/index.html",
                                    {"Host": f"127.0.0.1:{vport}", "Content-Length": "0"}),
            "page, capability as token": _request(port, "GET", f"/{capability}/api/state",
                                                  {"Host": own}),
        }
        refused = {name: status for name, status in outcomes.items() if status < 400}
        assert refused == {}, refused
        assert len(outcomes) == 22
        assert [v.id for v in viewers.store.views("web")] == [one.id, two.id, rows.id]

        # what the page itself does still works, with either loopback name
        for name in (own, f"localhost:{port}"):
            assert _request(port, "GET", state, {"Host": name}) == 200
        assert _request(vport, "GET", f"/{capability}/index.html",
                        {"Host": f"localhost:{vport}"}) == 200
        status, _, body = http_get(frame)
        assert status == 200 and body == b"<p>one</p>"
        status, _, _ = http_get(f"{ui.url}api/sessions/web/views/{one.id}/close", data=b"",
                                headers=page_origin(viewers))
        assert status == 200
        assert http_get(frame)[0] == 404  # closing a view revokes its capability


def test_what_a_session_floods_the_viewers_with_stays_bounded(tmp_path: Path) -> None:
    root = tmp_path / "root"
    limit = 20  # the production limit (MAX_VIEWS) is ten times this: the same bound, sooner
    assert limit < MAX_VIEWS
    with running_host(root, max_views=limit) as (_host, viewers):
        assert viewers.ui is not None
        run_in_process(root, "flood", f"""
import filebridge.worker as fb
fb.connect()
for n in range({limit + 60}):
    fb.call("browser", timeout=20, view=f"{{n:08x}}", url="https://example.org/" + str(n),
            title="t" * 100_000, details={{"x" * 1000: "y" * 100_000}})
print(fb.call("echo", timeout=20, done=True))
""")
        views = viewers.store.views("flood")
        assert len(views) == limit
        assert views[0].id == f"{60:08x}" and views[-1].id == f"{limit + 59:08x}"
        assert max(len(v.title) for v in views) <= MAX_TITLE
        saved = (root / "sessions" / "flood" / "host-views" / "index.json").stat().st_size
        assert saved < limit * 2000
        status, _, body = http_get(f"{viewers.ui.url}api/sessions/flood")
        assert status == 200 and len(json.loads(body)["views"]) == limit


def test_the_file_primitive_follows_no_symlink_and_never_blocks(tmp_path: Path) -> None:
    """The walk itself, on a real filesystem: a symlinked folder on the way is refused even
    when the caller named it by its own path (the state a swap after the check leaves)."""
    from filebridge.errors import RemoteError
    from filebridge.host.viewers.files import AllowedFolders, open_regular, write_inside
    from filebridge.wire.files import confine_to

    outside = _outside(tmp_path)
    before = _snapshot(outside)
    confine_to(tmp_path / "sessions")  # as a host does for <root>/sessions
    session = tmp_path / "sessions" / "s"
    (session / "views").mkdir(parents=True)
    (session / "views" / "swapped").symlink_to(outside)
    os.mkfifo(session / "views" / "fifo")
    (session / "host-views").symlink_to(outside)
    outcomes = {}
    for name, parts in (("symlinked folder on the way", ("views", "swapped", "secret.html")),
                        ("FIFO", ("views", "fifo")),
                        ("symlink as the file", ("host-views",)),
                        ("dot-dot", ("views", "..", "..", "outside", "secret.html"))):
        try:
            os.close(open_regular(session, parts, "/".join(parts), 1 << 20))
            outcomes[name] = "opened"
        except RemoteError as exc:
            outcomes[name] = exc.code
    assert outcomes == {name: "refused" for name in outcomes}
    allowed = AllowedFolders([], session=session)
    try:
        allowed.read(session / "views" / "swapped" / "secret.html", 1 << 20)
        raise AssertionError("read through a symlink out")
    except RemoteError as exc:
        assert exc.code == "refused"
    (session / "big").write_bytes(b"x" * 1001)
    try:
        allowed.read(session / "big", 1000)
        raise AssertionError("read past the limit")
    except RemoteError as exc:
        assert exc.code == "too_large"
    for parts in (("host-views", "index.json"), ("views", "swapped", "x.json")):
        try:
            write_inside(session, parts, b"{}")
            raise AssertionError(f"wrote through {parts}")
        except OSError:
            pass
    write_inside(session, ("host-views-real", "plots", "000001.png"), b"png")
    assert (session / "host-views-real" / "plots" / "000001.png").read_bytes() == b"png"
    assert sorted(p.name for p in (session / "host-views-real" / "plots").iterdir()) == [
        "000001.png"]
    # a symlinked session folder is not an allowed folder at all
    (tmp_path / "sessions" / "linked").symlink_to(outside)
    assert AllowedFolders([], session=tmp_path / "sessions" / "linked").folders == ()
    try:
        write_inside(tmp_path / "sessions" / "linked", ("host-views", "index.json"), b"{}")
        raise AssertionError("wrote through a symlinked session folder")
    except OSError:
        pass
    assert _snapshot(outside) == before


def test_mapped_and_served_folders_are_readable_and_nothing_beside_them(
        tmp_path: Path) -> None:
    from filebridge.host import Host
    from filebridge.host.viewers.service import install_viewers

    outside = _outside(tmp_path)
    mapped, served = tmp_path / "mapped", tmp_path / "served"
    for folder in (mapped, served):
        folder.mkdir()
        (folder / "index.html").write_text(f"<p>{folder.name}</p>")
        (folder / "away.html").symlink_to(outside / "secret.html")
    root = tmp_path / "root"
    host = Host(root, path_map=[("/remote/site", str(mapped))])
    viewers = install_viewers(host, ui=True, folders=[served])
    host.start()
    try:
        assert viewers.ui is not None
        printed = run_in_process(root, "legit", f"""
import filebridge.worker as fb
from filebridge.errors import RemoteError
fb.connect()
for args in [dict(view="m1", file="/remote/site/index.html"),
             dict(view="s1", file={str(served / 'index.html')!r}),
             dict(view="m2", file="/remote/site/away.html"),
             dict(view="x1", file={str(outside / 'secret.html')!r})]:
    try:
        fb.call("webview", timeout=20, **args)
        print("accepted")
    except RemoteError as exc:
        print(exc.code)
""")
        assert printed.split() == ["accepted", "accepted", "refused", "refused"]
        for view, text in (("m1", b"<p>mapped</p>"), ("s1", b"<p>served</p>")):
            page = viewers.ui.view_url("legit", view)
            status, _, body = http_get(page)
            assert status == 200 and body == text
            status, _, body = http_get(page.rsplit("/", 1)[0] + "/away.html")
            assert status == 403 and b"host secret" not in body
    finally:
        if viewers.ui is not None:
            viewers.ui.stop()
        host.stop()

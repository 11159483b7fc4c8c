"""The host side of the viewers: views kept per session, tables paged, sorted and filtered on
the host, vscode-R's payload accepted, and the web page's API refusing what it must. The
workers are connections from this process on the sessions' real files: what is checked is
what the host does with their requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from viewers_support import (
    api,
    host_png_path,
    http_get,
    page_origin,
    run_in_process,
    running_host,
    wait_for,
)

import filebridge.worker as fb
from filebridge.host.viewers.tables import PageRequest, SnapshotPages, TableReader
from filebridge.worker import viewers as worker_viewers


def mixed_frame() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 20_000
    x = rng.normal(size=n)
    x[::97] = np.nan
    x[5] = np.inf
    x[6] = -np.inf
    return pd.DataFrame({"x": x, "word": rng.choice(["apple", "banana", "cherry", None], n),
                         "k": rng.integers(0, 50, n)})


def test_dataview_pages_sort_and_filter_match_pandas(tmp_path: Path) -> None:
    """The worker is a connection in this process: what is checked is the host's paging."""
    root = tmp_path / "root"
    with running_host(root, ui=False) as (_host, viewers):
        frame = mixed_frame()
        fb.connect(root / "sessions" / "t1")
        try:
            worker_viewers.dataview(frame, "mixed")
            (view,) = wait_for(lambda: viewers.store.views("t1"), what="the table view")
            reader = viewers.store.table("t1", view.id)
            assert isinstance(reader, SnapshotPages)
            wait_for(lambda: reader.snapshot.meta().get("complete"), what="the whole snapshot")
        finally:
            fb.disconnect()

        page = reader.page(PageRequest(start=100, count=50))
        assert page["total"] == 20_000 and page["complete"]
        assert [row[0] for row in page["rows"]] == list(range(100, 150))

        by_x = reader.page(PageRequest(start=0, count=3, sort=(("c0", True),)))
        assert by_x["rows"][0][1] == "Inf"
        assert [row[1] for row in by_x["rows"][1:]] == pytest.approx(
            list(frame["x"].nlargest(3)[1:3]), rel=1e-14)
        last = reader.page(PageRequest(start=20_000 - 1, count=1, sort=(("c0", True),)))
        assert last["rows"][0][1] == "NaN"  # NaN (pandas' float NaN) sorts last both ways

        banana = reader.page(PageRequest(count=1000, sort=(("c2", False), ("c0", False)),
                                         column_filters=(("c1", "banana"),)))
        expected = frame[frame["word"] == "banana"].sort_values(
            ["k", "x"], kind="stable", na_position="last")
        assert banana["total"] == len(expected)
        assert [row[0] for row in banana["rows"]] == list(expected.index[:1000])

        big_k = reader.page(PageRequest(count=10, column_filters=(("c2", ">=45"),)))
        assert big_k["total"] == int((frame["k"] >= 45).sum())
        missing = reader.page(PageRequest(count=10, column_filters=(("c1", "NA"),)))
        assert missing["total"] == int(frame["word"].isna().sum())
        text = reader.page(PageRequest(count=10, filter="CHERRY"))
        assert text["total"] == int((frame["word"] == "cherry").sum())


def test_vscode_r_table_payload_is_accepted_unchanged(tmp_path: Path) -> None:
    payload = {
        "columns": [
            {"headerName": "(row)", "headerTooltip": "row", "field": "x0", "type": "textColumn"},
            {"headerName": "mpg", "headerTooltip": "numeric", "field": "x1",
             "type": "numericColumn", "filter": "agNumberColumnFilter"},
            {"headerName": "when", "headerTooltip": "Date", "field": "x2", "type": "dateColumn"}],
        "data": [{"x0": "Mazda", "x1": 21, "x2": "2024-01-02"},
                 {"x0": "Datsun", "x1": "NA", "x2": "2024-01-03"},
                 {"x0": "Hornet", "x1": "Inf", "x2": "NA"}],
    }
    with running_host(tmp_path / "root", ui=False) as (_host, viewers):
        run_in_process(tmp_path / "root", "r1", f"""
import filebridge.worker as fb
conn = fb.connect()
(conn.session_dir / "table.json").write_text({json.dumps(payload)!r})
print(fb.call("dataview", source="table", type="json", title="mtcars",
              file=str(conn.session_dir / "table.json"), file_in_session="table.json",
              viewer=True))
""")
        (view,) = viewers.store.views("r1")
        page = viewers.store.table("r1", view.id).page(PageRequest(sort=(("x1", True),)))
    assert [c["name"] for c in page["columns"]] == ["(row)", "mpg", "when"]
    assert [c["type"] for c in page["columns"]] == ["string", "number", "date"]
    assert [row[0] for row in page["rows"]] == ["Hornet", "Mazda", "Datsun"]
    assert [row[2] for row in page["rows"]] == [None, "2024-01-02", "2024-01-03"]


def test_bad_viewer_requests_get_clear_errors_and_the_host_keeps_serving(tmp_path: Path) -> None:
    outside = tmp_path / "outside.html"
    outside.write_text("<p>secret</p>")
    with running_host(tmp_path / "root", ui=False) as (_host, viewers):
        printed = run_in_process(tmp_path / "root", "bad", f"""
import filebridge.worker as fb
from filebridge.errors import RemoteError
conn = fb.connect()
(conn.session_dir / "not-a-png.png").write_text("<p>hi</p>")
for args in [dict(command="webview", file_in_session="no/such/page.html"),
             dict(command="webview", file={str(outside)!r}, dir={str(tmp_path / 'root')!r}),
             dict(command="webview", file_in_session="../../x.html"),
             dict(command="dataview", source="table", type="filebridge.table", dir="/nope"),
             dict(command="browser", url="javascript:alert(1)"),
             dict(command="plot", file={str(outside)!r}),
             dict(command="plot", file_in_session="not-a-png.png")]:
    command = args.pop("command")
    try:
        fb.call(command, timeout=20, **args)
        print("accepted", command)
    except RemoteError as exc:
        print(exc.code)
print(fb.call("echo", timeout=20, still="here"))
""")
        assert viewers.store.views("bad") == []
    assert printed.split("\n")[:7] == ["not_found", "refused", "refused", "refused",
                                      "refused", "refused", "bad_request"]
    assert "'still': 'here'" in printed


def test_views_survive_a_host_restart_and_closing_removes_them(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root, ui=False) as (_host, viewers):
        run_in_process(root, "keep", f"""
from filebridge.worker import viewers
viewers.browser("https://example.org", title="example")
viewers.dataview([{{"a": 1}}], "tiny")
viewers.plot(open({str(host_png_path())!r}, "rb").read())
""")
        wait_for(lambda: len(viewers.store.views("keep")) == 2 and viewers.store.plots("keep"),
                 what="two views and a plot")
    with running_host(root) as (_host, viewers):
        state = api(viewers, "api/sessions/keep")
        assert [v["title"] for v in state["views"]] == ["example", "tiny"]
        assert len(state["plots"]) == 1
        status, _, body = http_get(viewers.ui.url + "plot/keep/1.png")  # type: ignore[union-attr]
        assert status == 200 and body.startswith(b"\x89PNG")
        table = state["views"][1]["id"]
        status, _, _ = http_get(
            f"{viewers.ui.url}api/sessions/keep/views/{table}/close", data=b"",  # type: ignore[union-attr]
            headers=page_origin(viewers))
        assert status == 200
        assert [v["title"] for v in api(viewers, "api/sessions/keep")["views"]] == ["example"]


def test_web_page_needs_its_token_and_serves_only_the_named_folder(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<link rel=stylesheet href=css/look.css><p>hi</p>")
    (site / "css" / "look.css").write_text("p { color: rgb(1, 2, 3); }")
    (tmp_path / "secret.txt").write_text("do not serve")
    (site / "escape.txt").symlink_to(tmp_path / "secret.txt")
    with running_host(tmp_path / "root") as (_host, viewers):
        assert viewers.ui is not None
        run_in_process(tmp_path / "root", "web", f"""
from filebridge.worker import viewers
viewers.webview({str(site / 'index.html')!r}, title="site")
""")
        (view,) = wait_for(lambda: viewers.store.views("web"), what="the webview")
        base = f"http://127.0.0.1:{viewers.ui.port}"
        assert http_get(f"{base}/")[0] == 403
        assert http_get(f"{base}/wrong-token/api/state")[0] == 403
        folder_url = viewers.ui.view_url("web", view.id).rsplit("/", 1)[0]
        assert not folder_url.startswith(base) and viewers.ui.token not in folder_url
        status, headers, body = http_get(f"{folder_url}/css/look.css")
        assert status == 200 and b"rgb(1, 2, 3)" in body
        assert "sandbox" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "no-referrer"
        for escape in ("../secret.txt", "escape.txt", "%2e%2e/secret.txt"):
            status, _, body = http_get(f"{folder_url}/{escape}")
            assert status in (403, 404) and b"do not serve" not in body
        assert http_get(f"{viewers.ui.url}view/web/{view.id}/css/look.css")[0] == 404
        status, headers, _ = http_get(viewers.ui.url)
        assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]


def test_table_reader_pages_while_the_worker_is_still_writing(tmp_path: Path) -> None:
    folder = tmp_path / "table"
    folder.mkdir()
    (folder / "rows-00000.jsonl").write_text("".join(
        json.dumps({"r": n, "c0": n * 2}) + "\n" for n in range(10)))
    meta = {"format": "filebridge.table", "version": 1, "title": "t", "rows": 20,
            "columns": [{"name": "(row)", "field": "r", "type": "number"},
                        {"name": "v", "field": "c0", "type": "number"}],
            "chunks": [{"file": "rows-00000.jsonl", "start": 0, "rows": 10}], "complete": False}
    (folder / "meta.json").write_text(json.dumps(meta))
    reader = TableReader(folder)
    first = reader.page(PageRequest(start=5, count=10))
    assert (first["available"], first["complete"]) == (10, False)
    assert [row[1] for row in first["rows"]] == [10, 12, 14, 16, 18]
    (folder / "rows-00001.jsonl").write_text("".join(
        json.dumps({"r": n, "c0": n * 2}) + "\n" for n in range(10, 20)))
    meta["chunks"].append({"file": "rows-00001.jsonl", "start": 10, "rows": 10})
    meta["complete"] = True
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    done = reader.page(PageRequest(start=8, count=4, sort=(("c0", False),)))
    assert done["complete"] and [row[0] for row in done["rows"]] == [8, 9, 10, 11]

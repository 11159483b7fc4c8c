"""R's View(): the columnar table snapshot (docs/protocol-viewers.md, version 2) and the
table.* queries R answers from the table it kept, against R's own order(), subsetting and
summaries, with real R processes and a real host."""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from r_support import IdleR, Recorder, SharedR, needs_r, run_r, shared_idle_r

from filebridge.errors import RemoteError
from filebridge.host import Host

pytestmark = needs_r

INT32_NA = -(2 ** 31)


def wait_complete(folder: Path, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        meta: dict[str, Any] = json.loads((folder / "meta.json").read_bytes())
        if meta["complete"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert meta["complete"], "the table was not finished in time"
    return meta


def decode_column(folder: Path, spec: dict[str, Any], rows: int) -> list[Any]:
    """A column's cells from its files, by the format's byte layout: NA is None (R's NA_real_
    told from NaN by its payload), text as str, categories as their level."""
    data = (folder / spec["file"]).read_bytes()
    na = (folder / spec["na"]).read_bytes() if spec.get("na") else bytes(rows)
    assert len(na) == rows
    storage = spec["storage"]
    cells: list[Any]
    if storage == "utf8":
        offsets = struct.unpack(f"<{rows + 1}d", (folder / spec["offsets"]).read_bytes())
        assert offsets[0] == 0 and offsets[-1] == len(data)
        cells = [data[int(offsets[n]):int(offsets[n + 1])].decode("utf-8") for n in range(rows)]
    elif storage == "f64":
        assert len(data) == 8 * rows
        bits = struct.unpack(f"<{rows}Q", data)
        cells = [None if (b & 0x7FF0000000000000 == 0x7FF0000000000000
                          and b & 0xFFFFFFFF == 1954) else v
                 for b, v in zip(bits, struct.unpack(f"<{rows}d", data))]
    else:
        code = {"i32": "i", "i64": "q"}[storage]
        assert len(data) == struct.calcsize(code) * rows
        sentinel = INT32_NA if storage == "i32" else -(2 ** 63)
        cells = [None if v == sentinel else v for v in struct.unpack(f"<{rows}{code}", data)]
    cells = [None if missing else cell for cell, missing in zip(cells, na)]
    if spec["type"] == "category":
        cells = [None if c is None else spec["levels"][c - 1] for c in cells]
    if spec["type"] == "boolean":
        cells = [None if c is None else bool(c) for c in cells]
    return cells


def read_snapshot(folder: Path) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    meta = wait_complete(folder)
    return meta, {c["name"]: decode_column(folder, c, meta["rows"]) for c in meta["columns"]}


def same_cells(left: list[Any], right: list[Any]) -> bool:
    def norm(v: Any) -> Any:
        return "nan" if isinstance(v, float) and math.isnan(v) else v
    return [norm(v) for v in left] == [norm(v) for v in right]


EVERY_TYPE = r'''
df <- data.frame(
  num = c(1.5, NA, NaN, Inf, -Inf, 0.1 + 0.2),
  int = c(1L, NA, -3L, .Machine$integer.max, 0L, 6L),
  txt = c("NA", NA, "", "a\"b\\c", "line\nbreak", "\u00fc\u65e5"),
  fac = factor(c("lo", "hi", NA, "lo", "hi", "mid"), levels = c("lo", "mid", "hi")),
  day = as.Date(c("2024-02-28", NA, "1969-12-31", "2024-02-29", "2000-01-01", "2038-01-20")),
  utc = as.POSIXct(c("2024-01-01 10:00:00.25", NA, "1969-12-31 23:59:59", "2024-06-01 12:00:00",
                     "2000-01-01 00:00:01", "2038-01-19 03:14:08"), tz = "UTC"),
  paris = as.POSIXct(c("2024-03-31 01:30:00", NA, "2024-03-31 03:30:00", "2024-10-27 02:30:00",
                       "2000-01-01 00:00:00", "1970-01-01 01:00:00"), tz = "Europe/Paris"),
  ok = c(TRUE, NA, FALSE, TRUE, FALSE, NA),
  stringsAsFactors = FALSE)
df$items <- list(1:3, "x", NULL, c(a = 1.5), list(1, "b"), NA)
'''


def test_r_view_snapshot_keeps_every_type_with_na_nan_and_inf_distinct(
        host: Host, recorder: Recorder) -> None:
    recorder.record("dataview", {"shown": True})
    run_r("filebridge_connect()\n" + EVERY_TYPE + "View(df)\n"
          "options(filebridge.view_row_limit = 2)\nView(df, 'first rows')",
          session=host.root.sessions / "r1")
    recorder.wait_for(lambda: len(recorder.received("dataview")) == 2)
    full, limited = (c.args for c in recorder.received("dataview"))
    assert full["type"] == "filebridge.table" and full["source"] == "table"
    assert full["title"] == "df" and full["rows"] == 6
    assert full["dir_in_session"] == f"views/{full['view']}"
    meta, cells = read_snapshot(Path(full["dir"]))
    assert meta["version"] == 2 and meta["live"] is True and meta["rows"] == 6
    kinds = {c["name"]: (c["type"], c["storage"]) for c in meta["columns"]}
    assert kinds == {"(row)": ("integer", "i32"), "num": ("float", "f64"),
                     "int": ("integer", "i32"), "txt": ("string", "utf8"),
                     "fac": ("category", "i32"), "day": ("date", "f64"),
                     "utc": ("datetime", "f64"), "paris": ("datetime", "f64"),
                     "ok": ("boolean", "i32"), "items": ("other", "utf8")}
    specs = {c["name"]: c for c in meta["columns"]}
    assert specs["(row)"]["role"] == "label"
    assert specs["fac"]["levels"] == ["lo", "mid", "hi"]
    assert specs["utc"]["tz"] == "UTC" and specs["paris"]["tz"] == "Europe/Paris"
    assert cells["(row)"] == [1, 2, 3, 4, 5, 6]
    assert same_cells(cells["num"], [1.5, None, math.nan, math.inf, -math.inf, 0.1 + 0.2])
    assert cells["int"] == [1, None, -3, 2 ** 31 - 1, 0, 6]
    assert cells["txt"] == ["NA", None, "", 'a"b\\c', "line\nbreak", "\u00fc\u65e5"]
    assert cells["fac"] == ["lo", "hi", None, "lo", "hi", "mid"]
    assert cells["day"] == [19781.0, None, -1.0, 19782.0, 10957.0, 24856.0]
    assert cells["utc"] == [1704103200.25, None, -1.0, 1717243200.0, 946684801.0, 2147483648.0]
    assert cells["paris"][0] == 1711845000.0 and cells["paris"][5] == 0.0
    assert cells["ok"] == [True, None, False, True, False, None]
    assert cells["items"] == ["1, 2, 3", "x", "NULL", "1.5", "1, b", "NA"]
    limited_meta, limited_cells = read_snapshot(Path(limited["dir"]))
    assert limited["title"] == "first rows (limited to 2/6)"
    assert limited_meta["rows"] == 2 and limited_meta["total_rows"] == 6
    assert limited_cells["txt"] == ["NA", None]


VIEWS_ONLY = "options(filebridge.variables = FALSE, filebridge.plot = FALSE)"


@pytest.fixture
def idle_r(host: Host) -> Iterator[IdleR]:
    """An R of the test's own, for a test that changes what the host does with views."""
    r = IdleR(host.root.sessions / "r1", options=VIEWS_ONLY)
    try:
        host.wait_for_session("r1", timeout=30)
        yield r
    finally:
        r.close()


@pytest.fixture(scope="module")
def module_r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedR]:
    """One R for the tests that View() frames and query them; the recorder takes its views."""
    with shared_idle_r(tmp_path_factory.mktemp("views") / "root", options=VIEWS_ONLY) as shared:
        shared.recorder.record("dataview", {"shown": True})
        yield shared


@pytest.fixture
def live(module_r: SharedR) -> SharedR:
    return module_r.fresh()


def view_of(r: IdleR, recorder: Recorder, code: str) -> dict[str, Any]:
    """Run code ending in View(); the dataview's args."""
    before = len(recorder.received("dataview"))
    r.run(code)
    recorder.wait_for(lambda: len(recorder.received("dataview")) > before)
    args: dict[str, Any] = recorder.received("dataview")[-1].args
    return args


def r_json(r: IdleR, expression: str) -> Any:
    """The value of an R expression, through jsonlite."""
    out = r.run(f"cat('JSON:', jsonlite::toJSON({expression}, digits = NA, na = 'null'), "
                "'\\n', sep = '')")
    line = next(line for line in out.splitlines() if line.startswith("JSON:"))
    return json.loads(line[len("JSON:"):])


FRAME = r'''
set.seed(7); n <- 5000
df <- data.frame(x = round(rnorm(n), 1),
                 s = sample(c("b", "a", "C", NA, "", "\u00e9", "Z"), n, TRUE),
                 i = sample(c(1:9, NA), n, TRUE),
                 f = factor(sample(c("lo", "hi", NA), n, TRUE), levels = c("lo", "hi")),
                 d = as.Date("2024-01-01") + sample(0:60, n, TRUE),
                 b = sample(c(TRUE, FALSE, NA), n, TRUE), stringsAsFactors = FALSE)
df$x[c(3, 70, 700)] <- NaN; df$x[c(4, 80)] <- NA; df$x[9] <- Inf; df$x[10] <- -Inf
'''


def ask(host: Host, command: str, **args: Any) -> Any:
    return host.command("r1", f"table.{command}", timeout=30, **args)


def test_r_answers_sort_and_filters_from_the_live_frame_as_r_orders_it(live: SharedR) -> None:
    host, recorder, idle_r = live.host, live.recorder, live.r
    view = view_of(idle_r, recorder, FRAME + "View(df)")["view"]
    # R's own order: values (radix: stable, text by code points), then NaN, then NA
    cases = [
        ([{"column": 1, "descending": True}], [],
         "order(ifelse(is.na(df$x), ifelse(is.nan(df$x), 1, 2), 0), "
         "-ifelse(is.na(df$x), 0, df$x), method = 'radix')"),
        ([{"column": 2}, {"column": 3, "descending": True}], [],
         "order(is.na(df$s), df$s, is.na(df$i), df$i, method = 'radix', "
         "decreasing = c(FALSE, FALSE, FALSE, TRUE))"),
        ([{"column": 4}], [{"column": 6, "op": "is_true"}],
         "(function(k) k[order(is.na(df$f[k]), as.integer(df$f[k]), method = 'radix')])"
         "(which(df$b %in% TRUE))"),
        ([], [{"column": 1, "op": "between", "low": -1, "high": 0.5},
              {"column": 5, "op": ">=", "value": "2024-02-01"}],
         "which(!is.na(df$x) & df$x >= -1 & df$x <= 0.5 & df$d >= as.Date('2024-02-01'))"),
        ([{"column": 5}], [{"column": 2, "op": "contains", "value": "c"}],
         "(function(k) k[order(df$d[k], method = 'radix')])(which(grepl('c', tolower(df$s), "
         "fixed = TRUE)))"),
        ([], [{"column": 2, "op": "not_in", "values": ["a", "\u00e9"]}],
         "which(!is.na(df$s) & !(df$s %in% c('a', '\u00e9')))"),
        ([], [{"column": 1, "op": "is_na"}], "which(is.na(df$x))"),
    ]
    for sort, filters, expected in cases:
        want = [k - 1 for k in r_json(idle_r, expected)]
        got = ask(host, "rows", view=view, sort=sort, filters=filters, start=0, count=2000,
                  columns=[0])
        assert got["total"] == len(want), (sort, filters)
        assert got["rows"] == want[:2000], (sort, filters)
        assert got["cells"][0] == [k + 1 for k in want[:2000]]
    # a window far down, and the cells of every type
    got = ask(host, "rows", view=view, sort=[{"column": 1}], start=4990, count=20)
    assert got["start"] == 4990 and len(got["rows"]) == 10
    assert got["cells"][1][-5:] == ["NaN", "NaN", "NaN", None, None]
    first = ask(host, "rows", view=view, start=0, count=10)
    assert first["rows"] == list(range(10))
    assert first["cells"][1][2:4] == ["NaN", None] and first["cells"][1][8:10] == ["Inf", "-Inf"]
    row = r_json(idle_r, "list(s = df$s[1:10], i = df$i[1:10], f = as.character(df$f[1:10]), "
                         "d = format(df$d[1:10]), b = df$b[1:10])")
    assert first["cells"][2:7] == [row["s"], row["i"], row["f"], row["d"], row["b"]]


def test_r_profiles_and_exports_from_the_live_frame(live: SharedR) -> None:
    host, recorder, idle_r = live.host, live.recorder, live.r
    view = view_of(idle_r, recorder, FRAME + "View(df)")["view"]
    numbers = ask(host, "profile", view=view, column=1, bins=10)
    want = r_json(idle_r, "local({v <- df$x[is.finite(df$x)]; list(na = sum(is.na(df$x) & "
                          "!is.nan(df$x)), nan = sum(is.nan(df$x)), inf = sum(is.infinite(df$x)),"
                          " min = min(v), max = max(v), median = median(v), mean = mean(v), "
                          "sd = sd(v), counts = as.vector(table(cut(v, seq(min(v), max(v), "
                          "length.out = 11), right = FALSE, include.lowest = TRUE))))})")
    assert numbers["rows"] == 5000
    assert [numbers[k] for k in ("na", "nan", "inf")] == [want["na"][0], want["nan"][0],
                                                          want["inf"][0]]
    stats = numbers["stats"]
    assert [stats["min"], stats["max"], stats["median"]] == [want["min"][0], want["max"][0],
                                                             want["median"][0]]
    assert stats["mean"] == pytest.approx(want["mean"][0], rel=1e-12)
    assert stats["std"] == pytest.approx(want["sd"][0], rel=1e-12)
    assert numbers["histogram"]["counts"] == want["counts"]
    assert len(numbers["histogram"]["edges"]) == 11
    text = ask(host, "profile", view=view, column=2, top=3,
               filters=[{"column": 6, "op": "is_false"}])
    want = r_json(idle_r, "local({s <- df$s[df$b %in% FALSE]; t <- sort(table(s[!is.na(s)]), "
                          "decreasing = TRUE); list(rows = length(s), na = sum(is.na(s)), "
                          "empty = sum(s %in% ''), distinct = length(t), "
                          "top = as.vector(t[1:3]))})")
    assert text["rows"] == want["rows"][0] and text["na"] == want["na"][0]
    assert text["empty"] == want["empty"][0] and text["distinct"] == want["distinct"][0]
    assert text["frequent"]["counts"] == want["top"]
    assert sum(text["frequent"]["counts"]) + text["frequent"]["other"] == \
        want["rows"][0] - want["na"][0]
    category = ask(host, "profile", view=view, column=4)
    want = r_json(idle_r, "as.list(table(df$f))")
    assert dict(zip(category["frequent"]["values"], category["frequent"]["counts"])) == \
        {k: v[0] for k, v in want.items()}
    flags = ask(host, "profile", view=view, column=6)
    assert flags["stats"] == {"true": r_json(idle_r, "sum(df$b %in% TRUE)")[0],
                              "false": r_json(idle_r, "sum(df$b %in% FALSE)")[0]}
    days = ask(host, "profile", view=view, column=5)
    assert days["stats"]["min"] == r_json(idle_r, "format(min(df$d))")[0]
    exported = ask(host, "export", view=view, format="csv", start=0, count=3,
                   columns=[0, 1, 2, 5], sort=[{"column": 1, "descending": True}])
    lines = exported["text"].splitlines()
    assert lines[0] == "(row),x,s,d" and exported["rows"] == 3 and not exported["truncated"]
    assert lines[1].startswith("9,Inf,")
    tsv = ask(host, "export", view=view, format="tsv", count=5000)
    assert tsv["rows"] == 5000 and len(tsv["text"].splitlines()) == 5001


def test_r_table_queries_refuse_bad_input_with_one_line_and_forget_closed_views(
        live: SharedR) -> None:
    host, recorder, idle_r = live.host, live.recorder, live.r
    view = view_of(idle_r, recorder, "View(data.frame(a = 1:3, s = c('x', 'y', NA)))")["view"]
    bad = [({"filters": [{"column": 1, "op": "near"}]}, "filter op near is not one of"),
           ({"filters": [{"column": 9, "op": "is_na"}]}, "column 9 is not a column index"),
           ({"filters": [{"column": 1, "op": ">", "value": "ten"}]}, "'ten' is not a number"),
           ({"filters": [{"column": 2, "op": "regex", "value": "("}]}, "filter regex '('"),
           ({"sort": [{"column": True}]}, "sort: column"),
           ({"start": "x"}, "'start' must be a whole number")]
    for args, message in bad:
        with pytest.raises(RemoteError) as caught:
            ask(host, "rows", view=view, **args)
        assert caught.value.code == "bad_request", args
        assert message in str(caught.value), (args, str(caught.value))
        assert "\n" not in str(caught.value)
    assert ask(host, "rows", view=view, count=5)["total"] == 3  # still answers
    assert ask(host, "close", view=view) == {}
    with pytest.raises(RemoteError) as caught:
        ask(host, "rows", view=view)
    assert caught.value.code == "not_found"


def test_r_view_of_a_large_frame_is_announced_at_once_and_answered_live_while_written(
        live: SharedR) -> None:
    host, recorder, idle_r = live.host, live.recorder, live.r
    args = view_of(idle_r, recorder, r'''
n <- 1e6
big <- data.frame(i = seq_len(n), x = seq_len(n) / 4,
                  s = sprintf("name %07d", n - seq_len(n)), stringsAsFactors = FALSE)
View(big)''')
    folder = Path(args["dir"])
    first = json.loads((folder / "meta.json").read_bytes())
    assert first["rows"] == 1000000 and [c["name"] for c in first["columns"]] == \
        ["(row)", "i", "x", "s"]
    # the live frame answers at once, whatever the snapshot holds yet
    window = ask(host, "rows", view=args["view"], start=999998, count=5)
    assert window["cells"][1:] == [[999999, 1000000], [249999.75, 250000], ["name 0000001",
                                                                           "name 0000000"]]
    ordered = ask(host, "rows", view=args["view"], count=3, sort=[{"column": 3}])
    assert ordered["rows"] == [999999, 999998, 999997]
    meta, cells = read_snapshot(folder)
    assert all(c["ready"] for c in meta["columns"])
    assert cells["s"][:2] == ["name 0999999", "name 0999998"] and cells["x"][-1] == 250000
    assert "na" not in {k for c in meta["columns"] for k in c}  # no NA: no NA files


def test_r_view_of_a_tibble_a_data_table_a_matrix_and_named_rows(live: SharedR) -> None:
    host, recorder, idle_r = live.host, live.recorder, live.r
    have = r_json(idle_r, "c(tibble = requireNamespace('tibble', quietly = TRUE), "
                          "data.table = requireNamespace('data.table', quietly = TRUE))")
    frames = {"mtcars[1:5, 1:3]": ("row names", ["Mazda RX4", "Mazda RX4 Wag", "Datsun 710",
                                                 "Hornet 4 Drive", "Hornet Sportabout"]),
              "matrix(c(1.5, 2, 3, 4), 2, dimnames = list(NULL, c('p', 'q')))":
                  ("row number", [1, 2])}
    if have[0]:
        frames["tibble::tibble(a = 1:2, b = c('x', NA))"] = ("row number", [1, 2])
    if have[1]:
        frames["data.table::data.table(a = 1:2, b = c('x', NA), key = 'b')"] = \
            ("row number", [1, 2])
    for expression, (label_dtype, labels) in frames.items():
        args = view_of(idle_r, recorder, f"View({expression})")
        meta, cells = read_snapshot(Path(args["dir"]))
        label = meta["columns"][0]
        assert label["role"] == "label" and label["dtype"] == label_dtype, expression
        assert cells["(row)"] == labels, expression
        live = ask(host, "rows", view=args["view"], columns=[0])
        assert live["cells"][0] == labels, expression
        if "data.table" in expression:  # keyed: data.table sorted it by b, NA first
            assert cells["a"] == [2, 1] and cells["b"] == [None, "x"]
        elif "b" in cells:
            assert cells["a"] == [1, 2] and cells["b"] == ["x", None]


def viewed_through_the_table_service(host: Host, r: IdleR) -> tuple[Any, Any, Any]:
    """The host's viewer store and table service, and the view of FRAME once R's View()
    of it reached the store."""
    from filebridge.host.viewers.store import ViewerStore, install_viewer_handlers
    from filebridge.host.viewers.table_service import TableService

    store = ViewerStore()
    install_viewer_handlers(host, store)
    service = TableService(host, store)
    r.run(FRAME + "View(df)")
    deadline = time.monotonic() + 30
    while not store.views("r1") and time.monotonic() < deadline:
        time.sleep(0.05)
    (view,) = store.views("r1")
    return store, service, view


def test_r_view_through_the_hosts_table_service_live_when_idle_snapshot_when_busy(
        host: Host, idle_r: IdleR, monkeypatch: pytest.MonkeyPatch) -> None:
    # A host without numpy asks the live worker first even when the snapshot is complete (with
    # numpy it answers a complete snapshot itself): here R's answers are what is checked.
    monkeypatch.setenv("FILEBRIDGE_TABLES_PURE", "1")
    store, service, view = viewed_through_the_table_service(host, idle_r)
    snapshot = store.table("r1", view.id).snapshot
    queries = [("rows", {"start": 100, "count": 50, "sort": [{"column": 2},
                                                             {"column": 1, "descending": True}],
                         "filters": [{"column": 3, "op": "not_na"}]}),
               ("rows", {"count": 200, "search": "\u00e9"}),
               ("profile", {"column": 1}),
               ("profile", {"column": 4, "filters": [{"column": 5, "op": "<", "value":
                                                      "2024-01-15"}]})]
    wait_complete(Path(view.folder))
    live = [service.answer("r1", view.id, command, args) for command, args in queries]
    assert [answer.pop("source") for answer in live] == ["live"] * len(queries)
    # R and the host's engine over R's snapshot give the same answers
    for (command, args), answer in zip(queries, live):
        expected = getattr(snapshot.query(), command)(args)
        for moment in ("mean", "std"):  # summed in another order: the last bits may differ
            if moment in answer.get("stats", {}):
                assert answer["stats"].pop(moment) == pytest.approx(
                    expected["stats"].pop(moment), rel=1e-12)
        assert answer == expected, (command, args)
    # (the host exports from a complete snapshot itself; R's export is the same text)
    export = {"format": "csv", "count": 300, "sort": [{"column": 5}]}
    assert ask(host, "export", view=view.id, **export) == snapshot.query().export(export)
    # R busy in a long call: the host answers from the snapshot, the same rectangle
    idle_r.begin("Sys.sleep(8)")
    busy = service.answer("r1", view.id, "rows", queries[0][1])
    assert busy.pop("source") == "snapshot" and busy == live[0]


def test_r_view_of_empty_frames_vectors_and_unusual_columns(host: Host,
                                                            recorder: Recorder) -> None:
    recorder.record("dataview", {"shown": True})
    run_r('filebridge_connect()\n'
          'View(data.frame(a = numeric(0), s = character(0)), "empty")\n'
          'View(data.frame(row.names = 1:3), "no columns")\n'
          'View(c(b = 2.5, a = NA), "vector")\n'
          'x <- data.frame(a = 1:2, b = 3:4); names(x) <- c("a", ""); View(x, "unnamed")\n'
          'View(data.frame(f = factor(sprintf("l%06d", 100001:1))), "many levels")\n'
          'View(data.frame(t = as.POSIXlt(c("2024-01-01 10:00:00", NA), tz = "America/New_York"),\n'
          '                h = as.difftime(c(1.5, NA), units = "hours")), "lt")\n'
          'View(data.frame(s = iconv(c("caf\\xe9", "b"), "latin1", "latin1")), "latin1")\n',
          session=host.root.sessions / "r1")
    recorder.wait_for(lambda: len(recorder.received("dataview")) == 7)
    seen = {c.args["title"]: read_snapshot(Path(c.args["dir"]))
            for c in recorder.received("dataview")}
    meta, cells = seen["empty"]
    assert meta["rows"] == 0 and cells == {"(row)": [], "a": [], "s": []}
    assert seen["no columns"][1] == {"(row)": [1, 2, 3]}
    assert seen["vector"][1] == {"(row)": ["b", "a"], "x": [2.5, None]}  # names label rows
    assert list(seen["unnamed"][1]) == ["(row)", "a", "V2"]
    levels_meta, levels_cells = seen["many levels"]
    assert levels_meta["columns"][1]["type"] == "string"  # over 100,000 levels
    assert levels_cells["f"][:2] == ["l100001", "l100000"]
    lt_meta, lt_cells = seen["lt"]
    assert [(c["type"], c.get("tz")) for c in lt_meta["columns"][1:]] == [
        ("datetime", "America/New_York"), ("float", None)]
    assert lt_cells["t"] == [1704121200.0, None] and lt_cells["h"] == [1.5, None]
    assert seen["latin1"][1]["s"] == ["caf\u00e9", "b"]


def test_r_view_writes_the_first_page_before_meta_and_the_host_serves_it(live: SharedR) -> None:
    from filebridge.host.viewers.table_snapshot import SnapshotTable

    host, recorder, idle_r = live.host, live.recorder, live.r
    for code, rows in ((EVERY_TYPE + "View(df)", 6), (FRAME + "View(df)", 5000)):
        args = view_of(idle_r, recorder, code)
        folder = Path(args["dir"])
        meta = json.loads((folder / "meta.json").read_bytes())
        shown = min(rows, 100)
        assert meta["head"] == {"file": "head.json", "rows": shown,
                                "columns": len(meta["columns"])}
        head = json.loads((folder / "head.json").read_bytes())
        # the same cells R answers from the whole frame
        live = ask(host, "rows", view=args["view"], count=shown)
        assert head["cells"] == live["cells"] and head["columns"] == live["columns"]
        window = SnapshotTable(folder).head_window({"start": 1, "count": 3, "columns": [1, 2]})
        assert window is not None
        assert window["total"] == rows and window["rows"] == [1, 2, 3]
        assert window["cells"] == [c[1:4] for c in live["cells"][1:3]]
        # sorted windows and windows past the first page are not the first page's
        assert SnapshotTable(folder).head_window({"sort": [{"column": 1}]}) is None
        assert SnapshotTable(folder).head_window({"start": shown, "count": 10}) is None \
            or rows == shown


def test_r_view_marks_datetime_columns_whose_times_are_all_midnight(
        host: Host, recorder: Recorder) -> None:
    recorder.record("dataview", {"shown": True})
    run_r("filebridge_connect()\n"
          "days <- as.POSIXct('2024-03-28', tz = 'Europe/Paris') + 86400 * 0:4\n"
          "days <- as.POSIXct(format(days, '%Y-%m-%d'), tz = 'Europe/Paris')\n"
          "utc_in_paris <- as.POSIXct('2024-01-01', tz = 'UTC') + 86400 * 0:4\n"
          "attr(utc_in_paris, 'tzone') <- 'Europe/Paris'\n"
          "View(data.frame(paris = days, na = replace(days, 5, NA),\n"
          "                utc_in_paris = utc_in_paris, noon = days + 43200))\n",
          session=host.root.sessions / "r1")
    recorder.wait_for(lambda: len(recorder.received("dataview")) == 1)
    meta = json.loads((Path(recorder.received("dataview")[0].args["dir"]) / "meta.json")
                      .read_bytes())
    marks = {c["name"]: c.get("midnight", False) for c in meta["columns"]
             if c["type"] == "datetime"}
    assert marks == {"paris": True, "na": True, "utc_in_paris": False, "noon": False}


def test_r_fills_in_a_column_not_on_disk_for_the_rows_the_host_sorted(
        host: Host, idle_r: IdleR) -> None:
    _store, service, view = viewed_through_the_table_service(host, idle_r)
    folder = Path(view.folder)
    meta = wait_complete(folder)
    meta["columns"][2]["ready"] = False  # the text column, as while the forked writer writes it
    meta["complete"] = False
    (folder / "meta.json").write_text(json.dumps(meta))
    args = {"start": 10, "count": 50, "sort": [{"column": 1, "descending": True}],
            "filters": [{"column": 3, "op": "not_na"}]}
    answer = service.answer("r1", view.id, "rows", dict(args))
    assert answer.pop("source") == "snapshot+live"
    assert answer == ask(host, "rows", view=view.id, **args)
    with pytest.raises(RemoteError, match="positions"):
        ask(host, "rows", view=view.id, positions=[5000])

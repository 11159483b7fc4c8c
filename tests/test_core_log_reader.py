"""The one log reader both directions use (filebridge/wire/log_reader.py): the host reads
request.log with it, a worker its response.log and command.log. Complete lines only, an
oversize line skipped as it streams past, logical offsets across generations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filebridge.wire.answers import AnswerLog
from filebridge.wire.files import Doorbell, set_fresh_reads
from filebridge.wire.log_reader import LineReader, LogLine
from filebridge.wire.logs import AppendLog, SoleWriterLog
from filebridge.wire.messages import Answer


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


def texts(lines: list[LogLine]) -> list[bytes]:
    return [line.data for line in lines if line.data is not None and line.data.strip()]


@pytest.fixture(params=["kept", "fresh"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A session folder read with a kept descriptor, or opened afresh at every look (the way
    a network mount is read)."""
    folder = tmp_path / "session"
    folder.mkdir()
    set_fresh_reads(folder, request.param == "fresh")
    return folder


def test_a_torn_line_waits_for_its_newline_and_offsets_are_exact(folder: Path) -> None:
    log = folder / "request.log"
    append(log, b'{"n":1}\n{"n":')
    reader = LineReader(log, 0, 1024, chunk=5)  # lines cross the reads' boundaries
    first = reader.read()
    assert [(line.start, line.end, line.data) for line in first] == [(0, 8, b'{"n":1}')]
    assert reader.read() == [], "a fragment is not a line"
    append(log, b'2}\n')
    second = reader.read()
    assert [(line.start, line.end, line.data) for line in second] == [(8, 16, b'{"n":2}')]
    assert reader.position == 16 == log.stat().st_size


def test_a_reader_starts_at_an_offset_or_at_the_end(folder: Path) -> None:
    log = folder / "request.log"
    append(log, b"one\ntwo\n")
    assert texts(LineReader(log, 4, 1024).read()) == [b"two"]
    at_end = LineReader(log, None, 1024)
    assert at_end.position == 8 and at_end.read() == []
    append(log, b"three\n")
    assert texts(at_end.read()) == [b"three"]


def test_a_read_says_when_it_stopped_at_its_budget_with_more_there(folder: Path) -> None:
    log = folder / "request.log"
    append(log, b"x" * 700 + b"\nafter\n")
    reader = LineReader(log, 0, 100, chunk=300)
    assert reader.read(600) == [] and reader.budget_spent  # inside the oversize line
    lines = reader.read(600)
    assert [line.data for line in lines] == [None, b"after"] and not reader.budget_spent
    assert reader.read(600) == [] and not reader.budget_spent


def test_an_oversize_line_is_skipped_with_its_head_kept_and_the_next_line_is_whole(
        folder: Path) -> None:
    log = folder / "request.log"
    big = b'{"id":"big1","pad":"' + b"x" * 5000 + b'"}'
    append(log, big[:2500])  # it streams in: never held whole
    reader = LineReader(log, 0, 1000, chunk=300)
    assert reader.read() == []
    append(log, big[2500:] + b"\nsmall\n")
    lines = reader.read()
    assert len(lines) == 2
    oversize, small = lines
    assert oversize.data is None and oversize.head.startswith(b'{"id":"big1"')
    assert (oversize.start, oversize.end) == (0, len(big) + 1)
    assert small.data == b"small" and small.start == len(big) + 1


def test_a_line_over_the_limit_in_one_read_is_skipped_too(folder: Path) -> None:
    log = folder / "request.log"
    append(log, b"a" * 50 + b"\nok\n")
    lines = LineReader(log, 0, 10).read()
    assert [line.data for line in lines] == [None, b"ok"]
    assert lines[0].head == b"a" * 50


def test_lines_are_read_once_across_generations(folder: Path) -> None:
    log = folder / "request.log"
    writer = AppendLog(log, rotate_at=512)
    writer.append(b'{"n":0}\n')
    reader = LineReader(log, 0, 1024, chunk=100)
    seen: list[bytes] = []
    for n in range(1, 300):
        writer.append(b'{"n":%d}\n' % n)
        if n % 7 == 0:
            seen += texts(reader.read())
    writer.close()
    for _ in range(50):  # a fresh reader may need a look or two to see the last rotation
        seen += texts(reader.read())
        if len(seen) == 300:
            break
    assert [json.loads(line)["n"] for line in seen] == list(range(300))
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("request.log.")), \
        "the log did rotate"
    assert reader.position == reader.end()
    reader.check()


def test_a_fragment_cut_at_a_generations_end_does_not_run_into_the_next(folder: Path) -> None:
    log = folder / "response.log"
    append(log, b"whole\ncut-")
    reader = LineReader(log, 0, 1024)
    assert texts(reader.read()) == [b"whole"]
    size = log.stat().st_size
    log.rename(folder / "response.log.0")  # a writer killed mid-line, then the log retired
    append(log, b'{"log_generation":1,"base":%d}\nnext\n' % size)
    lines: list[bytes] = []
    for _ in range(50):
        lines += texts(reader.read())
        if lines:
            break
    assert lines == [b"next"]
    assert reader.position == reader.end()


def test_on_a_network_mount_the_doorbell_saves_opening_the_log(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    set_fresh_reads(folder, True)
    log, bell_path = folder / "request.log", folder / "request.lock"
    bell = Doorbell(bell_path)
    append(log, b"first\n")
    bell.ring(log.stat().st_size)
    reader = LineReader(log, 0, 1024, bell=bell_path)
    assert texts(reader.read()) == [b"first"]
    append(log, b"second\n")  # appended, the doorbell not rung yet
    assert reader.read() == [], "the doorbell says nothing new: the log is not opened"
    assert reader.behind() is False
    bell.ring(log.stat().st_size)
    assert reader.behind() is True
    assert texts(reader.read()) == [b"second"]
    append(log, b"third\n")
    assert texts(reader.read(skip_bell=True)) == [b"third"], "skip_bell reads the log"
    bell.close()


def test_a_workers_answer_log_takes_its_answers_and_names_an_oversize_one(
        folder: Path) -> None:
    """The worker's end of response.log: answers to other requests are skipped, a line over
    the limit is answered too_large rather than held."""
    log, bell = folder / "response.log", folder / "response.lock"
    log.touch()  # as a new session's files are made
    inbox = AnswerLog(log, bell)
    inbox.expect("mine")
    inbox.expect("huge")
    writer = SoleWriterLog(log)
    writer.append(Answer("theirs", True, result=1).encode() + b"\n")
    writer.append(Answer("mine", True, result={"x": 2}).encode()[:10])  # torn so far
    assert inbox.take("mine") is None
    writer.close()
    append(log, Answer("mine", True, result={"x": 2}).encode()[10:] + b"\n")
    answer = inbox.take("mine")
    assert answer is not None and answer.ok and answer.result == {"x": 2}
    assert inbox.take("theirs") is None, "not waited for: skipped"
    small_limit = AnswerLog(log, bell, max_line=100)
    small_limit.expect("huge")
    append(log, Answer("huge", True, result="y" * 500).encode() + b"\n")
    refused = small_limit.take("huge")
    assert refused is not None and not refused.ok and refused.error_code == "too_large"
    inbox.close()
    small_limit.close()


def test_a_workers_command_reader_answers_an_oversize_command_too_large_and_serves_on(
        tmp_path: Path) -> None:
    """The worker's end of command.log (its background thread), through the same reader: a
    command line over its limit is answered too_large by id, the next one is served."""
    import time

    from filebridge.wire.messages import decode_answer, new_request
    from filebridge.worker.background import MAX_COMMAND_LINE
    from filebridge.worker.connection import open_connection

    worker = open_connection(tmp_path / "root" / "sessions" / "w")
    layout = worker.layout
    bell = Doorbell(layout.command_lock)
    try:
        huge = new_request("ping", {"pad": "x" * (MAX_COMMAND_LINE + 10)}, answer=True)
        small = new_request("ping", {}, answer=True)
        append(layout.command_log, huge.encode()[: 1 << 20])  # it streams in
        bell.ring(1)
        append(layout.command_log, huge.encode()[1 << 20:] + small.encode())
        bell.ring(2)
        answers = {}
        deadline = time.monotonic() + 30
        while len(answers) < 2 and time.monotonic() < deadline:
            for request in (huge, small):
                path = layout.command_responses / f"{request.id}.json"
                if path.exists():
                    answers[request.id] = decode_answer(path.read_bytes())
            time.sleep(0.05)
        refused, served = answers[huge.id], answers[small.id]
        assert not refused.ok and refused.error_code == "too_large"
        assert served.ok and served.result["pid"] > 0
    finally:
        bell.close()
        worker.close()

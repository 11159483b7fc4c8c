"""Logs give their space back: past a size limit a writer retires the file for a new generation,
and every reader follows, losing nothing, reading nothing twice (docs/protocol.md, "Log
generations")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filebridge.host import Host
from filebridge.wire.files import set_fresh_reads
from filebridge.wire.journal_record import encode_record
from filebridge.wire.logs import (
    AppendLog,
    LogCursor,
    LogDamaged,
    SoleWriterLog,
    log_end,
    read_by_host,
)
from filebridge.worker.connection import open_connection

LIMIT = 4096


def write_lines(path: Path, writer: int, count: int, rotate_at: int = LIMIT) -> None:
    """Lines as a worker posts requests: retired generations go once the reader's journal
    (host.offset beside the log) says it read them."""
    log = AppendLog(path, rotate_at=rotate_at,
                    released=read_by_host(path.parent / "host.offset"))
    for n in range(count):
        log.append(b'{"writer":%d,"n":%d,"pad":"%s"}\n' % (writer, n, b"x" * (n % 97)))
    log.close()


def read_everything(cursor: LogCursor, until: float, expected: int) -> list[bytes]:
    """Complete lines read until ``expected`` of them arrived (or time ran out); the position
    reached is recorded in host.offset as a host records it."""
    journal = cursor.path.parent / "host.offset"
    lines: list[bytes] = []
    partial = b""
    while len(lines) < expected and time.monotonic() < until:
        before = cursor.position
        start, data = cursor.read(1 << 16)
        if not data:
            time.sleep(0.002)
            continue
        assert start >= before, "positions only grow"
        if start != before:
            assert partial == b"", "a generation ends with a whole line"
        *complete, partial = (partial + data).split(b"\n")
        journal.write_bytes(encode_record(cursor.position, cursor.position - len(partial)))
        lines.extend(line for line in complete if line.strip())
    return lines


def check_lines(lines: list[bytes], writers: int, count: int) -> None:
    seen: dict[int, list[int]] = {}
    for line in lines:
        record = json.loads(line)
        seen.setdefault(record["writer"], []).append(record["n"])
    assert {w: len(ns) for w, ns in seen.items()} == {w: count for w in range(writers)}
    for numbers in seen.values():
        assert numbers == sorted(numbers), "each writer's lines keep their order"


def check_space(folder: Path, cursor: LogCursor, generation_size: int = LIMIT) -> None:
    log = folder / "request.log"
    generations = sorted(p.name for p in folder.iterdir() if p.name.startswith("request.log."))
    assert len(generations) <= 1, f"read generations are removed, not {generations}"
    on_disk = sum(p.stat().st_size for p in folder.iterdir())
    assert cursor.position > 4 * LIMIT, "the test wrote several generations"
    assert on_disk < 3 * generation_size, "the space of older generations came back"
    assert log_end(log) == cursor.position


@pytest.mark.integration
def test_lines_from_many_writing_processes_are_read_once_across_generations(
        tmp_path: Path) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    log = folder / "request.log"
    log.touch()
    cursor = LogCursor(log, 0)
    writers, count = 3, 400
    # About 100 KB in 16 KB generations: fewer than the retired generations a writer keeps for
    # its reader (MAX_RETIRED), so a reader starved by a busy machine falls behind, loses nothing.
    generation_size = 16 << 10
    children = []
    for writer in range(writers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                write_lines(log, writer, count, rotate_at=generation_size)
            finally:
                os._exit(0)
        children.append(pid)
    lines = read_everything(cursor, time.monotonic() + 60, writers * count)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    check_lines(lines, writers, count)
    assert cursor.position > 4 * generation_size, "the writers made several generations"
    # Everything is read and acknowledged: the next rotation removes all but the last retired.
    writer = AppendLog(log, rotate_at=LIMIT, released=read_by_host(folder / "host.offset"))
    first = log.read_bytes()[:40]
    added = 0
    while log.read_bytes()[:40] == first:
        writer.append(b'{"writer":%d,"n":%d}\n' % (writers, added))
        added += 1
    assert len(read_everything(cursor, time.monotonic() + 10, added)) == added
    check_space(folder, cursor, generation_size)


def test_a_reader_that_opens_afresh_follows_the_generations(tmp_path: Path) -> None:
    """The way a host reads a log on a network mount: a fresh open and a look at the header
    at every read, the writers' descriptors kept."""
    folder = tmp_path / "session"
    folder.mkdir()
    set_fresh_reads(folder, True)
    log = folder / "request.log"
    writers = [AppendLog(log, rotate_at=LIMIT) for _ in range(3)]
    cursor = LogCursor(log, 0)
    lines: list[bytes] = []
    for n in range(400):
        for number, writer in enumerate(writers):
            writer.append(b'{"writer":%d,"n":%d}\n' % (number, n))
        if n % 10 == 9:
            lines += read_everything(cursor, time.monotonic() + 10, 30)
    check_lines(lines, len(writers), 400)
    # Where sizes are dear a writer looks at the size after LIMIT bytes of its own: with three
    # writers a generation grows to about three times the limit.
    check_space(folder, cursor, generation_size=3 * LIMIT + 1024)


def test_a_fresh_reader_sees_a_later_generation_of_the_very_same_size(tmp_path: Path) -> None:
    """A reader that opens afresh skips the header while the size says nothing was appended;
    a later generation that happens to have exactly the size read so far is still seen
    (within ``header_trust``, a second by default, a fifth of one here)."""
    folder = tmp_path / "session"
    folder.mkdir()
    set_fresh_reads(folder, True)
    log = folder / "request.log"
    log.write_bytes(b'{"n":0,"pad":"' + b"x" * 200 + b'"}\n')
    cursor = LogCursor(log, 0, header_trust=0.2)
    assert read_everything(cursor, time.monotonic() + 5, 1)
    size = log.stat().st_size
    assert cursor.read(1 << 16) == (size, b""), "nothing new: the size says so"
    os.link(log, folder / "request.log.0")
    header = b'{"log_generation":1,"base":%d}\n' % size
    line = b'{"n":1,"pad":"'
    line += b"y" * (size - len(header) - len(line) - 3) + b'"}\n'
    replacement = folder / "next"
    replacement.write_bytes(header + line)
    assert replacement.stat().st_size == size
    replacement.replace(log)
    lines = read_everything(cursor, time.monotonic() + 5, 1)
    assert [json.loads(found)["n"] for found in lines] == [1], "seen without a next append"
    assert cursor.position == 2 * size


def test_a_single_writer_log_rotates_and_a_reader_started_late_begins_at_its_end(
        tmp_path: Path) -> None:
    log = tmp_path / "response.log"
    writer = SoleWriterLog(log, rotate_at=LIMIT)
    ends = [writer.append(b'{"id":"%08d"}\n' % n) for n in range(300)]
    assert ends == sorted(ends), "the ends it reports only grow"
    late = LogCursor(log)
    assert late.position == ends[-1]
    writer.append(b'{"id":"last"}\n')
    assert late.read(1 << 16)[1] == b'{"id":"last"}\n'
    early = LogCursor(log, ends[-2])
    assert early.read(1 << 16)[1].split(b"\n")[0] == b'{"id":"00000299"}'


def test_a_reader_a_whole_generation_behind_is_told_what_was_lost(tmp_path: Path) -> None:
    log = tmp_path / "request.log"
    writer = AppendLog(log, rotate_at=LIMIT)
    writer.append(b'{"n":0}\n')
    behind = LogCursor(log, 0, unseen_grace=0.2)
    for n in range(1, 400):
        writer.append(b'{"n":%d,"pad":"%s"}\n' % (n, b"y" * 40))
    # a generation not seen is waited for a moment first (unseen_grace: 2 s by default)
    deadline = time.monotonic() + 10
    with pytest.raises(LogDamaged, match=r"rotated away before it was read"):
        while time.monotonic() < deadline:
            behind.read(1 << 16)
            time.sleep(0.05)
    with pytest.raises(LogDamaged, match="byte 8 is in its generation, which was rotated away"):
        LogCursor(log, 8)


def test_a_log_replaced_by_an_older_file_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "request.log"
    writer = AppendLog(log, rotate_at=LIMIT)
    for n in range(200):
        writer.append(b'{"n":%d,"pad":"%s"}\n' % (n, b"z" * 40))
    cursor = LogCursor(log, None)
    cursor.check()
    log.unlink()
    log.write_bytes(b'{"n":0}\n')
    with pytest.raises(LogDamaged, match="replaced"):
        cursor.check()


@pytest.fixture
def small_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEBRIDGE_ROTATE_AT", str(LIMIT))


def test_a_session_keeps_working_while_all_its_logs_rotate_and_after_a_host_restart(
        tmp_path: Path, small_logs: None) -> None:
    runs: list[str] = []

    def count(call: object) -> str:
        request = call.request  # type: ignore[attr-defined]
        runs.append(request.id)
        return str(request.args["pad"])

    host = Host(tmp_path / "root", stale_after=60)
    host.register("count", count)
    host.start()
    worker = open_connection(host.root.sessions / "s")
    folder = host.root.sessions / "s"
    try:
        host.wait_for_session("s", timeout=10)
        pad = "p" * 120
        for _ in range(150):
            assert worker.call("count", timeout=10, pad=pad) == pad
        worker.on_command("twice", lambda args: args["n"] * 2)
        for n in range(60):
            assert host.command("s", "twice", n=n) == 2 * n
        host.stop()
        again = Host(tmp_path / "root", stale_after=60)
        again.register("count", count)
        again.start()
        try:
            again.wait_for_session("s", timeout=10)
            for _ in range(50):
                assert worker.call("count", timeout=10, pad=pad) == pad
        finally:
            again.stop()
    finally:
        worker.close()
    assert len(runs) == len(set(runs)) == 200, "every request ran once, none again"
    for name in ("request.log", "response.log", "command.log"):
        assert (folder / name).read_bytes().startswith(b'{"log_generation":'), \
            f"{name} was rotated"
        retired = [p.name for p in folder.iterdir() if p.name.startswith(name + ".")]
        assert len(retired) <= 2, f"generations read are removed at a rotation: {retired}"
        sizes = [(folder / n).stat().st_size for n in (name, *retired)]
        assert sum(sizes) < 3 * LIMIT


@pytest.mark.peers
def test_recover_resumes_at_the_oldest_kept_generation_and_says_what_was_lost(
        tmp_path: Path) -> None:
    host = Host(tmp_path / "root", stale_after=60)
    ran: list[int] = []
    host.register("note", lambda call: ran.append(call.args["n"]))
    host.start()
    worker = open_connection(host.root.sessions / "s")
    host.wait_for_session("s", timeout=10)
    worker.call("note", timeout=10, n=-1)
    host.stop()
    folder = host.root.sessions / "s"
    raw = AppendLog(folder / "request.log", rotate_at=LIMIT)
    for n in range(300):  # posted while no host runs: several generations
        raw.append(b'{"v":1,"id":"r%07d","seq":%d,"time":0,"pid":1,"command":"note",'
                   b'"answer":false,"args":{"n":%d}}\n' % (n, n, n))
    again = Host(tmp_path / "root", stale_after=60)
    again.register("note", lambda call: ran.append(call.args["n"]))
    again.start()
    try:
        deadline = time.monotonic() + 10
        while again.session("s").status != "broken":
            assert time.monotonic() < deadline, "the lost generation is reported"
            time.sleep(0.05)
        reason = again.session("s").refused_reason
        assert "rotated away before it was read" in reason
        assert "filebridge recover" in reason
        assert ran == [-1]
        done = subprocess.run([sys.executable, "-m", "filebridge", "recover", "s",
                               "--root", str(tmp_path / "root")],
                              capture_output=True, text=True, check=True)
        assert "rotated away unread" in done.stdout
        deadline = time.monotonic() + 20
        while (not ran or ran[-1] != 299) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ran[-1] == 299
        assert ran[1:] == sorted(ran[1:]) and len(ran[1:]) == len(set(ran[1:]))
        assert 0 < len(ran) - 1 < 300, "what was kept ran once; what was lost is not invented"
    finally:
        again.stop()
        worker.close()

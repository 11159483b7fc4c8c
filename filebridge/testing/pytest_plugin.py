"""The pytest plugin: real hosts, real workers and what their sessions asked for.

Registered by the ``pytest11`` entry point when filebridge is installed (disable it with
``-p no:filebridge.testing.pytest_plugin``). docs/testing.md has the guide; in short:

- ``fb_host``: a started ``Host`` on a fresh root, with every feature ``filebridge serve`` has;
  ``@pytest.mark.filebridge_serve("--ui", "--poll")`` passes ``serve`` options to it, and
  ``fb_host_factory(*serve_args)`` makes more.
- ``fb_python_worker``, ``fb_jupyter_worker``, ``fb_r_worker``: a worker process of that kind
  connected to a new session of ``fb_host`` (skipped where the kind cannot run), and
  ``fb_worker_factory(kind, **options)`` for more or for ``features=True``.
- ``fb_session``: a ``SessionLog`` of an in-process worker connection (``.connection``), the
  cheapest session there is.
- ``fb_faults``: ``filebridge.testing.faults``, cleared after the test.
- Every worker has ``.log``: ``requests(command=...)``, ``wait_for_request``, ``wait_until``.
  A failing test's report gets the request log of each session it used.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from filebridge.host import Host
from filebridge.testing.session_log import HostLog, SessionLog
from filebridge.testing.workers import Worker, missing, start_worker
from filebridge.worker.connection import Connection, open_connection

__all__ = ["HostFactory", "WorkerFactory"]

_LOGS_KEY = pytest.StashKey[list[SessionLog]]()
_names = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "filebridge_serve(*args): `filebridge serve` options for the fb_host fixture")


def _remember(request: pytest.FixtureRequest, log: SessionLog) -> None:
    logs = request.node.stash.setdefault(_LOGS_KEY, [])
    logs.append(log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed:
        for log in item.stash.get(_LOGS_KEY, []):
            report.sections.append((f"filebridge session {log.session_id}", log.describe()))


class HostFactory:
    """Hosts built as ``filebridge serve`` builds them, each on its own root; stopped at the
    end of the test."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.hosts: list[Host] = []
        self.logs: dict[int, HostLog] = {}

    def __call__(self, *serve_args: str, root: Optional[Path] = None, start: bool = True) -> Host:
        from filebridge.cli.serve import build_host, build_parser_for_serve

        root = root or self.base / f"root{len(self.hosts) + 1}"
        args = build_parser_for_serve().parse_args(["--root", str(root), *serve_args])
        host = build_host(args)
        self.logs[id(host)] = HostLog(host)
        self.hosts.append(host)
        if start:
            host.start()
        return host

    def log(self, host: Host) -> HostLog:
        found = self.logs.get(id(host))
        if found is None:
            found = self.logs[id(host)] = HostLog(host)
        return found

    def stop_all(self) -> None:
        """Stop every host (serve's features stop with their host)."""
        for host in reversed(self.hosts):
            host.stop()


class WorkerFactory:
    """Worker processes on new sessions of one host; stopped at the end of the test."""

    def __init__(self, host: Host, host_log: HostLog,
                 remember: Callable[[SessionLog], None]) -> None:
        self.host = host
        self.host_log = host_log
        self.remember = remember
        self.workers: list[Worker] = []

    def __call__(self, kind: str = "python", session_id: Optional[str] = None,
                 wait: bool = True, **options: Any) -> Worker:
        """A started worker; ``wait`` (default) returns once the host serves its session."""
        why = missing(kind)
        if why:
            pytest.skip(why)
        session_id = session_id or f"{kind}{next(_names)}"
        worker = start_worker(kind, self.host.root.sessions / session_id, **options)
        self.workers.append(worker)
        log = self.host_log.session(session_id)
        worker.log = log
        self.remember(log)
        if wait:
            log.wait_until(lambda: any(s.id == session_id for s in self.host.sessions()),
                           what=f"the host to serve session {session_id}")
        return worker

    def stop_all(self) -> None:
        for worker in reversed(self.workers):
            worker.stop()


@pytest.fixture
def fb_host_factory(tmp_path: Path) -> Iterator[HostFactory]:
    factory = HostFactory(tmp_path / "filebridge")
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def fb_host(request: pytest.FixtureRequest, fb_host_factory: HostFactory) -> Host:
    """A serving host on a fresh root (``filebridge_serve`` marker: its serve options)."""
    marker = request.node.get_closest_marker("filebridge_serve")
    return fb_host_factory(*(marker.args if marker else ()))


@pytest.fixture
def fb_host_log(fb_host: Host, fb_host_factory: HostFactory) -> HostLog:
    return fb_host_factory.log(fb_host)


@pytest.fixture
def fb_worker_factory(request: pytest.FixtureRequest, fb_host: Host,
                      fb_host_log: HostLog) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(fb_host, fb_host_log, lambda log: _remember(request, log))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def fb_python_worker(fb_worker_factory: WorkerFactory) -> Worker:
    """A Python interpreter process connected to a new session."""
    return fb_worker_factory("python")


@pytest.fixture
def fb_jupyter_worker(fb_worker_factory: WorkerFactory) -> Worker:
    """A real ipykernel (through jupyter_client) connected to a new session."""
    return fb_worker_factory("jupyter")


@pytest.fixture
def fb_r_worker(fb_worker_factory: WorkerFactory) -> Worker:
    """An Rscript process running the R worker, connected to a new session."""
    return fb_worker_factory("r")


class InProcessSession(SessionLog):
    """A session whose worker is a connection inside the test process."""

    connection: Connection


@pytest.fixture
def fb_faults() -> Iterator[Any]:
    """``filebridge.testing.faults``, disarmed in this process when the test ends."""
    from filebridge.testing import faults

    try:
        yield faults
    finally:
        faults.clear()


@pytest.fixture
def fb_session(request: pytest.FixtureRequest, fb_host: Host,
               fb_host_log: HostLog) -> Iterator[InProcessSession]:
    """A connected worker in this process (``.connection.call(...)``) and its request log."""
    session_id = f"inproc{next(_names)}"
    connection = open_connection(fb_host.root.sessions / session_id)
    session = InProcessSession(fb_host_log, session_id)
    session.connection = connection
    _remember(request, session)
    try:
        session.wait_until(lambda: any(s.id == session_id for s in fb_host.sessions()),
                           what=f"the host to serve session {session_id}")
        yield session
    finally:
        connection.close()

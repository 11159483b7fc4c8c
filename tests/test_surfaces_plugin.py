"""The pytest plugin's fixtures, through real worker processes of each kind."""

from __future__ import annotations

import pytest

from filebridge.host import Host
from filebridge.testing.pytest_plugin import HostFactory, InProcessSession, WorkerFactory
from filebridge.testing.session_log import WaitTimeout
from filebridge.testing.workers import Worker, WorkerFailed


def test_python_worker_requests_are_logged_with_their_answers(fb_host: Host,
                                                              fb_python_worker: Worker) -> None:
    out = fb_python_worker.run("print(fb.call('echo', text='hi'))")
    assert out == "{'text': 'hi'}\n"
    echo = fb_python_worker.log.wait_for_request("echo")
    assert echo.args == {"text": "hi"}
    assert echo.result == {"text": "hi"}
    assert fb_python_worker.log.commands()[:2] == ["attach", "echo"]
    info = fb_host.session(fb_python_worker.session_id)
    assert info.pid == fb_python_worker.pid


def test_code_that_raises_in_a_worker_fails_with_its_traceback(
        fb_python_worker: Worker) -> None:
    with pytest.raises(WorkerFailed, match="ZeroDivisionError"):
        fb_python_worker.run("1 / 0")
    assert fb_python_worker.run("print('still here')") == "still here\n"


def test_a_wait_that_times_out_carries_the_request_log(fb_python_worker: Worker) -> None:
    fb_python_worker.run("fb.send('webview', file='/nowhere.html')")
    fb_python_worker.log.wait_for_request("webview")
    with pytest.raises(WaitTimeout) as failed:
        fb_python_worker.log.wait_for_request("dataview", timeout=0.3)
    message = str(failed.value)
    assert "waited 0.3 s for request 'dataview'" in message
    assert "webview(file='/nowhere.html')" in message
    assert "attach(" in message


def test_session_fixture_is_an_in_process_connection(fb_session: InProcessSession) -> None:
    assert fb_session.connection.call("echo", n=1) == {"n": 1}
    fb_session.wait_for_request("echo")
    assert [e.result for e in fb_session.requests(command="echo")] == [{"n": 1}]
    missing = fb_session.requests(command="echo", where=lambda e: e.args.get("n") == 2)
    assert missing == []


@pytest.mark.slow
def test_jupyter_kernel_worker(fb_jupyter_worker: Worker) -> None:
    assert fb_jupyter_worker.run("print(fb.call('echo', k='v')['k'])") == "v\n"
    assert fb_jupyter_worker.log.wait_for_request("echo").result == {"k": "v"}
    assert fb_jupyter_worker.started_in > 0


@pytest.mark.slow
def test_r_worker(fb_r_worker: Worker) -> None:
    out = fb_r_worker.run('cat(filebridge_call("echo", text = "from R")$text)')
    assert out.strip() == "from R"
    assert fb_r_worker.log.wait_for_request("echo").args == {"text": "from R"}
    with pytest.raises(WorkerFailed, match="boom"):
        fb_r_worker.run('stop("boom")')


def test_host_with_serve_options_and_several_workers(fb_worker_factory: WorkerFactory,
                                                     fb_host: Host) -> None:
    first, second = fb_worker_factory("python"), fb_worker_factory("python")
    first.run("fb.call('echo', who=1)")
    second.run("fb.call('echo', who=2)")
    first.log.wait_for_request("echo")
    second.log.wait_for_request("echo")
    assert [e.args for e in first.log.requests(command="echo")] == [{"who": 1}]
    assert [e.args for e in second.log.requests(command="echo")] == [{"who": 2}]
    first.stop()
    first.log.wait_for_request("detach")
    first.log.wait_for_status("detached")


@pytest.mark.filebridge_serve("--ui")
def test_serve_options_reach_the_host_and_its_page_stops_with_it(
        fb_host: Host, fb_host_factory: HostFactory) -> None:
    from urllib.request import urlopen

    from filebridge.host.viewers.service import viewers_of

    viewers = viewers_of(fb_host)
    assert viewers is not None and viewers.ui is not None
    with urlopen(viewers.ui.url, timeout=10) as page:
        assert page.status == 200
    polling = fb_host_factory("--poll")
    assert polling.polling  # --poll forces polling whatever the filesystem
    fb_host_factory.stop_all()
    with pytest.raises(OSError):
        urlopen(viewers.ui.url, timeout=5)

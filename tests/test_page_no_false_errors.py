"""A worker started without sources served makes no request the host cannot answer.

``filebridge.worker.start()`` takes every root the host serves; a host started without
``--source`` has no ``module_index`` handler, and asking it anyway put a red "no handler" line
in the page's request log of every session. The host's record (``host.json``) now lists the
commands it answers, and the worker asks only a host that serves module source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from viewers_support import api, run_worker, running_host, wait_for

from filebridge.host.imports.service import serve_sources

pytestmark = pytest.mark.integration  # worker processes

START = ("import filebridge.worker as fb\n"
         "fb.start()\n"
         "from filebridge.worker import imports\n"
         "print('remote imports:', imports.installed() is not None)\n"
         "{extra}\n"
         "fb.call('echo', text='done')\n")


def _log(viewers: object, session: str) -> list[dict[str, object]]:
    found = api(viewers, "api/log", session=session)  # type: ignore[arg-type]
    return list(found["requests"])


def test_host_record_lists_the_commands_it_answers(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root) as (host, _viewers):
        record = json.loads((root / "host.json").read_text())
        assert "echo" in record["commands"] and "plot" in record["commands"]
        assert "module_index" not in record["commands"]
        host.register("late_command", lambda call: None)
        # a command registered while serving is in the record at once, not a beat later
        record = json.loads((root / "host.json").read_text())
        assert "late_command" in record["commands"]


def test_worker_without_sources_sends_no_request_the_host_refuses(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with running_host(root) as (_host, viewers):
        done = run_worker(root, "plain", START.format(extra=""))
        assert "remote imports: False" in done.stdout
        log = wait_for(lambda: [e for e in _log(viewers, "plain") if e["command"] == "echo"]
                       and _log(viewers, "plain"), what="the worker's requests in the log")
        assert [e for e in log if e.get("ok") is False] == []
        assert "module_index" not in [e["command"] for e in log]


def test_worker_of_a_host_serving_sources_still_imports_from_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    project = tmp_path / "src" / "shop_lib"
    project.mkdir(parents=True)
    (project / "__init__.py").write_text("PRICE = 42\n")
    with running_host(root) as (host, viewers):
        serve_sources(host, [str(project)], watch=False)
        done = run_worker(root, "sourced", START.format(
            extra="import shop_lib; print('price', shop_lib.PRICE)"))
        assert "remote imports: True" in done.stdout
        assert "price 42" in done.stdout
        log = wait_for(lambda: [e for e in _log(viewers, "sourced") if e["command"] == "echo"]
                       and _log(viewers, "sourced"), what="the worker's requests in the log")
        assert [e for e in log if e.get("ok") is False] == []

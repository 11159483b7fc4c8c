"""Remote imports as a user relies on them: real host, real project folder, real workers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from imports_support import REPO, Bridge, bridge_fixture, wait_for, write_project

from filebridge.wire.codec import loads


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from bridge_fixture(tmp_path)


def test_package_module_and_relative_imports_run_the_hosts_files(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        remote.install(["proj"])
        import proj, proj.rel.a
        print(json.dumps({"greet": proj.greet("you"), "A": proj.rel.a.A,
                          "file": proj.rel.a.__file__, "origin": proj.rel.a.__spec__.origin,
                          "pkg_path": list(proj.rel.__path__), "package": proj.rel.a.__package__}))
    """)
    expected_file = str(bridge.project / "rel" / "a.py")
    assert got == {"greet": "hello you", "A": 3, "file": expected_file, "origin": expected_file,
                   "pkg_path": [str(bridge.project / "rel")], "package": "proj.rel"}


def test_namespace_package_without_init_is_served(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        remote.install(["proj"])
        import proj.nspkg.leaf, proj.nspkg
        print(json.dumps([proj.nspkg.leaf.LEAF, getattr(proj.nspkg, "__file__", None),
                          list(proj.nspkg.__path__)]))
    """)
    assert got == ["leaf", None, [str(bridge.project / "nspkg")]]


def test_circular_imports_between_served_modules_resolve(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        remote.install(["proj"])
        from proj.circ import y
        print(json.dumps(y.back()))
    """)
    assert got == "xy"


def test_traceback_shows_the_served_source_even_after_the_local_file_changed(
        bridge: Bridge) -> None:
    done = bridge.run_worker(f"""
        import traceback, pathlib
        remote.install(["proj"])
        import proj.raises
        pathlib.Path({str(bridge.project / "raises.py")!r}).write_text("# rewritten\\n" * 9)
        try:
            proj.raises.fail()
        except RuntimeError:
            traceback.print_exc()
    """)
    assert f'File "{bridge.project / "raises.py"}", line 5, in fail' in done.stderr
    assert 'raise RuntimeError("deliberate failure")' in done.stderr


def test_syntax_error_names_the_local_file_and_line(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        remote.install(["proj"])
        try:
            import proj.broken
        except SyntaxError as exc:
            print(json.dumps([exc.filename, exc.lineno, "proj.broken" in sys.modules]))
    """)
    assert got == [str(bridge.project / "broken.py"), 4, False]


def test_inspect_getsource_and_get_source_show_the_served_text(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import inspect
        remote.install(["proj"])
        import proj.core
        print(json.dumps([inspect.getsource(proj.core.greet),
                          proj.core.__loader__.get_source("proj.core")]))
    """)
    assert got == ['def greet(name):\n    return f"hello {name}"\n',
                   (bridge.project / "core.py").read_text()]


def test_pkgutil_iter_modules_lists_what_the_host_serves(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import pkgutil
        remote.install(["proj"])
        import proj
        print(json.dumps(sorted([m.name, m.ispkg] for m in pkgutil.iter_modules(proj.__path__))))
    """)
    assert got == [["broken", False], ["circ", True], ["core", False], ["nspkg", True],
                   ["raises", False], ["rel", True]]


def test_reload_after_an_edit_runs_the_new_source(bridge: Bridge) -> None:
    got = bridge.worker_json(f"""
        import importlib, pathlib
        remote.install(["proj"])
        import proj.rel.b
        before = proj.rel.b.B
        pathlib.Path({str(bridge.project / "rel" / "b.py")!r}).write_text("B = 40\\n")
        importlib.reload(proj.rel.b)
        print(json.dumps([before, proj.rel.b.B]))
    """)
    assert got == [2, 40]


def test_refresh_drops_a_changed_root_and_the_next_import_sees_the_edit(bridge: Bridge) -> None:
    got = bridge.worker_json(f"""
        import pathlib
        remote.install(["proj"])
        import proj.rel.a
        first = proj.rel.a.A
        unchanged = remote.refresh()
        pathlib.Path({str(bridge.project / "rel" / "b.py")!r}).write_text("B = 10\\n")
        dropped = remote.refresh()
        import proj.rel.a
        print(json.dumps([first, unchanged, "proj.rel.b" in dropped, proj.rel.a.A]))
    """)
    assert got == [3, [], True, 11]


def test_unchanged_package_in_a_fresh_sys_modules_sends_no_request(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        remote.install(["proj"])
        import proj.rel.a, proj.circ.x
        first = remote.stats()
        for name in [n for n in sys.modules if n.split(".")[0] == "proj"]:
            del sys.modules[name]
        import proj.rel.a, proj.circ.x
        second = remote.stats()
        print(json.dumps([first["syncs"], first["batches"], first["requests"],
                          second["requests"] - first["requests"],
                          second["cache_hits"] - first["cache_hits"], proj.rel.a.A]))
    """)
    syncs, batches, first_requests, second_requests, hits, value = got
    # A cold import: one look at what changed, one request for the whole package.
    assert (syncs, batches, first_requests) == (1, 1, 2)
    assert second_requests == 0
    assert hits >= 6  # proj, proj.core, proj.rel, proj.rel.a, proj.rel.b, proj.circ, ...
    assert value == 3


def test_missing_module_is_module_not_found_without_a_request(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import os
        remote.install(["proj"])
        import proj
        index = os.path.join(fb.current().session_dir, "modules.json")
        while not os.path.exists(index):
            pass
        before = remote.stats()
        try:
            import proj.not_there
        except ModuleNotFoundError as exc:
            error = [type(exc).__name__, exc.name]
        after = remote.stats()
        print(json.dumps([error, after["requests"] - before["requests"],
                          after["index_misses"] - before["index_misses"]]))
    """)
    assert got == [["ModuleNotFoundError", "proj.not_there"], 0, 1]


def test_names_that_are_not_dotted_identifiers_are_refused(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import importlib
        remote.install(["proj"])
        results = []
        for name in ["proj.rel/../../outside/evil", "proj..core", "proj.rel.a/../b"]:
            try:
                importlib.import_module(name)
                results.append("imported")
            except ImportError as exc:
                results.append(type(exc).__name__)
        asked = fb.call("module_spec", name="proj.rel/../../outside/evil")
        print(json.dumps([results, asked]))
    """)
    assert got == [["ModuleNotFoundError"] * 3,
                   {"found": False, "name": "proj.rel/../../outside/evil"}]


def test_symlinks_out_of_the_root_and_excluded_files_are_not_served(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import importlib
        remote.install(["proj"])
        import proj
        results = {}
        for name in ["proj.escape", "proj.linkdir.evil", "proj.secret_settings",
                     "proj.build.generated"]:
            try:
                importlib.import_module(name)
                results[name] = "imported"
            except ModuleNotFoundError:
                results[name] = fb.call("module_spec", name=name)["found"]
        print(json.dumps(results))
    """)
    # Every file exists on this machine: the finder must also stop Python's own path finder.
    assert got == {"proj.escape": False, "proj.linkdir.evil": False,
                   "proj.secret_settings": False, "proj.build.generated": False}


def test_concurrent_imports_from_threads_all_succeed(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import importlib, threading
        remote.install(["proj"])
        # Not proj.circ: two threads entering one import cycle from both ends deadlock in
        # CPython's import locks with local files too.
        names = ["proj.core", "proj.rel.a", "proj.rel.b", "proj.rel", "proj",
                 "proj.nspkg.leaf", "proj.raises"] * 3
        errors, done = [], []
        barrier = threading.Barrier(len(names))
        def work(name):
            try:
                barrier.wait()
                done.append(importlib.import_module(name).__name__)
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=work, args=(n,)) for n in names]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps([errors, sorted(set(done))]))
    """)
    assert got == [[], ["proj", "proj.core", "proj.nspkg.leaf", "proj.raises", "proj.rel",
                        "proj.rel.a", "proj.rel.b"]]


def test_import_from_a_thread_running_an_asyncio_loop(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        import asyncio, importlib
        remote.install(["proj"])
        async def main():
            await asyncio.sleep(0)
            return importlib.import_module("proj.rel.a").A
        print(json.dumps(asyncio.run(main())))
    """)
    assert got == 3


HOST_PROCESS = """
import sys
from filebridge.host import Host
from filebridge.host.imports.service import serve_sources
host = Host(sys.argv[1])
serve_sources(host, [sys.argv[2]])
print("ready", flush=True)
host.serve_forever()
"""


def _run(code: str, root: Path, session: Path, cwd: Path) -> list[object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env.update(FILEBRIDGE_ROOT=str(root), FILEBRIDGE_SESSION=str(session),
               PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: list[object] = loads(done.stdout.strip().splitlines()[-1])
    return result


def test_killed_host_fails_fast_and_cached_modules_keep_importing(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    root = tmp_path / "root"
    session = root / "sessions" / "w1"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    host = subprocess.Popen([sys.executable, "-c", HOST_PROCESS, str(root), str(project)],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None and host.stdout.readline().strip() == "ready"
        before = _run("""
            import json, filebridge.worker as fb, filebridge.worker.imports as remote
            fb.connect(); fb.call("echo", timeout=30)
            remote.install(["proj"])
            import proj.core
            print(json.dumps([proj.core.greet("a")]))
        """, root, session, tmp_path)
    finally:
        host.kill()
        host.wait()
    assert before == ["hello a"]
    after = _run("""
        import json, filebridge.worker as fb, filebridge.worker.imports as remote
        fb.connect()
        remote.install(["proj"])
        import proj.core                      # compiled by the first process: no request
        greeting = proj.core.greet("b")
        try:
            import proj.raises                # never compiled here: must ask, and cannot
        except ImportError as exc:
            error = [type(exc).__name__, isinstance(exc, TimeoutError), exc.name, str(exc)]
        print(json.dumps([greeting, error, remote.stats()["requests"]]))
    """, root, session, tmp_path)
    greeting, (kind, is_timeout, name, message), requests = after  # type: ignore[misc]
    assert greeting == "hello b"
    assert (kind, is_timeout, name) == ("RemoteImportError", False, "proj.raises")
    assert "could not import 'proj.raises'" in message
    assert "the host did not look alive, so nothing was asked" in message
    assert "is gone; start one with `filebridge serve`" in message
    # No request was sent at all: the error did not wait for any timeout.
    assert requests == 0
    # The template line in a new session: it asks nothing of a dead host, so it does not wait.
    started = _run("""
        import json, sys, filebridge.worker as fb, filebridge.worker.imports as remote
        conn = fb.start(sys.argv[1], sources=None)
        asked = [line for line in conn.layout.request_log.read_text().splitlines()
                 if '"module_' in line]
        print(json.dumps([remote.installed() is None, asked]))
    """.replace("sys.argv[1]", repr(str(root / "sessions" / "w2"))), root, root / "sessions" / "w2",
        tmp_path)
    assert started == [True, []]


def test_uninstall_restores_meta_path_and_path_hooks(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        before = (list(sys.meta_path), list(sys.path_hooks))
        remote.install(["proj"])
        import proj.rel
        remote.uninstall()
        after = (list(sys.meta_path), list(sys.path_hooks))
        print(json.dumps([before == after, remote.installed() is None]))
    """)
    assert got == [True, True]


def test_index_follows_a_new_file_on_the_host(bridge: Bridge) -> None:
    assert bridge.service.watcher is not None
    wait_for(bridge.service.watcher.ready.is_set, "the source watcher to start")
    (bridge.project / "fresh.py").write_text("FRESH = 1\n")
    wait_for(lambda: "proj.fresh" in bridge.service.provider.index()["modules"],
             "the watcher to index proj/fresh.py")
    got = bridge.worker_json("""
        import os
        remote.install(["proj"])
        while not os.path.exists(os.path.join(fb.current().session_dir, "modules.json")):
            pass
        import proj.fresh
        print(json.dumps([proj.fresh.FRESH, remote.stats()["index_misses"]]))
    """)
    assert got == [1, 0]


def test_bad_module_spec_request_gets_a_clear_error_and_the_host_keeps_serving(
        bridge: Bridge) -> None:
    got = bridge.worker_json("""
        from filebridge.errors import RemoteError
        try:
            fb.call("module_spec", name=5)
        except RemoteError as exc:
            error = [exc.code, exc.remote_message]
        print(json.dumps([error, fb.call("module_spec", name="proj.core")["found"]]))
    """)
    assert got == [["bad_request", "module_spec needs a string 'name'"], True]


def test_install_without_roots_takes_the_roots_the_host_serves(bridge: Bridge) -> None:
    got = bridge.worker_json("""
        finder = remote.install()
        import proj.core
        print(json.dumps(sorted(finder.roots)))
    """)
    assert got == ["proj"]

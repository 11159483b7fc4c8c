"""Saves on the host: what a worker sees right after, and which modules run again."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imports_support import Bridge, bridge_fixture

from filebridge.host.imports.module_source import ModuleSourceProvider, content_hash
from filebridge.host.imports.rules import SourceRoot


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from bridge_fixture(tmp_path)


def test_a_save_is_visible_to_the_very_next_import(bridge: Bridge) -> None:
    # No waiting for the watcher: the worker's first lookup after install asks what changed.
    got = bridge.worker_json(f"""
        import importlib, pathlib, os
        remote.install(["proj"])
        import proj.rel.b
        folder = pathlib.Path({str(bridge.project)!r})
        (folder / "rel" / "b.py").write_text("B = 7\\n")
        (folder / "brand_new.py").write_text("NEW = 'yes'\\n")
        os.remove(folder / "raises.py")
        importlib.invalidate_caches()
        import proj.brand_new
        try:
            import proj.raises
            deleted = "imported"
        except ModuleNotFoundError:
            deleted = "gone"
        importlib.reload(proj.rel.b)
        print(json.dumps([proj.brand_new.NEW, deleted, proj.rel.b.B]))
    """)
    assert got == ["yes", "gone", 7]


def test_a_fixed_syntax_error_is_not_raised_again(bridge: Bridge) -> None:
    got = bridge.worker_json(f"""
        import importlib, pathlib
        remote.install(["proj"])
        try:
            import proj.broken
        except SyntaxError:
            first = "SyntaxError"
        pathlib.Path({str(bridge.project / "broken.py")!r}).write_text("FIXED = True\\n")
        importlib.invalidate_caches()
        import proj.broken
        print(json.dumps([first, proj.broken.FIXED]))
    """)
    assert got == ["SyntaxError", True]


STATEFUL = {
    "state/__init__.py": "from .conf import LIMIT\n",
    "state/conf.py": "LIMIT = 10\n",
    "state/store.py": "ITEMS = []\n\n\ndef add(x):\n    ITEMS.append(x)\n    return len(ITEMS)\n",
    "state/calc.py": "from .helpers import double\n\n\ndef run(x):\n    return double(x)\n",
    "state/helpers.py": "def double(x):\n    return 2 * x\n",
    "state/user.py": "from . import helpers\n\nCOUNTER = 0\n\n\ndef go(x):\n"
                     "    return helpers.double(x)\n",
}


def test_refresh_reruns_changed_modules_and_their_importers_and_keeps_other_state(
        bridge: Bridge) -> None:
    for relative, text in STATEFUL.items():
        (bridge.project / relative).parent.mkdir(parents=True, exist_ok=True)
        (bridge.project / relative).write_text(text)
    got = bridge.worker_json(f"""
        import pathlib
        remote.install(["proj"])
        import proj.state, proj.state.store, proj.state.calc, proj.state.user
        proj.state.store.add("kept")
        proj.state.user.COUNTER = 5
        helpers_module = proj.state.helpers
        pathlib.Path({str(bridge.project / "state" / "helpers.py")!r}).write_text(
            "def double(x):\\n    return 20 * x\\n")
        before = remote.stats()["requests"]
        changed = remote.refresh()
        asked = remote.stats()["requests"] - before
        print(json.dumps([changed, proj.state.store.ITEMS, proj.state.user.COUNTER,
                          proj.state.calc.run(2), proj.state.user.go(2),
                          helpers_module is proj.state.helpers, remote.refresh(), asked]))
    """)
    changed, items, counter, run, go, same_module, again, asked = got
    # One request: what changed came with the changed source.
    assert asked == 1
    # helpers changed; calc took a name from it (from .helpers import double): both re-run.
    # user holds the module object, which was updated in place: its state stays.
    assert changed == ["proj.state.calc", "proj.state.helpers"]
    assert (items, counter, run, go, same_module, again) == (["kept"], 5, 40, 40, True, [])


def test_a_module_deleted_on_the_host_is_removed_by_refresh(bridge: Bridge) -> None:
    got = bridge.worker_json(f"""
        import os
        remote.install(["proj"])
        import proj.raises
        os.remove({str(bridge.project / "raises.py")!r})
        changed = remote.refresh()
        print(json.dumps([changed, "proj.raises" in sys.modules]))
    """)
    assert got == [["proj.raises"], False]


def test_spawn_and_forkserver_pools_run_served_functions(bridge: Bridge) -> None:
    (bridge.project / "work.py").write_text(
        "from .core import greet\n\n\ndef job(x):\n    return greet(str(x * x))\n")
    got = bridge.worker_json("""
        import multiprocessing
        remote.install(["proj"])
        import proj.work
        results = {}
        for method in ("spawn", "forkserver"):
            with multiprocessing.get_context(method).Pool(2) as pool:
                results[method] = pool.map(proj.work.job, [1, 2, 3], chunksize=1)
        print(json.dumps(results))
    """, timeout=120)
    expected = ["hello 1", "hello 4", "hello 9"]
    assert got == {"spawn": expected, "forkserver": expected}


def test_index_updates_one_entry_per_save_and_answers_changes_since(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("A = 1\n")
    (root / "sub" / "__init__.py").write_text("")
    provider = ModuleSourceProvider([SourceRoot.of(root)])
    tree = provider.tree
    start = tree.generation
    (root / "a.py").write_text("A = 2\n")
    assert tree.update([str(root / "a.py")]) is True
    (root / "sub" / "new.py").write_text("N = 1\n")
    (root / "notes.txt").write_text("not a module")
    assert tree.update([str(root / "sub" / "new.py"), str(root / "notes.txt")]) is True
    assert tree.generation == start + 2
    changes = tree.changes_since(start)
    assert changes is not None and sorted(changes) == ["proj.a", "proj.sub.new"]
    assert changes["proj.a"] is not None and changes["proj.a"]["hash"] == content_hash(b"A = 2\n")
    assert tree.changes_since(tree.generation) == {}
    assert tree.changes_since(start - 10_000) is None  # unknown: the whole index is sent
    # A change no event reported (a network filesystem) is found by verify().
    (root / "sub" / "new.py").unlink()
    time.sleep(0.01)
    assert tree.verify() is True
    assert "proj.sub.new" not in provider.index()["modules"]
    assert tree.verify() is False


def test_a_light_look_sees_new_files_and_hot_saves_at_once_and_cold_saves_within_a_sweep(
        tmp_path: Path) -> None:
    import os

    from filebridge.host.imports.index import SWEEP_SLICES

    root = tmp_path / "proj"
    (root / "sub").mkdir(parents=True)
    files = {root / "__init__.py": "", root / "sub" / "__init__.py": ""}
    files.update({root / "sub" / f"m{i}.py": f"V = {i}\n" for i in range(40)})
    day_ago = time.time() - 86400
    for path, text in files.items():
        path.write_text(text)
    for path in [*files, root / "sub", root]:
        os.utime(path, (day_ago, day_ago))
    provider = ModuleSourceProvider([SourceRoot.of(root)])
    tree = provider.tree

    def hash_of(name: str) -> str:
        return str(provider.index()["modules"][name]["hash"])

    # A new file changes its folder's listing: the very next light look sees it.
    (root / "sub" / "fresh.py").write_text("F = 1\n")
    assert tree.verify(light=True) is True
    assert "proj.sub.fresh" in provider.index()["modules"]
    # A file changed lately is looked at every time, an in-place save included.
    with open(root / "sub" / "fresh.py", "r+") as handle:
        handle.write("F = 2")
    assert tree.verify(light=True) is True
    assert hash_of("proj.sub.fresh") == content_hash(b"F = 2\n")
    # A save by rename of a file untouched for a day changes its folder: seen at once.
    (root / "sub" / "m3.tmp").write_text("V = 33\n")
    os.replace(root / "sub" / "m3.tmp", root / "sub" / "m3.py")
    assert tree.verify(light=True) is True
    assert hash_of("proj.sub.m3") == content_hash(b"V = 33\n")
    # An in-place save of a file untouched for a day (its folder's mtime stays) is seen
    # within one sweep of light looks, and by a full look at once.
    cold = root / "sub" / "m7.py"
    with open(cold, "r+") as handle:
        handle.write("V = 9")
    looks = 0
    while hash_of("proj.sub.m7") != content_hash(b"V = 9\n"):
        looks += 1
        assert looks <= SWEEP_SLICES, "a cold in-place save was never seen"
        tree.verify(light=True)
    with open(cold, "r+") as handle:
        handle.write("V = 8")
    assert tree.verify() is True and hash_of("proj.sub.m7") == content_hash(b"V = 8\n")


def test_a_single_file_is_served_as_a_module(tmp_path: Path) -> None:
    helpers = tmp_path / "helpers.py"
    helpers.write_text("def h():\n    return 'h'\n")
    (tmp_path / "other.py").write_text("X = 1\n")
    bridge = Bridge(tmp_path, [str(helpers)])
    try:
        got = bridge.worker_json("""
            remote.install(["helpers"])
            import helpers
            try:
                import helpers.other
                nested = "imported"
            except ModuleNotFoundError:
                nested = "not found"
            print(json.dumps([helpers.h(), helpers.__file__, nested]))
        """)
    finally:
        bridge.stop()
    assert got == ["h", str(helpers), "not found"]


def test_subpackages_named_build_are_served_and_exclusions_are_logged_once_with_the_rule(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "proj"
    for relative in ("__init__.py", "build/__init__.py", "build/steps.py", "dist/out.py",
                     "secret_x.py"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("")
    from filebridge.host.imports.rules import SourceRules

    with caplog.at_level(logging.INFO, logger="filebridge.host.imports"):
        provider = ModuleSourceProvider([SourceRoot.of(root)], SourceRules(exclude=["secret_*"]))
        provider.rescan()
        assert provider.find("proj.dist.out")["found"] is False
    modules = provider.index()["modules"]
    assert "proj.build.steps" in modules and "proj.dist" not in modules
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count(f"not serving module 'proj.dist': {root / 'dist'} is left out by "
                          "exclude glob 'dist' (default)") == 1
    assert messages.count(f"not serving module 'proj.secret_x': {root / 'secret_x.py'} is left "
                          "out by exclude glob 'secret_*'") == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks settle on inotify only")
def test_a_look_waits_for_the_file_events_before_it_instead_of_stating_the_tree(
        bridge: Bridge) -> None:
    watcher = bridge.service.watcher
    assert watcher is not None and not watcher.polling
    assert watcher.ready.wait(30), "the source watcher did not start"
    tree = bridge.service.provider.tree
    for value in range(3):
        text = f"B = {100 + value}\n"
        # In place, as editors that do not save by rename write: no folder's mtime moves.
        with open(bridge.project / "rel" / "b.py", "w") as handle:
            handle.write(text)
        assert watcher.settle() is True
        entry = tree.index()["modules"]["proj.rel.b"]
        assert entry["hash"] == content_hash(text.encode())
    polled = Bridge(bridge.base / "polled", force_polling=True)
    try:
        assert polled.service.watcher is not None and polled.service.watcher.polling
        assert polled.service.watcher.settle() is False  # no events: the look stats the files
    finally:
        polled.stop()


@pytest.mark.parametrize("polling", [False, True], ids=["file events", "polled folders"])
def test_save_and_run_sees_each_save_and_retries_a_rerun_that_failed(
        tmp_path: Path, polling: bool) -> None:
    bridge = Bridge(tmp_path, force_polling=polling)
    bridge.service.publisher.stat_look_limit = 0  # looks settle on events even for a small tree
    try:
        got = bridge.worker_json(f"""
            import importlib, pathlib
            folder = pathlib.Path({str(bridge.project)!r})
            remote.install(["proj"])
            import proj.rel.a
            seen = [remote.refresh()]
            for value in (5, 6):
                (folder / "rel" / "b.py").write_text(f"B = {{value}}\\n")
                seen.append([remote.refresh(), proj.rel.a.A])
            # A module first imported after a refresh, then saved: the next refresh re-runs it.
            import proj.circ.y
            (folder / "circ" / "y.py").write_text("def fy():\\n    return 'Y'\\n")
            seen.append([remote.refresh(), proj.circ.y.fy()])
            (folder / "rel" / "b.py").write_text("B = (\\n")
            try:
                remote.refresh()
            except SyntaxError:
                seen.append("SyntaxError")
            (folder / "rel" / "b.py").write_text("B = 9\\n")
            seen.append([remote.refresh(), proj.rel.a.A])
            print(json.dumps(seen))
        """)
    finally:
        bridge.stop()
    rerun = ["proj.rel.a", "proj.rel.b"]
    assert got == [[], [rerun, 6], [rerun, 7], [["proj.circ.y"], "Y"], "SyntaxError",
                   [rerun, 10]]


LAZY = {
    "lazy/__init__.py": "VALUE = 1\n",
    "lazy/alpha.py": "def f():\n    return 1\n",
    "lazy/b.py": "from .alpha import f\n",
    "lazy/c.py": "from proj.lazy.alpha import f as g\n",
    "lazy/d.py": "from . import VALUE\n",
    "lazy/holder.py": "from . import alpha\n",
    "lazy/other.py": "X = 1\n",
    # More modules than a refresh reads at once: their from lines are read when needed.
    **{f"lazy/fill{i}.py": f"from .other import X\nN = {i}\n" for i in range(70)},
}


def test_the_rule_holds_over_several_refreshes_and_modules_imported_between_them(
        bridge: Bridge) -> None:
    for relative, text in LAZY.items():
        (bridge.project / relative).parent.mkdir(parents=True, exist_ok=True)
        (bridge.project / relative).write_text(text)
    folder = bridge.project / "lazy"
    got = bridge.worker_json(f"""
        import importlib, pathlib
        folder = pathlib.Path({str(folder)!r})
        remote.install(["proj"])
        import proj.lazy.b, proj.lazy.c, proj.lazy.d, proj.lazy.holder
        for i in range(70):
            importlib.import_module(f"proj.lazy.fill{{i}}")
        proj.lazy.b.EXTRA = "kept"
        steps = []
        (folder / "alpha.py").write_text("def f():\\n    return 2\\n")
        steps.append(remote.refresh())
        (folder / "e.py").write_text("from .alpha import f\\n")
        importlib.invalidate_caches()  # as for a file created locally: a fresh look
        import proj.lazy.e
        (folder / "alpha.py").write_text("def f():\\n    return 3\\n")
        steps.append(remote.refresh())
        (folder / "__init__.py").write_text("VALUE = 2\\n")
        steps.append(remote.refresh())
        (folder / "other.py").write_text("X = 2\\n")
        steps.append(remote.refresh())
        print(json.dumps([steps, proj.lazy.b.f(), proj.lazy.c.g(), proj.lazy.e.f(),
                          proj.lazy.d.VALUE, proj.lazy.b.EXTRA, proj.lazy.fill5.X]))
    """)
    steps, b_f, c_g, e_f, d_value, extra, fill_x = got
    fills = sorted(f"proj.lazy.fill{i}" for i in range(70))
    assert steps == [
        # took f from alpha, relatively and absolutely; holder took the module object
        ["proj.lazy.alpha", "proj.lazy.b", "proj.lazy.c"],
        # e was imported after the last refresh and took f from alpha too
        ["proj.lazy.alpha", "proj.lazy.b", "proj.lazy.c", "proj.lazy.e"],
        # from . import ...: names taken from the package itself
        ["proj.lazy", "proj.lazy.d", "proj.lazy.holder"],
        # other was imported by the 70 fill modules only, whose from lines name it
        sorted(["proj.lazy.other", *fills]),
    ]
    assert (b_f, c_g, e_f, d_value, fill_x) == (3, 3, 3, 2, 2)
    assert extra == "kept", "b ran again in place: a name its code does not set stays"

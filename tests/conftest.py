"""Fixtures shared across feature tests, and the markers that split the suite in three tiers
(docs/testing.md, "The project's own suite"):

- unit (no marker): no process is started; a host and worker connections in this process on
  real files at most.
- ``integration``: starts Python host or worker processes (``python -c ...``).
- ``peers``: starts real peers (R, Chromium, Jupyter, Deephaven, an sshd with an sshfs mount)
  or the command line (``python -m filebridge ...``). The modules named below are peers whole.

The default developer run is ``pytest -m "not peers"``; ``.ci/run`` runs everything. A test
that starts a process without the marker of its tier fails, so the markers stay true.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from r_support import Recorder
from viewers_support import CHROMIUM, CHROMIUM_ARGS

from filebridge.host import Host

# The plugin's entry point loads it where filebridge is installed; this loads it from a checkout.
pytest_plugins = ["filebridge.testing.pytest_plugin"]

PEER_MODULES = re.compile(
    r"test_(r_.*|.*browser.*|.*jupyter.*|.*deephaven.*|.*_cli.*|.*demo.*|netfs_.*|"
    r"surfaces_.*|variables_repl|imports_changes|imports_resources|imports_semantics|"
    r"viewers_worker|core_crash)\.py$")


def pytest_configure(config: pytest.Config) -> None:
    rewrite_only_the_testing_helpers(config)


def rewrite_only_the_testing_helpers(config: pytest.Config) -> None:
    """pytest rewrites the asserts of every module of a distribution that has a ``pytest11``
    entry point: all of filebridge, recompiled at each run (and in each xdist worker) where
    bytecode is not cached. The asserts a failing test shows come from the tests and from
    ``filebridge.testing``: only those stay rewritten. Without this pytest API (a private
    one), nothing changes but the time."""
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if not isinstance(marked, set) or "filebridge" not in marked:
        return
    marked.discard("filebridge")
    hook.mark_rewrite("filebridge.testing")


# jsonschema (which nbformat imports) builds the grammar of its IRI format checker with
# rfc3987_syntax when it is imported: seconds of CPU in every process that imports it. No schema
# the tests validate against uses a format and no test passes a format checker; without that
# module jsonschema leaves the IRI formats unchecked and nothing the tests check changes.
sys.modules.setdefault("rfc3987_syntax", None)

# Property tests draw 30 examples each in a developer run (a quick look; examples that once
# failed are replayed first from hypothesis's database); `.ci/run` passes
# --hypothesis-profile=ci for 400.
try:
    from hypothesis import settings
except ImportError:  # the other Pythons' runs of .ci/run install no hypothesis
    pass
else:
    settings.register_profile("dev", max_examples=30)
    settings.register_profile("ci", max_examples=400)
    settings.load_profile("dev")

def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave unimported a peers module whose every test ``-m`` deselects anyway: both xdist
    processes would import it (and rewrite its asserts) only to drop its tests, seconds of
    start-up in the developer run."""
    if PEER_MODULES.search(collection_path.name) and not selects_peers(config.option.markexpr):
        return True
    return None


def selects_peers(markexpr: str) -> bool:
    """Whether a test marked ``peers`` can match ``markexpr``, whatever its other markers."""
    if not markexpr.strip() or "(" in markexpr:  # none, or markers with arguments: collect all
        return True
    try:
        from _pytest.mark.expression import Expression

        expression = Expression.compile(markexpr)
        others = sorted(set(expression.idents()) - {"peers"})
    except Exception:  # an expression pytest refuses itself, or a pytest without this API
        return True
    if len(others) > 8:
        return True
    for combination in range(2 ** len(others)):
        present = {"peers"} | {name for bit, name in enumerate(others) if combination >> bit & 1}
        if expression.evaluate(lambda name, /, present=present, **kwargs: name in present):
            return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PEER_MODULES.search(item.path.name):
            item.add_marker(pytest.mark.peers)
    slow_modules_first(items)


def slow_modules_first(items: list[pytest.Item]) -> None:
    """Modules that start processes or draw hypothesis examples first, then within each group
    the modules with the most tests, each module's tests in their order: xdist hands modules
    out in this order, so the quick ones fill in at the end instead of one process running a
    long module alone while the others wait."""
    slow = {item.path for item in items
            if item.get_closest_marker("integration") is not None
            or getattr(getattr(item, "obj", None), "is_hypothesis_test", False)}
    tests = Counter(item.path for item in items)
    items.sort(key=lambda item: (item.path not in slow, -tests[item.path]))


class ProcessWatch:
    """What the running test started, seen through the interpreter's audit events."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.watching = False

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        if not self.watching:
            return
        if event == "subprocess.Popen":
            self.started.append(describe_command(args[1]))
        elif event in ("os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system"):
            self.started.append(event)


def describe_command(argv: object) -> str:
    words = [str(a) for a in argv] if isinstance(argv, Sequence) and not isinstance(
        argv, (str, bytes)) else [str(argv)]
    return " ".join(words)[:120]


# Programs that make a test a peer test; other tools a test or a library runs on the way
# (mount, ldconfig) make no tier.
PEER_PROGRAMS = {"Rscript", "R", "chromium", "chrome", "sshd", "sshfs", "bindfs", "node",
                 "java", "jupyter", "jupyter-lab", "filebridge"}


def tier_of(command: str) -> str | None:
    """The marker a test starting ``command`` needs (None: any tier may run it)."""
    if command.startswith(sys.executable) or command == "os.fork":
        return "peers" if " -m filebridge" in command else "integration"
    program = command.split(" ", 1)[0].rsplit("/", 1)[-1]
    return "peers" if program in PEER_PROGRAMS else None


PROCESS_WATCH = ProcessWatch()
sys.addaudithook(PROCESS_WATCH)


@pytest.fixture(autouse=True)
def _tier_is_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that starts a process its markers do not admit (``integration`` admits
    Python host and worker processes, ``peers`` anything)."""
    PROCESS_WATCH.started = []
    PROCESS_WATCH.watching = True
    try:
        yield
    finally:
        PROCESS_WATCH.watching = False
    marks = {m.name for m in request.node.iter_markers()}
    if "peers" in marks:
        return
    tiers = {command: tier_of(command) for command in PROCESS_WATCH.started}
    for needed in ("peers", "integration"):
        if needed not in marks and needed in tiers.values():
            command = next(c for c, tier in tiers.items() if tier == needed)
            pytest.fail(f"this test starts {command!r}: mark it {needed} (tests/conftest.py)",
                        pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A real host serving a fresh root under ``tmp_path``, in this process (the core tests
    that need one with other settings define their own)."""
    served = Host(tmp_path / "root")
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def recorder(host: Host) -> Recorder:
    return Recorder(host)

"""``filebridge vars`` against a real worker process, with no host running."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from variables_support import REPO, start_worker, stop_worker, worker_env

WORKER_CODE = """
import numpy as np
inventory = {"fruit": [{"name": "apple", "count": 3}, {"name": "pear", "count": 5}],
             "owner": "sam"}
readings = list(range(5000))
grid = np.zeros((2000, 3), dtype=np.float64)
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("vars-cli") / "root" / "sessions" / "cli1"
    proc = start_worker(folder, WORKER_CODE)
    try:
        yield folder
    finally:
        stop_worker(proc)


def vars_cli(session: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(session)
    env.pop("FILEBRIDGE_SESSION")
    return subprocess.run([sys.executable, "-m", "filebridge.host.variables.cli", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_top_level_table_needs_no_round_trip(session: Path) -> None:
    done = vars_cli(session, "--sort", "name")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "TYPE", "SHAPE", "SIZE"]
    assert [line.split()[0] for line in lines[1:4]] == ["+grid", "+inventory", "+readings"]
    assert "2000x3" in lines[1] and "46.9 KB" in lines[1]
    assert lines[-1].startswith("-- 1-3 of 3 (session cli1")


def test_expanding_a_path_of_names_as_json(session: Path) -> None:
    done = vars_cli(session, "--session", "cli1", "inventory/fruit/1", "--json")
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    values = {c["display_name"]: c["display_value"] for c in page["children"]}
    assert values == {"'name'": "'pear'", "'count'": "5"}
    assert page["evaluate_name"] == "inventory['fruit'][1]"


def test_paging_with_start_and_count(session: Path) -> None:
    done = vars_cli(session, "readings", "--start", "4990", "--count", "20", "--json")
    page = json.loads(done.stdout)
    assert page["length"] == 5000 and len(page["children"]) == 10
    assert page["children"][0]["display_value"] == "4990"


def test_access_keys_from_json_reach_the_same_child(session: Path) -> None:
    first = json.loads(vars_cli(session, "inventory", "--json").stdout)
    key = next(c["access_key"] for c in first["children"] if c["display_name"] == "'owner'")
    assert key == '"owner"'
    done = vars_cli(session, json.dumps(["inventory", key]), "--json")
    assert json.loads(done.stdout)["length"] == 0


def test_view_prints_a_table(session: Path) -> None:
    done = vars_cli(session, "grid", "--view")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "grid (limited to 1000/2000)"
    assert lines[1].split() == ["(row)", "V1", "V2", "V3"]


def test_errors_are_one_line_with_a_non_zero_exit(session: Path) -> None:
    missing = vars_cli(session, "nothing/here")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip() == ("filebridge vars: no variable named 'nothing' "
                                      "[not_found]")
    unknown = vars_cli(session, "--session", "ghost")
    assert unknown.returncode == 1 and "no session 'ghost'" in unknown.stderr
    bad = vars_cli(session, "[not json")
    assert bad.returncode == 1 and "PATH looks like JSON" in bad.stderr

"""The shared code cache's entries are written on a thread of their own: none is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from filebridge.worker.imports.codecache import CodeCache, flush_writes

REPO = Path(__file__).resolve().parent.parent


def test_a_queued_entry_is_known_at_once_and_reads_back(tmp_path: Path) -> None:
    cache = CodeCache(tmp_path / "cache" / "tag")
    code = compile("x = 41 + 1", "/proj/mod.py", "exec")
    cache.store("hash1", "/proj/mod.py", "x = 41 + 1", code)
    assert cache.has("hash1", "/proj/mod.py"), "queued counts as held: not fetched again"
    assert cache.load("hash1", "/proj/mod.py") == ("x = 41 + 1", code)
    assert flush_writes(10)
    entry = Path(cache.path_of("hash1", "/proj/mod.py") or "")
    assert entry.is_file() and entry.stat().st_mode & 0o777 == 0o600
    assert not cache.has("hash2", "/proj/mod.py")


@pytest.mark.integration
def test_entries_queued_just_before_the_interpreter_exits_are_written(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "tag"
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from filebridge.worker.imports.codecache import CodeCache
        cache = CodeCache(Path(sys.argv[1]))
        for i in range(200):
            source = f"value = {i}"
            cache.store(f"hash{i}", f"/proj/mod{i}.py", source,
                        compile(source, f"/proj/mod{i}.py", "exec"))
        print(cache.path_of("hash199", "/proj/mod199.py"))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert len(list(folder.iterdir())) == 200, "every queued entry reached the disk"
    cache = CodeCache(folder)
    assert cache.load("hash199", "/proj/mod199.py") is not None
    namespace: dict[str, object] = {}
    loaded = cache.load("hash7", "/proj/mod7.py")
    assert loaded is not None
    exec(loaded[1], namespace)
    assert namespace["value"] == 7

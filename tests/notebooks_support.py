"""What the notebooks tests share: the notebooks benchmark, loaded from the checkout."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_benchmark() -> ModuleType:
    """``benchmarks/bench_notebooks.py`` (a folder of the checkout, not installed)."""
    spec = importlib.util.spec_from_file_location(
        "bench_notebooks", REPO / "benchmarks" / "bench_notebooks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

"""Benchmark: a 1 MB Databricks notebook to .ipynb and back, against jupytext in the same run.

jupytext's ``py:percent`` is the baseline because it is what people use today to edit notebooks
as text. Both sides do the same job on the same cells: text -> .ipynb text, and .ipynb text ->
text. jupytext's ipynb writer also validates against the schema (nbformat does that on every
write); the ``*_parse_only_ms`` keys time jupytext without the ipynb side, for a fairer read.

Run: ``python benchmarks/bench_notebooks.py [--json] [--full]`` (``filebridge bench notebooks``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any, Callable, Optional

from filebridge.notebooks import dumps_ipynb, loads_ipynb, to_ipynb, to_source

__all__ = ["generate_notebook", "main", "run"]

_TARGET_BYTES = 1_000_000


def generate_notebook(size_bytes: int = _TARGET_BYTES, seed: int = 7) -> str:
    """A Databricks ``.py`` notebook of about ``size_bytes``, with the usual mix of cells."""
    rng = random.Random(seed)
    cells: list[str] = []
    size = 0
    n = 0
    while size < size_bytes:
        n += 1
        kind = rng.random()
        if kind < 0.45:
            lines = [f"df_{n} = spark.table('catalog.schema.table_{n % 97}')"]
            lines += [f"df_{n} = df_{n}.filter(col('x{i}') > {rng.randint(0, 99)})"
                      for i in range(rng.randint(1, 6))]
            lines.append(f"display(df_{n})")
            cell = "\n".join(lines)
        elif kind < 0.65:
            body = [f"# MAGIC ## Step {n}", "# MAGIC"]
            body += [f"# MAGIC Paragraph {i} explains step {n} in a few words."
                     for i in range(rng.randint(1, 4))]
            cell = "\n".join(["# MAGIC %md", *body])
        elif kind < 0.85:
            cell = "\n".join([f"# DBTITLE 1,Query {n}", "# MAGIC %sql", "# MAGIC SELECT a, b",
                              f"# MAGIC FROM t_{n}", f"# MAGIC WHERE c > {n}"])
        elif kind < 0.92:
            cell = f"# MAGIC %pip install package-{n % 13}=={n % 5}.0"
        else:
            cell = f"# MAGIC %run ./helpers/setup_{n % 7}"
        cells.append(cell)
        size += len(cell) + 25
    return "# Databricks notebook source\n" + "\n\n# COMMAND ----------\n\n".join(cells) + "\n"


def _best_ms(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def run(full: bool = False, size_bytes: int = _TARGET_BYTES) -> dict[str, Any]:
    """Measure both directions for filebridge and jupytext; best of 3 runs (7 with ``full``)."""
    import jupytext
    import nbformat

    repeats = 7 if full else 3
    source = generate_notebook(size_bytes)
    ipynb_text = dumps_ipynb(to_ipynb(source, "python"))
    if to_source(loads_ipynb(ipynb_text)).text != source:
        raise RuntimeError("round trip of the benchmark notebook is not exact")
    # The same cells in jupytext's own text format, made once outside the timings.
    node = nbformat.reads(ipynb_text, as_version=4)
    percent_text = jupytext.writes(node, fmt="py:percent")

    results: dict[str, Any] = {
        "source_bytes": len(source.encode()),
        "ipynb_bytes": len(ipynb_text.encode()),
        "cells": len(node.cells),
        "repeats": repeats,
        "to_ipynb_ms": _best_ms(lambda: dumps_ipynb(to_ipynb(source, "python")), repeats),
        "to_source_ms": _best_ms(lambda: to_source(loads_ipynb(ipynb_text)).text, repeats),
        "jupytext_to_ipynb_ms": _best_ms(
            lambda: jupytext.writes(jupytext.reads(percent_text, fmt="py:percent"), fmt="ipynb"),
            repeats,
        ),
        "jupytext_to_source_ms": _best_ms(
            lambda: jupytext.writes(jupytext.reads(ipynb_text, fmt="ipynb"), fmt="py:percent"),
            repeats,
        ),
        "jupytext_parse_only_ms": _best_ms(
            lambda: jupytext.reads(percent_text, fmt="py:percent"), repeats
        ),
    }
    parsed = jupytext.reads(percent_text, fmt="py:percent")
    results["jupytext_write_only_ms"] = _best_ms(
        lambda: jupytext.writes(parsed, fmt="py:percent"), repeats
    )
    results["to_ipynb_ratio"] = results["jupytext_to_ipynb_ms"] / results["to_ipynb_ms"]
    results["to_source_ratio"] = results["jupytext_to_source_ms"] / results["to_source_ms"]
    return results


def _table(results: dict[str, Any]) -> str:
    rows = [
        ("source -> .ipynb", results["to_ipynb_ms"], results["jupytext_to_ipynb_ms"],
         results["jupytext_parse_only_ms"]),
        (".ipynb -> source", results["to_source_ms"], results["jupytext_to_source_ms"],
         results["jupytext_write_only_ms"]),
    ]
    head = (f"{results['source_bytes'] / 1e6:.2f} MB source, {results['cells']} cells, "
            f"best of {results['repeats']}")
    lines = [head, f"{'direction':<18}{'filebridge':>12}{'jupytext':>12}{'speed-up':>10}"
             f"{'jupytext text side only':>26}"]
    for name, ours, theirs, text_only in rows:
        lines.append(f"{name:<18}{ours:>10.1f}ms{theirs:>10.1f}ms{theirs / ours:>9.1f}x"
                     f"{text_only:>24.1f}ms")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--full", action="store_true", help="more repeats")
    args = parser.parse_args(argv)
    results = run(full=args.full)
    print(json.dumps(results, indent=2) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

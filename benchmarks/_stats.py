"""Shared helpers for the benchmarks: percentiles and the printed table."""

from __future__ import annotations

import json
from typing import Any, Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def print_report(title: str, rows: Sequence[tuple[str, Any]], result: dict[str, Any],
                 as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=1, sort_keys=True))
        return
    print(title)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        print(f"  {name:<{width}}  {shown}")

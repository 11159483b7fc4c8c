"""Shared by the page's browser tests: where screenshots go, and colour arithmetic."""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def screenshots(test_name: str) -> Path:
    """The folder for a test's screenshots: ``$FILEBRIDGE_TEST_ARTIFACTS/screenshots/<test>``,
    by default ``test-artifacts/`` at the top of the checkout; kept after the run."""
    base = Path(os.environ.get("FILEBRIDGE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder = base / "screenshots" / test_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def rgb(css: str) -> tuple[float, float, float]:
    """``rgb(1, 2, 3)`` or ``rgba(1, 2, 3, 0.5)`` as three numbers."""
    found = re.match(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)", css)
    assert found, f"not a computed colour: {css!r}"
    return float(found.group(1)), float(found.group(2)), float(found.group(3))


def luminance(css: str) -> float:
    """WCAG relative luminance of a computed colour."""
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgb(css))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two computed colours (4.5 is the bar for body text)."""
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)

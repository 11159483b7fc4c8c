"""Fixed limits that keep a snapshot cheap however big the session's data is.

The numbers follow what users of Positron and vscode-R already rely on (ANCHORS.md): about 2^16
characters for a top-level value and 128 for a nested one, 60 / 20 preview items, pages of 100.
"""

from __future__ import annotations

__all__ = [
    "CLIPBOARD_CHARS",
    "NESTED_CHARS",
    "NESTED_ITEMS",
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "PREVIEW_DEPTH",
    "SNAPSHOT_BUDGET_S",
    "SNAPSHOT_CHARS",
    "SORT_LIMIT",
    "TOP_LEVEL_CHARS",
    "TOP_LEVEL_ITEMS",
    "VALUE_BUDGET_S",
    "VIEW_ROWS",
]

TOP_LEVEL_CHARS = 2**16
NESTED_CHARS = 128
TOP_LEVEL_ITEMS = 60
NESTED_ITEMS = 20
# Containers inside containers are previewed this deep, then shown as "[...]".
PREVIEW_DEPTH = 2
PAGE_DEFAULT = 100
PAGE_MAX = 1000
# A value whose description took longer than this is described cheaply from then on: we cannot
# interrupt a user's __repr__, only avoid calling it again.
VALUE_BUDGET_S = 0.02
# Past this, the remaining variables of a snapshot are listed by name and type only.
SNAPSHOT_BUDGET_S = 0.5
# Past this many characters of display values in one snapshot, values get the nested limit.
SNAPSHOT_CHARS = 4 * 2**20
VIEW_ROWS = 1000
CLIPBOARD_CHARS = 2**20
# Sorting or filtering children describes all of them, so only up to this many.
SORT_LIMIT = 10_000

"""Fixed limits that keep a snapshot cheap however big the session's data is.

The numbers follow what users of Positron and vscode-R already rely on (ANCHORS.md): about 2^16
characters for a top-level value and 128 for a nested one, 60 / 20 preview items, pages of 100.
"""

from __future__ import annotations

__all__ = [
    "CELL_BUDGET_S",
    "CLIPBOARD_CHARS",
    "NESTED_CHARS",
    "NESTED_ITEMS",
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "PREVIEW_DEPTH",
    "REQUEST_LIMIT_S",
    "REUSE_AFTER_S",
    "SNAPSHOT_BUDGET_S",
    "SNAPSHOT_CHARS",
    "SORT_LIMIT",
    "SUBSCRIPTION_MAX_S",
    "TOP_LEVEL_CHARS",
    "TOP_LEVEL_ITEMS",
    "VALUE_LIMIT_S",
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
# Describing one value (its repr, len, iteration, registered methods) is interrupted after
# this, and the value is not described again until the user asks (timelimit.py).
VALUE_LIMIT_S = 0.02
# The main thread describes for at most this long after an execution (plus one value's
# limit); the rest of the snapshot continues on a helper thread.
CELL_BUDGET_S = 0.05
# Describing time of one snapshot, main thread and helper together; past it the remaining
# variables are listed by name and type and described first in the next snapshot.
SNAPSHOT_BUDGET_S = 0.5
# A host request (inspect, view, clipboard_format...) answers within this, even when a value's
# code blocks in C where it cannot be interrupted.
REQUEST_LIMIT_S = 3.0
# A description that cost more than this is kept while the object and its attributes are the
# same objects (snapshot.fingerprint), instead of being described again.
REUSE_AFTER_S = 0.002
# A viewer's subscription lasts this long unless renewed.
SUBSCRIPTION_MAX_S = 600.0
# Past this many characters of display values in one snapshot, values get the nested limit.
SNAPSHOT_CHARS = 4 * 2**20
VIEW_ROWS = 1000
CLIPBOARD_CHARS = 2**20
# Sorting or filtering children describes all of them, so only up to this many.
SORT_LIMIT = 10_000

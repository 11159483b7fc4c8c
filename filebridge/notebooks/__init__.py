"""Databricks source notebooks as Jupyter notebooks: exact conversion and live shadow files.

``to_ipynb`` / ``to_source`` convert between source text and nbformat 4.5 dictionaries, byte
exact for cells nobody changed; ``ShadowSession`` keeps an editable ``.ipynb`` shadow of a source
file in sync with it; ``watch_session`` runs that sync on file events; ``runs_of_source`` finds
the local notebooks a notebook's ``%run`` cells run. The format rules and the
metadata stored are described in docs/notebooks.md.
"""

from __future__ import annotations

from filebridge.notebooks.convert import convert_file, convert_text
from filebridge.notebooks.ipynb import METADATA_KEY, SourceResult, to_ipynb, to_source
from filebridge.notebooks.languages import LANGUAGES, Language, language_for_path
from filebridge.notebooks.notebook_json import dumps_ipynb, loads_ipynb
from filebridge.notebooks.runs import RunTarget, runs_of_source
from filebridge.notebooks.shadow import (
    ShadowEntry,
    ShadowSession,
    SyncEvent,
    default_session_id,
    shadow_path_for,
)
from filebridge.notebooks.source_format import SourceNotebook, parse_source, render_source
from filebridge.notebooks.watch import watch_session

__all__ = [
    "LANGUAGES",
    "METADATA_KEY",
    "Language",
    "RunTarget",
    "ShadowEntry",
    "ShadowSession",
    "SourceNotebook",
    "SourceResult",
    "SyncEvent",
    "convert_file",
    "convert_text",
    "default_session_id",
    "dumps_ipynb",
    "language_for_path",
    "loads_ipynb",
    "parse_source",
    "render_source",
    "runs_of_source",
    "shadow_path_for",
    "to_ipynb",
    "to_source",
    "watch_session",
]

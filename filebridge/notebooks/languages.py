"""The four languages a Databricks source notebook can be written in, and their markers.

Every marker line (header, separator, magic prefix, title) differs between languages only in the
comment token, so one small record per language is enough for the parser and the writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Union

from filebridge.errors import NotebookFormatError

__all__ = ["LANGUAGES", "SOURCE_EXTENSIONS", "Language", "language_for_path", "language_named"]


@dataclass(frozen=True)
class Language:
    """Markers of one notebook language, derived from its line-comment token."""

    name: str
    comment: str
    extension: str

    @property
    def header(self) -> str:
        return f"{self.comment} Databricks notebook source"

    @property
    def separator(self) -> str:
        return f"{self.comment} COMMAND ----------"

    @property
    def magic(self) -> str:
        return f"{self.comment} MAGIC"

    @property
    def title(self) -> str:
        return f"{self.comment} DBTITLE "


LANGUAGES: dict[str, Language] = {
    "python": Language("python", "#", ".py"),
    "sql": Language("sql", "--", ".sql"),
    "scala": Language("scala", "//", ".scala"),
    "r": Language("r", "#", ".r"),
}

SOURCE_EXTENSIONS: dict[str, str] = {".py": "python", ".sql": "sql", ".scala": "scala", ".r": "r"}


def language_named(name: str) -> Language:
    """The language called ``name`` (``python``, ``sql``, ``scala`` or ``r``, any case)."""
    try:
        return LANGUAGES[name.lower()]
    except KeyError:
        known = ", ".join(LANGUAGES)
        raise NotebookFormatError(f"unknown notebook language {name!r} (known: {known})") from None


def language_for_path(path: Union[str, PurePath]) -> Language:
    """The language of a source notebook, from its extension (``.R`` counts as ``.r``)."""
    suffix = PurePath(path).suffix.lower()
    if suffix not in SOURCE_EXTENSIONS:
        known = ", ".join(SOURCE_EXTENSIONS)
        raise NotebookFormatError(f"{PurePath(path).name}: not a source notebook (use {known})")
    return LANGUAGES[SOURCE_EXTENSIONS[suffix]]

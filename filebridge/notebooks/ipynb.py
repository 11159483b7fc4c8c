"""Convert between Databricks source text and Jupyter notebooks (nbformat 4.5 dictionaries).

What a user sees goes into the cells; what is needed to give back the original bytes goes into
``metadata.filebridge`` (notebook and cell level), so an editor may re-serialise the notebook,
re-sort its keys or add cells without losing exactness of the cells it did not touch.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from filebridge.errors import NotebookFormatError
from filebridge.notebooks.languages import Language, language_named
from filebridge.notebooks.progress import ProgressCallback
from filebridge.notebooks.source_format import (
    SourceCell,
    SourceNotebook,
    Title,
    cell_digest,
    is_magic_source,
    parse_source,
    render_source,
)

__all__ = ["METADATA_KEY", "SourceResult", "notebook_from_source", "to_ipynb", "to_source"]

logger = logging.getLogger("filebridge.notebooks")

METADATA_KEY = "filebridge"
FORMAT_VERSION = 1

# VS Code language ids for cells that start with a magic; others use the notebook's language.
_MAGIC_LANGUAGE_IDS = {
    "sql": "sql",
    "python": "python",
    "scala": "scala",
    "r": "r",
    "sh": "shellscript",
    "fs": "shellscript",
}
_LANGUAGE_ID_MAGICS = {"sql": "sql", "python": "python", "scala": "scala", "r": "r",
                       "shellscript": "sh"}
_TITLE_LINE = re.compile(r"DBTITLE [01],")


@dataclass
class SourceResult:
    """Source text written from a notebook, and what could not be carried over exactly."""

    text: str
    warnings: list[str] = field(default_factory=list)


def to_ipynb(
    text: str, language: Union[Language, str], progress: Optional[ProgressCallback] = None
) -> dict[str, Any]:
    """The nbformat 4.5 notebook for a source notebook's text.

    ``progress`` gets the fraction done (parsing is nearly all of the time).
    """
    lang = language if isinstance(language, Language) else language_named(language)
    notebook = notebook_from_source(parse_source(text, lang, progress))
    if progress is not None:
        progress(1.0)
    return notebook


def notebook_from_source(nb: SourceNotebook) -> dict[str, Any]:
    """The nbformat 4.5 notebook for an already parsed source notebook."""
    lang = nb.language.name
    cells: list[dict[str, Any]] = []
    used_ids: set[str] = set()
    repeats: dict[str, int] = {}
    for cell in nb.cells:
        meta = _cell_metadata(cell)
        cell_id = _cell_id(cell, used_ids, repeats)
        if cell.kind == "markdown":
            cells.append(
                {"cell_type": "markdown", "id": cell_id, "metadata": meta,
                 "source": _split_source(cell.source)}
            )
            continue
        meta["vscode"] = {"languageId": _language_id(cell.source, lang)}
        cells.append(
            {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": meta,
             "outputs": [], "source": _split_source(cell.source)}
        )
    notebook_meta: dict[str, Any] = {"format": FORMAT_VERSION, "language": lang}
    for key, value, default in (
        ("header", nb.header, True),
        ("newline", nb.newline, "\n"),
        ("final_newline", nb.final_newline, True),
        ("magic_blank", nb.magic_blank, ""),
        ("bom", nb.bom, False),
        ("bare_header", nb.bare_header, False),
    ):
        if value != default:
            notebook_meta[key] = value
    return {
        "cells": cells,
        "metadata": {METADATA_KEY: notebook_meta, "language_info": {"name": lang}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def to_source(
    notebook: Mapping[str, Any],
    language: Union[Language, str, None] = None,
    progress: Optional[ProgressCallback] = None,
) -> SourceResult:
    """Source text for a notebook, as an editor may have rewritten it.

    ``language`` overrides the one recorded in the notebook (used when the target extension
    says otherwise). Raw cells and attachments cannot be stored in a source notebook; they are
    reported in ``warnings`` (and logged), as is any cell that would read back differently.
    Outputs are never written. ``progress`` gets the fraction done.
    """
    cells_in = notebook.get("cells") if isinstance(notebook, Mapping) else None
    if not isinstance(cells_in, list):
        raise NotebookFormatError("not a notebook: no list of cells")
    metadata = notebook.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    saved = metadata.get(METADATA_KEY)
    saved = saved if isinstance(saved, Mapping) else {}
    lang = _pick_language(language, saved, metadata)

    warnings: list[str] = []
    count = max(len(cells_in), 1)
    cells = []
    for index, raw in enumerate(cells_in):
        cells.append(_source_cell(index + 1, raw, lang, warnings))
        if progress is not None:
            progress(0.4 * (index + 1) / count)
    nb = SourceNotebook(
        lang,
        cells,
        newline=saved.get("newline", "\n") if saved.get("newline") in ("\n", "\r\n") else "\n",
        final_newline=saved.get("final_newline") is not False,
        magic_blank=" " if saved.get("magic_blank") == " " else "",
        bom=saved.get("bom") is True,
        bare_header=saved.get("bare_header") is True,
    )
    if saved.get("header") is False:
        if len(cells) == 1 and cells[0].kind == "code" and cells[0].title is None:
            nb.header = False
        else:
            warnings.append(
                f"the source had no header line ('{lang.header}'); it was added as the notebook "
                f"now has {len(cells)} cells or a non-code cell"
            )
    text = render_source(nb)
    read_back = None if progress is None else (lambda done: progress(0.5 + 0.5 * done))
    warnings.extend(_read_back_warnings(text, nb, read_back))
    for warning in warnings:
        # Returned to the caller, which shows them; a warning-level record would reach stderr a
        # second time through logging's last-resort handler.
        logger.debug("%s", warning)
    return SourceResult(text, warnings)


def _pick_language(
    language: Union[Language, str, None], saved: Mapping[str, Any], metadata: Mapping[str, Any]
) -> Language:
    if isinstance(language, Language):
        return language
    if language:
        return language_named(language)
    for candidate in (saved.get("language"), _nested(metadata, "language_info", "name"),
                      _nested(metadata, "kernelspec", "language")):
        if isinstance(candidate, str) and candidate.lower() in ("python", "sql", "scala", "r"):
            return language_named(candidate)
    return language_named("python")


def _nested(mapping: Mapping[str, Any], *keys: str) -> Any:
    value: Any = mapping
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _join_source(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    raise NotebookFormatError("a cell's source is neither a string nor a list of strings")


def _split_source(source: str) -> list[str]:
    """Jupyter's multi-line form: split after each ``\\n`` (never on ``\\r``)."""
    lines = source.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _cell_id(cell: SourceCell, used: set[str], repeats: dict[str, int]) -> str:
    """An id that stays the same for the same cell text, so reloads keep editor state.

    ``repeats`` remembers how many cells share a base id, so thousands of identical cells
    cost one look-up each, not a scan of every suffix.
    """
    seed = f"{cell.kind}\0{cell.source}".encode("utf-8", "surrogatepass")
    base = hashlib.blake2b(seed, digest_size=4).hexdigest()
    cell_id, n = base, repeats.get(base, 1)
    if n > 1:
        cell_id = f"{base}-{n}"
    while cell_id in used:
        n += 1
        cell_id = f"{base}-{n}"
    repeats[base] = n + 1
    used.add(cell_id)
    return cell_id


def _language_id(source: str, notebook_language: str) -> str:
    if is_magic_source(source):
        token = re.split(r"\s", source.lstrip("%"), maxsplit=1)[0]
        return _MAGIC_LANGUAGE_IDS.get(token, notebook_language)
    return notebook_language


def _cell_metadata(cell: SourceCell) -> dict[str, Any]:
    saved: dict[str, Any] = {}
    if cell.title is not None:
        saved["title"] = {"mode": cell.title.mode, "text": cell.title.text}
    if cell.kind == "markdown":
        if cell.magic != "md":
            saved["magic"] = cell.magic
        if cell.inline:
            saved["inline"] = True
    if cell.layout:
        saved["layout"] = dict(cell.layout)
    return {METADATA_KEY: saved} if saved else {}


def _source_cell(number: int, raw: Any, lang: Language, warnings: list[str]) -> SourceCell:
    if not isinstance(raw, Mapping):
        raise NotebookFormatError(f"cell {number} is not an object")
    source = _join_source(raw.get("source", ""))
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    saved = meta.get(METADATA_KEY)
    saved = saved if isinstance(saved, Mapping) else {}
    kind = raw.get("cell_type")

    if kind not in ("code", "markdown"):
        warnings.append(
            f"cell {number} is a {kind} cell, which a source notebook cannot hold: "
            "its text was written as a %md cell"
        )
        return SourceCell("markdown", source)
    if kind == "markdown" and raw.get("attachments"):
        names = ", ".join(sorted(str(name) for name in raw["attachments"]))
        warnings.append(
            f"cell {number}: attachments ({names}) cannot be stored in a source notebook "
            "and were left out"
        )

    cell = SourceCell(kind, source, title=_saved_title(saved.get("title")))
    if kind == "markdown":
        cell.magic = "md-sandbox" if saved.get("magic") == "md-sandbox" else "md"
        cell.inline = saved.get("inline") is True
    else:
        language_id = _nested(meta, "vscode", "languageId")
        magic = _LANGUAGE_ID_MAGICS.get(language_id) if isinstance(language_id, str) else None
        if magic and language_id != lang.name and not is_magic_source(source):
            cell.source = f"%{magic}\n{source}"
            warnings.append(f"cell {number}: its language is {language_id}, so %{magic} was added")
    layout = saved.get("layout")
    if isinstance(layout, Mapping) and layout.get("digest") == cell_digest(cell):
        cell.layout = _valid_layout(layout)
    return cell


def _saved_title(value: Any) -> Optional[Title]:
    if isinstance(value, Mapping):
        mode, text = value.get("mode"), value.get("text")
        if mode in ("0", "1") and isinstance(text, str) and "\n" not in text:
            return Title(mode, text)
    return None


def _valid_layout(layout: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The layout record if it is well formed; a hand-edited one is ignored, not trusted."""
    out: dict[str, Any] = {}
    for key, value in layout.items():
        if key == "at":
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(v, bool) for v in value)):
                return None
        elif key == "blank":
            if value not in ("", " "):
                return None
        elif key in ("lead", "trail", "sep", "raw", "digest"):
            if not isinstance(value, str):
                return None
        else:
            return None
        out[key] = value
    return out


def _semantic(cell: SourceCell) -> tuple[str, str, Optional[Title], str]:
    return (cell.kind, cell.source, cell.title, cell.magic if cell.kind == "markdown" else "")


def _read_back_warnings(
    text: str, nb: SourceNotebook, progress: Optional[ProgressCallback] = None
) -> list[str]:
    """Re-parse what was written; report every cell the format could not express as it was."""
    back = parse_source(text, nb.language, progress)
    wanted = [_semantic(cell) for cell in nb.cells] or [("code", "", None, "")]
    got = [_semantic(cell) for cell in back.cells]
    if wanted == got:
        return []
    lang = nb.language
    warnings: list[str] = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.kind != "code" or is_magic_source(cell.source):
            continue
        lines = cell.source.split("\n")
        if any(line in (lang.separator, lang.separator + "\r") for line in lines):
            warnings.append(
                f"cell {number}: a line equals the separator '{lang.separator}', "
                "so the cell reads back as several cells"
            )
        if cell.title is None and lines[0].startswith(lang.title) and _TITLE_LINE.match(
            lines[0][len(lang.comment) + 1 :]
        ):
            warnings.append(
                f"cell {number}: its first line starts with '{lang.title.strip()}', "
                "so it reads back as the cell's title"
            )
        magic_lines = [line for line in lines if line.strip()]
        if magic_lines and all(
            line == lang.magic or line.startswith(lang.magic + " ") for line in magic_lines
        ):
            warnings.append(
                f"cell {number}: every line starts with '{lang.magic}', "
                "so it reads back as a magic cell"
            )
        if number == 1 and not nb.header and lines[0].rstrip("\r") == lang.header:
            warnings.append(
                f"cell 1 starts with '{lang.header}', so the file reads back as several cells"
            )
    if not warnings:
        warnings.append(
            f"the written source reads back as {len(got)} cells that differ from the "
            f"notebook's {len(wanted)} cells"
        )
    return warnings

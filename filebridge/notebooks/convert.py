"""Convert one file to the other format, the direction chosen by the file names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from filebridge.errors import NotebookFormatError
from filebridge.notebooks.files import replace_user_file
from filebridge.notebooks.ipynb import to_ipynb, to_source
from filebridge.notebooks.languages import SOURCE_EXTENSIONS, language_for_path
from filebridge.notebooks.notebook_json import dumps_ipynb, loads_ipynb
from filebridge.notebooks.progress import PROGRESS_MIN_BYTES, ProgressCallback, Steps

__all__ = ["convert_file", "convert_text"]

PathLike = Union[str, "os.PathLike[str]"]


def convert_text(
    text: str, in_name: PathLike, out_name: PathLike,
    progress: Optional[ProgressCallback] = None,
) -> tuple[str, list[str]]:
    """Convert ``text`` read from ``in_name`` into the format of ``out_name`` (``-``: the other).

    Returns the converted text and the warnings (see ``to_source``). ``progress`` gets the
    fraction done, for texts over ``PROGRESS_MIN_BYTES`` only.
    """
    steps = Steps(progress) if progress is not None and len(text) >= PROGRESS_MIN_BYTES else None
    in_ipynb = _is_ipynb(in_name)
    out_ipynb = not in_ipynb if str(out_name) == "-" else _is_ipynb(out_name)
    if in_ipynb == out_ipynb:
        raise NotebookFormatError(
            f"cannot convert {Path(in_name).name} to {Path(out_name).name}: "
            "one side must be .ipynb and the other a source notebook"
        )
    if in_ipynb:
        language = None if str(out_name) == "-" else language_for_path(os.fspath(out_name))
        result = to_source(loads_ipynb(text), language, steps)
        return result.text, result.warnings
    return dumps_ipynb(to_ipynb(text, language_for_path(os.fspath(in_name)), steps)), []


def convert_file(
    in_path: PathLike, out_path: PathLike, progress: Optional[ProgressCallback] = None
) -> list[str]:
    """Convert the file ``in_path`` and write ``out_path`` atomically; returns the warnings."""
    data = Path(in_path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookFormatError(f"{in_path}: not UTF-8 text") from None
    out_text, warnings = convert_text(text, in_path, out_path, progress)
    replace_user_file(Path(out_path), out_text.encode("utf-8"))
    return warnings


def _is_ipynb(name: PathLike) -> bool:
    suffix = Path(name).suffix.lower()
    if suffix == ".ipynb":
        return True
    if suffix in SOURCE_EXTENSIONS:
        return False
    raise NotebookFormatError(
        f"{Path(name).name}: unknown extension (use .ipynb, .py, .sql, .scala or .r)"
    )

"""Magic cells in the shapes real notebooks have, read as cells of their language or markdown.

Each shape is one a hand-edited or tool-written notebook shows: blank lines around the MAGIC
block, blank MAGIC lines before the command (with and without a trailing space), two spaces
after MAGIC, cell magics (``%%writefile``), ``%md-sandbox``. Each must read as the cell a user
expects and still give back the exact bytes, also when another cell is edited.
"""

from __future__ import annotations

from typing import Any

import pytest

from filebridge.notebooks import dumps_ipynb, loads_ipynb, to_ipynb, to_source

HEADER = "# Databricks notebook source\n"
SEP = "\n\n# COMMAND ----------\n\n"
FIRST = "import os"

# (name, cell bytes between separators, expected cell type, expected cell text, language id)
SHAPES: list[tuple[str, str, str, str, str]] = [
    ("blank line before the block", "\n# MAGIC %md\n# MAGIC ## Setup", "markdown", "## Setup", ""),
    ("blank lines after the block", "# MAGIC %md\n# MAGIC Done.\n\n\n", "markdown", "Done.", ""),
    ("blank lines on both sides", "\n\n# MAGIC %sql\n# MAGIC SELECT 1\n\n", "code",
     "%sql\nSELECT 1", "sql"),
    ("blank MAGIC line before the command", "# MAGIC\n# MAGIC %md\n# MAGIC Text", "markdown",
     "Text", ""),
    ("blank MAGIC line with a trailing space", "# MAGIC \n# MAGIC %md\n# MAGIC Text",
     "markdown", "Text", ""),
    ("several blank MAGIC lines", "# MAGIC\n# MAGIC \n# MAGIC %sh ls /dbfs", "code",
     "%sh ls /dbfs", "shellscript"),
    ("two spaces before %md", "# MAGIC  %md\n# MAGIC  Indented text", "markdown",
     " Indented text", ""),
    ("two spaces before an inline %md", "# MAGIC  %md # Title", "markdown", "# Title", ""),
    ("cell magic %%writefile", "# MAGIC %%writefile /tmp/conf.yaml\n# MAGIC a: 1\n# MAGIC b: 2",
     "code", "%%writefile /tmp/conf.yaml\na: 1\nb: 2", "python"),
    ("cell magic %%sh", "# MAGIC %%sh\n# MAGIC echo hi", "code", "%%sh\necho hi", "shellscript"),
    ("%md-sandbox", "# MAGIC %md-sandbox\n# MAGIC <div>html</div>", "markdown",
     "<div>html</div>", ""),
    ("%md-sandbox after blank lines", "\n# MAGIC\n# MAGIC %md-sandbox\n# MAGIC <b>x</b>\n",
     "markdown", "<b>x</b>", ""),
    ("title then a blank line", "# DBTITLE 1,Notes\n\n# MAGIC %md\n# MAGIC Body", "markdown",
     "Body", ""),
]


def cells(notebook: dict[str, Any]) -> list[tuple[str, str]]:
    return [(cell["cell_type"], "".join(cell["source"])) for cell in notebook["cells"]]


def editor_round_trip(notebook: dict[str, Any]) -> str:
    """What an editor's save gives back: the notebook re-serialised, then written as source."""
    return to_source(loads_ipynb(dumps_ipynb(notebook))).text


@pytest.mark.parametrize(("name", "cell", "kind", "text", "language_id"), SHAPES,
                         ids=[shape[0] for shape in SHAPES])
def test_magic_shape_reads_as_its_cell_and_keeps_its_bytes(
    name: str, cell: str, kind: str, text: str, language_id: str
) -> None:
    for position in ("middle", "last"):
        body = FIRST + SEP + cell + (SEP + "x = 1\n" if position == "middle" else "\n")
        source = HEADER + body
        notebook = to_ipynb(source, "python")
        assert cells(notebook)[1] == (kind, text), (name, position)
        if language_id:
            assert notebook["cells"][1]["metadata"]["vscode"]["languageId"] == language_id
        assert editor_round_trip(notebook) == source, (name, position)


@pytest.mark.parametrize(("name", "cell", "kind", "text", "language_id"), SHAPES,
                         ids=[shape[0] for shape in SHAPES])
def test_editing_a_neighbour_keeps_the_magic_cell_bytes(
    name: str, cell: str, kind: str, text: str, language_id: str
) -> None:
    source = HEADER + FIRST + SEP + cell + SEP + "x = 1\n"
    notebook = to_ipynb(source, "python")
    notebook["cells"][0]["source"] = ["import sys"]
    written = editor_round_trip(notebook)
    assert written == HEADER + "import sys" + SEP + cell + SEP + "x = 1\n", name


@pytest.mark.parametrize(("name", "cell", "kind", "text", "language_id"), SHAPES,
                         ids=[shape[0] for shape in SHAPES])
def test_editing_the_magic_cell_writes_the_standard_form(
    name: str, cell: str, kind: str, text: str, language_id: str
) -> None:
    source = HEADER + FIRST + SEP + cell + SEP + "x = 1\n"
    notebook = to_ipynb(source, "python")
    notebook["cells"][1]["source"] = [text + "\nmore"]
    written = editor_round_trip(notebook)
    back = cells(to_ipynb(written, "python"))
    assert back[1] == (kind, text + "\nmore"), name
    middle = written.split(SEP)[1]
    lines = [line for line in middle.split("\n") if not line.startswith("# DBTITLE 1,")]
    assert all(line.startswith("# MAGIC") for line in lines), written


def test_code_with_some_magic_lines_stays_verbatim_code() -> None:
    cell = "x = 1\n# MAGIC %md\n# MAGIC not markdown"
    source = HEADER + cell + "\n"
    notebook = to_ipynb(source, "python")
    assert cells(notebook) == [("code", cell)]
    assert editor_round_trip(notebook) == source


def test_a_lone_percent_or_double_percent_is_not_a_magic() -> None:
    for cell in ("# MAGIC %\n# MAGIC text", "# MAGIC %%\n# MAGIC text", "# MAGIC % md"):
        source = HEADER + cell + "\n"
        notebook = to_ipynb(source, "python")
        assert cells(notebook) == [("code", cell)], cell
        assert editor_round_trip(notebook) == source

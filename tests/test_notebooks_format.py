"""Databricks source <-> .ipynb conversion: exact bytes, editor rewrites, warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from filebridge.errors import NotebookFormatError
from filebridge.notebooks import dumps_ipynb, loads_ipynb, to_ipynb, to_source

VECTORS = Path(__file__).resolve().parents[2] / "shared/fixtures/databricks_vectors.json"


def as_editor_saves(nb: dict[str, Any]) -> dict[str, Any]:
    """What an editor hands back: its own key order and indent, LF, parsed again."""
    text = json.dumps(nb, sort_keys=True, indent=2)
    reread: dict[str, Any] = json.loads(text)
    return reread


def round_trip(text: str, language: str = "python") -> str:
    import nbformat
    nb = to_ipynb(text, language)
    shadow_text = dumps_ipynb(nb)
    nbformat.validate(nbformat.reads(shadow_text, as_version=4))
    result = to_source(as_editor_saves(loads_ipynb(shadow_text)))
    assert result.warnings == []
    return result.text


def cells_of(nb: dict[str, Any]) -> list[tuple[str, str]]:
    return [(cell["cell_type"], "".join(cell["source"])) for cell in nb["cells"]]


def test_fixture_vectors_read_as_documented_and_round_trip_exactly() -> None:
    if not VECTORS.is_file():
        pytest.skip("shared fixture file not present")
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    assert vectors
    for name, vector in vectors.items():
        nb = to_ipynb(vector["input"], "python")
        expected = [(cell["cell_type"], cell["source"]) for cell in vector["cells"]]
        assert cells_of(nb) == expected, name
        assert round_trip(vector["input"]) == vector["input"], name


@pytest.mark.parametrize(
    ("language", "comment"), [("python", "#"), ("sql", "--"), ("scala", "//"), ("r", "#")]
)
def test_every_language_uses_its_comment_token(language: str, comment: str) -> None:
    text = (
        f"{comment} Databricks notebook source\nselect_1\n\n{comment} COMMAND ----------\n\n"
        f"{comment} DBTITLE 0,Notes\n{comment} MAGIC %md\n{comment} MAGIC Hello\n"
    )
    nb = to_ipynb(text, language)
    assert cells_of(nb) == [("code", "select_1"), ("markdown", "Hello")]
    assert nb["metadata"]["language_info"]["name"] == language
    assert nb["cells"][0]["metadata"]["vscode"]["languageId"] == language
    assert round_trip(text, language) == text


def test_magic_cells_keep_their_first_line_and_get_a_language_id() -> None:
    text = (
        "# Databricks notebook source\n# MAGIC %sql\n# MAGIC SELECT 1\n\n"
        "# COMMAND ----------\n\n# MAGIC %sh ls\n\n# COMMAND ----------\n\n"
        "# MAGIC %scala\n# MAGIC val x = 1\n"
    )
    nb = to_ipynb(text, "python")
    assert cells_of(nb) == [("code", "%sql\nSELECT 1"), ("code", "%sh ls"),
                            ("code", "%scala\nval x = 1")]
    ids = [cell["metadata"]["vscode"]["languageId"] for cell in nb["cells"]]
    assert ids == ["sql", "shellscript", "scala"]


def test_odd_files_round_trip_byte_for_byte() -> None:
    odd = [
        "",
        "# Databricks notebook source",
        "# Databricks notebook source\n",
        "# Databricks notebook source\nx = 1",
        "\ufeff# Databricks notebook source\r\nx = 1\r\n",
        "# Databricks notebook source\n# COMMAND ----------\n# COMMAND ----------\n",
        "# Databricks notebook source\n\n\n\nx\n\n\n\n# COMMAND ----------\ny\n\n\n",
        "# Databricks notebook source\n# MAGIC %md\n# MAGIC a\n# MAGIC \n# MAGIC\n# MAGIC b\n",
        "# Databricks notebook source\n# MAGIC %md ### inline\n# MAGIC \n# MAGIC text\n",
        "# Databricks notebook source\n# MAGIC %md-sandbox\n# MAGIC <b>x</b>\n",
        "# Databricks notebook source\r\nx\n\r\n# COMMAND ----------\n\r\ny\r\n",
        "# Databricks notebook source\n%sql\nSELECT 1\n",
        "# Databricks notebook source\n# DBTITLE 1,only a title",
        "# Databricks notebook source\nx = 1\n# MAGIC %sql\n",
        "# Databricks notebook source \nnot a header\n",
        "# Databricks notebook source\n# MAGIC\n# MAGIC %md\n",
    ]
    for text in odd:
        assert round_trip(text) == text, repr(text)


def test_markdown_forms_are_markdown_cells_with_their_form_in_metadata() -> None:
    text = (
        "# Databricks notebook source\n# MAGIC %md ### Inline\n# MAGIC more\n\n"
        "# COMMAND ----------\n\n# MAGIC %md-sandbox\n# MAGIC <div>x</div>\n"
    )
    nb = to_ipynb(text, "python")
    assert cells_of(nb) == [("markdown", "### Inline\nmore"), ("markdown", "<div>x</div>")]
    assert nb["cells"][0]["metadata"]["filebridge"] == {"inline": True}
    assert nb["cells"][1]["metadata"]["filebridge"] == {"magic": "md-sandbox"}


def test_edited_cell_is_written_in_standard_layout_and_other_cells_stay_exact() -> None:
    untouched_1 = "# MAGIC %md\n# MAGIC Title\n# MAGIC \n# MAGIC text"
    untouched_3 = "# DBTITLE 1,Load\nx = 1\n\n"
    text = (
        f"# Databricks notebook source\n{untouched_1}\n# COMMAND ----------\n"
        "old = 1\n\n\n# COMMAND ----------\n"
        f"{untouched_3}\n# COMMAND ----------\n\n# MAGIC %sql\n# MAGIC SELECT 1"
    )
    nb = as_editor_saves(to_ipynb(text, "python"))
    nb["cells"][1]["source"] = "new = 2"
    nb["cells"][3]["source"] = "%sql\nSELECT 2"
    result = to_source(nb)
    assert result.warnings == []
    assert result.text == (
        f"# Databricks notebook source\n{untouched_1}\n# COMMAND ----------\n"
        "\nnew = 2\n\n# COMMAND ----------\n"
        f"{untouched_3}\n# COMMAND ----------\n\n# MAGIC %sql\n# MAGIC SELECT 2"
    )


def test_title_inline_and_sandbox_survive_an_edit() -> None:
    text = (
        "# Databricks notebook source\n# DBTITLE 1,Intro\n# MAGIC %md-sandbox ## Head\n\n"
        "# COMMAND ----------\n\n# DBTITLE 0,Query\n# MAGIC %sql\n# MAGIC SELECT 1\n"
    )
    nb = to_ipynb(text, "python")
    nb["cells"][0]["source"] = ["## New head"]
    nb["cells"][1]["source"] = ["%sql\n", "SELECT 2"]
    assert to_source(nb).text == (
        "# Databricks notebook source\n# DBTITLE 1,Intro\n# MAGIC %md-sandbox ## New head\n\n"
        "# COMMAND ----------\n\n# DBTITLE 0,Query\n# MAGIC %sql\n# MAGIC SELECT 2\n"
    )


def test_crlf_files_stay_crlf_when_edited() -> None:
    text = "# Databricks notebook source\r\nx = 1\r\n\r\n# COMMAND ----------\r\n\r\ny = 2\r\n"
    nb = to_ipynb(text, "python")
    assert cells_of(nb) == [("code", "x = 1"), ("code", "y = 2")]
    nb["cells"][1]["source"] = "y = 3\nz = 4"
    assert to_source(nb).text == (
        "# Databricks notebook source\r\nx = 1\r\n\r\n# COMMAND ----------\r\n\r\n"
        "y = 3\r\nz = 4\r\n"
    )


def test_blank_magic_style_of_the_file_is_used_for_edited_cells() -> None:
    text = "# Databricks notebook source\n# MAGIC %md\n# MAGIC a\n# MAGIC \n# MAGIC b\n"
    nb = to_ipynb(text, "python")
    nb["cells"][0]["source"] = "a\n\nc"
    assert to_source(nb).text == (
        "# Databricks notebook source\n# MAGIC %md\n# MAGIC a\n# MAGIC \n# MAGIC c\n"
    )


def test_new_and_deleted_cells_from_an_editor() -> None:
    text = (
        "# Databricks notebook source\na\n\n# COMMAND ----------\n\nb\n\n"
        "# COMMAND ----------\n\nc\n"
    )
    nb = as_editor_saves(to_ipynb(text, "python"))
    del nb["cells"][1]
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["# New\n", "text"]})
    nb["cells"].insert(0, {"cell_type": "code", "metadata": {}, "outputs": [],
                           "execution_count": None, "source": "%pip install x"})
    assert to_source(nb).text == (
        "# Databricks notebook source\n# MAGIC %pip install x\n\n# COMMAND ----------\n\n"
        "a\n\n# COMMAND ----------\n\nc\n\n# COMMAND ----------\n\n"
        "# MAGIC %md\n# MAGIC # New\n# MAGIC text\n"
    )


def test_outputs_never_reach_the_source() -> None:
    import nbformat
    text = "# Databricks notebook source\nprint(1)\n"
    nb = to_ipynb(text, "python")
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]
    nb["cells"][0]["execution_count"] = 3
    nbformat.validate(nbformat.reads(dumps_ipynb(nb), as_version=4))
    assert to_source(nb).text == text


def test_raw_cells_and_attachments_are_reported_not_silently_dropped() -> None:
    nb = {
        "cells": [
            {"cell_type": "raw", "metadata": {}, "source": "raw text"},
            {"cell_type": "markdown", "metadata": {}, "source": "![x](attachment:x.png)",
             "attachments": {"x.png": {"image/png": "iVBORw0KGgo="}}},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    result = to_source(nb)
    assert result.text == (
        "# Databricks notebook source\n# MAGIC %md\n# MAGIC raw text\n\n"
        "# COMMAND ----------\n\n# MAGIC %md\n# MAGIC ![x](attachment:x.png)\n"
    )
    assert len(result.warnings) == 2
    assert "raw cell" in result.warnings[0]
    assert "x.png" in result.warnings[1]


def test_text_the_format_cannot_express_is_reported() -> None:
    nb = to_ipynb("# Databricks notebook source\nx\n", "python")
    nb["cells"][0]["source"] = "a = 1\n# COMMAND ----------\nb = 2"
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": "# DBTITLE 1,looks like a title"})
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": "# MAGIC %sql\n# MAGIC SELECT 1"})
    warnings = to_source(nb).warnings
    assert any("cell 1" in w and "separator" in w for w in warnings)
    assert any("cell 2" in w and "title" in w for w in warnings)
    assert any("cell 3" in w and "magic" in w for w in warnings)


def test_a_cell_switched_to_another_language_gets_its_magic() -> None:
    nb = to_ipynb("# Databricks notebook source\nx\n", "python")
    nb["cells"][0]["metadata"]["vscode"]["languageId"] = "sql"
    nb["cells"][0]["source"] = "SELECT 1"
    result = to_source(nb)
    assert result.text == "# Databricks notebook source\n# MAGIC %sql\n# MAGIC SELECT 1\n"
    assert result.warnings == ["cell 1: its language is sql, so %sql was added"]


def test_a_file_without_header_gains_one_only_when_it_needs_more_cells() -> None:
    text = "import os\n# COMMAND ----------\nprint(1)"
    nb = to_ipynb(text, "python")
    assert to_source(nb).text == text
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": "x"})
    result = to_source(nb)
    assert result.text.startswith("# Databricks notebook source\n")
    assert any("header" in w for w in result.warnings)


def test_cell_ids_are_stable_unique_and_valid() -> None:
    import nbformat
    text = "# Databricks notebook source\nx\n\n# COMMAND ----------\n\nx\n"
    first, second = to_ipynb(text, "python"), to_ipynb(text, "python")
    ids = [cell["id"] for cell in first["cells"]]
    assert ids == [cell["id"] for cell in second["cells"]]
    assert len(set(ids)) == 2
    nbformat.validate(nbformat.reads(dumps_ipynb(first), as_version=4))


def test_ipynb_text_matches_what_jupyter_writes() -> None:
    text = (
        "# Databricks notebook source\n# MAGIC %md\n# MAGIC Größe ✓\n\n"
        "# COMMAND ----------\n\n\ty\r\n"
    )
    nb = to_ipynb(text, "python")
    assert dumps_ipynb(nb) == json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_unreadable_notebooks_raise_a_format_error() -> None:
    with pytest.raises(NotebookFormatError):
        loads_ipynb("{not json")
    with pytest.raises(NotebookFormatError):
        loads_ipynb("[]")
    with pytest.raises(NotebookFormatError):
        to_source({"metadata": {}})

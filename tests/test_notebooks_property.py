"""Property tests: any source file round-trips byte for byte; nothing is lost silently."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filebridge.notebooks import (
    LANGUAGES,
    dumps_ipynb,
    loads_ipynb,
    parse_source,
    to_ipynb,
    to_source,
)

COMMENTS = {"python": "#", "sql": "--", "scala": "//", "r": "#"}

# Lines a Databricks file is made of, and their near misses; "{c}" is the comment token.
LINE_TEMPLATES = [
    "{c} Databricks notebook source", "{c} COMMAND ----------", "{c} COMMAND ---------- ",
    "", " ", "\t", "{c} MAGIC", "{c} MAGIC ", "{c} MAGIC  ", "{c} MAGIC %md", "{c} MAGIC %md ",
    "{c} MAGIC %md ### Inline title", "{c} MAGIC %md-sandbox", "{c} MAGIC %md-sandbox <b>x</b>",
    "{c} MAGIC %mdx", "{c} MAGIC %sql", "{c} MAGIC SELECT * FROM t", "{c} MAGIC %python",
    "{c} MAGIC %scala", "{c} MAGIC %r", "{c} MAGIC %sh ls -la", "{c} MAGIC %fs ls /mnt",
    "{c} MAGIC %pip install x==1", "{c} MAGIC %run ./setup", "{c} MAGIC%md", "{c} MAGIC text",
    "{c} DBTITLE 1,Load", "{c} DBTITLE 0,", "{c} DBTITLE 2,no", "{c} DBTITLE 1", "x = 1",
    "%sql", "%md", "%%sql", "print('héllo ✓')", "{c} a comment", "\ufeff",
    "{c} MAGIC  %md", "{c} MAGIC  %sql", "{c} MAGIC %%writefile conf.yaml", "{c} MAGIC %%sh",
    "{c} MAGIC %%", "{c} MAGIC %", "{c} MAGIC  ", "{c}  MAGIC %md",
]

languages = st.sampled_from(sorted(COMMENTS))
line_ends = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"])
free_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def source_files(draw: st.DrawFn) -> tuple[str, str]:
    language = draw(languages)
    comment = COMMENTS[language]
    pieces = st.one_of(st.sampled_from(LINE_TEMPLATES).map(lambda t: t.format(c=comment)),
                       free_text)
    crlf = draw(st.booleans())
    mixed = draw(st.booleans())
    lines = draw(st.lists(pieces, max_size=40))
    if draw(st.booleans()):
        lines.insert(0, f"{comment} Databricks notebook source")
    out = []
    for line in lines:
        end = draw(line_ends) if mixed else ("\r\n" if crlf else "\n")
        out.append(line + end)
    text = "".join(out)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return language, text


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source_files())
def test_any_source_file_round_trips_byte_for_byte(case: tuple[str, str]) -> None:
    language, text = case
    shadow_text = dumps_ipynb(to_ipynb(text, language))
    # An editor re-serialises: sorted keys, another indent, LF.
    rewritten = json.dumps(json.loads(shadow_text), sort_keys=True, indent=2)
    result = to_source(loads_ipynb(rewritten))
    assert result.text == text
    assert result.warnings == []


@settings(deadline=None)
@given(source_files())
def test_every_shadow_is_a_valid_nbformat_4_5_notebook(case: tuple[str, str]) -> None:
    import nbformat
    language, text = case
    notebook = nbformat.reads(dumps_ipynb(to_ipynb(text, language)), as_version=4)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)


@settings(deadline=None)
@given(st.text(max_size=200), languages)
def test_arbitrary_text_round_trips(text: str, language: str) -> None:
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    assert to_source(to_ipynb(text, language)).text == text


cell_lines = st.one_of(
    st.sampled_from(["", "x = 1", "%sql", "SELECT 1", "# COMMAND ----------", "# MAGIC x",
                     "# DBTITLE 1,t", "%md", "  indented", "%pip install y", "%%writefile f",
                     "# MAGIC %md", "# MAGIC  %md", "# MAGIC", " "]),
    free_text.filter(lambda s: "\n" not in s and "\r" not in s),
)
new_cells = st.lists(
    st.tuples(st.sampled_from(["code", "markdown"]),
              st.lists(cell_lines, max_size=5).map("\n".join)),
    max_size=6,
)


@settings(deadline=None)
@given(new_cells, languages)
def test_cells_from_an_editor_read_back_the_same_or_are_reported(
    cells: list[tuple[str, str]], language: str
) -> None:
    notebook: dict[str, Any] = {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source,
             **({"outputs": [], "execution_count": None} if kind == "code" else {})}
            for kind, source in cells
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    result = to_source(notebook, language)
    back = parse_source(result.text, LANGUAGES[language]).cells
    same = [(c.kind, c.source) for c in back] == (cells or [("code", "")])
    assert same or result.warnings

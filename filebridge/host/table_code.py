""""Convert to code": a table query written as pandas, polars or dplyr code.

The page's sort keys and filters (docs/protocol-viewers.md, "Table queries") become code a
person can paste next to the object; ``df`` stands for the object.
"""

from __future__ import annotations

import json
from typing import Any

from filebridge.errors import RemoteError
from filebridge.wire.table_query import Filter, Query

__all__ = ["LANGUAGES", "query_code"]

LANGUAGES = ("pandas", "polars", "dplyr")


def _literal(value: Any, language: str) -> str:
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if language == "dplyr" else str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).strip()
    try:
        float(text)
    except ValueError:
        return json.dumps(text)
    return text


def _name(name: str, language: str) -> str:
    if language == "dplyr":
        return name if name.isidentifier() else f"`{name}`"
    return json.dumps(name)


def _pandas(f: Filter, col: str) -> str:
    c = f"df[{col}]"
    op = f.op
    case = "" if f.case_sensitive else ", case=False"
    return {
        "is_na": f"{c}.isna()", "not_na": f"{c}.notna()",
        "is_empty": f"({c} == \"\")", "not_empty": f"({c} != \"\")",
        "is_true": f"({c} == True)", "is_false": f"({c} == False)",
        "contains": f"{c}.astype(str).str.contains({json.dumps(str(f.value))}, regex=False"
                    f"{case})",
        "regex": f"{c}.astype(str).str.contains({json.dumps(str(f.value))}{case})",
        "starts_with": f"{c}.astype(str).str.startswith({json.dumps(str(f.value))})",
        "ends_with": f"{c}.astype(str).str.endswith({json.dumps(str(f.value))})",
        "in": f"{c}.astype(str).isin({json.dumps(list(f.values))})",
        "not_in": f"~{c}.astype(str).isin({json.dumps(list(f.values))})",
        "between": f"{c}.between({_literal(f.low, 'pandas')}, {_literal(f.high, 'pandas')})",
        "not_between": f"~{c}.between({_literal(f.low, 'pandas')}, "
                       f"{_literal(f.high, 'pandas')})",
    }.get(op) or f"({c} {'==' if op == '=' else op} {_literal(f.value, 'pandas')})"


def _polars(f: Filter, col: str) -> str:
    c = f"pl.col({col})"
    op = f.op
    text = f"{c}.cast(pl.String)"
    return {
        "is_na": f"{c}.is_null()", "not_na": f"{c}.is_not_null()",
        "is_empty": f"({c} == \"\")", "not_empty": f"({c} != \"\")",
        "is_true": f"{c}", "is_false": f"~{c}",
        "contains": f"{text}.str.contains({json.dumps(str(f.value))}, literal=True)",
        "regex": f"{text}.str.contains({json.dumps(str(f.value))})",
        "starts_with": f"{text}.str.starts_with({json.dumps(str(f.value))})",
        "ends_with": f"{text}.str.ends_with({json.dumps(str(f.value))})",
        "in": f"{text}.is_in({json.dumps(list(f.values))})",
        "not_in": f"~{text}.is_in({json.dumps(list(f.values))})",
        "between": f"{c}.is_between({_literal(f.low, 'polars')}, "
                   f"{_literal(f.high, 'polars')})",
        "not_between": f"~{c}.is_between({_literal(f.low, 'polars')}, "
                       f"{_literal(f.high, 'polars')})",
    }.get(op) or f"({c} {'==' if op == '=' else op} {_literal(f.value, 'polars')})"


def _dplyr(f: Filter, c: str) -> str:
    op = f.op
    value = json.dumps(str(f.value))
    return {
        "is_na": f"is.na({c})", "not_na": f"!is.na({c})",
        "is_empty": f"{c} == \"\"", "not_empty": f"{c} != \"\"",
        "is_true": f"{c}", "is_false": f"!{c}",
        "contains": f"grepl({value}, {c}, fixed = TRUE)" if f.case_sensitive
        else f"grepl({value}, {c}, ignore.case = TRUE)",
        "regex": f"grepl({value}, {c})",
        "starts_with": f"startsWith(as.character({c}), {value})",
        "ends_with": f"endsWith(as.character({c}), {value})",
        "in": f"{c} %in% c({', '.join(json.dumps(v) for v in f.values)})",
        "not_in": f"!({c} %in% c({', '.join(json.dumps(v) for v in f.values)}))",
        "between": f"between({c}, {_literal(f.low, 'dplyr')}, {_literal(f.high, 'dplyr')})",
        "not_between": f"!between({c}, {_literal(f.low, 'dplyr')}, "
                       f"{_literal(f.high, 'dplyr')})",
    }.get(op) or f"{c} {'==' if op == '=' else op} {_literal(f.value, 'dplyr')}"


def query_code(query: Query, names: list[str], language: str) -> str:
    """The code selecting and ordering the rows ``query`` shows; ``names``: column names."""
    if language not in LANGUAGES:
        raise RemoteError("bad_request", f"convert to code: {language!r} is not one of "
                                         f"{', '.join(LANGUAGES)}")
    filters = list(query.filters)
    if language == "pandas":
        lines = ["result = df"]
        if filters:
            parts = " & ".join(_pandas(f, _name(names[f.column], language)) for f in filters)
            lines.append(f"result = result[{parts}]")
        if query.sort:
            by = [names[i] for i, _ in query.sort]
            ascending = [not d for _, d in query.sort]
            lines.append(f"result = result.sort_values({json.dumps(by)}, "
                         f"ascending={ascending!r}, kind=\"stable\", na_position=\"last\")")
        if query.search:
            lines.append(f"# and rows with {query.search!r} in any text column")
        return "\n".join(lines) + "\n"
    if language == "polars":
        lines = ["import polars as pl", "result = df"]
        if filters:
            parts = " & ".join(_polars(f, _name(names[f.column], language)) for f in filters)
            lines.append(f"result = result.filter({parts})")
        if query.sort:
            by = [names[i] for i, _ in query.sort]
            descending = [d for _, d in query.sort]
            lines.append(f"result = result.sort({json.dumps(by)}, "
                         f"descending={descending!r}, nulls_last=True, maintain_order=True)")
        if query.search:
            lines.append(f"# and rows with {query.search!r} in any text column")
        return "\n".join(lines) + "\n"
    lines = ["library(dplyr)", "result <- df"]
    if filters:
        parts = ", ".join(_dplyr(f, _name(names[f.column], language)) for f in filters)
        lines[-1] += " |>"
        lines.append(f"  filter({parts})")
    if query.sort:
        keys = ", ".join(f"desc({_name(names[i], language)})" if d
                         else _name(names[i], language) for i, d in query.sort)
        lines[-1] += " |>"
        lines.append(f"  arrange({keys})")
    if query.search:
        lines.append(f"# and rows with {json.dumps(query.search)} in any text column")
    return "\n".join(lines) + "\n"

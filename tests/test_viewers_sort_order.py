"""The packed-key stable sort gives numpy's stable argsort order for every kind of column:
random, repeated, adjacent doubles sharing their high bits, signed zeros, infinities, the
whole int32 / int64 range, descending (ties still in row order), and through the table
engine with NaN and NA last."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from filebridge.wire.table_order import monotone_keys, stable_order
from filebridge.wire.table_query import ColumnBuffers, TableQuery


def _expected(values: np.ndarray, descending: bool) -> np.ndarray:
    if not descending:
        return np.argsort(values, kind="stable")
    if values.dtype.kind == "f":
        return np.argsort(-values, kind="stable")
    return np.argsort(~values.astype(np.int64), kind="stable")


def _check(values: np.ndarray) -> None:
    for descending in (False, True):
        got = stable_order(np, monotone_keys(np, values, descending))
        assert np.array_equal(got, _expected(values, descending)), (values[:20], descending)


@settings(deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 300),
                  elements=st.floats(allow_nan=False, width=64)))
def test_doubles_of_any_value(values: np.ndarray) -> None:
    _check(values)


@settings(deadline=None)
@given(hnp.arrays(np.int64, st.integers(0, 300)), hnp.arrays(np.int32, st.integers(0, 300)))
def test_integers_of_the_whole_range(wide: np.ndarray, narrow: np.ndarray) -> None:
    _check(wide)
    _check(narrow)


@pytest.mark.parametrize("kind", ["uniform", "repeated", "adjacent", "mixed", "clustered",
                                  "zeros"])
def test_large_columns_take_each_path(kind: str) -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    values = {
        "uniform": rng.random(n),  # a few keys share their high bits
        "repeated": rng.integers(0, 50, n) / 7,  # most share them, equal
        "adjacent": 1 + rng.integers(0, 1 << 40, n) * 2.0 ** -52,  # share them, differ
        "mixed": np.where(rng.random(n) < 0.5, rng.integers(0, 9, n) * 1.0,
                          rng.normal(size=n) * 1e300),
        "clustered": np.where(rng.random(n) < 0.5, 1 + rng.integers(0, 1 << 17, n) * 2.0 ** -52,
                              rng.normal(size=n) * 1e300),  # many share them, differ
        "zeros": rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324]), n),
    }[kind]
    _check(values)


def test_the_engine_sorts_nan_then_na_last_in_both_directions() -> None:
    values = np.array([3.0, np.nan, 1.0, 2.0, 1.0, np.nan, -0.0, 0.0])
    na = np.array([0, 0, 0, 1, 0, 0, 0, 0], dtype=np.uint8)  # row 3 is NA
    spec = {"name": "x", "type": "float", "storage": "f64"}
    query = TableQuery([spec], len(values), lambda _: ColumnBuffers(values.tobytes(), None,
                                                                  na.tobytes()), np)
    up = query.rows({"sort": [{"column": 0}]})["rows"]
    down = query.rows({"sort": [{"column": 0, "descending": True}]})["rows"]
    assert up == [6, 7, 2, 4, 0, 1, 5, 3]
    assert down == [0, 2, 4, 6, 7, 1, 5, 3]
    filtered = query.rows({"sort": [{"column": 0, "descending": True}],
                           "filters": [{"column": 0, "op": ">=", "value": 0}]})["rows"]
    assert filtered == [0, 2, 4, 6, 7]

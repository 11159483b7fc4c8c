"""The plain scalars' quick description gives exactly what their families give."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import filebridge.worker.variables as fv
from filebridge.worker.variables.describe import describe, describe_by_family, methods_for
from filebridge.worker.variables.scalars import SCALAR_TYPES

SCALARS = st.one_of(
    st.integers(), st.integers(min_value=2**4000, max_value=2**5000).map(lambda n: n * n),
    st.floats(allow_nan=True, allow_infinity=True), st.complex_numbers(allow_nan=True),
    st.booleans(), st.none(), st.text(), st.text(min_size=100, max_size=300), st.binary(),
    st.binary(min_size=100, max_size=300))


def both(value: Any, width: int, top_level: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    quick = describe(value, name="v", access_key="v", evaluate_name="v", top_level=top_level,
                     width=width, now_ms=1)
    general = describe_by_family(value, methods_for(value), name="v", access_key="v",
                                 evaluate_name="v", top_level=top_level, width=width, now_ms=1)
    return quick, general


@settings(deadline=None)
@given(SCALARS, st.sampled_from([1, 2, 8, 40, 128, 2**16]), st.booleans())
def test_a_plain_scalars_quick_description_equals_its_familys(value: Any, width: int,
                                                             top_level: bool) -> None:
    assert type(value) in SCALAR_TYPES
    quick, general = both(value, width, top_level)
    assert quick == general


def test_a_registered_display_for_a_scalar_type_still_applies() -> None:
    class Celsius(float):
        pass

    assert type(Celsius(1.0)) not in SCALAR_TYPES  # a subclass takes the general path
    fv.register(int, display_value=lambda x, width: f"int {x}")
    try:
        entry = describe(7, name="v", access_key="v", evaluate_name="v", top_level=True)
        assert entry["display_value"] == "int 7"
    finally:
        fv.unregister(int)
    assert describe(7, name="v", access_key="v", evaluate_name="v",
                    top_level=True)["display_value"] == "7"

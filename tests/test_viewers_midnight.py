"""A datetime column whose times are all at midnight (in its zone) is marked ``midnight`` in the
snapshot's schema, so the grid shows its dates alone; one time of day anywhere, or midnights
of another zone, and it is not."""

from __future__ import annotations

import datetime

from filebridge.worker.table_columns import as_table

# The data-frame libraries are imported by the tests that use them: every xdist process
# collects this module, and only the one that runs it pays for them.


def _marks(table: object) -> dict[str, bool]:
    encoded = as_table(table)
    assert encoded is not None
    return {s["name"]: bool(s.get("midnight")) for s in encoded.specs if s["type"] == "datetime"}


def test_pandas_polars_and_python_datetimes_at_midnight_are_marked() -> None:
    import numpy as np
    import pandas as pd
    import polars as pl
    n = 3000
    days = pd.date_range("2024-03-01", periods=n, freq="D")
    late = days.to_series(index=range(n)).copy()
    late.iloc[n - 1] += pd.Timedelta(seconds=1)  # one time of day, past the first rows
    frame = pd.DataFrame({
        "days": days, "days_na": days.where(np.arange(n) % 7 != 0),
        "paris": pd.date_range("2024-03-28", periods=n, freq="D", tz="Europe/Paris"),
        "utc_in_paris": pd.date_range("2024-01-01", periods=n, freq="D",
                                      tz="UTC").tz_convert("Europe/Paris"),
        "late": late.to_numpy(), "hours": pd.date_range("2024-01-01", periods=n, freq="h"),
        "seconds": pd.Series(days).astype("datetime64[s]")})
    expected = {"days": True, "days_na": True, "paris": True, "utc_in_paris": False,
                "late": False, "hours": False, "seconds": True}
    assert _marks(frame) == expected
    assert _marks(pl.from_pandas(frame)) == expected
    assert _marks(pd.DataFrame({"none": pd.Series([pd.NaT] * 3, dtype="datetime64[ns]")})) == \
        {"none": False}
    records = [{"t": datetime.datetime(2024, 1, d), "u": datetime.datetime(2024, 1, d, 0, 0, d)}
               for d in range(1, 4)]
    assert _marks(records) == {"t": True, "u": False}

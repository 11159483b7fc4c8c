"""Tables as typed columns: the one encoder behind ``dataview`` and the variables pane's view.

Each column becomes a spec (docs/protocol-viewers.md, "A table snapshot") and, on demand, its
buffers: numbers as float64 / int32 / int64 with the format's NA sentinels, text as UTF-8
bytes plus offsets. pandas, polars and numpy columns are converted with their own vectorised
calls; plain Python lists, records and dicts of columns with a loop.

Standard library only at import; pandas, polars and numpy are used when the object is one.
"""

from __future__ import annotations

import datetime
import sys
import threading
from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any, Callable, Optional

from filebridge.wire.table_format import INT32_NA, INT64_NA, NA_F64_BITS, na_float
from filebridge.wire.table_query import ColumnBuffers

__all__ = ["EncodedTable", "as_table"]

MAX_LEVELS = 100_000
MAX_TABLE_COLUMNS = 10_000
_EPOCH = datetime.date(1970, 1, 1).toordinal()
_UTC = datetime.timezone.utc
_EPOCH_TIME = datetime.datetime(1970, 1, 1, tzinfo=_UTC)

Encoder = Callable[[], ColumnBuffers]


class EncodedTable:
    """Column specs now, column buffers when first asked for (then kept)."""

    def __init__(self, specs: list[dict[str, Any]], rows: int, encoders: list[Encoder],
                 np: Any, slicer: Optional[Callable[[int, int], EncodedTable]] = None) -> None:
        self.specs = specs
        self.rows = rows
        self.np = np
        self._encoders = encoders
        self._buffers: dict[int, ColumnBuffers] = {}
        self._locks = [threading.Lock() for _ in specs]
        self.slicer = slicer

    def buffers(self, index: int) -> ColumnBuffers:
        with self._locks[index]:
            found = self._buffers.get(index)
            if found is None:
                found = self._buffers[index] = self._encoders[index]()
            return found


# -- buffers from Python values -------------------------------------------------------------

def _text_buffers(texts: Sequence[str], missing: Optional[Sequence[bool]], np: Any
                  ) -> ColumnBuffers:
    joined = "".join(texts)
    if joined.isascii():
        data = joined.encode("ascii")
        lengths: Any = map(len, texts)
    else:
        encoded = [t.encode("utf-8", "replace") for t in texts]
        data = b"".join(encoded)
        lengths = map(len, encoded)
    if np is not None:
        offsets = np.zeros(len(texts) + 1, dtype="<f8")
        offsets[1:] = np.cumsum(np.fromiter(lengths, dtype=np.int64, count=len(texts)))
        na = (np.asarray(missing, dtype=np.uint8) if missing is not None else None)
    else:
        offsets = array("d", accumulate(lengths, initial=0))
        na = bytes(bytearray(1 if m else 0 for m in missing)) if missing is not None else None
    return ColumnBuffers(data, offsets, na)


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _python_column(name: str, values: Sequence[Any], role: str = "") -> tuple[dict[str, Any],
                                                                              Encoder]:
    """A column from plain Python values: the type from the values that are not None."""
    present = [v for v in values if v is not None and not _is_pandas_na(v)]
    kinds = {_python_kind(v) for v in present}
    kind = kinds.pop() if len(kinds) == 1 else ("float" if kinds == {"integer", "float"}
                                                else "other" if kinds else "string")
    if kind == "integer" and present and not all(-2 ** 63 < v < 2 ** 63 for v in present):
        kind = "other"
    spec: dict[str, Any] = {"name": name, "type": kind, "dtype": "object"}
    if role:
        spec["role"] = role
    if kind == "datetime":
        zones = {str(v.tzinfo) for v in present if v.tzinfo is not None}
        spec["tz"] = "UTC" if zones and zones <= {"UTC", "UTC+00:00"} else (
            zones.pop() if len(zones) == 1 else "")
        if present and all(v.hour == v.minute == v.second == v.microsecond == 0
                           for v in present):
            spec["midnight"] = True

    def encode() -> ColumnBuffers:
        if kind in ("string", "other"):
            missing = [v is None or _is_pandas_na(v) for v in values]
            texts = ["" if m else _text_of(v) for v, m in zip(values, missing)]
            return _text_buffers(texts, missing, None)
        if kind == "integer":
            return ColumnBuffers(array("q", (INT64_NA if v is None else int(v)
                                             for v in values)))
        if kind == "boolean":
            return ColumnBuffers(array("i", (INT32_NA if v is None else int(bool(v))
                                             for v in values)))
        na = na_float()
        if kind == "float":
            return ColumnBuffers(array("d", (na if v is None or _is_pandas_na(v) else float(v)
                                             for v in values)))
        if kind == "date":
            return ColumnBuffers(array("d", (na if v is None else float(v.toordinal() - _EPOCH)
                                             for v in values)))
        return ColumnBuffers(array("d", (na if v is None else _seconds(v) for v in values)))

    spec["storage"] = {"integer": "i64", "boolean": "i32", "float": "f64", "date": "f64",
                       "datetime": "f64"}.get(kind, "utf8")
    return spec, encode


def _seconds(moment: datetime.datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return (moment - _EPOCH_TIME).total_seconds()


def _python_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime.datetime):
        return "datetime"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, str):
        return "string"
    module = type(value).__module__
    if module == "numpy" and hasattr(value, "item"):
        return _python_kind(value.item())
    return "other"


def _is_pandas_na(value: Any) -> bool:
    return type(value).__name__ in ("NAType", "NaTType")


def _python_table(headers: list[str], columns: list[Sequence[Any]], rows: int
                  ) -> EncodedTable:
    made = [_python_column(h, c) for h, c in zip(headers, columns)]
    label_spec: dict[str, Any] = {"name": "(row)", "role": "label", "type": "integer",
                                  "storage": "i64", "dtype": "position"}

    def labels() -> ColumnBuffers:
        return ColumnBuffers(array("q", range(rows)))

    def slicer(start: int, stop: int) -> EncodedTable:
        part = _python_table(headers, [c[start:stop] for c in columns], max(0, stop - start))
        return part

    return EncodedTable([label_spec] + [s for s, _ in made], rows,
                        [labels] + [e for _, e in made], None, slicer)


# -- numpy / pandas ---------------------------------------------------------------------------

def _mark_na(np: Any, values: Any, missing: Any) -> Any:
    """float64 values with R's NA bits where ``missing``."""
    if missing is not None and missing.any():
        values = np.array(values, dtype="<f8", copy=True)
        values.view(np.uint64)[missing] = np.uint64(NA_F64_BITS)
    return values


def _integers(np: Any, values: Any, missing: Any) -> tuple[str, Any]:
    """int32 when the values fit, else int64 (uint64 beyond int64: float64)."""
    if values.dtype.kind == "u" and values.dtype.itemsize == 8 and values.size \
            and values.max() > np.iinfo(np.int64).max:
        return "f64", _mark_na(np, values.astype("<f8"), missing)
    present = values[~missing] if missing is not None else values
    if present.size == 0 or (present.min() > INT32_NA and present.max() < 2 ** 31):
        out = values.astype("<i4")
        if missing is not None:
            out[missing] = INT32_NA
        return "i32", out
    out = values.astype("<i8")
    if missing is not None:
        out[missing] = INT64_NA
    return "i64", out


def _pandas_column(name: str, series: Any, pd: Any, np: Any, role: str = ""
                   ) -> tuple[dict[str, Any], Encoder]:
    dtype = series.dtype
    types = pd.api.types
    spec: dict[str, Any] = {"name": name, "dtype": str(dtype)}
    if role:
        spec["role"] = role

    def missing() -> Any:
        mask = series.isna().to_numpy()
        return mask if mask.any() else None

    encode: Encoder
    if isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories) <= MAX_LEVELS:
        spec.update(type="category", storage="i32",
                    levels=[str(c) for c in dtype.categories])

        def encode() -> ColumnBuffers:
            codes = series.cat.codes.to_numpy().astype("<i4") + 1
            codes[codes == 0] = INT32_NA
            return ColumnBuffers(codes)
    elif types.is_bool_dtype(dtype):
        spec.update(type="boolean", storage="i32")

        def encode() -> ColumnBuffers:
            mask = missing()
            values = series.to_numpy(dtype=bool, na_value=False).astype("<i4")
            if mask is not None:
                values[mask] = INT32_NA
            return ColumnBuffers(values)
    elif types.is_integer_dtype(dtype):
        spec.update(type="integer")
        fits = _integer_storage(series, np)
        spec["storage"] = fits

        def encode() -> ColumnBuffers:
            mask = missing()
            values = (series.to_numpy(dtype=getattr(dtype, "numpy_dtype", dtype), na_value=0)
                      if mask is not None else series.to_numpy())
            storage, out = _integers(np, np.asarray(values), mask)
            if storage != fits:
                out = out.astype({"i32": "<i4", "i64": "<i8", "f64": "<f8"}[fits])
            return ColumnBuffers(out)
    elif types.is_float_dtype(dtype):
        spec.update(type="float", storage="f64")

        def encode() -> ColumnBuffers:
            masked = not isinstance(dtype, np.dtype)  # pandas' Float64: pd.NA is NA
            values = series.to_numpy(dtype="<f8", na_value=np.nan)
            return ColumnBuffers(_mark_na(np, values, missing() if masked else None))
    elif types.is_datetime64_any_dtype(dtype):
        zone = getattr(dtype, "tz", None)
        spec.update(type="datetime", storage="f64", tz=str(zone) if zone is not None else "")
        if _pandas_midnight(series, zone is not None):
            spec["midnight"] = True

        def encode() -> ColumnBuffers:
            moments = series.dt.tz_convert("UTC").dt.tz_localize(None) if zone is not None \
                else series
            ticks = moments.to_numpy(dtype="datetime64[ns]").view("<i8")
            nat = ticks == INT64_NA
            return ColumnBuffers(_mark_na(np, ticks / 1e9, nat if nat.any() else None))
    else:
        kind = "string" if types.is_string_dtype(dtype) else "other"
        if getattr(dtype, "kind", "") == "O":
            sample = series.head(200).dropna().tolist()
            if sample and all(isinstance(v, str) for v in sample):
                kind = "string"
            elif sample and all(isinstance(v, datetime.date)
                                and not isinstance(v, datetime.datetime) for v in sample):
                return _python_column(name, series.tolist(), role)
        spec.update(type=kind, storage="utf8")

        def encode() -> ColumnBuffers:
            mask = series.isna().to_numpy()
            values = series.to_numpy(dtype=object)
            if mask.any():
                texts = ["" if m else _text_of(v) for v, m in zip(values.tolist(),
                                                                  mask.tolist())]
                return _text_buffers(texts, mask, np)
            texts = [v if type(v) is str else _text_of(v) for v in values.tolist()]
            return _text_buffers(texts, None, np)
    return spec, encode


def _pandas_midnight(series: Any, zoned: bool) -> bool:
    """Every value (NaT aside) is at midnight in the column's zone: a reader shows dates only.
    A cheap look at the UTC ticks first (zones are whole quarters of an hour)."""
    per_second = {"s": 1, "ms": 10 ** 3, "us": 10 ** 6, "ns": 10 ** 9}.get(
        str(getattr(series.dt, "unit", "ns")))
    if per_second is None:
        return False
    ticks = series.array.asi8
    present = ticks != INT64_NA
    if not present.any() or (ticks[present][:1000] % (900 * per_second)).any() \
            or (ticks[present] % (900 * per_second)).any():
        return False
    wall = series.dt.tz_localize(None).array.asi8 if zoned else ticks
    return not (wall[present] % (86_400 * per_second)).any()


def _integer_storage(series: Any, np: Any) -> str:
    if series.size == 0:
        return "i32"
    low, high = series.min(), series.max()
    if low != low or high != high:  # all NA
        return "i32"
    if int(high) > 2 ** 63 - 1:
        return "f64"
    return "i32" if int(low) > INT32_NA and int(high) < 2 ** 31 else "i64"


def _from_pandas(frame: Any) -> EncodedTable:
    pd = sys.modules["pandas"]
    np = sys.modules["numpy"]
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(name=frame.name if frame.name is not None else "value")
    frame = frame.iloc[:, :MAX_TABLE_COLUMNS].copy(deep=False)
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        label = ({"name": "(row)", "role": "label", "type": "integer", "storage": "i32"
                  if len(index) < 2 ** 31 else "i64", "dtype": "RangeIndex"},
                 lambda: ColumnBuffers(np.arange(len(index), dtype="<i4" if len(index)
                                                 < 2 ** 31 else "<i8")))
    elif isinstance(index, pd.MultiIndex):
        label = _python_column("(row)", [str(v) for v in index.tolist()], "label")
    else:
        label = _pandas_column(str(index.name) if index.name is not None else "(row)",
                               index.to_series(index=pd.RangeIndex(len(index))), pd, np,
                               "label")
    made = [label] + [_pandas_column(str(name), frame.iloc[:, n], pd, np)
                      for n, name in enumerate(frame.columns)]
    return EncodedTable([s for s, _ in made], int(frame.shape[0]), [e for _, e in made], np,
                        lambda start, stop: _from_pandas(frame.iloc[start:stop]))


# -- polars ------------------------------------------------------------------------------------

def _polars_column(series: Any, pl: Any, np: Any) -> tuple[dict[str, Any], Encoder]:
    dtype = series.dtype
    name = str(series.name)
    spec: dict[str, Any] = {"name": name, "dtype": str(dtype)}
    if np is None:
        return _python_column(name, series.to_list())

    def nulls() -> Any:
        mask = series.is_null().to_numpy()
        return mask if mask.any() else None

    encode: Encoder
    if dtype == pl.Boolean:
        spec.update(type="boolean", storage="i32")

        def encode() -> ColumnBuffers:
            return ColumnBuffers(series.cast(pl.Int32).fill_null(INT32_NA).to_numpy()
                                 .astype("<i4"))
    elif dtype.is_integer():
        spec.update(type="integer")
        low, high = series.min(), series.max()
        spec["storage"] = ("i32" if low is None or (low > INT32_NA and high < 2 ** 31)
                           else "f64" if high > 2 ** 63 - 1 else "i64")

        def encode() -> ColumnBuffers:
            target = {"i32": (pl.Int32, "<i4", INT32_NA), "i64": (pl.Int64, "<i8", INT64_NA),
                      "f64": (pl.Float64, "<f8", 0)}[spec["storage"]]
            values = series.cast(target[0]).fill_null(target[2]).to_numpy().astype(target[1])
            if spec["storage"] == "f64":
                values = _mark_na(np, values, nulls())
            return ColumnBuffers(values)
    elif dtype.is_float():
        spec.update(type="float", storage="f64")

        def encode() -> ColumnBuffers:
            values = series.cast(pl.Float64).to_numpy().astype("<f8")
            return ColumnBuffers(_mark_na(np, values, nulls()))
    elif dtype == pl.Date:
        spec.update(type="date", storage="f64")

        def encode() -> ColumnBuffers:
            days = series.cast(pl.Int32).cast(pl.Float64).to_numpy().astype("<f8")
            return ColumnBuffers(_mark_na(np, days, nulls()))
    elif isinstance(dtype, pl.Datetime):
        spec.update(type="datetime", storage="f64", tz=dtype.time_zone or "")
        wall = series.dt.replace_time_zone(None).drop_nulls() if dtype.time_zone \
            else series.drop_nulls()
        if wall.len() and bool((wall.dt.truncate("1d") == wall).all()):
            spec["midnight"] = True

        def encode() -> ColumnBuffers:
            micros = series.dt.epoch("us").cast(pl.Float64).to_numpy().astype("<f8")
            return ColumnBuffers(_mark_na(np, micros / 1e6, nulls()))
    elif isinstance(dtype, (pl.Categorical, pl.Enum)):
        levels = (list(dtype.categories) if isinstance(dtype, pl.Enum)
                  else series.drop_nulls().unique(maintain_order=True).cast(pl.String)
                  .sort().to_list())
        if len(levels) > MAX_LEVELS:
            return _python_column(name, series.to_list())
        spec.update(type="category", storage="i32", levels=[str(v) for v in levels])

        def encode() -> ColumnBuffers:
            codes = series.cast(pl.String).replace_strict(
                levels, list(range(1, len(levels) + 1)), default=None, return_dtype=pl.Int32)
            return ColumnBuffers(codes.fill_null(INT32_NA).to_numpy().astype("<i4"))
    else:
        spec.update(type="string" if dtype == pl.String else "other", storage="utf8")

        def encode() -> ColumnBuffers:
            mask = series.is_null().to_numpy()
            values = series.to_list() if dtype == pl.String else \
                [None if v is None else str(v) for v in series.to_list()]
            texts = ["" if v is None else v for v in values]
            return _text_buffers(texts, mask if mask.any() else None, np)
    return spec, encode


def _from_polars(frame: Any) -> EncodedTable:
    pl = sys.modules["polars"]
    np = _numpy_if_installed()
    if isinstance(frame, pl.Series):
        frame = frame.to_frame()
    frame = frame.select(frame.columns[:MAX_TABLE_COLUMNS])
    rows = int(frame.height)
    storage = "i32" if rows < 2 ** 31 else "i64"

    def labels() -> ColumnBuffers:
        if np is not None:
            return ColumnBuffers(np.arange(rows, dtype="<i4" if storage == "i32" else "<i8"))
        return ColumnBuffers(array("i" if storage == "i32" else "q", range(rows)))

    made = [({"name": "(row)", "role": "label", "type": "integer", "storage": storage,
              "dtype": "position"}, labels)]
    made += [_polars_column(frame.to_series(n), pl, np) for n in range(frame.width)]
    return EncodedTable([s for s, _ in made], rows, [e for _, e in made], np,
                        lambda start, stop: _from_polars(frame.slice(start, stop - start)))


def _numpy_if_installed() -> Any:
    """numpy for converting a polars frame (polars' own conversions need it); None without."""
    if "numpy" in sys.modules:
        return sys.modules["numpy"]
    try:
        import numpy
    except ImportError:
        return None
    return numpy


# -- dispatch ----------------------------------------------------------------------------------

def _from_numpy(array_: Any) -> EncodedTable:
    if "pandas" in sys.modules:
        pd = sys.modules["pandas"]
        frame = pd.DataFrame(array_)
        frame.columns = [str(c) for c in frame.columns]
        return _from_pandas(frame)
    rows = array_.tolist() if array_.ndim == 2 else [[v] for v in array_.tolist()]
    width = len(rows[0]) if rows else (array_.shape[1] if array_.ndim == 2 else 1)
    return _python_table([str(i) for i in range(width)],
                         [[row[i] for row in rows] for i in range(width)], len(rows))


def _is_instance(obj: Any, module: str, names: tuple[str, ...]) -> bool:
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, tuple(getattr(mod, n) for n in names
                                                     if hasattr(mod, n)))


def as_table(obj: Any) -> Optional[EncodedTable]:
    """``obj`` as a table, or None when it is not table-shaped."""
    if _is_instance(obj, "pandas", ("DataFrame", "Series")):
        return _from_pandas(obj)
    if _is_instance(obj, "polars", ("DataFrame", "Series")):
        return _from_polars(obj)
    if _is_instance(obj, "numpy", ("ndarray",)) and obj.ndim in (1, 2):
        return _from_numpy(obj)
    if _is_instance(obj, "deephaven.table", ("Table",)):
        to_pandas = getattr(sys.modules.get("deephaven.pandas"), "to_pandas", None)
        if to_pandas is None:
            import importlib
            to_pandas = importlib.import_module("deephaven.pandas").to_pandas
        return _from_pandas(to_pandas(obj))
    if isinstance(obj, Mapping) and obj and all(
            isinstance(v, Sequence) and not isinstance(v, (str, bytes)) for v in obj.values()):
        if len({len(v) for v in obj.values()}) == 1:
            names = list(obj)
            return _python_table([str(n) for n in names], [list(obj[n]) for n in names],
                                 len(obj[names[0]]))
        return None
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)) and obj:
        if all(isinstance(r, Mapping) for r in obj):
            keys: dict[Any, None] = {}
            for record in obj:
                for key in record:
                    keys.setdefault(key, None)
            return _python_table([str(k) for k in keys],
                                 [[r.get(k) for r in obj] for k in keys], len(obj))
        if all(isinstance(r, (list, tuple)) for r in obj) and len({len(r) for r in obj}) == 1:
            width = len(obj[0])
            return _python_table([str(i) for i in range(width)],
                                 [[r[i] for r in obj] for i in range(width)], len(obj))
    return None

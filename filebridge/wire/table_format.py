"""The table snapshot's column storage (docs/protocol-viewers.md, "A table snapshot").

Shared by the worker (which writes and answers live queries) and the host (which reads the
snapshot). Standard library only.
"""

from __future__ import annotations

import datetime
import re
import struct
from typing import Any, Optional

__all__ = ["COLUMN_TYPES", "FORMAT", "INT32_NA", "INT64_NA", "NA_F64_BITS", "STORAGE_FORMATS",
           "VERSION", "check_file_name", "date_text", "datetime_text", "float_is_na",
           "na_float", "zone"]

FORMAT = "filebridge.table"
VERSION = 2
COLUMN_TYPES = ("integer", "float", "boolean", "date", "datetime", "category", "string",
                "other")
# storage -> (array typecode, item size)
STORAGE_FORMATS = {"f64": ("d", 8), "i32": ("i", 4), "i64": ("q", 8), "utf8": ("B", 1)}
INT32_NA = -(2 ** 31)
INT64_NA = -(2 ** 63)
NA_F64_BITS = 0x7FF00000000007A2  # R's NA_real_: a NaN whose low word is 1954
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def na_float() -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", NA_F64_BITS))[0]
    return value


def float_is_na(value: float) -> bool:
    """NaN with R's NA payload (R and this format: NA), as opposed to a plain NaN."""
    if value == value:
        return False
    bits: int = struct.unpack("<Q", struct.pack("<d", value))[0]
    return bits & 0xFFFFFFFF == 1954


def check_file_name(name: Any) -> str:
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"column file name {name!r} is not a plain name in the table folder")
    return name


def date_text(days: float) -> str:
    whole = int(days // 1)
    try:
        return datetime.date.fromordinal(_EPOCH_ORDINAL + whole).isoformat()
    except (ValueError, OverflowError):
        return str(days)


def zone(name: str) -> Optional[datetime.tzinfo]:
    """The zone of a datetime column; None for wall-clock times ("")."""
    if not name:
        return None
    if name.upper() in ("UTC", "GMT", "Z"):
        return datetime.timezone.utc
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo(name)
    except (ImportError, ValueError, KeyError, OSError):
        return datetime.timezone.utc


_UTC_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def datetime_text(seconds: float, tz: Optional[datetime.tzinfo]) -> str:
    """``2024-08-25 13:45:07`` (with ``.25`` when there are fractions) in ``tz``."""
    try:
        moment = _UTC_EPOCH + datetime.timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return str(seconds)
    if tz is not None:
        moment = moment.astimezone(tz)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text


def parse_moment(text: str, kind: str, tz: Optional[datetime.tzinfo]) -> float:
    """A filter value for a date (days) or datetime (seconds) column."""
    text = text.strip()
    if kind == "date":
        day = datetime.date.fromisoformat(text[:10])
        return float(day.toordinal() - _EPOCH_ORDINAL)
    moment = datetime.datetime.fromisoformat(text.replace("T", " "))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz or datetime.timezone.utc)
    return (moment - _UTC_EPOCH).total_seconds()

"""The two kinds of `date` column, in one place: days (a polars Date, daily data) and timestamps (a naive UTC
polars Datetime, intraday data).

Config bounds (`data.start`, `data.end`, split dates) are days. Compared with timestamps a day means all of it: a
block through 2024-01-31 holds every bar stamped on that UTC date, and data from 2024-01-01 starts at its first bar.
MarketData holds days as datetime64[D] and timestamps as datetime64[s].
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

DAY_UNIT = "datetime64[D]"
TIMESTAMP_UNIT = "datetime64[s]"


def holds_timestamps(dtype: pl.DataType) -> bool:
    """True for a Datetime column (intraday bars), False for a Date column (daily bars)."""
    return isinstance(dtype, pl.Datetime)


def _next_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day) + timedelta(days=1)


def on_or_after(day: date) -> pl.Expr:
    """`date` on or after `day` (a Date compares as a day, a Datetime from that day's midnight on)."""
    return pl.col("date") >= day


def through(day: date, dtype: pl.DataType) -> pl.Expr:
    """`date` on or before `day`, every bar of that day included."""
    if holds_timestamps(dtype):
        return pl.col("date") < _next_midnight(day)
    return pl.col("date") <= day


def numpy_dates(values: pl.Series) -> np.ndarray:
    """A `date` column as MarketData holds it: datetime64[D] for days, datetime64[s] for timestamps."""
    unit = TIMESTAMP_UNIT if holds_timestamps(values.dtype) else DAY_UNIT
    return values.to_numpy().astype(unit)

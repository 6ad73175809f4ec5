"""The two kinds of `date` column, in one place: days (a polars Date, daily data) and timestamps (a naive UTC
polars Datetime, intraday data).

Config bounds (`data.start`, `data.end`, split dates) are days. Compared with timestamps a day means all of it: a
block through 2024-01-31 holds every bar stamped on that UTC date, and data from 2024-01-01 starts at its first bar.
Split dates may also be timestamps on intraday data (`hierl.config.data.split_bound`), as a walk-forward writes them.
MarketData holds days as datetime64[D] and timestamps as datetime64[s].

The outputs keep the unit: a run of daily bars writes days (Date columns, `2024-01-31`), one of intraday bars
timestamps (Datetime columns, `2024-01-31T13:00:00`), and whatever reads a run folder back accepts both.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from hierl.config.data import parse_bound

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


def is_daily(dates: np.ndarray) -> bool:
    """True for a calendar of days (datetime64[D], daily bars), False for timestamps (intraday bars)."""
    return np.asarray(dates).dtype == np.dtype(DAY_UNIT)


def column_type(dates: np.ndarray) -> pl.DataType:
    """The polars type of a `date` column holding `dates`: Date for days, Datetime("us") for timestamps (polars
    has no seconds unit)."""
    return pl.Date() if is_daily(dates) else pl.Datetime("us")


def column_dates(dates: np.ndarray) -> np.ndarray:
    """`dates` as a `column_type` column takes them: days as they are, timestamps in microseconds (polars reads no
    seconds unit)."""
    values = np.asarray(dates)
    return values if is_daily(values) else values.astype("datetime64[us]")


def date_text(value: np.datetime64) -> str:
    """One date as the outputs write it: `2024-01-31` for a day, `2024-01-31T13:00:00` for a timestamp."""
    if np.datetime_data(value.dtype)[0] == "D":
        return str(value)
    return str(value.astype(TIMESTAMP_UNIT))


def rows_word(dates: np.ndarray) -> str:
    """What the rows of a calendar are called in text: "days" for daily bars (as the text always read), "bars"."""
    return "days" if is_daily(dates) else "bars"


def bound(text: str) -> date | datetime:
    """An ISO day or timestamp as a run folder writes it (`data_fingerprint.json`, `walk_forward.json`)."""
    return parse_bound(text)


def since(text: str) -> pl.Expr:
    """`date` on or after `text` (a day from its first instant)."""
    return pl.col("date") >= bound(text)


def before(text: str) -> pl.Expr:
    """`date` before `text` (a day: before its first instant)."""
    return pl.col("date") < bound(text)


def between(first: str, last: str, dtype: pl.DataType) -> pl.Expr:
    """`date` from `first` through `last` (days or timestamps; a day covers all of it)."""
    end = bound(last)
    upper = pl.col("date") <= end if isinstance(end, datetime) else through(end, dtype)
    return since(first) & upper

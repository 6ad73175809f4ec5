"""The bar length of a price table: inferred from its timestamps, or stated in `data.frequency` and checked.

Rule: the most common spacing between consecutive bars of one symbol, counted over every symbol (ties go to the
shorter spacing). Weekends, holidays and overnight breaks make longer spacings, but never the most common one:
business-day bars are "1d" (four of five spacings are one day), an exchange session of hourly bars is "1h".
The name is canonical: whole days as "<n>d", whole hours as "<n>h", anything else as "<n>min".
"""

from __future__ import annotations

import polars as pl

from hierl.config.data import DAILY, MINUTES_PER_DAY, bar_minutes
from hierl.errors import DataError

SECONDS_PER_MINUTE = 60


def frequency_name(minutes: int) -> str:
    """The canonical name of a bar `minutes` long: "1d", "7d", "1h", "4h", "15min"."""
    if minutes % MINUTES_PER_DAY == 0:
        return f"{minutes // MINUTES_PER_DAY}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}min"


def is_intraday(frequency: str) -> bool:
    """True for bars shorter than a day."""
    return bar_minutes(frequency, "frequency") < MINUTES_PER_DAY


def _spacing_seconds(prices: pl.DataFrame) -> pl.Series:
    """Seconds between consecutive bars of each symbol (dates count whole days)."""
    gaps = prices.select("symbol", "date").sort("symbol", "date").select(pl.col("date").diff().over("symbol"))
    return gaps.get_column("date").drop_nulls().dt.total_seconds()


def infer_frequency(prices: pl.DataFrame, origin: str) -> str:
    """The bar length of `prices` (columns `symbol` and `date`, a Date or a Datetime) by the module's rule.

    A table whose symbols have one bar each has no spacing; it is called daily (its calendar is then too short for
    any split, which is reported there). Spacings under a minute, or not whole minutes, are a DataError.
    """
    spacing = _spacing_seconds(prices)
    spacing = spacing.filter(spacing > 0)
    if spacing.is_empty():
        return DAILY
    counts = spacing.value_counts(sort=False).sort(["count", spacing.name], descending=[True, False])
    seconds = int(counts.item(0, spacing.name))
    if seconds < SECONDS_PER_MINUTE or seconds % SECONDS_PER_MINUTE:
        raise DataError(
            f"{origin}: the most common spacing between bars of a symbol is {seconds} s; hierl reads bars of whole "
            "minutes (1min or longer). Fix: resample the bars to whole minutes."
        )
    return frequency_name(seconds // SECONDS_PER_MINUTE)


def checked_frequency(configured: str | None, inferred: str, origin: str) -> str:
    """`inferred`, after checking that `data.frequency` (when set) states the same bar length."""
    if configured is None:
        return inferred
    if bar_minutes(configured, "frequency") != bar_minutes(inferred, "frequency"):
        raise DataError(
            f"{origin}: data.frequency={configured!r} but the bars are {inferred} apart (the most common spacing "
            f"between bars of a symbol). Fix: data.frequency={inferred} or null (inferred), or resample the data."
        )
    return inferred

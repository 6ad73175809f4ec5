"""Joining slow series onto a trading calendar as of their publication date, never their reference period.

Publication dates are days. A daily bar (a `date` of type Date) sees a value published on its own day; an intraday
bar (a `date` of type Datetime, in UTC) is keyed by its UTC date, so it sees exactly what a daily bar of that date
sees: the release lags stay in calendar days."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

DAY = "__day"


def monthly_published(periods: pl.Expr, lag_days: int) -> pl.Expr:
    """A monthly figure becomes known `lag_days` after the END of its reference month (so never in the month
    itself); `periods` holds the first day of each reference month."""
    return periods.dt.month_end() + pl.duration(days=lag_days)


def join_as_published(
    calendar: pl.DataFrame, releases: pl.DataFrame, value_columns: list[str], max_age_days: int
) -> pl.DataFrame:
    """For each calendar `date`, the latest release with `published <= date` (a value published on day t is
    usable at the close of t), or null when none is younger than `max_age_days` (stale series go quiet rather
    than repeating a number forever). Intraday calendars are joined by each bar's date (module docstring)."""
    if isinstance(calendar.schema["date"], pl.Datetime):
        days = calendar.select("date").with_columns(pl.col("date").dt.date().alias(DAY))
        by_day = join_as_published(
            days.select(pl.col(DAY).alias("date")).unique(), releases, value_columns, max_age_days
        )
        joined = days.join(by_day.rename({"date": DAY}), on=DAY, how="left")
        return joined.select("date", *value_columns).sort("date")
    right = (
        releases.select("published", *value_columns)
        .sort("published")
        .unique("published", keep="last", maintain_order=True)
    )
    joined = (
        calendar.select("date")
        .sort("date")
        .join_asof(
            right, left_on="date", right_on="published", strategy="backward", tolerance=timedelta(days=max_age_days)
        )
    )
    return joined.select("date", *value_columns)

"""Joining slow series onto a trading calendar as of their publication date, never their reference period."""

from __future__ import annotations

from datetime import timedelta

import polars as pl


def monthly_published(periods: pl.Expr, lag_days: int) -> pl.Expr:
    """A monthly figure becomes known `lag_days` after the END of its reference month (so never in the month
    itself); `periods` holds the first day of each reference month."""
    return periods.dt.month_end() + pl.duration(days=lag_days)


def join_as_published(
    calendar: pl.DataFrame, releases: pl.DataFrame, value_columns: list[str], max_age_days: int
) -> pl.DataFrame:
    """For each calendar `date`, the latest release with `published <= date` (a value published on day t is
    usable at the close of t), or null when none is younger than `max_age_days` (stale series go quiet rather
    than repeating a number forever)."""
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

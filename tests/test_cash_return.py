"""The daily cash rate: the Fama-French one-month bill rate of each month, carried forward a few months after the
series ends (the shipped series stops in 2018-11), and 0 where no rate is known."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from hierl.data.sources.reference import load_reference_series
from hierl.features.macro import CASH_CARRY_MONTHS, daily_cash_return

RATES_PERCENT = {date(2018, 1, 1): 0.12, date(2018, 2, 1): 0.11, date(2018, 3, 1): 0.15}


def reference() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series": ["ff_rf"] * len(RATES_PERCENT),
            "period": list(RATES_PERCENT),
            "value": list(RATES_PERCENT.values()),
        }
    )


def expected_daily(day: date) -> float:
    """Written out month by month: the month's own rate, else the last published one if at most
    CASH_CARRY_MONTHS months older, else 0."""
    month = date(day.year, day.month, 1)
    published = [m for m in RATES_PERCENT if m <= month]
    if not published:
        return 0.0
    last = max(published)
    age = (month.year - last.year) * 12 + month.month - last.month
    if age > CASH_CARRY_MONTHS:
        return 0.0
    return (1.0 + RATES_PERCENT[last] / 100.0) ** (1.0 / 21.0) - 1.0


def test_each_month_takes_its_rate_then_the_last_rate_for_a_few_months_then_zero() -> None:
    days = np.arange(np.datetime64("2017-12-01"), np.datetime64("2018-09-30"), dtype="datetime64[D]")
    calendar = pl.DataFrame({"date": days}).with_columns(pl.col("date").cast(pl.Date))
    result = daily_cash_return(calendar, reference())
    assert result["date"].to_list() == calendar["date"].to_list()
    expected = [expected_daily(day) for day in calendar["date"].to_list()]
    np.testing.assert_array_equal(result["cash_return"].to_numpy(), np.array(expected))
    by_month = {d.month: v for d, v in zip(result["date"].to_list(), result["cash_return"].to_list(), strict=True)}
    assert by_month[12] == 0.0  # before the series starts
    assert by_month[6] == by_month[3] > 0.0  # March's rate, three months on
    assert by_month[7] == 0.0  # four months on: unknown


def test_the_shipped_series_leaves_no_zero_cash_in_december_2018() -> None:
    days = np.arange(np.datetime64("2018-10-01"), np.datetime64("2018-12-31"), dtype="datetime64[D]")
    calendar = pl.DataFrame({"date": days}).with_columns(pl.col("date").cast(pl.Date))
    result = daily_cash_return(calendar, load_reference_series())
    december = result.filter(pl.col("date").dt.month() == 12)["cash_return"]
    assert december.len() > 0
    assert (december > 0.0).all()

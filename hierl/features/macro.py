"""Monthly macro features (core CPI inflation, credit spread, Fama-French factor returns), each published
`release_lag_days[series]` days after its reference month ends."""

from __future__ import annotations

import polars as pl

from hierl.config.data import DAILY_BARS_PER_YEAR
from hierl.errors import DataError
from hierl.features.releases import monthly_published

# feature name -> release-lag key of the series it comes from
RELEASE_KEY = {
    "cpi_yoy": "core_cpi",
    "credit_spread": "credit_spread",
    "credit_spread_change": "credit_spread",
    "ff_mkt": "fama_french",
    "ff_smb": "fama_french",
    "ff_hml": "fama_french",
}


def _series(reference: pl.DataFrame, name: str) -> pl.DataFrame:
    return reference.filter(pl.col("series") == name).select("period", pl.col("value").alias(name)).sort("period")


def _monthly_values(reference: pl.DataFrame, feature: str) -> pl.DataFrame:
    """Value of a macro feature per reference month, before any publication logic."""
    if feature == "cpi_yoy":
        cpi = _series(reference, "core_cpi")
        return cpi.select("period", (pl.col("core_cpi") / pl.col("core_cpi").shift(12) - 1.0).alias(feature))
    if feature in ("credit_spread", "credit_spread_change"):
        yields = _series(reference, "baa").join(_series(reference, "aaa"), on="period", how="inner")
        spread = (pl.col("baa") - pl.col("aaa")) / 100.0
        value = spread if feature == "credit_spread" else spread.diff()
        return yields.sort("period").select("period", value.alias(feature))
    if feature not in ("ff_mkt", "ff_smb", "ff_hml"):
        raise ValueError(f"unknown macro feature {feature!r}")
    # Fama-French factors are named after their series, in percent as published.
    return _series(reference, feature).select("period", pl.col(feature) / 100.0)


def release_lag(feature: str, release_lag_days: dict[str, int]) -> int:
    key = RELEASE_KEY[feature]
    if key not in release_lag_days:
        raise DataError(
            f"feature {feature!r} needs data.release_lag_days[{key!r}] (days after the reference month ends "
            f"until the figure is published); it has keys {sorted(release_lag_days)}."
        )
    lag = release_lag_days[key]
    if lag < 0:
        raise DataError(f"data.release_lag_days[{key!r}] = {lag} is negative; a figure cannot be known early.")
    return lag


def monthly_releases(reference: pl.DataFrame, feature: str, release_lag_days: dict[str, int]) -> pl.DataFrame:
    """Columns `published` (Date) and the feature, one row per reference month with a defined value."""
    lag = release_lag(feature, release_lag_days)
    values = _monthly_values(reference, feature).filter(pl.col(feature).is_not_null())
    return values.select(monthly_published(pl.col("period"), lag).alias("published"), feature)


# After the last published month of the risk-free rate (the shipped Fama-French series ends in 2018-11), the last
# known rate carries forward for this many months: a one-month T-bill rate moves little from one month to the next,
# while 0 would hand every strategy a cash rate of zero exactly where the data stops. Beyond it the rate is unknown.
CASH_CARRY_MONTHS = 3


def _per_bar_exponent(bars_per_year: float) -> float:
    """The power of (1 + monthly rate) that is one bar's rate: 12 months a year over `bars_per_year` bars (12 / 252
    is 1 / 21 to the last bit, the exponent daily bars always had)."""
    return 12.0 / bars_per_year


def daily_cash_return(
    calendar: pl.DataFrame, reference: pl.DataFrame, bars_per_year: float = DAILY_BARS_PER_YEAR
) -> pl.DataFrame:
    """Cash return per bar from the Fama-French risk-free rate.

    RF is the one-month T-bill return of month m, known at the start of m (the bill is bought then), so it is
    applied to the bars of m: daily bars at 21 trading days a month, other calendars at `bars_per_year / 12` bars a
    month, so (1 + per-bar rate)^bars_per_year = (1 + RF)^12 on every calendar (365 daily bars of crypto, 8760
    hourly ones). An intraday bar belongs to the month of its UTC date. A month without a published rate takes the
    latest earlier month's rate, at most `CASH_CARRY_MONTHS` months back (known at the start of that month, so still
    causal); 0 where no rate is known (before the series starts, or longer after it ends). `cash_return` on date t
    is the return of cash from the previous row to t.
    """
    rf = _series(reference, "ff_rf")
    exponent = _per_bar_exponent(bars_per_year)
    daily = rf.select("period", ((1.0 + pl.col("ff_rf") / 100.0) ** exponent - 1.0).alias("cash_return"))
    day = pl.col("date").dt.date() if isinstance(calendar.schema["date"], pl.Datetime) else pl.col("date")
    keyed = calendar.select("date").with_columns(day.dt.month_start().alias("period"))
    months = keyed.select("period").unique().sort("period")
    # Each calendar month takes the latest published month at or before it, if that is recent enough.
    carried = months.join_asof(
        daily.rename({"period": "published_period"}).sort("published_period"),
        left_on="period",
        right_on="published_period",
        strategy="backward",
    )
    age_months = (pl.col("period").dt.year() - pl.col("published_period").dt.year()) * 12 + (
        pl.col("period").dt.month() - pl.col("published_period").dt.month()
    )
    rates = carried.select(
        "period", pl.when(age_months <= CASH_CARRY_MONTHS).then(pl.col("cash_return")).alias("cash_return")
    )
    joined = keyed.join(rates, on="period", how="left").sort("date")
    return joined.select("date", pl.col("cash_return").fill_null(0.0))

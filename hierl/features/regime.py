"""Regime labels: where trailing volatility and trend sit relative to terciles fitted on the training block.

The raw signals are causal rolling statistics; the thresholds use training rows only and are then applied to
every row, so a label on day t depends on data up to t and on the (earlier) training block.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from hierl.config.data import DAILY_BARS_PER_YEAR
from hierl.errors import DataError

REGIME_QUANTILES = (1.0 / 3.0, 2.0 / 3.0)
VOL_HORIZON = 63
TREND_HORIZON = 200


def regime_signal(kind: str, scale: float = math.sqrt(DAILY_BARS_PER_YEAR)) -> pl.Expr:
    """Raw signal behind a regime label: annualised 63-row vol (`scale`: sqrt of the bars a year), or log distance
    from the 200-row mean. Horizons are in rows of the class's bars, whatever their length; the label is a tercile of
    the training block, so the scale moves no label."""
    if kind == "vol_regime":
        vol = pl.col("close").log().diff().rolling_std(VOL_HORIZON, min_samples=VOL_HORIZON)
        return (vol * scale).over("symbol")
    if kind == "trend_regime":
        mean = pl.col("close").rolling_mean(TREND_HORIZON, min_samples=TREND_HORIZON)
        return (pl.col("close") / mean).log().over("symbol")
    raise ValueError(f"unknown regime {kind!r}")


def fit_thresholds(train_values: np.ndarray, name: str) -> list[float]:
    """Tercile cut points of the finite training values."""
    finite = train_values[np.isfinite(train_values)]
    if finite.size < 2:
        raise DataError(
            f"regime feature {name!r} has no defined values in the training block (it needs "
            f"{max(VOL_HORIZON, TREND_HORIZON)} rows of history). Fix: an earlier data.start or a longer train block."
        )
    return [float(value) for value in np.quantile(finite, REGIME_QUANTILES)]


def label(signal: pl.Expr, thresholds: list[float]) -> pl.Expr:
    """-1 below the lower cut, 0 between, +1 above the upper; null where the signal is undefined."""
    low, high = thresholds
    return (
        pl.when(signal.is_null() | signal.is_nan())
        .then(None)
        .when(signal < low)
        .then(-1.0)
        .when(signal > high)
        .then(1.0)
        .otherwise(0.0)
    )

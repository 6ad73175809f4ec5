"""Per-asset price features. Each is a polars expression evaluated per symbol on a frame sorted by
(symbol, date), so every value depends only on the same symbol's rows up to that date.

Horizons are in rows (bars). Volatility is annualised with sqrt(bars a year): sqrt(252) for daily bars on a 252-day
calendar, as it always was; the class's own `bars_per_year` otherwise (sqrt(8760) for hourly crypto), so a `vol_<h>`
reads as an annual volatility on any calendar. Features are normalised afterwards, so the scale changes no policy
input; it keeps the raw Gold column readable."""

from __future__ import annotations

import math

import polars as pl

from hierl.config.data import DAILY_BARS_PER_YEAR
from hierl.features.catalogue import FeatureSpec

ANNUALISATION = math.sqrt(DAILY_BARS_PER_YEAR)


def annualisation(bars_per_year: float) -> float:
    """The factor that turns a per-bar volatility into an annual one."""
    return math.sqrt(bars_per_year)


def _log_close() -> pl.Expr:
    return pl.col("close").log()


def _log_return() -> pl.Expr:
    return _log_close().diff()


def _wilder(expr: pl.Expr, horizon: int) -> pl.Expr:
    """Wilder's smoothing (an EWM with alpha = 1/h), the standard for RSI and ATR."""
    return expr.ewm_mean(alpha=1.0 / horizon, adjust=False, min_samples=horizon, ignore_nulls=True)


def log_return(horizon: int) -> pl.Expr:
    return _log_close() - _log_close().shift(horizon)


def realised_vol(horizon: int, scale: float = ANNUALISATION) -> pl.Expr:
    """Annualised standard deviation of one-bar log returns over the last `horizon` rows (`scale`: sqrt of the
    bars a year)."""
    return _log_return().rolling_std(horizon, min_samples=horizon) * scale


def momentum(horizon: int) -> pl.Expr:
    """Trend strength: the horizon log return in units of its own volatility (a t-statistic of the drift),
    so it differs from `ret_<h>` and is comparable across assets of different volatility."""
    spread = _log_return().rolling_std(horizon, min_samples=horizon) * math.sqrt(horizon)
    return log_return(horizon) / spread


def rsi(horizon: int) -> pl.Expr:
    """Wilder RSI rescaled from [0, 100] to [-1, 1]."""
    change = pl.col("close").diff()
    gain = _wilder(change.clip(lower_bound=0.0), horizon)
    loss = _wilder((-change).clip(lower_bound=0.0), horizon)
    return 2.0 * gain / (gain + loss) - 1.0


def macd() -> pl.Expr:
    """MACD line (EMA12 - EMA26) divided by the price, so it is unit-free."""
    fast = pl.col("close").ewm_mean(span=12, adjust=False, min_samples=26, ignore_nulls=True)
    slow = pl.col("close").ewm_mean(span=26, adjust=False, min_samples=26, ignore_nulls=True)
    return (fast - slow) / pl.col("close")


def bollinger(horizon: int) -> pl.Expr:
    """Position within two-sigma bands: -1 at the lower band, +1 at the upper."""
    mean = pl.col("close").rolling_mean(horizon, min_samples=horizon)
    std = pl.col("close").rolling_std(horizon, min_samples=horizon)
    return (pl.col("close") - mean) / (2.0 * std)


def average_true_range(horizon: int) -> pl.Expr:
    """Wilder ATR divided by the close."""
    previous = pl.col("close").shift(1)
    true_range = pl.max_horizontal(
        pl.col("high") - pl.col("low"), (pl.col("high") - previous).abs(), (pl.col("low") - previous).abs()
    )
    return _wilder(true_range, horizon) / pl.col("close")


def volume_zscore(horizon: int) -> pl.Expr:
    """Today's log volume against its trailing mean and spread."""
    log_volume = pl.col("volume").log1p()
    mean = log_volume.rolling_mean(horizon, min_samples=horizon)
    std = log_volume.rolling_std(horizon, min_samples=horizon)
    return (log_volume - mean) / std


def technical_expression(spec: FeatureSpec, scale: float = ANNUALISATION) -> pl.Expr:
    """The per-symbol expression of one technical feature, named after it (`scale` annualises volatility)."""
    builders = {
        "ret": lambda: log_return(spec.horizon),
        "vol": lambda: realised_vol(spec.horizon, scale),
        "mom": lambda: momentum(spec.horizon),
        "rsi": lambda: rsi(spec.horizon),
        "macd": macd,
        "bollinger": lambda: bollinger(spec.horizon),
        "atr": lambda: average_true_range(spec.horizon),
        "volume_z": lambda: volume_zscore(spec.horizon),
    }
    return builders[spec.kind]().over("symbol").alias(spec.name)

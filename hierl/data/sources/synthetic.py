"""Seeded regime-switching market, for tests and for users without data.

A shared two-state Markov regime (calm / turbulent) sets drift and volatility; each asset loads on a market
and a class factor plus idiosyncratic noise. With `signal_strength = k > 0` the column `signal` (published at
the close of t) carries a share k of the standardised shock of the return from t to t + 1:
`r[t+1] = mu + sigma * (k * signal[t] + sqrt(1 - k^2) * noise[t+1])`, so corr(signal[t], r[t+1]) ~ k.

With `signal_persistence = phi > 0` the signal is an AR(1) of each asset,
`signal[t] = phi * signal[t-1] + sqrt(1 - phi^2) * eps[t]`, started from its stationary distribution: it stays
unit-variance (so corr(signal[t], r[t+1]) stays ~k) but its sign flips less often, as a slow real-world signal
(value, carry, trend) does, and an agent that trades it needs less turnover. phi = 0 is the i.i.d. signal.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from hierl.config.data import SyntheticConfig, check_synthetic_values

START_DATE = "2000-01-03"
CALM, TURBULENT = 0, 1
STAY_PROBABILITY = np.array([0.99, 0.95])
DAILY_DRIFT = np.array([0.0004, -0.0006])
DAILY_VOL = np.array([0.01, 0.022])


def _regimes(rng: np.random.Generator, n_days: int) -> np.ndarray:
    states = np.empty(n_days, dtype=np.int64)
    states[0] = CALM
    switches = rng.random(n_days)
    for day in range(1, n_days):  # a Markov chain is sequential by nature
        previous = states[day - 1]
        states[day] = previous if switches[day] < STAY_PROBABILITY[previous] else 1 - previous
    return states


def _persistent(eps: np.ndarray, phi: float) -> np.ndarray:
    """AR(1) of unit variance along axis 0 (days), driven by the standard normal draws `eps` [days, assets].

    Row 0 is `eps[0]` itself, a draw from the stationary distribution N(0, 1), so no burn-in is needed and
    every row has variance 1. With phi = 0 each row is `0 * previous + 1 * eps[t]`, which is `eps[t]` exactly,
    so the output is bit-identical to the i.i.d. signal. A loop over days (vectorised over assets) rather than
    scipy.signal.lfilter: it is a few thousand numpy operations, reads as the formula, and its arithmetic order
    is ours, not a library's, so the numbers cannot move with a scipy release.
    """
    innovation = np.sqrt(1.0 - phi**2)
    signal = np.empty_like(eps)
    signal[0] = eps[0]
    for day in range(1, len(eps)):  # an AR(1) is sequential by nature
        signal[day] = phi * signal[day - 1] + innovation * eps[day]
    return signal


def generate_synthetic(cfg: SyntheticConfig) -> pl.DataFrame:
    """Long OHLCV table with `asset_class` and `signal` columns; identical for identical configs."""
    check_synthetic_values(cfg)
    rng = np.random.default_rng(cfg.seed)
    n_days, n_assets = cfg.n_days, cfg.n_assets
    classes = np.arange(n_assets) % len(cfg.asset_classes)
    regimes = _regimes(rng, n_days)
    beta = rng.uniform(0.5, 1.5, n_assets)
    class_loading = rng.uniform(0.2, 0.6, n_assets)
    vol_scale = rng.uniform(0.7, 1.3, n_assets)
    market = rng.standard_normal(n_days)[:, None]
    class_factor = rng.standard_normal((n_days, len(cfg.asset_classes)))[:, classes]
    idio = rng.standard_normal((n_days, n_assets))
    shock = (beta * market + class_loading * class_factor + idio) / np.sqrt(beta**2 + class_loading**2 + 1.0)
    # The same draw as the i.i.d. signal, so persistence moves no other random number of the generator.
    signal = _persistent(rng.standard_normal((n_days, n_assets)), cfg.signal_persistence)
    strength = cfg.signal_strength
    predictable = np.zeros_like(shock)
    predictable[1:] = signal[:-1]
    standardised = strength * predictable + np.sqrt(1.0 - strength**2) * shock
    sigma = DAILY_VOL[regimes][:, None] * vol_scale
    returns = np.clip(DAILY_DRIFT[regimes][:, None] + sigma * standardised, -0.5, 0.5)
    returns[0] = 0.0
    close = 100.0 * np.cumprod(1.0 + returns, axis=0)
    previous_close = np.vstack([close[:1], close[:-1]])
    open_ = previous_close * np.exp(0.2 * sigma * rng.standard_normal((n_days, n_assets)))
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * np.abs(rng.standard_normal((n_days, n_assets))))
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * np.abs(rng.standard_normal((n_days, n_assets))))
    volume = np.exp(13.0 + 0.3 * rng.standard_normal((n_days, n_assets)) + 5.0 * np.abs(returns))
    dates = np.busday_offset(START_DATE, np.arange(n_days), roll="forward").astype("datetime64[D]")
    names = np.array([f"{cfg.asset_classes[c][:3].upper()}{i:03d}" for i, c in enumerate(classes)])
    class_names = np.array(cfg.asset_classes)[classes]
    return pl.DataFrame(
        {
            "date": np.repeat(dates, n_assets),
            "symbol": np.tile(names, n_days),
            "asset_class": np.tile(class_names, n_days),
            "close": close.ravel(),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "volume": volume.ravel(),
            "signal": signal.ravel(),
        }
    ).with_columns(pl.col("date").cast(pl.Date))

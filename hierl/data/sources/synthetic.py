"""Seeded regime-switching market, for tests and for users without data.

A shared two-state Markov regime (calm / turbulent) sets drift and volatility; each asset loads on a market
and a class factor plus idiosyncratic noise. With `signal_strength = k > 0` the column `signal` (published at
the close of t) carries a share k of the standardised shock of the return from t to t + 1:
`r[t+1] = mu + sigma * (k * signal[t] + sqrt(1 - k^2) * noise[t+1])`, so corr(signal[t], r[t+1]) ~ k.

With `signal_persistence = phi > 0` the signal is an AR(1) of each asset,
`signal[t] = phi * signal[t-1] + sqrt(1 - phi^2) * eps[t]`, started from its stationary distribution: it stays
unit-variance (so corr(signal[t], r[t+1]) stays ~k) but its sign flips less often, as a slow real-world signal
(value, carry, trend) does, and an agent that trades it needs less turnover. phi = 0 is the i.i.d. signal.

The timeline: `n_days` business days from `start`, one bar a day, unless a class of `asset_classes` is listed in
`always_open` (crypto, by default): then `n_days` calendar days, and always-open classes trade on every one of
them while the others keep business days (a mixed data set where crypto trades on weekends and equities do not).
With an intraday `frequency` (a bar that divides an hour: "1h", "15min") always-open classes trade every bar of the
day, and the others a fixed session of 14:00-21:00 UTC on business days (whole hours around the NYSE session,
14:30-21:00 UTC in winter: 7 hourly bars stamped 14:00 ... 20:00, or 28 of 15 minutes). Each bar is stamped with
its start, in UTC, on one grid from midnight, so both kinds of class share their bars in the session. A class that
is not always open sees the prices of the whole timeline at its own bars only, so its return over a night or a
weekend compounds the timeline's bars in between. Drift and volatility are per day of the timeline and scaled to a
bar by its share f of that day (drift * f, volatility * sqrt(f)), and so is the regime's persistence (stay
probability ** f), so an hourly regime lasts as many days as a daily one. With the defaults (daily bars, no
always-open class) the output is the same, draw for draw, as before these options existed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from hierl.config.data import DAILY, MINUTES_PER_DAY, SyntheticConfig, bar_minutes, check_synthetic_values
from hierl.data.timestamps import column_type

START_DATE = "2000-01-03"
CALM, TURBULENT = 0, 1
STAY_PROBABILITY = np.array([0.99, 0.95])
DAILY_DRIFT = np.array([0.0004, -0.0006])
DAILY_VOL = np.array([0.01, 0.022])
# The session of classes that are not always open, in minutes after 00:00 UTC: 14:00 to 21:00.
SESSION_OPEN, SESSION_CLOSE = 14 * 60, 21 * 60


@dataclass(frozen=True)
class Timeline:
    """The rows of the generator: `stamps` (datetime64[D] days, or datetime64[us] UTC bar starts), `session` (True
    on the rows where classes that are not always open trade) and `day_fraction` (a bar's share of a timeline day)."""

    stamps: np.ndarray
    session: np.ndarray
    day_fraction: float


def synthetic_identity(cfg: SyntheticConfig) -> str:
    """What the Bronze fingerprint hashes for the generator: its config, without the options that leave the output
    as it was (daily bars, the default start, `always_open` naming no generated class), so the fingerprints of
    earlier data stay as they were."""
    items = asdict(cfg)
    if cfg.frequency == DAILY:
        del items["frequency"]
    if cfg.start == START_DATE:
        del items["start"]
    if not set(cfg.always_open) & set(cfg.asset_classes):
        del items["always_open"]
    return "synthetic:" + repr(sorted(items.items()))


def timeline(cfg: SyntheticConfig) -> Timeline:
    """The generator's rows (module docstring)."""
    minutes = bar_minutes(cfg.frequency, "synthetic.frequency")
    around_the_clock = bool(set(cfg.always_open) & set(cfg.asset_classes))
    first = np.datetime64(cfg.start, "D")
    if around_the_clock:
        days = first + np.arange(cfg.n_days).astype("timedelta64[D]")
    else:
        days = np.busday_offset(first, np.arange(cfg.n_days), roll="forward").astype("datetime64[D]")
    business = np.is_busday(days)
    if minutes == MINUTES_PER_DAY:
        return Timeline(days, business, 1.0)
    offsets = (
        np.arange(0, MINUTES_PER_DAY, minutes) if around_the_clock else np.arange(SESSION_OPEN, SESSION_CLOSE, minutes)
    )
    in_session = (offsets >= SESSION_OPEN) & (offsets < SESSION_CLOSE)
    stamps = days.astype("datetime64[m]")[:, None] + offsets.astype("timedelta64[m]")[None, :]
    session = business[:, None] & in_session[None, :]
    return Timeline(stamps.ravel().astype("datetime64[us]"), session.ravel(), 1.0 / len(offsets))


def _regimes(rng: np.random.Generator, n_days: int, stay: np.ndarray = STAY_PROBABILITY) -> np.ndarray:
    states = np.empty(n_days, dtype=np.int64)
    states[0] = CALM
    switches = rng.random(n_days)
    for day in range(1, n_days):  # a Markov chain is sequential by nature
        previous = states[day - 1]
        states[day] = previous if switches[day] < stay[previous] else 1 - previous
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
    """Long OHLCV table with `asset_class` and `signal` columns; identical for identical configs.

    `date` is a Date for daily bars and a naive UTC Datetime for intraday ones."""
    check_synthetic_values(cfg)
    rows = timeline(cfg)
    fraction = rows.day_fraction
    rng = np.random.default_rng(cfg.seed)
    n_days, n_assets = len(rows.stamps), cfg.n_assets
    classes = np.arange(n_assets) % len(cfg.asset_classes)
    regimes = _regimes(rng, n_days, STAY_PROBABILITY**fraction)
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
    sigma = (DAILY_VOL * np.sqrt(fraction))[regimes][:, None] * vol_scale
    returns = np.clip((DAILY_DRIFT * fraction)[regimes][:, None] + sigma * standardised, -0.5, 0.5)
    returns[0] = 0.0
    close = 100.0 * np.cumprod(1.0 + returns, axis=0)
    previous_close = np.vstack([close[:1], close[:-1]])
    open_ = previous_close * np.exp(0.2 * sigma * rng.standard_normal((n_days, n_assets)))
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * np.abs(rng.standard_normal((n_days, n_assets))))
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * np.abs(rng.standard_normal((n_days, n_assets))))
    volume = np.exp(13.0 + 0.3 * rng.standard_normal((n_days, n_assets)) + 5.0 * np.abs(returns))
    names = np.array([f"{cfg.asset_classes[c][:3].upper()}{i:03d}" for i, c in enumerate(classes)])
    class_names = np.array(cfg.asset_classes)[classes]
    frame = pl.DataFrame(
        {
            "date": np.repeat(rows.stamps, n_assets),
            "symbol": np.tile(names, n_days),
            "asset_class": np.tile(class_names, n_days),
            "close": close.ravel(),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "volume": volume.ravel(),
            "signal": signal.ravel(),
        }
    )
    always_open = np.isin(class_names, list(cfg.always_open))
    trades = rows.session[:, None] | always_open[None, :]
    if not trades.all():
        frame = frame.filter(pl.Series(trades.ravel()))
    return frame.with_columns(pl.col("date").cast(column_type(rows.stamps)))

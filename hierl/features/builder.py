"""Assemble the raw (unnormalised) feature columns of one asset class from its Silver table.

The Silver `date` is a Date for daily bars and a Datetime (UTC) for intraday bars; per-symbol features count rows
either way. Slow series are joined by publication day (`hierl.features.releases`). A VIX close is published at the
end of its US trading day: a daily bar (stamped with that day) sees it at its close, an intraday bar only from the
next UTC day on, since it may be stamped before the VIX close of its own day.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from hierl.config.data import DAILY_BARS_PER_YEAR
from hierl.features.catalogue import FeatureSpec
from hierl.features.macro import RELEASE_KEY, monthly_releases
from hierl.features.regime import fit_thresholds, label, regime_signal
from hierl.features.releases import join_as_published
from hierl.features.sentiment import VIX_MAX_AGE_DAYS, above_trailing_mean, breadth, vix_releases
from hierl.features.technical import annualisation, technical_expression

REGIME_SIGNAL_PREFIX = "__regime_signal_"


def _calendar_features(
    calendar: pl.DataFrame,
    reference: pl.DataFrame,
    specs: list[FeatureSpec],
    release_lag_days: dict[str, int],
    macro_max_age_days: int,
) -> pl.DataFrame:
    """Features that are the same for every asset of the class on a date (macro, VIX, credit change)."""
    out = calendar.select("date").sort("date")
    for spec in specs:
        if spec.kind in RELEASE_KEY:  # monthly series, published after a release lag
            releases = monthly_releases(reference, spec.kind, release_lag_days).rename({spec.kind: spec.name})
            joined = join_as_published(out, releases, [spec.name], macro_max_age_days)
            out = out.join(joined, on="date", how="left")
    vix_specs = [spec for spec in specs if spec.kind in ("vix_level", "vix_change")]
    if vix_specs:
        releases = vix_releases(reference, vix_specs)
        if isinstance(out.schema["date"], pl.Datetime):  # module docstring: intraday bars see the VIX a day later
            releases = releases.with_columns(pl.col("published") + timedelta(days=1))
        names = [spec.name for spec in vix_specs]
        out = out.join(join_as_published(out, releases, names, VIX_MAX_AGE_DAYS), on="date", how="left")
    return out


def build_raw_features(
    silver: pl.DataFrame,
    reference: pl.DataFrame,
    specs: list[FeatureSpec],
    release_lag_days: dict[str, int],
    macro_max_age_days: int,
    bars_per_year: float = DAILY_BARS_PER_YEAR,
) -> pl.DataFrame:
    """`silver` (sorted by symbol, date) plus one raw column per non-regime feature and one signal column per
    regime feature; regimes are labelled later, once the training block is known. `bars_per_year` annualises
    volatility."""
    scale = annualisation(bars_per_year)
    per_symbol: list[pl.Expr] = []
    for spec in specs:
        if spec.family == "technical":
            per_symbol.append(technical_expression(spec, scale))
        elif spec.kind == "user_series":
            continue  # already a Silver column, forward filled like prices
        elif spec.family == "regime":
            per_symbol.append(regime_signal(spec.kind, scale).alias(REGIME_SIGNAL_PREFIX + spec.name))
    frame = silver.lazy().with_columns(per_symbol)
    breadth_specs = [spec for spec in specs if spec.kind == "breadth"]
    if breadth_specs:
        flags = [f"__above_{spec.name}" for spec in breadth_specs]
        frame = frame.with_columns(
            above_trailing_mean(spec.horizon).alias(flag) for spec, flag in zip(breadth_specs, flags, strict=True)
        )
        frame = frame.with_columns(
            breadth(flag, spec.name) for spec, flag in zip(breadth_specs, flags, strict=True)
        ).drop(flags)
    calendar = silver.select("date").unique()
    calendar_features = _calendar_features(calendar, reference, specs, release_lag_days, macro_max_age_days)
    frame = frame.join(calendar_features.lazy(), on="date", how="left")
    return frame.sort("symbol", "date").collect()


def label_regimes(
    frame: pl.DataFrame, specs: list[FeatureSpec], train_dates: tuple[date, date]
) -> tuple[pl.DataFrame, dict[str, list[float]]]:
    """Replace each regime signal by its label, with tercile thresholds fitted on rows dated within
    `train_dates` (inclusive) only. Returns the frame and the thresholds."""
    regime_specs = [spec for spec in specs if spec.family == "regime"]
    if not regime_specs:
        return frame, {}
    train = frame.filter(pl.col("date").is_between(*train_dates))
    thresholds: dict[str, list[float]] = {}
    labels: list[pl.Expr] = []
    for spec in regime_specs:
        signal = REGIME_SIGNAL_PREFIX + spec.name
        thresholds[spec.name] = fit_thresholds(train.get_column(signal).to_numpy().astype(np.float64), spec.name)
        labels.append(label(pl.col(signal), thresholds[spec.name]).alias(spec.name))
    signals = [REGIME_SIGNAL_PREFIX + spec.name for spec in regime_specs]
    return frame.with_columns(labels).drop(signals), thresholds

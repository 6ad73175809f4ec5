"""Market-wide mood: VIX level and change, credit-spread change, breadth of the asset class, user series.

VIX is a daily close, usable at the close of its own day; it exists only where the reference data has it
(2014-2019 in the embedded sample) and is unavailable (0 after normalisation) elsewhere.
"""

from __future__ import annotations

import polars as pl

from hierl.features.catalogue import FeatureSpec

VIX_MAX_AGE_DAYS = 7


def vix_releases(reference: pl.DataFrame, specs: list[FeatureSpec]) -> pl.DataFrame:
    """Columns `published` and one column per VIX feature, computed on VIX's own daily rows."""
    vix = reference.filter(pl.col("series") == "vix").sort("period")
    columns = []
    for spec in specs:
        if spec.kind == "vix_level":
            columns.append((pl.col("value") / 100.0).alias(spec.name))
        elif spec.kind == "vix_change":
            columns.append((pl.col("value") / pl.col("value").shift(spec.horizon)).log().alias(spec.name))
    return vix.select(pl.col("period").alias("published"), *columns)


def above_trailing_mean(horizon: int) -> pl.Expr:
    """1.0 where a close is above its own trailing `horizon`-row mean, 0.0 below, null while undefined."""
    mean = pl.col("close").rolling_mean(horizon, min_samples=horizon)
    return (pl.col("close") > mean).cast(pl.Float64).over("symbol")


def breadth(above_column: str, name: str) -> pl.Expr:
    """Fraction of the class's assets with a defined `above_column` that are above their trailing mean.

    Built in two steps (per-symbol flag, then per-date mean) because polars does not nest window functions.
    """
    return pl.col(above_column).mean().over("date").alias(name)

"""Gold layer: raw features of one asset class on its calendar from `start`, the cash rate, and the metadata
(split bounds, regime thresholds, training normalisation statistics) an evaluation needs to reuse them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from hierl.config.data import DAILY_BARS_PER_YEAR
from hierl.data.normalisation import fit_normalisation_stats
from hierl.data.timestamps import on_or_after
from hierl.features.builder import build_raw_features, label_regimes
from hierl.features.catalogue import FeatureSpec
from hierl.features.macro import daily_cash_return

MARKET_COLUMNS = ("date", "symbol", "close", "mask", "return", "cash_return")


@dataclass(frozen=True)
class GoldTable:
    """`table` is sorted by (date, symbol) and dense: every symbol of the class on every calendar date."""

    table: pl.DataFrame
    meta: dict[str, Any]


def build_gold(
    silver: pl.DataFrame,
    reference: pl.DataFrame,
    specs: list[FeatureSpec],
    release_lag_days: dict[str, int],
    macro_max_age_days: int,
    start: date | None,
    split_bounds: dict[str, tuple[int, int]],
    bars_per_year: float = DAILY_BARS_PER_YEAR,
) -> GoldTable:
    """Features are computed on the whole Silver history (so rows before `start` serve as warm-up) and the
    table is then cut at `start` (its first bar on or after that day); values still undefined after that are left
    null (0 in MarketData). `bars_per_year` annualises volatility features and
    turns the risk-free rate into a cash return per bar."""
    raw = build_raw_features(silver, reference, specs, release_lag_days, macro_max_age_days, bars_per_year)
    if start is not None:
        raw = raw.filter(on_or_after(start))
    dates = raw.get_column("date").unique().sort()
    n_rows = dates.len()
    if split_bounds["test"][1] != n_rows:
        raise ValueError(f"split bounds {split_bounds} do not match the {n_rows}-row Gold calendar")
    train_start, train_stop = split_bounds["train"]
    train_dates = (dates[train_start], dates[train_stop - 1])
    labelled, thresholds = label_regimes(raw, specs, train_dates)
    cash = daily_cash_return(dates.to_frame(), reference, bars_per_year)
    # MarketData's first row has no previous row to earn from
    first_row = pl.int_range(pl.len()) == 0
    cash = cash.with_columns(pl.when(first_row).then(0.0).otherwise(pl.col("cash_return")).alias("cash_return"))
    names = [spec.name for spec in specs]
    table = (
        labelled.join(cash, on="date", how="left")
        .select(*MARKET_COLUMNS, *[pl.col(name).cast(pl.Float32) for name in names])
        .sort("date", "symbol")
    )
    meta = {
        "feature_names": names,
        "symbols": table.get_column("symbol").unique(maintain_order=True).to_list(),
        "split_bounds": {name: list(bound) for name, bound in split_bounds.items()},
        "regime_thresholds": thresholds,
        "normalisation": fit_normalisation_stats(table, names, train_dates),
    }
    return GoldTable(table=table, meta=meta)

"""Gold table -> MarketData: reshape the dense long table into [T, N(, F)] arrays and normalise."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from hierl.data.market import MarketData
from hierl.data.normalisation import NormalisationStats, apply_normalisation


def to_market_data(
    table: pl.DataFrame,
    meta: dict[str, Any],
    asset_class: str,
    symbols: list[str],
    clip: float | None,
    fingerprint: str,
    normalisation: dict[str, dict[str, float | bool]] | None = None,
) -> MarketData:
    """Arrays of the chosen `symbols` (a subset of the class, in the order given). Features were computed on
    the whole class (breadth, normalisation), so a subset sees the same numbers as the full universe."""
    all_symbols: list[str] = meta["symbols"]
    names: list[str] = meta["feature_names"]
    n_dates = table.height // len(all_symbols)
    columns = [all_symbols.index(symbol) for symbol in symbols]

    def grid(name: str) -> np.ndarray:
        values = table.get_column(name).to_numpy().reshape(n_dates, len(all_symbols))
        return values[:, columns]

    # A trained policy must see features scaled as in its own training run, whatever data it is replayed on.
    stats = NormalisationStats.from_dict(names, normalisation if normalisation is not None else meta["normalisation"])
    features = np.empty((n_dates, len(symbols), len(names)), dtype=np.float32)
    for index, name in enumerate(names):
        single = NormalisationStats(
            names=(name,),
            mean=stats.mean[index : index + 1],
            std=stats.std[index : index + 1],
            fitted=stats.fitted[index : index + 1],
        )
        raw = grid(name).astype(np.float64, copy=False)
        # nulls arrive as NaN from polars' float columns and become 0 after normalisation
        features[:, :, index] = apply_normalisation(raw[:, :, None], single, clip)[:, :, 0]
    mask = grid("mask").astype(bool)
    prices = grid("close").astype(np.float64)
    returns = grid("return").astype(np.float64)
    first_symbol = table.get_column("symbol")[0]
    per_date = table.filter(pl.col("symbol") == first_symbol)
    dates = per_date.get_column("date").to_numpy().astype("datetime64[D]")
    cash_return = per_date.get_column("cash_return").to_numpy().astype(np.float64)
    returns[0] = 0.0
    return MarketData(
        asset_class=asset_class,
        dates=dates,
        symbols=tuple(symbols),
        feature_names=tuple(names),
        features=features,
        returns=np.ascontiguousarray(returns),
        prices=np.ascontiguousarray(prices),
        mask=np.ascontiguousarray(mask),
        cash_return=cash_return,
        split_bounds={name: (int(bound[0]), int(bound[1])) for name, bound in meta["split_bounds"].items()},
        fingerprint=fingerprint,
        normalisation=stats.to_dict(),
    )

"""Gold table -> MarketData: reshape the dense long table into [T, N(, F)] arrays and normalise."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from hierl.data.market import MarketData
from hierl.data.normalisation import NormalisationStats, canonical_stats, normalise_feature
from hierl.data.timestamps import numpy_dates


def to_market_data(
    table: pl.DataFrame,
    meta: dict[str, Any],
    asset_class: str,
    symbols: list[str],
    clip: float | None,
    fingerprint: str,
    normalisation: NormalisationStats | None = None,
) -> MarketData:
    """Arrays of the chosen `symbols` (a subset of the class, in the order given). Features were computed on
    the whole class (breadth, normalisation), so a subset sees the same numbers as the full universe."""
    all_symbols: list[str] = meta["symbols"]
    names: list[str] = meta["feature_names"]
    n_dates = table.height // len(all_symbols)
    columns = [all_symbols.index(symbol) for symbol in symbols]

    def wide(name: str) -> np.ndarray:
        """Column `name` as [T, every symbol of the class]: the table is dense and sorted by (date, symbol)."""
        return table.get_column(name).to_numpy().reshape(n_dates, len(all_symbols))

    def grid(name: str) -> np.ndarray:
        return wide(name)[:, columns]

    # A trained policy must see features scaled as in its own training run, whatever data it is replayed on.
    stats = canonical_stats(names, normalisation if normalisation is not None else meta["normalisation"])
    # One feature at a time, so the float64 scaling never holds more than one [T, N] slice.
    features = np.empty((n_dates, len(symbols), len(names)), dtype=np.float32)
    for index, name in enumerate(names):
        # nulls arrive as NaN from polars' float columns and become 0 after normalisation
        features[:, :, index] = normalise_feature(grid(name), stats[name], clip)
    mask = grid("mask").astype(bool)
    prices = grid("close").astype(np.float64)
    returns = grid("return").astype(np.float64)
    returns[0] = 0.0
    # Per-date columns are the same for every symbol: read them off the first.
    dates = numpy_dates(table.get_column("date").gather_every(len(all_symbols)))
    cash_return = wide("cash_return")[:, 0].astype(np.float64)
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
        normalisation=stats,
    )

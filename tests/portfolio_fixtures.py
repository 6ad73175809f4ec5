"""Hand-built markets of two asset classes on different calendars, with momentum signals, for hierarchy tests."""

from __future__ import annotations

import dataclasses

import numpy as np

from hierl.data.market import MarketData
from hierl.envs.market_core import CostModel
from hierl.envs.sleeves import ClassSignals, SleeveUniverse, build_universe
from tests.envs_fixtures import make_market

COSTS = {"equity": CostModel(5.0, 1.0, 50.0), "commodity": CostModel(10.0, 0.0, 100.0)}


def class_market(name: str, n_days: int, seed: int, drop_every: int = 0) -> MarketData:
    """A market whose calendar skips every `drop_every`-th day (0: none), with regime features for equity."""
    market = make_market(n_days=n_days, n_assets=3 if name == "equity" else 2, n_features=2, seed=seed)
    keep = np.ones(n_days, dtype=bool)
    if drop_every:
        keep[drop_every::drop_every] = False
    rows = np.flatnonzero(keep)
    names = ("vol_regime_21", "ret_1") if name == "equity" else ("ret_1", "ret_5")
    train, val = int(0.6 * len(rows)), int(0.8 * len(rows))
    return dataclasses.replace(
        market,
        asset_class=name,
        symbols=tuple(f"{name[:2].upper()}{i}" for i in range(market.n_assets)),
        dates=market.dates[rows],
        feature_names=names,
        features=market.features[rows],
        returns=market.returns[rows],
        prices=market.prices[rows],
        mask=market.mask[rows],
        cash_return=market.cash_return[rows],
        split_bounds={"train": (0, train), "val": (train + 3, val), "test": (val + 3, len(rows))},
    )


def momentum_signals(market: MarketData, lookback: int = 5) -> ClassSignals:
    """Signal = tanh of the trailing `lookback`-day return x 50, from the block's 6th row to its second last."""
    trailing = np.zeros_like(market.returns)
    for t in range(len(market.dates)):
        trailing[t] = market.returns[max(0, t - lookback + 1) : t + 1].sum(axis=0)
    values = np.full(market.returns.shape, np.nan)
    split = np.full(len(market.dates), "", dtype=object)
    for name, (start, stop) in market.split_bounds.items():
        rows = slice(start + lookback, stop - 1)
        values[rows] = np.tanh(50.0 * trailing[rows])
        split[rows] = name
    return ClassSignals(values=values, split=split)


def two_class_markets(n_days: int = 260) -> dict[str, MarketData]:
    return {"equity": class_market("equity", n_days, 1), "commodity": class_market("commodity", n_days, 2, 7)}


def two_class_universe(n_days: int = 260, window: int = 10) -> SleeveUniverse:
    markets = two_class_markets(n_days)
    signals = {name: momentum_signals(market) for name, market in markets.items()}
    return build_universe(markets, signals, COSTS, window)

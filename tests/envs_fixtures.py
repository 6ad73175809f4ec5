"""Small hand-built `MarketData` objects for env, reward and market-core tests."""

from __future__ import annotations

import numpy as np

from hierl.data.market import MarketData


def make_market(
    n_days: int = 120,
    n_assets: int = 3,
    n_features: int = 2,
    seed: int = 0,
    *,
    returns: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    cash_rate: float = 1e-4,
    split_bounds: dict[str, tuple[int, int]] | None = None,
) -> MarketData:
    """A seeded market: features ~ N(0, 1), returns ~ N(0, 1%) unless given, constant daily cash rate.

    Default splits: train the first 60% of rows, val the next 20%, test the rest (no embargo).
    """
    rng = np.random.default_rng(seed)
    if returns is None:
        returns = rng.normal(0.0, 0.01, size=(n_days, n_assets))
        returns[0] = 0.0
    returns = np.asarray(returns, dtype=np.float64).reshape(n_days, n_assets)
    if mask is None:
        mask = np.ones((n_days, n_assets), dtype=bool)
    if split_bounds is None:
        train_stop, val_stop = int(0.6 * n_days), int(0.8 * n_days)
        split_bounds = {"train": (0, train_stop), "val": (train_stop, val_stop), "test": (val_stop, n_days)}
    prices = 100.0 * np.cumprod(1.0 + returns, axis=0)
    return MarketData(
        asset_class="equity",
        dates=np.datetime64("2020-01-01") + np.arange(n_days).astype("timedelta64[D]"),
        symbols=tuple(f"S{i}" for i in range(n_assets)),
        feature_names=tuple(f"f{j}" for j in range(n_features)),
        features=rng.normal(size=(n_days, n_assets, n_features)).astype(np.float32),
        returns=returns,
        prices=prices,
        mask=np.asarray(mask, dtype=bool),
        cash_return=np.full(n_days, cash_rate),
        split_bounds=split_bounds,
        fingerprint=f"test-{seed}",
    )

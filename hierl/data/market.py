"""The product of the data layer: dense, causal numpy arrays for one asset class.

Envs and backtests read only this object. It is built once per run (from the Gold cache) so that nothing in an
env step touches a data frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The blocks of every MarketData; their names belong to the data config.
from hierl.config.data import DAILY_BARS_PER_YEAR
from hierl.config.data import SPLITS as SPLITS


@dataclass(frozen=True)
class MarketData:
    """Aligned arrays of one asset class on one trading calendar.

    Time convention (the causality rule): `features[t]` uses only data published at or before the close of bar t
    (day t for daily bars); a position chosen at the close of t earns `returns[t + 1]`.

    Attributes:
        asset_class: name of the class, e.g. "equity".
        dates: shape [T], strictly increasing: datetime64[D] for daily bars, datetime64[s] (UTC, each bar's
            timestamp as the data states it) for intraday bars.
        symbols: N symbol names.
        feature_names: F feature names, the last axis of `features`.
        features: float32 [T, N, F], normalised with training-block statistics, 0 where unavailable.
        returns: float64 [T, N], simple close-to-close return from t-1 to t (`returns[0] == 0`), 0 where missing.
        prices: float64 [T, N], close prices (forward filled within the limit, NaN before listing).
        mask: bool [T, N], True where the asset has a real price on day t.
        cash_return: float64 [T], return of cash from t-1 to t.
        split_bounds: split name -> (start, stop) row indices, half open; embargo rows lie between blocks.
        fingerprint: hash of the inputs and config that produced these arrays.
        normalisation: per-feature `{"mean", "std", "fitted"}` the features were scaled with (fitted on the
            training block, or given by the caller to reuse a trained run's scaling); saved with every run.
        frequency: the bar length, "1d" for daily bars, "1h", "15min" for intraday ones (`hierl.data.frequency`).
        bars_per_year: bars in a year of this class's calendar (`asset.calendar`); every annualised number
            (Sharpe, volatility, turnover, borrow) counts a year in these bars.
    """

    asset_class: str
    dates: np.ndarray
    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]
    features: np.ndarray
    returns: np.ndarray
    prices: np.ndarray
    mask: np.ndarray
    cash_return: np.ndarray
    split_bounds: dict[str, tuple[int, int]]
    fingerprint: str
    normalisation: dict[str, dict[str, float | bool]] = field(default_factory=dict)
    frequency: str = "1d"
    bars_per_year: float = DAILY_BARS_PER_YEAR

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def block(self, split: str) -> slice:
        """Row slice of one split ("train", "val" or "test")."""
        if split not in self.split_bounds:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(self.split_bounds)}")
        start, stop = self.split_bounds[split]
        return slice(start, stop)

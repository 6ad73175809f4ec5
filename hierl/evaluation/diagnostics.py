"""Diagnostics of a backtest beside its performance metrics: what costs take, and how the positions behave.

`compute_metrics` reads only the portfolio's return series. A Sharpe ratio near zero can mean no edge, or an edge
that costs eat, or positions that change every day at random; these numbers tell those apart:

- `gross_sharpe`: the Sharpe ratio before costs (`metrics.gross_sharpe_ratio`), over cash as `sharpe` is;
- `cost_annual`: the costs paid per year as a fraction of NAV (`metrics.annualised_cost`); both annualised with
  the backtest's own calendar (`Backtest.bars_per_year`), as its metrics are;
- `ic`: the correlation of each position with the return its asset earns while it is held;
- `position_autocorr`: the lag-1 autocorrelation of each symbol's position (near 1: persistent, near 0: noise).

The two position metrics need each asset's return over each row, which the portfolio returns no longer show; a
`RowReturns` carries them for the backtest's rows. Like the metrics, an undefined correlation (fewer than two
pairs, or one side constant, e.g. the cash baseline's zero weights) is reported as 0.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hierl.data.market import MarketData
from hierl.evaluation.backtest import Backtest
from hierl.evaluation.metrics import ZERO_DISPERSION, annualised_cost, gross_sharpe_ratio

DIAGNOSTIC_KEYS = ("gross_sharpe", "cost_annual", "ic", "position_autocorr")


@dataclass(frozen=True)
class RowReturns:
    """Each symbol over each row of a backtest, [K, N] each: what the positions are compared with.

    Attributes:
        returns: float64, the symbol's return over the row (the close of its decision row to the next close),
            the return the row's weight earns.
        tradable: bool, True where the symbol has a real price at both ends of the row: the policy could set its
            weight (the envs force 0 where the decision day has no price) and the return is a real price change,
            not a 0 filled in for a missing price.
    """

    returns: np.ndarray
    tradable: np.ndarray

    @classmethod
    def of(cls, market: MarketData, decision_rows: np.ndarray) -> RowReturns:
        """The rows of a backtest decided at `decision_rows` (its row k is held from row r_k to r_k + 1)."""
        rows = np.asarray(decision_rows)
        return cls(
            returns=np.asarray(market.returns[rows + 1], dtype=np.float64),
            tradable=np.asarray(market.mask[rows] & market.mask[rows + 1], dtype=bool),
        )


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equally long samples; 0.0 when undefined (under two pairs, or a side constant).

    Clipped to [-1, 1]: rounding can put a perfect correlation a few ulps outside it.
    """
    if x.size < 2:
        return 0.0
    x_centred, y_centred = x - x.mean(), y - y.mean()
    x_dispersion = math.sqrt(float(np.mean(x_centred**2)))
    y_dispersion = math.sqrt(float(np.mean(y_centred**2)))
    if x_dispersion < ZERO_DISPERSION or y_dispersion < ZERO_DISPERSION:
        return 0.0
    value = float(np.mean(x_centred * y_centred)) / (x_dispersion * y_dispersion)
    return min(1.0, max(-1.0, value))


def information_coefficient(weights: np.ndarray, asset_returns: np.ndarray, tradable: np.ndarray) -> float:
    """Pooled correlation of position and next return.

    One sample of every (row k, symbol i) with `tradable[k, i]`: the pair (weights[k, i], asset_returns[k, i]), the
    weight held over row k against the return of asset i over the same row (which was not known when the weight
    was chosen). All rows and symbols of the split go into one Pearson correlation, not a mean of daily ones.
    """
    return correlation(weights[tradable], asset_returns[tradable])


def position_autocorrelation(weights: np.ndarray, tradable: np.ndarray) -> float:
    """Lag-1 autocorrelation of positions, pooled per symbol.

    Pairs are formed within each symbol only: (weights[k - 1, i], weights[k, i]) for consecutive rows k - 1, k
    where symbol i is tradable on both. The pairs of every symbol then go into one Pearson correlation (each side
    centred on its own mean), so a symbol counts in proportion to its tradable days.
    """
    both = tradable[1:] & tradable[:-1]
    return correlation(weights[:-1][both], weights[1:][both])


def backtest_diagnostics(backtest: Backtest, assets: RowReturns) -> dict[str, float]:
    """The `DIAGNOSTIC_KEYS` of one backtest; `assets` are the symbols over the backtest's rows."""
    if assets.returns.shape != backtest.weights.shape or assets.tradable.shape != backtest.weights.shape:
        raise ValueError(
            f"{backtest.name!r} has weights {backtest.weights.shape} but the asset rows are {assets.returns.shape} "
            f"and {assets.tradable.shape}; pass the rows of the same backtest"
        )
    result = backtest.result
    return {
        "gross_sharpe": gross_sharpe_ratio(result.returns, result.cost, backtest.cash_return, backtest.bars_per_year),
        "cost_annual": annualised_cost(result.cost, backtest.bars_per_year),
        "ic": information_coefficient(backtest.weights, assets.returns, assets.tradable),
        "position_autocorr": position_autocorrelation(backtest.weights, assets.tradable),
    }

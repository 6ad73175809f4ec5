"""Reference strategies, as target weights only.

Baselines return weights for the same decision rows as the agent and are run through `run_backtest`, so costs,
cash and borrow are charged by exactly the same accounting. All baselines are long only with gross exposure
min(1, max_leverage); the rest of NAV sits in cash.

Strategies that hold between rebalances (buy_and_hold, inverse_volatility) let weights drift with prices by
stepping the market core's kernel itself (`step_books`), so the weights they return are the drifted weights that
the backtest computes and turnover between rebalances is zero, provided the backtest uses the same `CostModel` as
the one passed here (the first trade's cost changes NAV and so every drifted weight). With a different cost model
the residual turnover on the row after a trade is about trade_rate * gross exposure, shrinking by a factor of
about trade_rate on each following row.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hierl.data.market import MarketData
from hierl.envs.market_core import AssetCosts, CostModel, bars_in_years, step_books
from hierl.evaluation.backtest import validate_decision_rows

BASELINE_NAMES = ("cash", "buy_and_hold", "equal_weight", "inverse_volatility")

# Inverse volatility: a trailing quarter of a year of returns (63 daily bars; in years, so that hourly or crypto bars
# look back as far), and the fewest priced bars an asset needs in it.
VOLATILITY_YEARS = 0.25
MIN_VOLATILITY_OBSERVATIONS = 20


class BaselineInputError(ValueError):
    """Arguments a baseline cannot be built from."""


def _equal_over(available: np.ndarray, gross: float) -> np.ndarray:
    """`gross` split equally over the True entries; all zeros if none are True."""
    count = int(available.sum())
    return np.where(available, gross / count, 0.0) if count else np.zeros(available.shape)


def _hold_between_rebalances(
    market: MarketData,
    rows: np.ndarray,
    rebalance: np.ndarray,
    target_at: Callable[[int], np.ndarray],
    costs: CostModel,
) -> np.ndarray:
    """Weights that trade to `target_at(t)` on rebalance rows and otherwise keep the drifted book.

    Starts from cash, as the backtest does, and drifts with the kernel (`step_books`) so the result is the
    backtest's own drifted book (see the module doc).
    """
    weights = np.zeros((rows.size, market.n_assets))
    book = np.zeros((1, market.n_assets))
    book_costs = AssetCosts.uniform(costs, market.n_assets)
    for k, t in enumerate(rows):
        target = target_at(int(t))[None, :] if rebalance[k] else book
        weights[k] = target[0]
        step = step_books(book, target, market.returns[t + 1 : t + 2], market.cash_return[t + 1 : t + 2], book_costs)
        book = step.weights_after
    return weights


def inverse_volatility_target(market: MarketData, t: int, gross: float) -> np.ndarray:
    """Weights proportional to 1 / trailing volatility, from returns up to and including row t only.

    The window is `VOLATILITY_YEARS` of the market's bars. Assets priced at t with at least
    MIN_VOLATILITY_OBSERVATIONS priced bars in the window and non-zero volatility are eligible; if none is, equal
    weight over the assets priced at t.
    """
    start = max(0, t + 1 - bars_in_years(VOLATILITY_YEARS, market.bars_per_year))
    window = market.returns[start : t + 1]
    priced = market.mask[start : t + 1]
    counts = priced.sum(axis=0)
    safe_counts = np.maximum(counts, 1)
    means = np.where(priced, window, 0.0).sum(axis=0) / safe_counts
    squares = np.where(priced, (window - means) ** 2, 0.0).sum(axis=0)
    volatility = np.sqrt(squares / np.maximum(counts - 1, 1))
    eligible = market.mask[t] & (counts >= MIN_VOLATILITY_OBSERVATIONS) & (volatility > 0.0)
    if not eligible.any():
        return _equal_over(market.mask[t], gross)
    inverse = np.where(eligible, 1.0 / np.where(eligible, volatility, 1.0), 0.0)
    return np.asarray(gross * inverse / inverse.sum())


def month_starts(decision_dates: np.ndarray) -> np.ndarray:
    """True on the first decision date and on each one whose calendar month differs from the previous date's.

    The monthly rebalancing schedule of every baseline that refits (here and in `hierarchy_baselines`).
    """
    months = np.asarray(decision_dates).astype("datetime64[M]")
    changed = np.ones(months.size, dtype=bool)
    changed[1:] = months[1:] != months[:-1]
    return changed


def baseline_weights(
    market: MarketData,
    split: str,
    decision_rows: np.ndarray,
    max_leverage: float = 1.0,
    costs: CostModel | None = None,
) -> dict[str, np.ndarray]:
    """Target weights [K, N] of each baseline in BASELINE_NAMES, one row per decision row (market rows).

    - cash: no positions.
    - buy_and_hold: equal capital across the assets priced at the first decision row, then held (drifting).
    - equal_weight: 1/N of the assets priced at each row (`market.mask`), rebalanced every row.
    - inverse_volatility: `inverse_volatility_target`, rebalanced on the first decision row of each month and
      drifting in between.

    `costs` should be the backtest's cost model so that drifting baselines have zero turnover between
    rebalances (see the module docstring); None means a cost-free book. Like `run_backtest`, the borrow fee is
    charged per bar of the market's calendar.
    """
    if not (math.isfinite(max_leverage) and max_leverage > 0.0):
        raise BaselineInputError(f"max_leverage must be a positive finite number, got {max_leverage}")
    rows = validate_decision_rows(market, split, decision_rows)
    free = CostModel(cost_bps=0.0, slippage_bps=0.0, borrow_bps_annual=0.0)
    book_costs = (costs if costs is not None else free).on_calendar(market.bars_per_year)
    gross = min(1.0, float(max_leverage))

    first_row_only = np.zeros(rows.size, dtype=bool)
    first_row_only[0] = True
    first_assets = _equal_over(market.mask[rows[0]], gross)
    available = market.mask[rows]
    equal_weight = np.where(available, gross / np.maximum(available.sum(axis=1, keepdims=True), 1), 0.0)
    return {
        "cash": np.zeros((rows.size, market.n_assets)),
        "buy_and_hold": _hold_between_rebalances(market, rows, first_row_only, lambda _t: first_assets, book_costs),
        "equal_weight": equal_weight,
        "inverse_volatility": _hold_between_rebalances(
            market,
            rows,
            month_starts(market.dates[rows]),
            lambda t: inverse_volatility_target(market, t, gross),
            book_costs,
        ),
    }

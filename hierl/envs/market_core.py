"""The numpy market core: the accounting of every env, backtest, baseline and the hierarchy.

Convention: a row k holds the portfolio from the close of day t_k to the close of day t_k + 1. At the close of
t_k the book holds the weights that drifted from the previous row, trades to `target_weights[k]` paying costs on
the traded notional, then earns the next day's asset returns on the target weights, the cash rate on the rest
(negative when levered), and pays borrow on short exposure. Weights are fractions of NAV.

The kernel is `step_books`: K books over N assets in one numpy call, with per-asset cost arrays (`AssetCosts`:
a trade rate and a borrow rate per bar per asset), returning each asset's part of the net return in excess of
cash as well. `simulate_books` runs it row after row from cash. The portfolio of sleeves runs on it directly, with
`Sessions` when its assets trade on different calendars (an asset without a bar holds its weight).

Calendars: a row is one bar of the book's calendar, and a year is `bars_per_year` of them (`MarketData.
bars_per_year`: 252 for daily US equities, 365 for daily crypto, 8760 for hourly crypto). The borrow fee is quoted
a year (`CostModel.borrow_bps_annual`) and charged per bar, so it is divided by the calendar's bars a year, as every
annualised metric is multiplied by them; `DAILY_BARS_PER_YEAR` is the default where no calendar is given.

The one-rate forms below (`step_portfolio`, `simulate_portfolio`, `step_single_asset`,
`step_single_asset_books`) are the same accounting for books whose assets all pay one `CostModel`; each sums
the same terms in the order the recorded outputs were produced with (total turnover times the rate, the gross
return less each cost), which differs from the kernel's per-asset order in the last bits of a float. The
tests hold each of them equal to `step_books` to rounding and to a dollar ledger; folding them into the kernel
is a change of numbers, to be made together with a new output record.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hierl.config.data import DAILY_BARS_PER_YEAR as DAILY_BARS_PER_YEAR


def check_bars_per_year(bars_per_year: float) -> float:
    """`bars_per_year` as a float, or ValueError: a year of a calendar holds a positive, finite number of bars."""
    value = float(bars_per_year)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"bars_per_year={bars_per_year} must be a finite number > 0 (252 for daily equity bars)")
    return value


def bars_in_years(years: float, bars_per_year: float) -> int:
    """Whole bars in `years` years of a calendar of `bars_per_year` bars, at least one: windows and block lengths
    stated in years read the same on daily, crypto and intraday calendars."""
    return max(1, round(years * bars_per_year))


@dataclass(frozen=True)
class CostModel:
    """Proportional trading costs and borrow fees, in basis points, on a calendar of `bars_per_year` bars.

    The borrow fee is quoted a year and charged per bar: `borrow_rate_per_bar` divides it by the bars in a year
    of the book's calendar. `on_calendar` gives the same costs on another calendar.
    """

    cost_bps: float = 5.0
    slippage_bps: float = 0.0
    borrow_bps_annual: float = 50.0
    bars_per_year: float = DAILY_BARS_PER_YEAR

    def __post_init__(self) -> None:
        check_bars_per_year(self.bars_per_year)

    @property
    def trade_rate(self) -> float:
        """Cost per unit of NAV traded."""
        return (self.cost_bps + self.slippage_bps) * 1e-4

    @property
    def borrow_rate_per_bar(self) -> float:
        """Fee per bar per unit of short exposure: the annual fee over the bars in a year."""
        return self.borrow_bps_annual * 1e-4 / self.bars_per_year

    def on_calendar(self, bars_per_year: float) -> CostModel:
        """The same rates charged on a calendar of `bars_per_year` bars (this model when it is already on it)."""
        if bars_per_year == self.bars_per_year:
            return self
        return dataclasses.replace(self, bars_per_year=check_bars_per_year(bars_per_year))


@dataclass(frozen=True)
class AssetCosts:
    """Per-asset trading costs of a book of N assets: `trade_rate` per unit of NAV traded and `borrow_rate`
    per bar per unit of NAV short, float64 [N] each (a multi-class book pays each class's own rates, each borrow
    rate per bar of its class's calendar)."""

    trade_rate: np.ndarray
    borrow_rate: np.ndarray

    def __post_init__(self) -> None:
        if self.trade_rate.shape != self.borrow_rate.shape or self.trade_rate.ndim != 1:
            raise ValueError(
                f"trade_rate {self.trade_rate.shape} and borrow_rate {self.borrow_rate.shape} must both be [N]"
            )

    @classmethod
    def uniform(cls, costs: CostModel, n_assets: int) -> AssetCosts:
        """Every one of `n_assets` assets pays the rates of `costs`."""
        return cls(np.full(n_assets, costs.trade_rate), np.full(n_assets, costs.borrow_rate_per_bar))

    @classmethod
    def concatenate(cls, parts: Sequence[AssetCosts]) -> AssetCosts:
        """The costs of a book whose assets are those of `parts`, part after part."""
        return cls(
            np.concatenate([part.trade_rate for part in parts]), np.concatenate([part.borrow_rate for part in parts])
        )

    @property
    def n_assets(self) -> int:
        return len(self.trade_rate)


@dataclass(frozen=True)
class BooksStep:
    """Accounting of one row of K books over N assets.

    Attributes:
        net_return, turnover, cost: [K].
        weights_after: [K, N] weights drifted to the end of the row (zeros for a book wiped out).
        excess: [K, N] each asset's part of the net return in excess of cash, costs included:
            net_return == next_cash + excess.sum(axis=1), exactly as computed.
    """

    net_return: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    weights_after: np.ndarray
    excess: np.ndarray


def step_books(
    weights_before: np.ndarray,
    targets: np.ndarray,
    next_returns: np.ndarray,
    next_cash: np.ndarray,
    costs: AssetCosts,
) -> BooksStep:
    """Trade K books from `weights_before` to `targets` [K, N], hold one period, and return their accounting.

    Each asset pays its own rates: cost_i = trade_rate_i * |target_i - before_i| + borrow_rate_i * max(-target_i, 0),
    and earns target_i * (return_i - cash) over the cash every book earns on its whole NAV: net = cash + sum_i
    (target_i * (return_i - cash) - cost_i). `next_cash` is [K]. The per-asset terms are kept (`excess`) because
    the hierarchy reports each sleeve's contribution from them.
    """
    traded = np.abs(targets - weights_before)
    asset_cost = costs.trade_rate * traded + costs.borrow_rate * np.maximum(-targets, 0.0)
    cash = next_cash[:, None]
    excess = targets * (next_returns - cash) - asset_cost
    net_return = next_cash + excess.sum(axis=1)
    growth = 1.0 + net_return
    grown = targets * (1.0 + next_returns)
    positive = growth > 0.0
    if positive.all():
        weights_after = grown / growth[:, None]
    else:
        weights_after = np.where(positive[:, None], grown / np.where(positive, growth, 1.0)[:, None], 0.0)
    return BooksStep(net_return, traded.sum(axis=1), asset_cost.sum(axis=1), weights_after, excess)


@dataclass(frozen=True)
class Sessions:
    """Which assets of a book have a bar on each row, for a book whose assets trade on different calendars.

    Row k of a book is decided at one bar of its calendar and realised at the next. Both arrays are bool [K, N]:

    - `tradable[k, i]`: asset i has a bar at row k's decision, so it can trade there. Without one its market is
      closed: it keeps its drifted weight (no trade, so no trading cost), whatever the target asked for.
    - `accruing[k, i]`: asset i has a bar at the end of row k, so it pays that bar's borrow. A row that ends where
      it has no bar earns it no return (its next bar's close-to-close return spans the gap) and no borrow (its
      borrow rate is per bar of its own calendar, which already spreads the year's fee over its bars only).
    """

    tradable: np.ndarray
    accruing: np.ndarray

    def __post_init__(self) -> None:
        if self.tradable.shape != self.accruing.shape or self.tradable.ndim != 2:
            raise ValueError(f"tradable {self.tradable.shape} and accruing {self.accruing.shape} must both be [K, N]")

    def closed_rows(self) -> np.ndarray:
        """[K] True where some asset lacks a bar at the decision or at the end of the row."""
        return np.asarray(~(self.tradable.all(axis=1) & self.accruing.all(axis=1)))


def hold_closed(
    targets: np.ndarray, weights_before: np.ndarray, tradable: np.ndarray, accruing: np.ndarray, costs: AssetCosts
) -> tuple[np.ndarray, AssetCosts]:
    """The targets and costs of a row on which some assets have no bar (see `Sessions`): an asset that cannot trade
    keeps `weights_before`, and one without a bar at the end of the row pays no borrow. Arrays broadcast ([N] or
    [K, N])."""
    held = np.where(tradable, targets, weights_before)
    return held, AssetCosts(costs.trade_rate, np.where(accruing, costs.borrow_rate, 0.0))


def simulate_books(
    targets: np.ndarray,
    next_returns: np.ndarray,
    next_cash: np.ndarray,
    costs: AssetCosts,
    initial_nav: float = 1.0,
    sessions: Sessions | None = None,
) -> tuple[SimulationResult, np.ndarray]:
    """Run one book through `step_books` over T rows from cash: (the accounting, `excess` [T, N] per row).

    Args:
        targets, next_returns: [T, N], the weights decided at each row's close and the returns of its period.
        next_cash: [T] cash return over each row's holding period.
        sessions: where the assets have bars, when they trade on different calendars; the rows on which every
            asset has both bars run exactly as without it. The result's `weights` are the targets held.
    """
    n_rows, n_assets = targets.shape
    returns, turnover, cost = np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows)
    excess = np.zeros((n_rows, n_assets))
    drifted = np.zeros((1, n_assets))
    closed = np.zeros(n_rows, dtype=bool) if sessions is None else sessions.closed_rows()
    held = np.array(targets, dtype=np.float64) if closed.any() else targets
    for k in range(n_rows):
        target, row_costs = targets[k : k + 1], costs
        if sessions is not None and closed[k]:
            target, row_costs = hold_closed(target, drifted, sessions.tradable[k], sessions.accruing[k], costs)
            held[k] = target[0]
        step = step_books(drifted, target, next_returns[k : k + 1], next_cash[k : k + 1], row_costs)
        returns[k], turnover[k], cost[k] = step.net_return[0], step.turnover[0], step.cost[0]
        excess[k] = step.excess[0]
        drifted = step.weights_after
    nav = initial_nav * np.cumprod(1.0 + returns)
    return SimulationResult(nav=nav, returns=returns, turnover=turnover, cost=cost, weights=held), excess


@dataclass(frozen=True)
class StepResult:
    """Accounting of one row (one holding period)."""

    net_return: float
    turnover: float
    cost: float
    weights_after: np.ndarray


def step_portfolio(
    weights_before: np.ndarray,
    target: np.ndarray,
    next_returns: np.ndarray,
    next_cash_return: float,
    costs: CostModel,
) -> StepResult:
    """`step_books` for one book of one `CostModel`, in the one-rate order (see the module doc).

    The baselines drift their books with it between rebalances; its gross return is a BLAS dot product.
    """
    turnover = float(np.abs(target - weights_before).sum())
    trade_cost = costs.trade_rate * turnover
    borrow_cost = costs.borrow_rate_per_bar * float(np.clip(-target, 0.0, None).sum())
    gross = float(target @ next_returns) + (1.0 - float(target.sum())) * next_cash_return
    net_return = gross - trade_cost - borrow_cost
    # Weights drift with prices; measured against the NAV after the period (costs included).
    growth = 1.0 + net_return
    weights_after = target * (1.0 + next_returns) / growth if growth > 0 else np.zeros_like(target)
    return StepResult(net_return, turnover, trade_cost + borrow_cost, weights_after)


@dataclass(frozen=True)
class SimulationResult:
    """Per-row arrays of a whole simulation; `nav[k]` is the NAV after row k."""

    nav: np.ndarray
    returns: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    weights: np.ndarray


def simulate_portfolio(
    target_weights: np.ndarray,
    next_returns: np.ndarray,
    next_cash_return: np.ndarray,
    costs: CostModel,
    initial_nav: float = 1.0,
) -> SimulationResult:
    """Run one book of one `CostModel` over K rows from cash, in the one-rate order (see the module doc).

    Backtests, the baselines' books and each sleeve alone run on it.

    Everything that does not depend on the previous row (gross return, borrow, grown positions) is computed for
    all rows at once; only the drift -> turnover -> net return recursion stays in the loop, one row per pass.

    Args:
        target_weights: [K, N] weights decided at each row's close.
        next_returns: [K, N] asset returns over each row's holding period.
        next_cash_return: [K] cash return over each row's holding period.
    """
    target_weights = np.asarray(target_weights, dtype=np.float64)
    next_returns = np.asarray(next_returns, dtype=np.float64)
    next_cash_return = np.asarray(next_cash_return, dtype=np.float64)
    if target_weights.shape != next_returns.shape or target_weights.ndim != 2:
        raise ValueError(
            f"target_weights {target_weights.shape} and next_returns {next_returns.shape} must both be [K, N]"
        )
    if next_cash_return.shape != (target_weights.shape[0],):
        raise ValueError(
            f"next_cash_return {next_cash_return.shape} must be [K] with K = {target_weights.shape[0]} rows"
        )
    n_rows = target_weights.shape[0]
    gross = np.einsum("kn,kn->k", target_weights, next_returns) + (1.0 - target_weights.sum(axis=1)) * next_cash_return
    borrow = costs.borrow_rate_per_bar * np.clip(-target_weights, 0.0, None).sum(axis=1)
    grown = target_weights * (1.0 + next_returns)
    returns = np.zeros(n_rows)
    turnover = np.zeros(n_rows)
    drifted = np.zeros(target_weights.shape[1])
    trade_rate = costs.trade_rate
    for k in range(n_rows):
        turnover[k] = np.abs(target_weights[k] - drifted).sum()
        returns[k] = gross[k] - trade_rate * turnover[k] - borrow[k]
        growth = 1.0 + returns[k]
        drifted = grown[k] / growth if growth > 0 else np.zeros_like(drifted)
    cost = trade_rate * turnover + borrow
    nav = initial_nav * np.cumprod(1.0 + returns)
    return SimulationResult(nav=nav, returns=returns, turnover=turnover, cost=cost, weights=target_weights)


def step_single_asset(
    weight_before: float,
    target: float,
    next_return: float,
    next_cash_return: float,
    trade_rate: float,
    borrow_rate_per_bar: float,
) -> tuple[float, float, float, float]:
    """One book of one asset on plain floats: (net_return, turnover, cost, weight_after); `TradingEnv`'s step.

    The same arithmetic, in the same order, as `step_single_asset_books` on one book. Written on floats because
    numpy on 1-element arrays costs microseconds per call, which would dominate an env step.
    """
    turnover = abs(target - weight_before)
    cost = trade_rate * turnover + borrow_rate_per_bar * (-target if target < 0.0 else 0.0)
    net_return = target * next_return + (1.0 - target) * next_cash_return - cost
    growth = 1.0 + net_return
    weight_after = target * (1.0 + next_return) / growth if growth > 0.0 else 0.0
    return net_return, turnover, cost, weight_after


_ZERO = np.array(0.0)
_ONE = np.array(1.0)


def step_single_asset_books(
    weights_before: np.ndarray,
    targets: np.ndarray,
    next_returns: np.ndarray,
    next_cash_returns: np.ndarray,
    costs: CostModel,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """K independent one-asset books of one `CostModel` at once; every array argument is [K].

    Returns (net_return, turnover, cost, weight_after), each [K]; a vectorised env steps all its episodes with it.
    A vectorised env calls this every step on a few dozen books, where each numpy call costs more than its
    arithmetic: constants are 0-d arrays (cheaper for numpy to combine with arrays than Python floats), and the
    guard against a wiped-out book (growth <= 0) only runs its masked division when some book needs it.
    """
    turnover = np.abs(targets - weights_before)
    cost = np.array(costs.trade_rate) * turnover + np.array(costs.borrow_rate_per_bar) * np.maximum(-targets, _ZERO)
    net_return = targets * next_returns + (_ONE - targets) * next_cash_returns - cost
    growth = _ONE + net_return
    grown = targets * (_ONE + next_returns)
    if np.count_nonzero(growth > _ZERO) == len(growth):
        weight_after = grown / growth
    else:
        positive = growth > _ZERO
        weight_after = np.where(positive, grown / np.where(positive, growth, _ONE), _ZERO)
    return net_return, turnover, cost, weight_after

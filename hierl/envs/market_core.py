"""The numpy market core: the accounting of every env, backtest, baseline and the hierarchy.

Convention: a row k holds the portfolio from the close of day t_k to the close of day t_k + 1. At the close of
t_k the book holds the weights that drifted from the previous row, trades to `target_weights[k]` paying costs on
the traded notional, then earns the next day's asset returns on the target weights, the cash rate on the rest
(negative when levered), and pays borrow on short exposure. Weights are fractions of NAV.

The kernel is `step_books`: K books over N assets in one numpy call, with per-asset cost arrays (`AssetCosts`:
a trade rate and a borrow rate per bar per asset). Every env, backtest, baseline and the hierarchy account with it:
`simulate_books` runs it row after row from cash (with `Sessions` when the assets trade on different calendars:
an asset without a bar holds its weight), `simulate_portfolio` is that for one book of one `CostModel`, and
`step_single_asset` (K = N = 1, plain floats: `TradingEnv`'s step) and `step_single_asset_books` (K books of one
asset: `TradingVecEnv`'s step) are the kernel written out for one asset, because an env step is too short for the
kernel's general numpy calls: the same operations in the same order, so the same bits (tests hold them to that).

One order of the floating-point operations serves every caller: the gross return (positions times returns, plus
cash on the rest), less the sum of the per-asset costs. At N = 1 every sum is of one term, so a single-asset book
computes exactly what a one-asset env computes.

Calendars: a row is one bar of the book's calendar, and a year is `bars_per_year` of them (`MarketData.
bars_per_year`: 252 for daily US equities, 365 for daily crypto, 8760 for hourly crypto). The borrow fee is quoted
a year (`CostModel.borrow_bps_annual`) and charged per bar, so it is divided by the calendar's bars a year, as every
annualised metric is multiplied by them; `DAILY_BARS_PER_YEAR` is the default where no calendar is given.
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
            target_i * (return_i - cash) - cost_i, which adds up to net_return - next_cash to rounding.
    """

    net_return: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    weights_after: np.ndarray
    excess: np.ndarray


def gross_return(targets: np.ndarray, next_returns: np.ndarray, next_cash: np.ndarray) -> np.ndarray:
    """Return of books holding `targets` [..., N] over a period, before costs: the positions earn their assets'
    returns and the rest of the NAV (negative when levered) earns cash ([...], the shape of `next_cash`)."""
    return (targets * next_returns).sum(axis=-1) + (1.0 - targets.sum(axis=-1)) * next_cash


def holding_cost(targets: np.ndarray, borrow_rate: np.ndarray) -> np.ndarray:
    """Each asset's borrow fee for holding `targets` [..., N] over one bar: its rate on the short exposure."""
    return borrow_rate * np.maximum(-targets, 0.0)


def _trade_row(
    weights_before: np.ndarray,
    targets: np.ndarray,
    gross: np.ndarray,
    grown: np.ndarray,
    holding: np.ndarray,
    trade_rate: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The part of a row that depends on the weights before it: (net_return, turnover, cost, weights_after,
    asset_cost). `gross`, `grown` (targets * (1 + returns)) and `holding` do not, so `simulate_books` computes
    them for all rows at once and `step_books` for its one row; both then run this, so both give the same bits."""
    traded = np.abs(targets - weights_before)
    asset_cost = trade_rate * traded + holding
    cost = asset_cost.sum(axis=-1)
    net_return = gross - cost
    growth = 1.0 + net_return
    positive = growth > 0.0
    if positive.all():
        weights_after = grown / growth[..., None]
    else:
        safe_growth = np.where(positive, growth, 1.0)[..., None]
        weights_after = np.where(positive[..., None], grown / safe_growth, 0.0)
    return net_return, traded.sum(axis=-1), cost, weights_after, asset_cost


def step_books(
    weights_before: np.ndarray,
    targets: np.ndarray,
    next_returns: np.ndarray,
    next_cash: np.ndarray,
    costs: AssetCosts,
) -> BooksStep:
    """Trade K books from `weights_before` to `targets` [K, N], hold one period, and return their accounting.

    Each asset pays its own rates: cost_i = trade_rate_i * |target_i - before_i| + borrow_rate_i * max(-target_i, 0),
    and net = sum_i target_i * return_i + (1 - sum_i target_i) * cash - sum_i cost_i, with `next_cash` [K]. The
    per-asset parts (`excess`) are kept because the hierarchy reports each sleeve's contribution from them.
    """
    cash = next_cash[:, None]
    net_return, turnover, cost, weights_after, asset_cost = _trade_row(
        weights_before,
        targets,
        gross_return(targets, next_returns, next_cash),
        targets * (1.0 + next_returns),
        holding_cost(targets, costs.borrow_rate),
        costs.trade_rate,
    )
    excess = targets * (next_returns - cash) - asset_cost
    return BooksStep(net_return, turnover, cost, weights_after, excess)


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
    """Run one book through the kernel over T rows from cash: (the accounting, `excess` [T, N] per row).

    Row k gives the same bits as `step_books` on that row from the previous row's drifted weights: what does not
    depend on the previous row is computed for all rows at once, and only the drift -> turnover -> net return
    recursion (`_trade_row`) stays in the loop.

    Args:
        targets, next_returns: [T, N], the weights decided at each row's close and the returns of its period.
        next_cash: [T] cash return over each row's holding period.
        sessions: where the assets have bars, when they trade on different calendars; the rows on which every
            asset has both bars run exactly as without it. The result's `weights` are the targets held.
    """
    n_rows, n_assets = targets.shape
    closed = np.zeros(n_rows, dtype=bool) if sessions is None else sessions.closed_rows()
    held = np.array(targets, dtype=np.float64)
    next_returns = np.ascontiguousarray(next_returns, dtype=np.float64)
    next_cash = np.ascontiguousarray(next_cash, dtype=np.float64)
    gross = gross_return(held, next_returns, next_cash)
    grown = held * (1.0 + next_returns)
    holding = holding_cost(held, costs.borrow_rate)
    returns, turnover, cost = np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows)
    asset_cost = np.zeros((n_rows, n_assets))
    drifted = np.zeros(n_assets)
    for k in range(n_rows):
        if closed[k]:
            assert sessions is not None
            target, row_costs = hold_closed(held[k], drifted, sessions.tradable[k], sessions.accruing[k], costs)
            held[k] = target
            gross[k] = gross_return(target, next_returns[k], next_cash[k])
            grown[k] = target * (1.0 + next_returns[k])
            holding[k] = holding_cost(target, row_costs.borrow_rate)
        returns[k], turnover[k], cost[k], drifted, asset_cost[k] = _trade_row(
            drifted, held[k], gross[k], grown[k], holding[k], costs.trade_rate
        )
    excess = held * (next_returns - next_cash[:, None]) - asset_cost
    nav = initial_nav * np.cumprod(1.0 + returns)
    return SimulationResult(nav=nav, returns=returns, turnover=turnover, cost=cost, weights=held), excess


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
    """`simulate_books` for one book whose assets all pay one `CostModel`: backtests and each sleeve alone.

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
    uniform = AssetCosts.uniform(costs, target_weights.shape[1])
    result, _ = simulate_books(target_weights, next_returns, next_cash_return, uniform, initial_nav)
    return result


def step_single_asset(
    weight_before: float,
    target: float,
    next_return: float,
    next_cash_return: float,
    trade_rate: float,
    borrow_rate_per_bar: float,
) -> tuple[float, float, float, float]:
    """`step_books` at K = N = 1 on plain floats: (net_return, turnover, cost, weight_after); `TradingEnv`'s step.

    The kernel's operations in the kernel's order (every sum is of one term), so it returns the kernel's bits
    (tested). Written on floats because numpy on 1-element arrays costs microseconds per call, which would
    dominate an env step.
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
    """`step_books` at N = 1 for K books of one `CostModel`; every array argument is [K]. Returns (net_return,
    turnover, cost, weight_after), each [K], the kernel's bits (tested); `TradingVecEnv` steps all its episodes
    with it.

    The env calls this every step on a few dozen books, where each numpy call costs more than its arithmetic, and
    the kernel's general form (sums over assets, per-asset parts) costs about twice these calls: constants are 0-d
    arrays (cheaper for numpy to combine with arrays than Python floats), and the guard against a wiped-out book
    (growth <= 0) only runs its masked division when some book needs it.
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

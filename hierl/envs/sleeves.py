"""The sleeves of the hierarchy on one calendar, and the accounting of a portfolio of sleeves.

Calendar: the INTERSECTION of the asset classes' trading calendars. A decision is made only on a day every
class trades (so no sleeve is ever rebalanced at a stale price); a class's asset returns and the cash return
are compounded over its own trading days between two aligned dates, so no return is lost. Split blocks are the
aligned dates inside every class's block of that split (the classes' embargo gaps therefore carry over).

Sleeve: the book of one asset class that follows its PPO signals. Position of symbol i = signal_i / N (N the
class's symbols, 0 where the symbol has no price): the sleeve is the PPO run's own equal-capital book without
the class's leverage factor, so its gross exposure is at most 1 and sleeve weight w_c bounds the asset-level
exposure of the class.

Accounting: a portfolio holds sleeve weights w (fractions of NAV); its asset-level target is
W_i = w_sleeve(i) * position_i, and it is run as ONE book over every asset through the market core's kernel
`step_books` (trade from the drifted weights, costs on the traded notional, borrow on shorts, cash on the rest)
with per-asset rates (`SleeveUniverse.costs`: each class's own CostModel). The row's net return is the cash
return plus each sleeve's contribution W_c . (R_c - cash) - cost_c, exactly (`HierarchyStep.contributions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.covariance import LedoitWolf

from hierl.data.market import SPLITS, MarketData
from hierl.envs.market_core import (
    TRADING_DAYS_PER_YEAR,
    AssetCosts,
    CostModel,
    SimulationResult,
    simulate_books,
    simulate_portfolio,
    step_books,
)
from hierl.errors import UserError

REGIME_PREFIXES = ("vol_regime", "trend_regime")


@dataclass(frozen=True)
class ClassSignals:
    """PPO signals of one class on its own calendar: values [T_c, N_c] (NaN where none), split name per row."""

    values: np.ndarray
    split: np.ndarray


@dataclass(frozen=True)
class SleeveUniverse:
    """Everything the portfolio env, the evaluation and the baselines read, on the aligned calendar [T rows].

    Attributes:
        classes: C asset-class (sleeve) names, sorted.
        dates: datetime64[D] [T], the aligned calendar.
        split_bounds: split -> half-open aligned row range.
        decision_rows: split -> rows where every sleeve has signals and the next row is in the block.
        symbols: N symbols of all classes, class after class; `sleeve_of_asset` [N] maps each to its sleeve.
        asset_returns: [T, N] returns compounded from the previous aligned date; `cash_return` [T] likewise.
        positions: [T, N] sleeve positions (fractions of sleeve capital) chosen at the close of each row.
        signals: [T, N] the signals behind them (NaN outside decision rows).
        costs: [N] each asset's class costs (`AssetCosts`: per unit traded, per day per unit short).
        sleeve_returns: [T, C] return of each sleeve alone realised at row t (from a decision at t - 1).
        realised: [T] True where `sleeve_returns` holds a realised return.
        regime: [T, R] regime indicators (`regime_names`), causal.
    """

    classes: tuple[str, ...]
    dates: np.ndarray
    split_bounds: dict[str, tuple[int, int]]
    decision_rows: dict[str, np.ndarray]
    symbols: tuple[str, ...]
    sleeve_of_asset: np.ndarray
    asset_returns: np.ndarray
    cash_return: np.ndarray
    positions: np.ndarray
    signals: np.ndarray
    costs: AssetCosts
    sleeve_returns: np.ndarray
    realised: np.ndarray
    regime: np.ndarray
    regime_names: tuple[str, ...]

    @property
    def n_sleeves(self) -> int:
        return len(self.classes)

    @property
    def trade_rate(self) -> np.ndarray:
        """[N] cost per unit of NAV traded in each asset (`costs.trade_rate`)."""
        return self.costs.trade_rate

    @property
    def borrow_rate(self) -> np.ndarray:
        """[N] fee per day per unit of NAV short in each asset (`costs.borrow_rate`)."""
        return self.costs.borrow_rate

    def asset_weights(self, sleeve_weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Asset-level targets [K, N] of sleeve weights [K, C] held on `rows`."""
        return np.asarray(sleeve_weights)[:, self.sleeve_of_asset] * self.positions[rows]

    def sleeve_costs(self, asset_class: str) -> CostModel:
        """The CostModel of one sleeve, rebuilt from its per-asset rates."""
        index = int(np.flatnonzero(self.sleeve_of_asset == self.classes.index(asset_class))[0])
        return CostModel(
            cost_bps=float(self.trade_rate[index]) * 1e4,
            slippage_bps=0.0,
            borrow_bps_annual=float(self.borrow_rate[index]) * 1e4 * TRADING_DAYS_PER_YEAR,
        )


@dataclass(frozen=True)
class HierarchyStep:
    """Accounting of one row of a portfolio of sleeves."""

    net_return: float
    turnover: float
    cost: float
    weights_after: np.ndarray
    contributions: np.ndarray


def sleeve_contributions(excess: np.ndarray, sleeve_of_asset: np.ndarray, n_sleeves: int) -> np.ndarray:
    """Per-asset excess returns [N] summed by sleeve: [C]."""
    return np.bincount(sleeve_of_asset, weights=excess, minlength=n_sleeves)


def step_hierarchy(
    drifted: np.ndarray,
    target: np.ndarray,
    next_returns: np.ndarray,
    next_cash: float,
    costs: AssetCosts,
    sleeve_of_asset: np.ndarray,
    n_sleeves: int,
) -> HierarchyStep:
    """One row of the portfolio of sleeves: `market_core.step_books` on its one book of N assets, with the net
    return split by sleeve. `contributions[c]` is sleeve c's part of the net return in excess of cash, so
    net_return == next_cash + contributions.sum()."""
    step = step_books(drifted[None, :], target[None, :], next_returns[None, :], np.array([next_cash]), costs)
    return HierarchyStep(
        float(step.net_return[0]),
        float(step.turnover[0]),
        float(step.cost[0]),
        step.weights_after[0],
        sleeve_contributions(step.excess[0], sleeve_of_asset, n_sleeves),
    )


def simulate_hierarchy(
    universe: SleeveUniverse, sleeve_weights: np.ndarray, rows: np.ndarray
) -> tuple[SimulationResult, np.ndarray]:
    """Run sleeve weights [K, C] decided on `rows` from cash; returns the accounting and contributions [K, C]."""
    targets = universe.asset_weights(sleeve_weights, rows)
    result, excess = simulate_books(
        targets, universe.asset_returns[rows + 1], universe.cash_return[rows + 1], universe.costs
    )
    contributions = np.zeros((len(rows), universe.n_sleeves))
    for k in range(len(rows)):
        contributions[k] = sleeve_contributions(excess[k], universe.sleeve_of_asset, universe.n_sleeves)
    return result, contributions


def trailing_sleeve_returns(universe: SleeveUniverse, row: int, window: int) -> np.ndarray:
    """The last `window` realised sleeve returns at or before `row` ([<= window, C]); never a later row."""
    available = np.flatnonzero(universe.realised[: row + 1])
    return universe.sleeve_returns[available[-window:]]


def covariance_snapshot(universe: SleeveUniverse, row: int, window: int) -> np.ndarray:
    """Ledoit-Wolf covariance [C, C] of `trailing_sleeve_returns`; zeros until two returns are realised."""
    returns = trailing_sleeve_returns(universe, row, window)
    if len(returns) < 2:
        return np.zeros((universe.n_sleeves, universe.n_sleeves))
    return np.asarray(LedoitWolf().fit(returns).covariance_)


def _aligned_bounds(markets: list[MarketData], dates: np.ndarray) -> dict[str, tuple[int, int]]:
    bounds = {}
    for split in SPLITS:
        first = max(market.dates[market.block(split)][0] for market in markets)
        last = min(market.dates[market.block(split)][-1] for market in markets)
        start = int(np.searchsorted(dates, first, side="left"))
        stop = int(np.searchsorted(dates, last, side="right"))
        if stop - start < 2:
            raise UserError(
                f"the asset classes {[m.asset_class for m in markets]} share fewer than 2 trading days in their "
                f"{split!r} blocks; use classes whose histories overlap (data.start/data.end, data.splits)"
            )
        bounds[split] = (start, stop)
    return bounds


def _compound(values: np.ndarray, class_dates: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Compound per-row returns of a class calendar onto aligned `dates` (each aligned date is a class date)."""
    group = np.searchsorted(dates, class_dates, side="left")
    keep = group < len(dates)
    starts = np.flatnonzero(np.diff(np.concatenate(([-1], group[keep]))) != 0)
    growth = np.multiply.reduceat(1.0 + values[keep], starts, axis=0)
    return np.asarray(growth - 1.0)


def _regime(market: MarketData, rows: np.ndarray, window: int) -> tuple[np.ndarray, list[str]]:
    """Mean over priced symbols of the class's regime features; else the trailing realised volatility."""
    names = [name for name in market.feature_names if name.startswith(REGIME_PREFIXES)]
    mask = market.mask[rows]
    if names:
        columns = [market.feature_names.index(name) for name in names]
        features = market.features[rows][:, :, columns].astype(np.float64)
        counts = np.maximum(mask.sum(axis=1), 1)[:, None]
        values = np.where(mask[:, :, None], features, 0.0).sum(axis=1) / counts
        return values, [f"{market.asset_class}/{name}" for name in names]
    average = np.where(market.mask, market.returns, 0.0).sum(axis=1) / np.maximum(market.mask.sum(axis=1), 1)
    volatility = np.zeros(len(market.dates))
    for t in range(len(market.dates)):
        recent = average[max(0, t + 1 - window) : t + 1]
        volatility[t] = recent.std() * np.sqrt(TRADING_DAYS_PER_YEAR) if len(recent) >= 2 else 0.0
    return volatility[rows][:, None], [f"{market.asset_class}/realised_vol"]


def build_universe(
    markets: Mapping[str, MarketData],
    signals: Mapping[str, ClassSignals],
    costs: Mapping[str, CostModel],
    window: int,
) -> SleeveUniverse:
    """Align the classes, attach their signals, and run each sleeve alone on every split (see module doc)."""
    classes = tuple(sorted(markets))
    missing = [c for c in classes if c not in signals or c not in costs]
    if missing:
        raise UserError(f"asset classes {missing} have no signals or no costs; produce signals for every class")
    ordered = [markets[c] for c in classes]
    dates = ordered[0].dates
    for market in ordered[1:]:
        dates = np.intersect1d(dates, market.dates)
    if len(dates) < 2:
        raise UserError(f"asset classes {list(classes)} share fewer than 2 trading days; check data.start/data.end")
    bounds = _aligned_bounds(ordered, dates)

    returns: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    signal_columns: list[np.ndarray] = []
    split_columns: list[np.ndarray] = []
    regimes: list[np.ndarray] = []
    symbols: list[str] = []
    regime_names: list[str] = []
    sleeve_of_asset: list[int] = []
    asset_costs: list[AssetCosts] = []
    for index, (name, market) in enumerate(zip(classes, ordered, strict=True)):
        rows = np.searchsorted(market.dates, dates)
        returns.append(_compound(market.returns, market.dates, dates))
        masks.append(market.mask[rows])
        values = np.asarray(signals[name].values, dtype=np.float64)
        if values.shape != market.returns.shape:
            raise UserError(
                f"signals of {name!r} have shape {values.shape}, expected {market.returns.shape} (dates x symbols)"
            )
        signal_columns.append(values[rows])
        split_columns.append(np.asarray(signals[name].split)[rows])
        symbols.extend(market.symbols)
        sleeve_of_asset.extend([index] * market.n_assets)
        asset_costs.append(AssetCosts.uniform(costs[name], market.n_assets))
        values_regime, names = _regime(market, rows, window)
        regimes.append(values_regime)
        regime_names.extend(names)
    cash_return = _compound(ordered[0].cash_return, ordered[0].dates, dates)
    asset_returns = np.concatenate(returns, axis=1)
    mask = np.concatenate(masks, axis=1)
    sleeve_index = np.asarray(sleeve_of_asset, dtype=np.int64)
    counts = np.bincount(sleeve_index)
    raw = np.concatenate(signal_columns, axis=1)

    decision_rows: dict[str, np.ndarray] = {}
    filled = np.full_like(raw, np.nan)
    for split, (start, stop) in bounds.items():
        in_split = np.stack([column == split for column in split_columns], axis=1)[start:stop]
        has = np.stack(
            [np.isfinite(raw[start:stop, sleeve_index == c]).any(axis=1) for c in range(len(classes))], axis=1
        )
        covered = np.flatnonzero((in_split & has).all(axis=1))
        if covered.size == 0 or start + covered[0] > stop - 2:
            raise UserError(
                f"no day of the {split!r} block has signals of every class {list(classes)}; the signals file "
                "must cover each class's train, val and test decision rows"
            )
        first, last = start + int(covered[0]), min(start + int(covered[-1]), stop - 2)
        block = np.where(in_split[:, sleeve_index], raw[start:stop], np.nan)[first - start : last - start + 1]
        # Forward fill within the split: a day a class has no signal keeps its last one (causal).
        for k in range(1, len(block)):
            block[k] = np.where(np.isfinite(block[k]), block[k], block[k - 1])
        filled[first : last + 1] = block
        decision_rows[split] = np.arange(first, last + 1)
    if np.nanmax(np.abs(filled)) > 1.0 + 1e-9:
        raise UserError("signals must lie in [-1, 1] (deterministic PPO actions)")
    positions = np.where(mask & np.isfinite(filled), np.nan_to_num(filled), 0.0) / counts[sleeve_index]

    sleeve_returns = np.zeros((len(dates), len(classes)))
    realised = np.zeros(len(dates), dtype=bool)
    for rows in decision_rows.values():
        for c, name in enumerate(classes):
            columns = sleeve_index == c
            alone = simulate_portfolio(
                positions[rows][:, columns], asset_returns[rows + 1][:, columns], cash_return[rows + 1], costs[name]
            )
            sleeve_returns[rows + 1, c] = alone.returns
        realised[rows + 1] = True
    return SleeveUniverse(
        classes=classes,
        dates=dates.astype("datetime64[D]"),
        split_bounds=bounds,
        decision_rows=decision_rows,
        symbols=tuple(symbols),
        sleeve_of_asset=sleeve_index,
        asset_returns=asset_returns,
        cash_return=cash_return,
        positions=positions,
        signals=filled,
        costs=AssetCosts.concatenate(asset_costs),
        sleeve_returns=sleeve_returns,
        realised=realised,
        regime=np.concatenate(regimes, axis=1),
        regime_names=tuple(regime_names),
    )

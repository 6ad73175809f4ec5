"""The sleeves of the hierarchy on one decision calendar, and the accounting of a portfolio of sleeves.

Calendar: the UNION of the asset classes' bars. The meta-controller decides on every bar of any class, so a class
that trades when another is closed (crypto on weekends, a commodity exchange on an equity holiday) is never kept
waiting. On a union bar where a class has no bar of its own, its market is closed:
- its assets earn 0 over a row ending there: the return of its next bar, close to close, spans the gap, so no
  return is lost or counted twice;
- it holds: at a decision on such a bar its assets keep their drifted weights, whatever the meta-controller asks
  (no trade, so no trading cost), and a row ending there charges it no borrow (its borrow rate is per bar of its
  own calendar, which spreads the year's fee over its own bars);
- its signals, positions, price mask and regime features carry its last bar's values forward (causal: the latest
  class bar at or before the union bar).
The cash return of a union bar is that of the densest class with a bar there (the most bars a year, then the first
name); the data layer's cash return is per bar, so every union bar earns one bar of cash. The calendar's
`bars_per_year` is the largest of the classes': the union holds every bar of its densest class (and at most a few
more, where a sparser class trades on its holidays), so a year of the union is a year of the densest calendar, and
annualising its returns with that count is right. When every class has the same bars, the union is that calendar,
nothing is ever held, and every number is that of one calendar. Split blocks are the union bars from the latest
first bar to the earliest last bar of the classes' blocks of that split (the classes' embargo gaps carry over).

Sleeve: the book of one asset class that follows its PPO signals. Position of symbol i = signal_i / N (N the
class's symbols, 0 where the symbol has no price): the sleeve is the PPO run's own equal-capital book without
the class's leverage factor, so its gross exposure is at most 1 and sleeve weight w_c bounds the asset-level
exposure of the class.

Accounting: a portfolio holds sleeve weights w (fractions of NAV); its asset-level target is
W_i = w_sleeve(i) * position_i, and it is run as ONE book over every asset through the market core's kernel
`step_books` (trade from the drifted weights, costs on the traded notional, borrow on shorts, cash on the rest)
with per-asset rates (`SleeveUniverse.costs`: each class's own CostModel on its own calendar), holding the closed
classes (`SleeveUniverse.sessions`, `market_core.Sessions`). The row's net return is the cash return plus each
sleeve's contribution W_c . (R_c - cash) - cost_c, to rounding (`HierarchyStep.contributions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.covariance import LedoitWolf

from hierl.data.market import SPLITS, MarketData
from hierl.envs.market_core import (
    AssetCosts,
    CostModel,
    Sessions,
    SimulationResult,
    simulate_books,
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
    """Everything the portfolio env, the evaluation and the baselines read, on the decision calendar [T rows].

    Attributes:
        classes: C asset-class (sleeve) names, sorted.
        dates: datetime64 [T], the decision calendar: the union of the classes' bars (see the module doc).
        split_bounds: split -> half-open row range.
        decision_rows: split -> rows where every sleeve has signals and the next row is in the block.
        symbols: N symbols of all classes, class after class; `sleeve_of_asset` [N] maps each to its sleeve.
        asset_returns: [T, N] return from the previous row to row t (0 where the class has no bar at t);
            `cash_return` [T] likewise (the densest class's with a bar at t).
        positions: [T, N] sleeve positions (fractions of sleeve capital) chosen at the close of each row.
        signals: [T, N] the signals behind them (NaN outside decision rows).
        costs: [N] each asset's class costs (`AssetCosts`: per unit traded, per bar of its class's calendar per
            unit short).
        sleeve_returns: [T, C] return of each sleeve alone realised at row t (from a decision at t - 1).
        realised: [T] True where `sleeve_returns` holds a realised return.
        regime: [T, R] regime indicators (`regime_names`), causal.
        has_bar: [T, C] True where class c has a bar of its own at row t (False: its market is closed, it holds).
        bars_per_year: bars in a year of the decision calendar, the largest of the classes' (the module doc).
        class_bars_per_year: [C] each class's own bars a year (its `MarketData.bars_per_year`).
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
    has_bar: np.ndarray
    bars_per_year: float
    class_bars_per_year: tuple[float, ...]

    @property
    def n_sleeves(self) -> int:
        return len(self.classes)

    @property
    def trade_rate(self) -> np.ndarray:
        """[N] cost per unit of NAV traded in each asset (`costs.trade_rate`)."""
        return self.costs.trade_rate

    @property
    def borrow_rate(self) -> np.ndarray:
        """[N] fee per bar of its class's calendar per unit of NAV short in each asset (`costs.borrow_rate`)."""
        return self.costs.borrow_rate

    def asset_weights(self, sleeve_weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Asset-level targets [K, N] of sleeve weights [K, C] held on `rows` (before any closed class holds)."""
        return np.asarray(sleeve_weights)[:, self.sleeve_of_asset] * self.positions[rows]

    def sessions(self, rows: np.ndarray) -> Sessions | None:
        """Where the assets have bars over the rows decided at `rows`: at the decision (they can trade) and at the
        end of the row (they accrue borrow). None when every class has both bars of every row: nothing holds."""
        rows = np.asarray(rows)
        tradable = self.has_bar[rows][:, self.sleeve_of_asset]
        accruing = self.has_bar[rows + 1][:, self.sleeve_of_asset]
        if tradable.all() and accruing.all():
            return None
        return Sessions(tradable, accruing)

    def sleeve_costs(self, asset_class: str) -> CostModel:
        """The CostModel of one sleeve on its class's own calendar, rebuilt from its per-asset rates."""
        sleeve = self.classes.index(asset_class)
        index = int(np.flatnonzero(self.sleeve_of_asset == sleeve)[0])
        bars_per_year = self.class_bars_per_year[sleeve]
        return CostModel(
            cost_bps=float(self.trade_rate[index]) * 1e4,
            slippage_bps=0.0,
            borrow_bps_annual=float(self.borrow_rate[index]) * 1e4 * bars_per_year,
            bars_per_year=bars_per_year,
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
    net_return == next_cash + contributions.sum() to rounding."""
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
    """Run sleeve weights [K, C] decided on `rows` from cash; returns the accounting and contributions [K, C].

    A class without a bar at a decision holds (`SleeveUniverse.sessions`); the result's `weights` are the asset
    weights held.
    """
    targets = universe.asset_weights(sleeve_weights, rows)
    result, excess = simulate_books(
        targets,
        universe.asset_returns[rows + 1],
        universe.cash_return[rows + 1],
        universe.costs,
        sessions=universe.sessions(rows),
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


def union_split_blocks(markets: list[MarketData], dates: np.ndarray) -> dict[str, tuple[int, int]]:
    """Each split's rows [start, stop) of the union calendar `dates`: from the latest first bar to the earliest
    last bar of the classes' blocks of that split (see the module doc)."""
    bounds = {}
    for split in SPLITS:
        first = max(market.dates[market.block(split)][0] for market in markets)
        last = min(market.dates[market.block(split)][-1] for market in markets)
        start = int(np.searchsorted(dates, first, side="left"))
        stop = int(np.searchsorted(dates, last, side="right"))
        if stop - start < 2:
            raise UserError(
                f"the {split!r} blocks of the asset classes {[m.asset_class for m in markets]} overlap on fewer than "
                "2 bars; use classes whose histories overlap (data.start/data.end, data.splits)"
            )
        bounds[split] = (start, stop)
    return bounds


def check_one_bar_length(markets: list[MarketData]) -> None:
    """The classes' bars must have one length: a daily bar is stamped with its day but known only at its close, so
    on a union with hourly bars it would be placed before the hours it was not yet known in."""
    lengths = {market.asset_class: market.frequency for market in markets}
    if len(set(lengths.values())) > 1:
        raise UserError(
            f"the asset classes have bars of different lengths {lengths}; the hierarchy aligns classes of one bar "
            "length: give them data of one bar length (data.frequency)"
        )


def union_calendar(markets: list[MarketData]) -> np.ndarray:
    """Every bar of any class, increasing: the hierarchy's decision calendar (see the module doc)."""
    dates = np.asarray(markets[0].dates)
    for market in markets[1:]:
        dates = np.union1d(dates, market.dates)
    return dates


def union_bars_per_year(markets: list[MarketData]) -> float:
    """Bars in a year of the union calendar: the densest class's (see the module doc)."""
    return max(float(market.bars_per_year) for market in markets)


@dataclass(frozen=True)
class _OnCalendar:
    """Where one class's bars fall on the decision calendar [T]: `has_bar` (a bar at that date), `latest` (its
    latest row at or before the date, whose values a closed bar carries forward; clipped to 0) and `started`
    (it has a row at or before the date)."""

    has_bar: np.ndarray
    latest: np.ndarray
    started: np.ndarray

    @classmethod
    def of(cls, class_dates: np.ndarray, dates: np.ndarray) -> _OnCalendar:
        latest = np.searchsorted(class_dates, dates, side="right") - 1
        started = latest >= 0
        latest = np.maximum(latest, 0)
        return cls(started & (class_dates[latest] == dates), latest, started)


def _compound(values: np.ndarray, class_dates: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Per-bar returns of a class calendar compounded onto `dates`: row t is the growth over the class's bars in
    (dates[t - 1], dates[t]], less 1, and 0 where it has none (its market is closed). On the union calendar each
    class bar is a row of its own, so a row holds (1 + r) - 1 of that bar: the same float operations as on the
    class's own calendar when every class has the same bars."""
    group = np.searchsorted(dates, class_dates, side="left")
    keep = group < len(dates)
    kept = group[keep]
    starts = np.flatnonzero(np.diff(np.concatenate(([-1], kept))) != 0)
    growth = np.multiply.reduceat(1.0 + values[keep], starts, axis=0)
    compounded = np.zeros((len(dates), *values.shape[1:]))
    compounded[kept[starts]] = growth - 1.0
    return compounded


def _cash_return(markets: list[MarketData], places: list[_OnCalendar], dates: np.ndarray) -> np.ndarray:
    """The cash return of each row: that of the densest class with a bar there (most bars a year, then the first
    name; see the module doc)."""
    order = sorted(range(len(markets)), key=lambda c: -float(markets[c].bars_per_year))  # stable: names break ties
    cash = np.zeros(len(dates))
    covered = np.zeros(len(dates), dtype=bool)
    for c in order:
        take = places[c].has_bar & ~covered
        cash = np.where(take, _compound(markets[c].cash_return, markets[c].dates, dates), cash)
        covered |= places[c].has_bar
    return cash


def _regime(market: MarketData, rows: np.ndarray, window: int) -> tuple[np.ndarray, list[str]]:
    """Mean over priced symbols of the class's regime features; else the trailing realised volatility, annualised
    with the class's own bars a year."""
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
    scale = np.sqrt(market.bars_per_year)
    for t in range(len(market.dates)):
        recent = average[max(0, t + 1 - window) : t + 1]
        volatility[t] = recent.std() * scale if len(recent) >= 2 else 0.0
    return volatility[rows][:, None], [f"{market.asset_class}/realised_vol"]


def simulate_class_book(
    targets: np.ndarray,
    returns: np.ndarray,
    cash: np.ndarray,
    costs: CostModel,
    tradable: np.ndarray,
    accruing: np.ndarray,
) -> SimulationResult:
    """One book of assets of one class alone over K rows of the decision calendar ([K, n] targets and returns; [K]
    cash and the class's bar flags: at each decision, `tradable`, and at each row's end, `accruing`).

    The class holds where it has no bar, as in the portfolio (`market_core.Sessions`).
    """
    n_assets = targets.shape[1]
    sessions = Sessions(np.repeat(tradable[:, None], n_assets, axis=1), np.repeat(accruing[:, None], n_assets, axis=1))
    result, _ = simulate_books(targets, returns, cash, AssetCosts.uniform(costs, n_assets), sessions=sessions)
    return result


def build_universe(
    markets: Mapping[str, MarketData],
    signals: Mapping[str, ClassSignals],
    costs: Mapping[str, CostModel],
    window: int,
) -> SleeveUniverse:
    """Put the classes on the union calendar, attach their signals, and run each sleeve alone on every split (see
    the module doc). Each class's costs are charged on its own calendar (`CostModel.on_calendar`)."""
    classes = tuple(sorted(markets))
    missing = [c for c in classes if c not in signals or c not in costs]
    if missing:
        raise UserError(f"asset classes {missing} have no signals or no costs; produce signals for every class")
    ordered = [markets[c] for c in classes]
    check_one_bar_length(ordered)
    dates = union_calendar(ordered)
    if len(dates) < 2:
        raise UserError(f"asset classes {list(classes)} have fewer than 2 bars; check data.start/data.end")
    bounds = union_split_blocks(ordered, dates)
    places = [_OnCalendar.of(market.dates, dates) for market in ordered]
    class_costs = {
        name: costs[name].on_calendar(market.bars_per_year) for name, market in zip(classes, ordered, strict=True)
    }

    returns: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    signal_columns: list[np.ndarray] = []
    split_columns: list[np.ndarray] = []
    regimes: list[np.ndarray] = []
    symbols: list[str] = []
    regime_names: list[str] = []
    sleeve_of_asset: list[int] = []
    asset_costs: list[AssetCosts] = []
    for index, (name, market, place) in enumerate(zip(classes, ordered, places, strict=True)):
        rows, started = place.latest, place.started
        returns.append(_compound(market.returns, market.dates, dates))
        masks.append(market.mask[rows] & started[:, None])
        values = np.asarray(signals[name].values, dtype=np.float64)
        if values.shape != market.returns.shape:
            raise UserError(
                f"signals of {name!r} have shape {values.shape}, expected {market.returns.shape} (dates x symbols)"
            )
        signal_columns.append(np.where(started[:, None], values[rows], np.nan))
        split_columns.append(np.where(started, np.asarray(signals[name].split)[rows], ""))
        symbols.extend(market.symbols)
        sleeve_of_asset.extend([index] * market.n_assets)
        asset_costs.append(AssetCosts.uniform(class_costs[name], market.n_assets))
        values_regime, names = _regime(market, rows, window)
        regimes.append(np.where(started[:, None], values_regime, 0.0))
        regime_names.extend(names)
    cash_return = _cash_return(ordered, places, dates)
    asset_returns = np.concatenate(returns, axis=1)
    mask = np.concatenate(masks, axis=1)
    has_bar = np.stack([place.has_bar for place in places], axis=1)
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
                f"no bar of the {split!r} block has signals of every class {list(classes)}; the signals file "
                "must cover each class's train, val and test decision rows"
            )
        first, last = start + int(covered[0]), min(start + int(covered[-1]), stop - 2)
        block = np.where(in_split[:, sleeve_index], raw[start:stop], np.nan)[first - start : last - start + 1]
        # Forward fill within the split: a bar a class has no signal keeps its last one (causal).
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
            sleeve_returns[rows + 1, c] = simulate_class_book(
                positions[rows][:, columns],
                asset_returns[rows + 1][:, columns],
                cash_return[rows + 1],
                class_costs[name],
                has_bar[rows, c],
                has_bar[rows + 1, c],
            ).returns
        realised[rows + 1] = True
    return SleeveUniverse(
        classes=classes,
        dates=dates,
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
        has_bar=has_bar,
        bars_per_year=union_bars_per_year(ordered),
        class_bars_per_year=tuple(float(market.bars_per_year) for market in ordered),
    )

"""The hierarchy across classes on different calendars: a crypto class trades every day, an equity class on weekdays.

The decision calendar is the union of their bars; on a weekend the equity class is closed: its asset earns 0, keeps
its position (no trade, no cost, no borrow) and its signal carries Friday's forward; the meta-controller still
decides every day. Checked against a dollar ledger written out here and against data changed after a bar.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hierl.config.env import RewardConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.data.market import MarketData
from hierl.envs.market_core import CostModel
from hierl.envs.portfolio_env import PortfolioEnv
from hierl.envs.sleeves import (
    ClassSignals,
    SleeveUniverse,
    build_universe,
    simulate_hierarchy,
    union_bars_per_year,
    union_calendar,
)
from hierl.errors import UserError

START = np.datetime64("2021-01-04")  # a Monday
DAYS = START + np.arange(140).astype("timedelta64[D]")  # 20 weeks
VAL_START, TEST_START = np.datetime64("2021-03-29"), np.datetime64("2021-04-26")
COSTS = {"crypto": CostModel(10.0, 0.0, 100.0), "equity": CostModel(5.0, 1.0, 50.0)}
CASH = {"crypto": 1e-4, "equity": 2e-4}
SIGNAL = {"crypto": 1.0, "equity": -0.5}  # the equity sleeve is short: its borrow is charged
ENV = PortfolioEnvConfig(window=5, cov_window=10, episode_length=30, min_sleeve_weight=0.1, max_sleeve_weight=0.7)
REWARD = RewardConfig(volatility_penalty=0.0)


def weekday(dates: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return (dates.astype("datetime64[D]").astype(np.int64) + 3) % 7


def class_market(name: str, dates: np.ndarray, bars_per_year: float, seed: int) -> MarketData:
    """One asset on `dates`, split by date (train before VAL_START, val before TEST_START, test after)."""
    rng = np.random.default_rng(seed)
    n_days = len(dates)
    returns = rng.normal(0.0, 0.02, size=(n_days, 1))
    returns[0] = 0.0
    val, test = int(np.searchsorted(dates, VAL_START)), int(np.searchsorted(dates, TEST_START))
    return MarketData(
        asset_class=name,
        dates=dates,
        symbols=("BTC",) if name == "crypto" else ("SPY",),
        feature_names=("f0", "f1"),
        features=rng.normal(size=(n_days, 1, 2)).astype(np.float32),
        returns=returns,
        prices=100.0 * np.cumprod(1.0 + returns, axis=0),
        mask=np.ones((n_days, 1), dtype=bool),
        cash_return=np.full(n_days, CASH[name]),
        split_bounds={"train": (0, val), "val": (val, test), "test": (test, n_days)},
        fingerprint=f"{name}-{seed}",
        bars_per_year=bars_per_year,
    )


def markets() -> dict[str, MarketData]:
    return {
        "crypto": class_market("crypto", DAYS, 365.0, 1),
        "equity": class_market("equity", DAYS[weekday(DAYS) < 5], 252.0, 2),
    }


def signals_of(market: MarketData, values: np.ndarray | None = None) -> ClassSignals:
    """`values` (default: the class's constant SIGNAL) from each block's second row to its second last."""
    given = np.full(market.returns.shape, SIGNAL[market.asset_class]) if values is None else values
    signals = np.full(market.returns.shape, np.nan)
    split = np.full(len(market.dates), "", dtype=object)
    for name, (start, stop) in market.split_bounds.items():
        signals[start + 1 : stop - 1] = given[start + 1 : stop - 1]
        split[start + 1 : stop - 1] = name
    return ClassSignals(values=signals, split=split)


def universe_of(classes: dict[str, MarketData], signals: dict[str, ClassSignals] | None = None) -> SleeveUniverse:
    chosen = signals if signals is not None else {name: signals_of(market) for name, market in classes.items()}
    return build_universe(classes, chosen, COSTS, 5)


def ledger(classes: dict[str, MarketData], dates: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> dict:
    """A dollar book of BTC and SPY, written from the rule alone: each class trades to sleeve weight x signal on its
    own days only (elsewhere its dollars stay put), earns its own return on its own days (0 between), pays its
    borrow per bar of its own calendar on its own days, and cash earns the crypto class's rate (the densest)."""
    crypto, equity = classes["crypto"], classes["equity"]
    own = {name: dict(zip(m.dates.tolist(), m.returns[:, 0].tolist(), strict=True)) for name, m in classes.items()}
    cash_rate = dict(zip(crypto.dates.tolist(), crypto.cash_return.tolist(), strict=True))
    nav, held = 1.0, {"crypto": 0.0, "equity": 0.0}
    out: dict[str, list[float]] = {"returns": [], "cost": [], "turnover": [], "spy": [], "nav_before": []}
    for k, row in enumerate(rows):
        decided, realised = dates[row].item(), dates[row + 1].item()
        wanted = {}
        for c, name in enumerate(("crypto", "equity")):
            trades_now = decided in own[name]
            wanted[name] = weights[k, c] * SIGNAL[name] * nav if trades_now else held[name]
        traded = sum(abs(wanted[n] - held[n]) for n in wanted)
        fees = sum(COSTS[n].trade_rate * abs(wanted[n] - held[n]) for n in wanted)
        for name, market in classes.items():
            if realised in own[name]:
                annual = COSTS[name].borrow_bps_annual * 1e-4
                fees += annual / market.bars_per_year * max(-wanted[name], 0.0)
        cash = nav - sum(wanted.values())
        held = {n: wanted[n] * (1.0 + own[n].get(realised, 0.0)) for n in wanted}
        after = sum(held.values()) + cash * (1.0 + cash_rate[realised]) - fees
        out["returns"].append(after / nav - 1.0)
        out["cost"].append(fees / nav)
        out["turnover"].append(traded / nav)
        out["spy"].append(wanted["equity"])
        out["nav_before"].append(nav)
        nav = after
    assert equity.asset_class == "equity"
    return {key: np.array(values) for key, values in out.items()}


def test_the_decision_calendar_is_the_union_of_the_bars_at_the_densest_count() -> None:
    classes = markets()
    universe = universe_of(classes)
    np.testing.assert_array_equal(universe.dates, DAYS)
    np.testing.assert_array_equal(universe.has_bar[:, universe.classes.index("crypto")], True)
    np.testing.assert_array_equal(universe.has_bar[:, universe.classes.index("equity")], weekday(DAYS) < 5)
    assert universe.bars_per_year == 365.0
    assert universe.class_bars_per_year == (365.0, 252.0)
    # The walk-forward cuts its folds from the same calendar, a year of it 365 bars.
    np.testing.assert_array_equal(union_calendar(list(classes.values())), DAYS)
    assert union_bars_per_year(list(classes.values())) == 365.0
    # The meta-controller decides on every bar, weekends included.
    rows = universe.decision_rows["val"]
    assert set(weekday(universe.dates[rows]).tolist()) == set(range(7))
    # Each block lies inside both classes' blocks of that split.
    for split, (start, stop) in universe.split_bounds.items():
        for market in classes.values():
            block = market.dates[market.block(split)]
            assert block[0] <= universe.dates[start] and universe.dates[stop - 1] <= block[-1]


def test_a_closed_class_earns_nothing_on_its_closed_bars_and_its_next_bar_spans_the_gap() -> None:
    classes = markets()
    universe = universe_of(classes)
    spy = universe.symbols.index("SPY")
    closed = weekday(DAYS) >= 5
    np.testing.assert_array_equal(universe.asset_returns[closed, spy], 0.0)
    equity = classes["equity"]
    np.testing.assert_allclose(universe.asset_returns[~closed, spy], equity.returns[:, 0], rtol=0, atol=1e-15)
    monday = int(np.flatnonzero(weekday(DAYS) == 0)[1])
    assert universe.asset_returns[monday, spy] == pytest.approx(equity.returns[5, 0], abs=1e-15)  # Fri -> Mon
    # Cash: the crypto class's (the densest), on every bar.
    np.testing.assert_allclose(universe.cash_return, CASH["crypto"], rtol=0, atol=1e-15)
    # Borrow per bar of each class's own calendar.
    assert universe.borrow_rate[spy] == pytest.approx(50.0 * 1e-4 / 252.0, rel=1e-12)
    assert universe.borrow_rate[universe.symbols.index("BTC")] == pytest.approx(100.0 * 1e-4 / 365.0, rel=1e-12)


def test_signals_positions_and_regime_carry_the_last_bar_forward() -> None:
    classes = markets()
    rng = np.random.default_rng(5)
    given = {name: signals_of(m, rng.uniform(-1.0, 1.0, size=m.returns.shape)) for name, m in classes.items()}
    universe = universe_of(classes, given)
    spy = universe.symbols.index("SPY")
    regime = universe.regime_names.index("equity/realised_vol")
    for row in universe.decision_rows["val"]:
        if weekday(universe.dates[row : row + 1])[0] < 5:
            continue
        friday = row - 1 if weekday(universe.dates[row : row + 1])[0] == 5 else row - 2
        assert universe.signals[row, spy] == universe.signals[friday, spy]
        assert universe.positions[row, spy] == universe.positions[friday, spy]
        assert universe.regime[row, regime] == universe.regime[friday, regime]
    # And Friday's is the equity class's own signal of that Friday.
    equity = classes["equity"]
    fridays = [r for r in universe.decision_rows["val"] if weekday(universe.dates[r : r + 1])[0] == 4]
    own = given["equity"].values[np.searchsorted(equity.dates, universe.dates[fridays]), 0]
    np.testing.assert_array_equal(universe.signals[fridays, spy], own)


def test_the_accounting_matches_a_dollar_ledger_where_the_closed_class_holds() -> None:
    classes = markets()
    universe = universe_of(classes)
    rows = universe.decision_rows["val"]
    weights = np.random.default_rng(3).uniform(0.1, 0.6, size=(len(rows), 2))
    result, contributions = simulate_hierarchy(universe, weights, rows)
    expected = ledger(classes, universe.dates, rows, weights)
    np.testing.assert_allclose(result.returns, expected["returns"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(result.cost, expected["cost"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(result.turnover, expected["turnover"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(result.returns, universe.cash_return[rows + 1] + contributions.sum(axis=1), atol=1e-15)
    spy, btc, equity = universe.symbols.index("SPY"), universe.symbols.index("BTC"), universe.classes.index("equity")
    np.testing.assert_allclose(result.weights[:, spy] * expected["nav_before"], expected["spy"], atol=1e-14)
    # hierl's own book, asset by asset: the weight each asset drifted to from the previous row, and what it traded.
    drifted = np.zeros_like(result.weights)
    for k in range(1, len(rows)):
        grown = result.weights[k - 1] * (1.0 + universe.asset_returns[rows[k - 1] + 1])
        drifted[k] = grown / (1.0 + result.returns[k - 1])
    traded = np.abs(result.weights - drifted)
    closed = ~universe.has_bar[rows, equity]
    assert closed.sum() >= 6  # three weekends of the val block
    # A closed decision: SPY keeps its drifted weight (no trade, so no trading cost), its dollars stay put.
    np.testing.assert_allclose(traded[closed, spy], 0.0, atol=1e-15)
    dollars = result.weights[:, spy] * expected["nav_before"]
    for k in np.flatnonzero(closed):
        assert dollars[k] == pytest.approx(dollars[k - 1], abs=1e-15)
    assert np.all(traded[~closed & (np.arange(len(rows)) > 0), spy] > 0.0)  # it trades on its own days
    # A row ending on a weekend: SPY earns 0 and its short pays no borrow; the cost is the two trades alone.
    ends_closed = ~universe.has_bar[rows + 1, equity]
    assert np.all(result.weights[ends_closed, spy] < 0.0)
    np.testing.assert_array_equal(universe.asset_returns[rows[ends_closed] + 1, spy], 0.0)
    trades = COSTS["crypto"].trade_rate * traded[:, btc] + COSTS["equity"].trade_rate * traded[:, spy]
    np.testing.assert_allclose(result.cost[ends_closed], trades[ends_closed], rtol=0, atol=1e-15)
    borrow = 50.0 * 1e-4 / 252.0 * -result.weights[:, spy]
    np.testing.assert_allclose(result.cost[~ends_closed], trades[~ends_closed] + borrow[~ends_closed], atol=1e-15)


def test_the_portfolio_env_steps_the_same_ledger_and_decides_on_weekends() -> None:
    classes = markets()
    universe = universe_of(classes)
    env = PortfolioEnv(universe, "val", ENV, REWARD, evaluation=True)
    env.reset()
    rng = np.random.default_rng(9)
    weights, returns, costs = [], [], []
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(rng.uniform(-1.0, 1.0, size=3))
        weights.append(info["sleeve_weights"])
        returns.append(info["net_return"])
        costs.append(info["cost"])
        done = terminated or truncated
    rows = universe.decision_rows["val"]
    expected = ledger(classes, universe.dates, rows, np.array(weights))
    np.testing.assert_allclose(returns, expected["returns"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(costs, expected["cost"], rtol=0, atol=1e-15)
    result, _ = simulate_hierarchy(universe, np.array(weights), rows)
    np.testing.assert_allclose(returns, result.returns, rtol=0, atol=1e-15)


def after(market: MarketData, cut: np.datetime64, rng: np.random.Generator) -> MarketData:
    """`market` with every number dated after `cut` replaced (returns, prices, features, cash)."""
    later = market.dates > cut
    returns, features, cash = market.returns.copy(), market.features.copy(), market.cash_return.copy()
    returns[later] = rng.normal(0.0, 0.1, size=returns[later].shape)
    features[later] = rng.normal(size=features[later].shape).astype(np.float32)
    cash[later] = 0.01
    return dataclasses.replace(market, returns=returns, features=features, cash_return=cash)


def observations(universe: SleeveUniverse, through: int) -> tuple[list[np.ndarray], list[float]]:
    """The val episode's observations at decision rows <= `through` and the returns realised at rows <= it."""
    env = PortfolioEnv(universe, "val", ENV, REWARD, evaluation=True)
    seen = [env.reset()[0]]
    realised = []
    action = np.array([0.4, -0.3, 0.2], dtype=np.float32)
    for row in env.decision_rows:
        if row + 1 > through:
            break
        observation, _, _, _, info = env.step(action)
        realised.append(info["net_return"])
        if row + 1 <= through:
            seen.append(observation)
    return seen, realised


def test_nothing_at_a_bar_depends_on_data_after_it() -> None:
    classes = markets()
    rng = np.random.default_rng(7)
    values = {name: rng.uniform(-1.0, 1.0, size=m.returns.shape) for name, m in classes.items()}
    universe = universe_of(classes, {n: signals_of(m, values[n]) for n, m in classes.items()})
    rows = universe.decision_rows["val"]
    cut_row = int(next(r for r in rows[5:] if weekday(universe.dates[r : r + 1])[0] == 5))  # a Saturday
    cut = universe.dates[cut_row]
    changed_values = {n: v.copy() for n, v in values.items()}
    for name, market in classes.items():
        changed_values[name][market.dates > cut] = rng.uniform(
            -1.0, 1.0, size=changed_values[name][market.dates > cut].shape
        )
    changed = {name: after(market, cut, rng) for name, market in classes.items()}
    later = universe_of(changed, {n: signals_of(m, changed_values[n]) for n, m in changed.items()})
    through = slice(0, cut_row + 1)
    for name in ("positions", "signals", "regime", "asset_returns", "cash_return", "sleeve_returns", "has_bar"):
        np.testing.assert_array_equal(getattr(later, name)[through], getattr(universe, name)[through], err_msg=name)
    seen, realised = observations(universe, cut_row)
    seen_later, realised_later = observations(later, cut_row)
    assert len(seen) > 3
    np.testing.assert_array_equal(np.array(seen_later), np.array(seen))
    np.testing.assert_array_equal(realised_later, realised)
    weights = np.full((len(rows), 2), 0.4)
    base, _ = simulate_hierarchy(universe, weights, rows)
    moved, _ = simulate_hierarchy(later, weights, rows)
    known = rows + 1 <= cut_row
    np.testing.assert_array_equal(moved.returns[known], base.returns[known])
    # Positive control: the next bar's data did change what happened on it.
    assert not np.array_equal(moved.returns[~known], base.returns[~known])
    assert not np.array_equal(later.signals[cut_row + 1 :], universe.signals[cut_row + 1 :])


def test_cash_comes_from_the_densest_class_with_a_bar_and_classes_on_one_calendar_never_hold() -> None:
    weekdays = DAYS[weekday(DAYS) < 5]
    holiday_a, holiday_b = weekdays[10], weekdays[30]
    a = class_market("crypto", weekdays[weekdays != holiday_a], 252.0, 1)
    b = class_market("equity", weekdays[weekdays != holiday_b], 252.0, 2)
    universe = universe_of({"crypto": a, "equity": b})
    np.testing.assert_array_equal(universe.dates, weekdays)
    # Same bars a year: the first name's cash where it trades, the other's on its holiday.
    row_a, row_b = int(np.searchsorted(weekdays, holiday_a)), int(np.searchsorted(weekdays, holiday_b))
    assert universe.cash_return[row_a] == pytest.approx(CASH["equity"], abs=1e-15)
    assert universe.cash_return[row_b] == pytest.approx(CASH["crypto"], abs=1e-15)
    assert universe.cash_return[row_a + 1] == pytest.approx(CASH["crypto"], abs=1e-15)
    assert universe.bars_per_year == 252.0
    # Classes that share one calendar: the union is it, and no row ever holds.
    same = {"crypto": class_market("crypto", DAYS, 365.0, 1), "equity": class_market("equity", DAYS, 365.0, 2)}
    shared = universe_of(same)
    np.testing.assert_array_equal(shared.dates, DAYS)
    assert shared.has_bar.all()
    assert shared.sessions(shared.decision_rows["test"]) is None


def test_classes_with_bars_of_different_lengths_are_refused_in_one_line() -> None:
    classes = markets()
    hours = START + np.arange(24 * 30).astype("timedelta64[h]")
    hourly = dataclasses.replace(
        class_market("crypto", hours.astype("datetime64[s]"), 8760.0, 1), frequency="1h", bars_per_year=8760.0
    )
    with pytest.raises(UserError, match=r"different lengths .*data\.frequency"):
        universe_of({"crypto": hourly, "equity": classes["equity"]})

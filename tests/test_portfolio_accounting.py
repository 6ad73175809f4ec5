"""The hierarchy's accounting is the sum of its sleeves, and the union calendar loses no return: a class holds on the
bars it does not trade."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hierl.data.market import MarketData
from hierl.envs.market_core import AssetCosts, CostModel, simulate_portfolio, step_books
from hierl.envs.sleeves import build_universe, simulate_hierarchy, step_hierarchy
from tests.portfolio_fixtures import COSTS, class_market, momentum_signals, two_class_markets, two_class_universe


def random_sleeve_weights(n_rows: int, n_sleeves: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 0.6, size=(n_rows, n_sleeves))


def test_net_return_is_cash_plus_the_sleeve_contributions() -> None:
    universe = two_class_universe()
    rows = universe.decision_rows["train"]
    weights = random_sleeve_weights(len(rows), 2)
    result, contributions = simulate_hierarchy(universe, weights, rows)
    # Each sleeve's contribution recomputed asset by asset: its excess over cash on the target, less its own
    # trading and borrow costs, with the book drifting between rows. A class without a bar at the decision keeps
    # its drifted weight; one without a bar at the end of the row pays no borrow.
    drifted = [0.0] * len(universe.symbols)
    holds = 0
    for k, row in enumerate(rows):
        cash = float(universe.cash_return[row + 1])
        expected = [0.0] * universe.n_sleeves
        grown = []
        for i, sleeve in enumerate(universe.sleeve_of_asset):
            open_now, open_next = universe.has_bar[row, sleeve], universe.has_bar[row + 1, sleeve]
            target = float(weights[k][sleeve] * universe.positions[row, i]) if open_now else drifted[i]
            holds += not open_now
            asset_return = float(universe.asset_returns[row + 1, i])
            borrow = universe.borrow_rate[i] * max(-target, 0.0) if open_next else 0.0
            fee = universe.trade_rate[i] * abs(target - drifted[i]) + borrow
            expected[sleeve] += target * (asset_return - cash) - fee
            grown.append(target * (1.0 + asset_return))
        net = cash + sum(expected)
        np.testing.assert_allclose(contributions[k], expected, rtol=0, atol=1e-15)
        assert result.returns[k] == pytest.approx(net, rel=0, abs=1e-15)
        drifted = [value / (1.0 + net) for value in grown]
    assert holds > 0  # the commodity class skips every 7th day: some rows hold


def test_accounting_equals_an_independent_dollar_simulation_with_per_class_costs() -> None:
    universe = two_class_universe()
    rows = universe.decision_rows["val"]
    weights = random_sleeve_weights(len(rows), 2, seed=3)
    result, _ = simulate_hierarchy(universe, weights, rows)
    markets = two_class_markets()
    costs = [COSTS[universe.classes[c]] for c in universe.sleeve_of_asset]
    trades = [set(markets[universe.classes[c]].dates.tolist()) for c in universe.sleeve_of_asset]
    dollars, nav = np.zeros(len(universe.symbols)), 1.0
    for k, row in enumerate(rows):
        decided, realised = universe.dates[row].item(), universe.dates[row + 1].item()
        # A class trades only on its own days; on the others its dollars stay where they are (no trade, no fee).
        wanted = np.array(
            [
                weights[k][c] * universe.positions[row, i] * nav if decided in trades[i] else dollars[i]
                for i, c in enumerate(universe.sleeve_of_asset)
            ]
        )
        fees = sum(
            cost.trade_rate * abs(w - d) + (cost.borrow_rate_per_bar * max(-w, 0.0) if realised in days else 0.0)
            for cost, w, d, days in zip(costs, wanted, dollars, trades, strict=True)
        )
        # The market core's convention: fees are charged over the row, not taken out of the cash that earns.
        cash = nav - wanted.sum()
        dollars = wanted * (1.0 + universe.asset_returns[row + 1])
        nav_after = dollars.sum() + cash * (1.0 + universe.cash_return[row + 1]) - fees
        assert np.isclose(nav_after / nav - 1.0, result.returns[k], atol=1e-12, rtol=0)
        nav = nav_after
    assert np.isclose(result.nav[-1], nav, rtol=1e-10)


def one_calendar_markets() -> dict[str, MarketData]:
    """The fixture's two classes, both trading every day."""
    return {"equity": class_market("equity", 260, 1), "commodity": class_market("commodity", 260, 2)}


def test_with_one_calendar_and_one_cost_model_it_is_the_market_core_on_the_union_book() -> None:
    costs = CostModel(7.0, 1.0, 40.0)
    markets = one_calendar_markets()
    universe = build_universe(
        markets, {n: momentum_signals(m) for n, m in markets.items()}, dict.fromkeys(markets, costs), 10
    )
    assert universe.has_bar.all()
    rows = universe.decision_rows["test"]
    weights = random_sleeve_weights(len(rows), 2, seed=5)
    result, _ = simulate_hierarchy(universe, weights, rows)
    core = simulate_portfolio(
        universe.asset_weights(weights, rows), universe.asset_returns[rows + 1], universe.cash_return[rows + 1], costs
    )
    np.testing.assert_array_equal(result.returns, core.returns)  # one kernel: the same bits
    np.testing.assert_array_equal(result.turnover, core.turnover)
    step = step_hierarchy(
        np.zeros(5),
        universe.positions[rows[0]],
        universe.asset_returns[rows[0] + 1],
        1e-4,
        AssetCosts.uniform(costs, 5),
        universe.sleeve_of_asset,
        2,
    )
    reference = step_books(
        np.zeros((1, 5)),
        universe.positions[rows[0]][None, :],
        universe.asset_returns[rows[0] + 1][None, :],
        np.array([1e-4]),
        AssetCosts.uniform(costs, 5),
    )
    assert step.net_return == reference.net_return[0]
    assert step.contributions.sum() + 1e-4 == pytest.approx(step.net_return, abs=1e-16)


def test_a_sleeve_alone_is_the_class_book_through_the_market_core() -> None:
    universe = two_class_universe()
    rows = universe.decision_rows["val"]
    sleeve = universe.classes.index("equity")  # trades every day of the union: nothing holds
    alone = np.zeros((len(rows), 2))
    alone[:, sleeve] = 1.0
    result, _ = simulate_hierarchy(universe, alone, rows)
    columns = universe.sleeve_of_asset == sleeve
    core = simulate_portfolio(
        universe.positions[rows][:, columns],
        universe.asset_returns[rows + 1][:, columns],
        universe.cash_return[rows + 1],
        COSTS["equity"],
    )
    np.testing.assert_allclose(result.returns, core.returns, atol=1e-15)
    np.testing.assert_allclose(universe.sleeve_returns[rows + 1, sleeve], core.returns, atol=1e-15)


def test_a_sleeve_alone_of_a_class_with_closed_days_holds_on_them() -> None:
    universe = two_class_universe()
    rows = universe.decision_rows["val"]
    sleeve = universe.classes.index("commodity")
    alone = np.zeros((len(rows), 2))
    alone[:, sleeve] = 1.0
    result, _ = simulate_hierarchy(universe, alone, rows)
    np.testing.assert_allclose(universe.sleeve_returns[rows + 1, sleeve], result.returns, atol=1e-15)
    # Independently, in fractions of NAV: the sleeve's positions where the class trades, else the drifted book.
    costs = COSTS["commodity"]
    columns = np.flatnonzero(universe.sleeve_of_asset == sleeve)
    book = np.zeros(len(columns))
    closed = 0
    for k, row in enumerate(rows):
        if universe.has_bar[row, sleeve]:
            target = universe.positions[row, columns]
        else:
            target, closed = book, closed + 1
        turnover = np.abs(target - book).sum()
        borrow = (
            costs.borrow_rate_per_bar * np.maximum(-target, 0.0).sum() if universe.has_bar[row + 1, sleeve] else 0.0
        )
        asset_returns = universe.asset_returns[row + 1, columns]
        cash = universe.cash_return[row + 1]
        net = target @ asset_returns + (1.0 - target.sum()) * cash - costs.trade_rate * turnover - borrow
        assert result.returns[k] == pytest.approx(net, rel=0, abs=1e-15)
        book = target * (1.0 + asset_returns) / (1.0 + net)
        np.testing.assert_allclose(result.weights[k, columns], target, rtol=0, atol=1e-15)
    assert closed > 0


def test_decision_calendar_is_the_union_and_a_closed_class_earns_nothing_until_its_next_bar() -> None:
    markets = two_class_markets()
    universe = two_class_universe()
    expected = np.union1d(markets["equity"].dates, markets["commodity"].dates)
    np.testing.assert_array_equal(universe.dates, expected)
    for c, name in enumerate(universe.classes):
        np.testing.assert_array_equal(universe.has_bar[:, c], np.isin(expected, markets[name].dates))
    commodity = markets["commodity"]
    column = universe.symbols.index(commodity.symbols[0])
    trades = np.isin(universe.dates, commodity.dates)
    assert not trades.all()
    np.testing.assert_array_equal(universe.asset_returns[~trades, column], 0.0)
    np.testing.assert_allclose(universe.asset_returns[trades, column], commodity.returns[:, 0], rtol=0, atol=1e-15)
    growth_class = np.prod(1.0 + commodity.returns[1:, 0])
    assert np.isclose(np.prod(1.0 + universe.asset_returns[1:, column]), growth_class, rtol=1e-12)
    # Both classes have the fixture's daily calendar of 252 bars a year: so has the union.
    assert universe.bars_per_year == 252.0


def test_sleeve_positions_are_signal_over_n_and_zero_where_unpriced() -> None:
    markets = two_class_markets()
    equity = markets["equity"]
    mask = equity.mask.copy()
    mask[100:110, 1] = False
    markets["equity"] = dataclasses.replace(equity, mask=mask)
    universe = build_universe(markets, {n: momentum_signals(m) for n, m in markets.items()}, COSTS, 10)
    rows = universe.decision_rows["train"]
    columns = universe.sleeve_of_asset == universe.classes.index("equity")
    positions = universe.positions[rows][:, columns]
    assert np.all(np.abs(positions).sum(axis=1) <= 1.0 + 1e-12)
    class_rows = np.searchsorted(equity.dates, universe.dates[rows])
    aligned_mask = mask[class_rows]
    assert not aligned_mask.all()
    assert np.all(positions[~aligned_mask] == 0.0)
    # The signal of the equity class itself on each decision date (finite on every one, so nothing is filled),
    # over its 3 assets: not the universe's own copy of the signals.
    signals = momentum_signals(markets["equity"]).values[class_rows]
    assert np.isfinite(signals).all()
    np.testing.assert_array_equal(positions[aligned_mask], signals[aligned_mask] / 3)

"""The shared accounting: hand-computed rows, an independent dollar-ledger simulation, fast paths equal to it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierl.envs.market_core import (
    AssetCosts,
    BooksStep,
    CostModel,
    simulate_portfolio,
    step_books,
    step_single_asset,
)

# 10 bps per unit traded, 1 bp per day on shorts (252 bps a year).
COSTS = CostModel(cost_bps=8.0, slippage_bps=2.0, borrow_bps_annual=252.0)


def step_portfolio(before: np.ndarray, target: np.ndarray, returns: np.ndarray, cash: float) -> BooksStep:
    """One row of one book of the assets of `target`, all paying COSTS."""
    costs = AssetCosts.uniform(COSTS, len(target))
    return step_books(before[None, :], target[None, :], returns[None, :], np.array([cash]), costs)


def test_long_row_pays_costs_and_earns_cash_on_the_rest() -> None:
    row = step_portfolio(np.array([0.0]), np.array([0.5]), np.array([0.02]), 1e-4)
    assert row.turnover[0] == pytest.approx(0.5)
    assert row.cost[0] == pytest.approx(0.0005)
    # 0.5 * 2% + 0.5 * 1bp - 5bp
    assert row.net_return[0] == pytest.approx(0.01 + 0.00005 - 0.0005)
    assert row.weights_after[0, 0] == pytest.approx(0.5 * 1.02 / (1 + 0.00955))


def test_short_row_pays_borrow_and_earns_cash_on_the_proceeds() -> None:
    row = step_portfolio(np.array([0.0]), np.array([-1.0]), np.array([0.02]), 1e-4)
    assert row.cost[0] == pytest.approx(0.001 + 0.0001)
    # -1 * 2% + 2 * 1bp (cash plus short proceeds) - 10bp trading - 1bp borrow
    assert row.net_return[0] == pytest.approx(-0.02 + 0.0002 - 0.0011)


def test_flip_from_long_to_short_trades_twice_the_position() -> None:
    row = step_portfolio(np.array([1.0]), np.array([-1.0]), np.array([0.0]), 0.0)
    assert row.turnover[0] == pytest.approx(2.0)
    assert row.cost[0] == pytest.approx(0.002 + 0.0001)


def dollar_ledger(
    targets: np.ndarray, returns: np.ndarray, cash: np.ndarray, costs: CostModel, nav0: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same book kept in currency: holdings in dollars, a cash account, costs paid from cash."""
    holdings = np.zeros(targets.shape[1])
    nav = nav0
    navs, turnovers, paid = [], [], []
    for k in range(len(targets)):
        wanted = targets[k] * nav
        traded = sum(abs(w - h) for w, h in zip(wanted, holdings, strict=True))
        shorts = sum(-w for w in wanted if w < 0)
        fee = traded * (costs.cost_bps + costs.slippage_bps) / 1e4 + shorts * costs.borrow_bps_annual / 1e4 / 252
        cash_account = (nav - wanted.sum()) * (1 + cash[k]) - fee
        holdings = wanted * (1 + returns[k])
        turnovers.append(traded / nav)
        paid.append(fee / nav)
        nav = holdings.sum() + cash_account
        navs.append(nav)
    return np.array(navs), np.array(turnovers), np.array(paid)


def test_simulate_portfolio_matches_a_dollar_ledger() -> None:
    rng = np.random.default_rng(3)
    targets = rng.uniform(-0.8, 0.8, size=(40, 3))
    returns = rng.normal(0, 0.02, size=(40, 3))
    cash = rng.uniform(0, 2e-4, size=40)
    result = simulate_portfolio(targets, returns, cash, COSTS, initial_nav=2.0)
    navs, turnovers, paid = dollar_ledger(targets, returns, cash, COSTS, 2.0)
    np.testing.assert_allclose(result.nav, navs, rtol=1e-12)
    np.testing.assert_allclose(result.turnover, turnovers, rtol=1e-12)
    np.testing.assert_allclose(result.cost, paid, rtol=1e-12)
    np.testing.assert_allclose(result.returns, np.diff(navs, prepend=2.0) / np.r_[2.0, navs[:-1]], rtol=1e-10)


def test_nav_path_over_three_rows_by_hand() -> None:
    result = simulate_portfolio(np.array([[1.0], [1.0], [0.0]]), np.array([[0.1], [-0.1], [0.05]]), np.zeros(3), COSTS)
    nav1 = 1.0 * (1 + 0.1 - 0.001)  # buy 1 unit: 10 bps
    drifted = 1.1 / (1 + 0.1 - 0.001)
    nav2 = nav1 * (1 - 0.1 - 0.001 * (drifted - 1.0))  # trim back to 1 after the rise
    drifted = 0.9 / (1 - 0.1 - 0.001 * (drifted - 1.0))
    nav3 = nav2 * (1 - 0.001 * drifted)  # sell everything, earn nothing
    np.testing.assert_allclose(result.nav, [nav1, nav2, nav3], rtol=1e-12)


def test_simulate_portfolio_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="must both be"):
        simulate_portfolio(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros(3), COSTS)
    with pytest.raises(ValueError, match="next_cash_return"):
        simulate_portfolio(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros(4), COSTS)


finite = st.floats(-3.0, 3.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(before=finite, target=finite, asset_return=st.floats(-0.9, 0.9), cash=st.floats(-0.01, 0.01))
def test_single_asset_fast_path_is_the_kernel_bit_for_bit(
    before: float, target: float, asset_return: float, cash: float
) -> None:
    kernel = step_portfolio(np.array([before]), np.array([target]), np.array([asset_return]), cash)
    fast = step_single_asset(before, target, asset_return, cash, COSTS.trade_rate, COSTS.borrow_rate_per_bar)
    assert fast == (kernel.net_return[0], kernel.turnover[0], kernel.cost[0], kernel.weights_after[0, 0])

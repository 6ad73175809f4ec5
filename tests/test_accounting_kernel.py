"""The market core's kernel `step_books`: K books over N assets with per-asset costs, against a dollar ledger."""

from __future__ import annotations

import numpy as np
import pytest

from hierl.envs.market_core import (
    AssetCosts,
    CostModel,
    simulate_books,
    step_books,
    step_single_asset,
    step_single_asset_books,
)

RATES = AssetCosts(np.array([1e-3, 5e-4, 2e-4, 0.0]), np.array([2e-4, 0.0, 1e-4, 3e-4]))


def random_books(n_books: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    before = rng.normal(0.0, 0.4, size=(n_books, RATES.n_assets))
    targets = rng.normal(0.0, 0.4, size=(n_books, RATES.n_assets))
    returns = rng.normal(0.0, 0.02, size=(n_books, RATES.n_assets))
    cash = rng.normal(1e-4, 5e-5, size=n_books)
    return before, targets, returns, cash


def ledger_row(
    before: np.ndarray, target: np.ndarray, returns: np.ndarray, cash: float, costs: AssetCosts
) -> tuple[float, np.ndarray]:
    """One row in money, asset by asset, from a NAV of 100: (net return, weights drifted to the row's end)."""
    nav = 100.0
    fees = 0.0
    for i in range(len(target)):
        fees += costs.trade_rate[i] * abs(target[i] - before[i]) * nav
        fees += costs.borrow_rate[i] * max(-target[i], 0.0) * nav
    dollars = target * nav * (1.0 + returns)
    nav_after = dollars.sum() + (nav - target.sum() * nav) * (1.0 + cash) - fees
    return nav_after / nav - 1.0, dollars / nav_after


def test_each_book_is_its_dollar_ledger_with_its_assets_own_rates() -> None:
    before, targets, returns, cash = random_books(6, seed=1)
    step = step_books(before, targets, returns, cash, RATES)
    for k in range(6):
        net, after = ledger_row(before[k], targets[k], returns[k], float(cash[k]), RATES)
        assert step.net_return[k] == pytest.approx(net, abs=1e-14)
        np.testing.assert_allclose(step.weights_after[k], after, rtol=1e-12)
        assert step.turnover[k] == pytest.approx(np.abs(targets[k] - before[k]).sum(), abs=1e-15)
    # The per-asset excess adds up to the net return over cash, to rounding.
    np.testing.assert_allclose(step.net_return, cash + step.excess.sum(axis=1), rtol=0.0, atol=1e-16)


def test_k_books_in_one_call_are_the_books_stepped_one_by_one_bit_for_bit() -> None:
    before, targets, returns, cash = random_books(9, seed=2)
    together = step_books(before, targets, returns, cash, RATES)
    for k in range(9):
        alone = step_books(before[k : k + 1], targets[k : k + 1], returns[k : k + 1], cash[k : k + 1], RATES)
        assert alone.net_return[0] == together.net_return[k]
        assert alone.turnover[0] == together.turnover[k]
        assert alone.cost[0] == together.cost[k]
        np.testing.assert_array_equal(alone.weights_after[0], together.weights_after[k])
        np.testing.assert_array_equal(alone.excess[0], together.excess[k])


def test_a_wiped_out_book_holds_nothing_and_leaves_the_others_alone() -> None:
    before, targets, returns, cash = random_books(3, seed=3)
    targets[1] = [3.0, 0.0, 0.0, 0.0]
    returns[1] = [-0.6, 0.0, 0.0, 0.0]  # 3x long through a 60% fall: NAV below zero
    step = step_books(before, targets, returns, cash, RATES)
    assert step.net_return[1] < -1.0
    np.testing.assert_array_equal(step.weights_after[1], 0.0)
    alone = step_books(before[[0, 2]], targets[[0, 2]], returns[[0, 2]], cash[[0, 2]], RATES)
    np.testing.assert_array_equal(step.weights_after[[0, 2]], alone.weights_after)


def one_rate_row(
    before: np.ndarray, target: np.ndarray, returns: np.ndarray, cash: float, costs: CostModel
) -> tuple[float, float, np.ndarray]:
    """An independent computation of one row of a one-`CostModel` book, summed in another order than the kernel's
    (total turnover times the rate, a dot product): (net return, cost, weights after)."""
    turnover = float(np.abs(target - before).sum())
    cost = costs.trade_rate * turnover + costs.borrow_rate_per_bar * float(np.clip(-target, 0.0, None).sum())
    net = float(target @ returns) + (1.0 - float(target.sum())) * cash - cost
    return net, cost, target * (1.0 + returns) / (1.0 + net)


def test_uniform_costs_match_a_one_rate_computation_to_rounding() -> None:
    costs = CostModel(cost_bps=8.0, slippage_bps=2.0, borrow_bps_annual=252.0)
    before, targets, returns, cash = random_books(5, seed=4)
    kernel = step_books(before, targets, returns, cash, AssetCosts.uniform(costs, 4))
    for k in range(5):
        net, cost, after = one_rate_row(before[k], targets[k], returns[k], float(cash[k]), costs)
        assert net == pytest.approx(kernel.net_return[k], abs=1e-15)
        assert cost == pytest.approx(kernel.cost[k], abs=1e-15)
        np.testing.assert_allclose(after, kernel.weights_after[k], rtol=1e-13)


def test_the_single_asset_steps_are_the_kernel_at_one_asset_bit_for_bit() -> None:
    """`TradingEnv` steps on floats, `TradingVecEnv` on [K] arrays, backtests through the kernel: the same bits, so
    a policy's env episode and its backtest agree exactly."""
    costs = CostModel(cost_bps=8.0, slippage_bps=2.0, borrow_bps_annual=252.0)
    one_asset = AssetCosts.uniform(costs, 1)
    rng = np.random.default_rng(6)
    before, targets = rng.normal(0.0, 1.0, 500), rng.normal(0.0, 1.0, 500)
    returns, cash = rng.normal(0.0, 0.3, 500), rng.normal(1e-4, 1e-3, 500)
    targets[::7] = 0.0  # flat: no borrow
    targets[1], returns[1] = 3.0, -0.6  # wiped out
    books = step_books(before[:, None], targets[:, None], returns[:, None], cash, one_asset)
    assert books.weights_after[1, 0] == 0.0
    vectorised = step_single_asset_books(before, targets, returns, cash, costs)
    kernel = (books.net_return, books.turnover, books.cost, books.weights_after[:, 0])
    for ours, theirs in zip(vectorised, kernel, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for k in range(500):
        scalar = step_single_asset(
            float(before[k]),
            float(targets[k]),
            float(returns[k]),
            float(cash[k]),
            costs.trade_rate,
            costs.borrow_rate_per_bar,
        )
        assert scalar == (books.net_return[k], books.turnover[k], books.cost[k], books.weights_after[k, 0])


@pytest.mark.parametrize("n_assets", [1, 4, 37])
def test_simulate_books_is_the_kernel_row_after_row_bit_for_bit(n_assets: int) -> None:
    rng = np.random.default_rng(5)
    rates = AssetCosts(rng.uniform(0.0, 1e-3, n_assets), rng.uniform(0.0, 1e-4, n_assets))
    targets = rng.normal(0.0, 0.3, size=(30, n_assets))
    returns = rng.normal(0.0, 0.01, size=(30, n_assets))
    cash = np.full(30, 1e-4)
    result, excess = simulate_books(targets, returns, cash, rates, initial_nav=2.0)
    drifted = np.zeros((1, n_assets))
    nav = 2.0
    for k in range(30):
        step = step_books(drifted, targets[k : k + 1], returns[k : k + 1], cash[k : k + 1], rates)
        assert result.returns[k] == step.net_return[0]
        assert result.turnover[k] == step.turnover[0]
        assert result.cost[k] == step.cost[0]
        np.testing.assert_array_equal(excess[k], step.excess[0])
        drifted = step.weights_after
        nav *= 1.0 + float(step.net_return[0])
    assert result.nav[-1] == pytest.approx(nav, rel=1e-13)


def test_asset_costs_must_be_two_arrays_of_one_length() -> None:
    with pytest.raises(ValueError, match=r"must both be \[N\]"):
        AssetCosts(np.zeros(3), np.zeros(2))
    joined = AssetCosts.concatenate([AssetCosts.uniform(CostModel(5.0, 0.0, 0.0), 2), RATES])
    np.testing.assert_array_equal(joined.trade_rate, np.concatenate([[5e-4, 5e-4], RATES.trade_rate]))
    assert joined.n_assets == 6

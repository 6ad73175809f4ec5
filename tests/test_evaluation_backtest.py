"""run_backtest and the baselines on hand-built MarketData, checked against an independent dollar-book loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import polars as pl
import pytest
from metric_reference import reference_metrics

from hierl.data.market import MarketData
from hierl.envs.market_core import CostModel
from hierl.evaluation.backtest import BacktestInputError, run_backtest
from hierl.evaluation.baselines import (
    BASELINE_NAMES,
    BaselineInputError,
    baseline_weights,
    month_starts,
)

COSTS = CostModel(cost_bps=10.0, slippage_bps=2.0, borrow_bps_annual=252.0)  # borrow: exactly 1e-4 a day
# The inverse-volatility baseline looks back a quarter of a year: 63 bars of a daily calendar of 252.
VOLATILITY_WINDOW = 63


def market_from_prices(
    prices: np.ndarray, cash_return: np.ndarray, split_bounds: dict[str, tuple[int, int]], start: str
) -> MarketData:
    """MarketData whose returns are the close-to-close changes of `prices` (NaN = not yet listed)."""
    n_rows, n_assets = prices.shape
    mask = ~np.isnan(prices)
    returns = np.zeros_like(prices)
    both = mask[1:] & mask[:-1]
    returns[1:][both] = prices[1:][both] / prices[:-1][both] - 1.0
    dates = np.busday_offset(np.datetime64(start, "D"), np.arange(n_rows), roll="forward")
    return MarketData(
        asset_class="equity",
        dates=dates.astype("datetime64[D]"),
        symbols=tuple(f"S{i}" for i in range(n_assets)),
        feature_names=("f0",),
        features=np.zeros((n_rows, n_assets, 1), dtype=np.float32),
        returns=returns,
        prices=prices,
        mask=mask,
        cash_return=cash_return,
        split_bounds=split_bounds,
        fingerprint="test",
    )


def tiny_market(cash_rate: float = 0.0001) -> MarketData:
    """10 rows, 2 assets; S1 lists on row 1. train rows 0-3, embargo row 4, val 5-6, test 7-9."""
    prices = np.array(
        [
            [100.0, np.nan],
            [101.0, 50.0],
            [99.0, 51.0],
            [102.0, 50.5],
            [103.0, 52.0],
            [101.0, 51.0],
            [104.0, 53.0],
            [106.0, 54.0],
            [105.0, 53.0],
            [107.0, 55.0],
        ]
    )
    return market_from_prices(
        prices,
        np.full(10, cash_rate),
        {"train": (0, 4), "val": (5, 7), "test": (7, 10)},
        "2024-01-29",
    )


def random_market(n_rows: int = 140, seed: int = 3) -> MarketData:
    rng = np.random.default_rng(seed)
    scales = np.array([0.005, 0.01, 0.02])
    prices = 100.0 * np.cumprod(1.0 + rng.normal(0.0003, scales, size=(n_rows, 3)), axis=0)
    prices[:10, 2] = np.nan
    bounds = {"train": (0, 70), "val": (75, 100), "test": (105, n_rows)}
    return market_from_prices(prices, np.full(n_rows, 0.00005), bounds, "2024-01-02")


def dollar_book(market: MarketData, rows: np.ndarray, weights: np.ndarray, costs: CostModel) -> dict[str, list]:
    """The accounting in money: holdings and cash, costs paid at the end of each holding period."""
    holdings = np.zeros(market.n_assets)
    cash = 1.0
    out: dict[str, list] = {"nav": [], "return": [], "turnover": [], "cost": []}
    for k, t in enumerate(rows):
        nav = holdings.sum() + cash
        target = weights[k] * nav
        traded = np.abs(target - holdings).sum()
        short = np.clip(-target, 0.0, None).sum()
        fee = costs.trade_rate * traded + costs.borrow_rate_per_bar * short
        cash = nav - target.sum()
        holdings = target * (1.0 + market.returns[t + 1])
        cash = cash * (1.0 + market.cash_return[t + 1]) - fee
        new_nav = holdings.sum() + cash
        out["nav"].append(new_nav)
        out["return"].append(new_nav / nav - 1.0)
        out["turnover"].append(traded / nav)
        out["cost"].append(fee / nav)
    return out


def test_run_backtest_equals_a_dollar_book_loop() -> None:
    market = tiny_market()
    rows = np.array([1, 2])
    weights = np.array([[0.6, -0.3], [0.2, 0.9]])
    backtest = run_backtest("agent", market, "train", weights, COSTS, decision_rows=rows)
    expected = dollar_book(market, rows, weights, COSTS)
    np.testing.assert_allclose(backtest.result.nav, expected["nav"], rtol=1e-12)
    np.testing.assert_allclose(backtest.result.returns, expected["return"], rtol=1e-12)
    np.testing.assert_allclose(backtest.result.turnover, expected["turnover"], rtol=1e-12)
    np.testing.assert_allclose(backtest.result.cost, expected["cost"], rtol=1e-12)
    np.testing.assert_array_equal(backtest.dates, market.dates[[2, 3]])


def test_default_decision_rows_are_the_block_without_its_last_row() -> None:
    market = tiny_market()
    weights = np.array([[0.5, 0.5], [0.5, 0.5]])
    backtest = run_backtest("agent", market, "test", weights, COSTS)
    np.testing.assert_array_equal(backtest.dates, market.dates[[8, 9]])
    expected = dollar_book(market, np.array([7, 8]), weights, COSTS)
    np.testing.assert_allclose(backtest.result.returns, expected["return"], rtol=1e-12)


def test_frames_share_realised_dates() -> None:
    market = tiny_market()
    weights = np.array([[0.5, 0.25], [0.1, 0.7]])
    backtest = run_backtest("agent", market, "test", weights, COSTS)
    frame = backtest.to_frame()
    assert frame.columns == ["date", "nav", "return", "turnover", "cost", "cash_return"]
    assert frame["date"].dtype == pl.Date
    positions = backtest.positions_frame()
    assert positions.columns == ["date", "symbol", "position"]
    assert positions.height == 4
    assert set(positions["date"].to_list()) == set(frame["date"].to_list())
    second_day = positions.filter(pl.col("date") == frame["date"][1]).sort("symbol")
    assert second_day["position"].to_list() == [0.1, 0.7]


def test_metrics_are_those_of_the_realised_rows_over_the_cash_return() -> None:
    market = random_market()
    rows = np.arange(*market.split_bounds["test"])[:-1]
    weights = np.random.default_rng(4).uniform(-0.5, 1.0, size=(rows.size, market.n_assets))
    backtest = run_backtest("agent", market, "test", weights, COSTS, decision_rows=rows)
    book = dollar_book(market, rows, weights, COSTS)
    expected = reference_metrics(book["return"], book["turnover"], market.cash_return[rows + 1])
    assert backtest.metrics() == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("rows", "weights", "message"),
    [
        (np.array([7, 8]), np.zeros((3, 2)), "shape"),
        (np.array([7, 8, 9]), np.zeros((3, 2)), "last row"),
        (np.array([6, 7]), np.zeros((2, 2)), "covers rows"),
        (np.array([8, 7]), np.zeros((2, 2)), "strictly increasing"),
        (np.array([7.0, 8.0]), np.zeros((2, 2)), "integer"),
        (np.array([7, 8]), np.array([[0.1, np.nan], [0.0, 0.0]]), "NaN"),
    ],
)
def test_run_backtest_rejects_bad_input(rows: np.ndarray, weights: np.ndarray, message: str) -> None:
    with pytest.raises(BacktestInputError, match=message):
        run_backtest("agent", tiny_market(), "test", weights, COSTS, decision_rows=rows)


def test_unknown_split_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        run_backtest("agent", tiny_market(), "holdout", np.zeros((1, 2)), COSTS)


def test_baselines_have_every_name_and_shape() -> None:
    market = tiny_market()
    weights = baseline_weights(market, "train", np.array([0, 1, 2]))
    assert tuple(weights) == BASELINE_NAMES
    assert all(w.shape == (3, 2) for w in weights.values())


def test_buy_and_hold_trades_only_on_its_first_row() -> None:
    market = random_market()
    rows = np.arange(*market.split_bounds["test"])[:-1]
    weights = baseline_weights(market, "test", rows, costs=COSTS)["buy_and_hold"]
    backtest = run_backtest("buy_and_hold", market, "test", weights, COSTS, decision_rows=rows)
    assert backtest.result.turnover[0] == pytest.approx(1.0)
    assert np.abs(backtest.result.turnover[1:]).max() < 1e-12
    # Held quantities are fixed, so the weights' ratios follow the price ratios.
    growth = market.prices[rows] / market.prices[rows[0]]
    np.testing.assert_allclose(weights[:, 0] / weights[:, 1], growth[:, 0] / growth[:, 1], rtol=1e-10)


def test_buy_and_hold_ignores_assets_listed_later() -> None:
    market = tiny_market()
    weights = baseline_weights(market, "train", np.array([0, 1, 2]), costs=COSTS)["buy_and_hold"]
    assert weights[0].tolist() == [1.0, 0.0]
    assert np.all(weights[:, 1] == 0.0)


def test_buy_and_hold_without_the_cost_model_rebalances_by_about_the_first_cost() -> None:
    market = random_market()
    rows = np.arange(*market.split_bounds["test"])[:-1]
    weights = baseline_weights(market, "test", rows)["buy_and_hold"]
    turnover = run_backtest("bh", market, "test", weights, COSTS, decision_rows=rows).result.turnover
    assert turnover[1] == pytest.approx(COSTS.trade_rate, rel=0.05)
    # Each correction costs a little NAV again, so the residual shrinks by about trade_rate a row.
    assert turnover[2] < 2.0 * COSTS.trade_rate * turnover[1]


def test_equal_weight_splits_over_priced_assets_every_row() -> None:
    market = tiny_market()
    weights = baseline_weights(market, "train", np.array([0, 1, 2]))["equal_weight"]
    np.testing.assert_array_equal(weights, [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    half = baseline_weights(market, "train", np.array([0, 1, 2]), max_leverage=0.5)["equal_weight"]
    np.testing.assert_allclose(half.sum(axis=1), 0.5)
    random = random_market()
    rows = np.arange(0, 60)
    equal = baseline_weights(random, "train", rows)["equal_weight"]
    np.testing.assert_allclose(equal.sum(axis=1), 1.0)
    assert np.all(equal[~random.mask[rows]] == 0.0)
    priced_count = random.mask[rows].sum(axis=1)
    np.testing.assert_allclose(equal[random.mask[rows]], np.repeat(1.0 / priced_count, priced_count))


def test_cash_earns_exactly_the_cash_return() -> None:
    rows = np.array([7, 8])
    for rate in (0.0, 0.0003):
        market = tiny_market(cash_rate=rate)
        weights = baseline_weights(market, "test", rows)["cash"]
        result = run_backtest("cash", market, "test", weights, COSTS, decision_rows=rows).result
        np.testing.assert_array_equal(result.returns, market.cash_return[rows + 1])
        np.testing.assert_array_equal(result.turnover, 0.0)


def test_inverse_volatility_uses_trailing_sample_volatility() -> None:
    market = random_market()
    rows = np.arange(*market.split_bounds["val"])[:-1]
    weights = baseline_weights(market, "val", rows)["inverse_volatility"]
    t = int(rows[0])
    window = pd.DataFrame(market.returns[t + 1 - VOLATILITY_WINDOW : t + 1]).where(
        market.mask[t + 1 - VOLATILITY_WINDOW : t + 1]
    )
    inverse = 1.0 / window.std()
    np.testing.assert_allclose(weights[0], (inverse / inverse.sum()).to_numpy(), rtol=1e-10)


def test_inverse_volatility_trades_only_at_month_starts() -> None:
    market = random_market()
    rows = np.arange(*market.split_bounds["train"])[:-1]
    weights = baseline_weights(market, "train", rows, costs=COSTS)["inverse_volatility"]
    turnover = run_backtest("iv", market, "train", weights, COSTS, decision_rows=rows).result.turnover
    months = pd.DatetimeIndex(market.dates[rows]).to_period("M")
    month_start = np.r_[True, months[1:] != months[:-1]]
    assert np.abs(turnover[~month_start]).max() < 1e-12
    assert np.all(turnover[month_start] > 0.0)


def perturbed(market: MarketData, rows: slice) -> MarketData:
    """Returns times -3 and the first asset unpriced on `rows`: the data the baselines read (returns and mask)."""
    returns, mask = market.returns.copy(), market.mask.copy()
    returns[rows] *= -3.0
    mask[rows, 0] = False
    return dataclasses.replace(market, returns=returns, mask=mask)


def test_baselines_are_causal() -> None:
    market = random_market()
    rows = np.arange(*market.split_bounds["val"])[:-1]
    # The cutoff is a month start, where inverse volatility refits: a refit that read the next row would show.
    k = int(np.flatnonzero(month_starts(market.dates[rows]))[1])
    cutoff = int(rows[k])
    seen = rows <= cutoff
    before = baseline_weights(market, "val", rows, costs=COSTS)
    after = baseline_weights(perturbed(market, slice(cutoff + 1, None)), "val", rows, costs=COSTS)
    for name in BASELINE_NAMES:
        np.testing.assert_array_equal(before[name][seen], after[name][seen], err_msg=name)
    # Positive control: the same change on the cutoff row itself moves the weights decided on it, for every
    # baseline that reads data (cash holds nothing whatever the data), so the comparison above could fail.
    at_cutoff = baseline_weights(perturbed(market, slice(cutoff, cutoff + 1)), "val", rows, costs=COSTS)
    for name in BASELINE_NAMES:
        moved = not np.array_equal(before[name][k], at_cutoff[name][k])
        assert moved == (name != "cash"), name


def test_baselines_reject_bad_leverage_and_rows() -> None:
    market = tiny_market()
    with pytest.raises(BaselineInputError, match="max_leverage"):
        baseline_weights(market, "train", np.array([0, 1]), max_leverage=0.0)
    with pytest.raises(BacktestInputError, match="last row"):
        baseline_weights(market, "train", np.array([2, 3]))

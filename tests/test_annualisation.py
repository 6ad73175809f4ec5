"""Every annualisation counts a year in the bars of the class's calendar (252 daily equity, 365 daily crypto, 8760
hourly crypto bars), checked against formulas written out here with the standard library."""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import pytest

from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.config.safety import SafetyConfig, SafetyLimits
from hierl.config.walk_forward import WalkForwardConfig
from hierl.data.market import MarketData
from hierl.envs.market_core import CostModel, bars_in_years
from hierl.envs.portfolio_env import PortfolioEnv
from hierl.envs.sleeves import build_universe, covariance_snapshot
from hierl.envs.trading_env import TradingEnv
from hierl.evaluation.backtest import run_backtest
from hierl.evaluation.baselines import baseline_weights
from hierl.evaluation.diagnostics import RowReturns, backtest_diagnostics
from hierl.evaluation.metrics import (
    annualised_cost,
    annualised_return,
    annualised_turnover,
    annualised_volatility,
    compute_metrics,
    sharpe_ratio,
    sortino_ratio,
)
from hierl.orchestration.walk_forward_plan import plan_walk_forward
from hierl.reports.headline import resampled_sharpe
from hierl.safety import SafetyValidator
from tests.envs_fixtures import make_market
from tests.portfolio_fixtures import COSTS, class_market, momentum_signals

CALENDARS = (252.0, 365.0, 8760.0)
RETURNS = np.random.default_rng(11).normal(0.0003, 0.01, size=400)
CASH = 0.00005


def on_calendar(market: MarketData, bars_per_year: float) -> MarketData:
    return dataclasses.replace(market, bars_per_year=bars_per_year)


@pytest.mark.parametrize("bars", CALENDARS)
def test_volatility_sharpe_sortino_and_return_scale_with_the_bars_a_year(bars: float) -> None:
    values = RETURNS.tolist()
    mean, stdev = statistics.fmean(values), statistics.stdev(values)
    excess = [v - CASH for v in values]
    downside = math.sqrt(sum(min(e, 0.0) ** 2 for e in excess) / len(excess))
    growth = math.prod(1.0 + v for v in values)
    assert annualised_volatility(RETURNS, bars) == pytest.approx(stdev * math.sqrt(bars), rel=1e-12)
    assert sharpe_ratio(RETURNS, CASH, bars) == pytest.approx(
        statistics.fmean(excess) / statistics.stdev(excess) * math.sqrt(bars), rel=1e-10
    )
    assert sortino_ratio(RETURNS, CASH, bars) == pytest.approx(
        statistics.fmean(excess) / downside * math.sqrt(bars), rel=1e-10
    )
    assert annualised_return(RETURNS, bars) == pytest.approx(growth ** (bars / len(values)) - 1.0, rel=1e-10)
    assert annualised_turnover(np.abs(RETURNS), bars) == pytest.approx(
        statistics.fmean(abs(v) for v in values) * bars, rel=1e-12
    )
    assert annualised_cost(np.abs(RETURNS), bars) == pytest.approx(
        statistics.fmean(abs(v) for v in values) * bars, rel=1e-12
    )
    assert mean != 0.0


def test_the_daily_default_is_exactly_252_bars() -> None:
    turnover = np.abs(RETURNS)
    assert compute_metrics(RETURNS, turnover, risk_free=CASH) == compute_metrics(RETURNS, turnover, 252.0, CASH)
    assert sharpe_ratio(RETURNS) == float(RETURNS.mean() / np.std(RETURNS, ddof=1) * math.sqrt(252))


@pytest.mark.parametrize("bars", CALENDARS)
def test_a_backtest_and_its_diagnostics_annualise_with_the_market_calendar(bars: float) -> None:
    market = on_calendar(make_market(n_days=200, n_assets=2, seed=4), bars)
    rows = np.arange(*market.split_bounds["train"])[:-1]
    weights = np.random.default_rng(2).uniform(-0.5, 0.5, size=(len(rows), 2))
    backtest = run_backtest("agent", market, "train", weights, CostModel(5.0, 0.0, 80.0), rows)
    assert backtest.bars_per_year == bars
    result = backtest.result
    metrics = backtest.metrics()
    excess = (result.returns - backtest.cash_return).tolist()
    assert metrics["sharpe"] == pytest.approx(
        statistics.fmean(excess) / statistics.stdev(excess) * math.sqrt(bars), rel=1e-10
    )
    assert metrics["ann_volatility"] == pytest.approx(statistics.stdev(result.returns.tolist()) * math.sqrt(bars))
    assert metrics["turnover"] == pytest.approx(statistics.fmean(result.turnover.tolist()) * bars, rel=1e-12)
    diagnostics = backtest_diagnostics(backtest, RowReturns.of(market, rows))
    assert diagnostics["cost_annual"] == pytest.approx(statistics.fmean(result.cost.tolist()) * bars, rel=1e-12)
    gross = [r + c - cash for r, c, cash in zip(result.returns, result.cost, backtest.cash_return, strict=True)]
    assert diagnostics["gross_sharpe"] == pytest.approx(
        statistics.fmean(gross) / statistics.stdev(gross) * math.sqrt(bars), rel=1e-10
    )


@pytest.mark.parametrize("bars", CALENDARS)
def test_the_borrow_fee_per_bar_is_the_annual_fee_over_the_bars_a_year(bars: float) -> None:
    costs = CostModel(cost_bps=0.0, slippage_bps=0.0, borrow_bps_annual=120.0, bars_per_year=bars)
    assert costs.borrow_rate_per_bar == 120.0 * 1e-4 / bars
    # Over one year of bars a short of 1 pays the annual fee, on every calendar.
    assert costs.borrow_rate_per_bar * bars == pytest.approx(0.012, rel=1e-12)
    # A backtest charges it on the market's calendar, whatever calendar the cost model was written for.
    market = on_calendar(make_market(n_days=60, n_assets=1, returns=np.zeros((60, 1)), cash_rate=0.0), bars)
    rows = np.arange(*market.split_bounds["train"])[:-1]
    short = np.full((len(rows), 1), -0.5)
    result = run_backtest("short", market, "train", short, CostModel(0.0, 0.0, 120.0), rows).result
    np.testing.assert_allclose(result.cost, 0.5 * 0.012 / bars, rtol=1e-12, atol=0)


@pytest.mark.parametrize("bars", CALENDARS)
def test_the_trading_env_charges_borrow_per_bar_of_its_market(bars: float) -> None:
    market = on_calendar(make_market(n_days=60, n_assets=1, returns=np.zeros((60, 1)), cash_rate=0.0), bars)
    env_cfg = EnvConfig(window=2, cost_bps=0.0, borrow_bps_annual=365.0, episode_length=10)
    env = TradingEnv(market, "train", env_cfg, RewardConfig(), symbol_index=0)
    env.reset()
    for _ in range(3):
        _, _, _, _, info = env.step(np.array([-1.0], dtype=np.float32))
        assert info["cost"] == pytest.approx(365.0 * 1e-4 / bars, rel=1e-12)
        assert info["net_return"] == pytest.approx(-365.0 * 1e-4 / bars, rel=1e-12)


def test_baseline_windows_in_years_count_the_calendar_bars() -> None:
    assert bars_in_years(0.25, 252.0) == 63 and bars_in_years(0.5, 252.0) == 126
    assert bars_in_years(0.25, 365.0) == 91 and bars_in_years(0.25, 8760.0) == 2190
    # Inverse volatility on a 365-bar calendar looks back 91 bars: a shock 92 bars back is outside, 91 inside.
    market = on_calendar(make_market(n_days=300, n_assets=2, seed=8), 365.0)
    rows = np.arange(200, 230)
    t = int(rows[0])
    weights = baseline_weights(market, "val", rows)["inverse_volatility"]
    outside, inside = market.returns.copy(), market.returns.copy()
    outside[t - 91, 0] += 0.5
    inside[t - 90, 0] += 0.5
    same = baseline_weights(dataclasses.replace(market, returns=outside), "val", rows)["inverse_volatility"]
    moved = baseline_weights(dataclasses.replace(market, returns=inside), "val", rows)["inverse_volatility"]
    np.testing.assert_array_equal(same[0], weights[0])
    assert not np.allclose(moved[0], weights[0])


def test_the_safety_gate_annualises_turnover_with_365_bars() -> None:
    market = on_calendar(make_market(n_days=81, n_assets=1, returns=np.zeros((81, 1)), cash_rate=0.0), 365.0)
    market = dataclasses.replace(market, split_bounds={"val": (0, 81)})
    weights = np.where(np.arange(80) % 2 == 0, 0.1, -0.1)[:, None]
    backtest = run_backtest("agent", market, "val", weights, CostModel(0.0, 0.0, 0.0))
    turnover = backtest.result.turnover.tolist()
    annual = statistics.fmean(turnover) * 365.0
    assert annual == pytest.approx((0.1 + 79 * 0.2) / 80 * 365.0, rel=1e-12)
    # A cap between the 252-bar and the 365-bar figure: only the right calendar breaches it.
    cap = statistics.fmean(turnover) * 300.0
    limits = SafetyLimits(max_drawdown=None, max_asset_weight=None, max_sector_weight=None, max_annual_turnover=cap)
    report = SafetyValidator(SafetyConfig(limits=limits, turnover_cost_coverage=None)).check(backtest, "crypto")
    (violation,) = report.violations
    assert violation.limit == "max_annual_turnover"
    assert violation.value == pytest.approx(annual, rel=1e-12)
    daily = dataclasses.replace(backtest, bars_per_year=252.0)
    assert SafetyValidator(SafetyConfig(limits=limits, turnover_cost_coverage=None)).check(daily, "crypto").passed


def test_walk_forward_years_become_bars_of_the_calendar() -> None:
    assert bars_in_years(1.0, 252.0) == 252 and bars_in_years(1.0, 365.0) == 365 and bars_in_years(0.5, 8760.0) == 4380
    calendar = np.datetime64("2010-01-01") + np.arange(3000).astype("timedelta64[D]")
    cfg = WalkForwardConfig(folds=2, train_years=3.0, val_years=1.0, test_years=1.0, stages=["ppo"])
    plan = plan_walk_forward(
        calendar, cfg, embargo=2, window=1, min_block_rows=10, out_of_fold=False, bars_per_year=365.0
    )
    assert plan.bars_per_year == 365.0
    for fold in plan.folds:
        dates = fold.dates
        test_days = (np.datetime64(dates.test_end) - np.datetime64(dates.test_start)).astype(int) + 1
        val_days = (np.datetime64(dates.val_end) - np.datetime64(dates.val_start)).astype(int) + 1
        assert test_days == 365 and val_days == 365  # every calendar day is a bar here
        assert dates.train_end < dates.val_start < dates.val_end < dates.test_start <= dates.test_end


@pytest.mark.parametrize("bars", CALENDARS)
def test_the_headline_bootstrap_sharpe_annualises_with_the_record_calendar(bars: float) -> None:
    identity = np.arange(RETURNS.size)[None, :]
    values = RETURNS.tolist()
    expected = statistics.fmean(values) / statistics.stdev(values) * math.sqrt(bars)
    assert resampled_sharpe(RETURNS, identity, bars)[0] == pytest.approx(expected, rel=1e-10)


def test_the_portfolio_observation_annualises_with_the_decision_calendar() -> None:
    markets = {
        name: on_calendar(class_market(name, 260, seed), 365.0) for name, seed in (("equity", 1), ("commodity", 2))
    }
    universe = build_universe(markets, {n: momentum_signals(m) for n, m in markets.items()}, COSTS, 10)
    assert universe.bars_per_year == 365.0
    cfg = PortfolioEnvConfig(window=5, cov_window=20)
    env = PortfolioEnv(universe, "val", cfg, RewardConfig(), evaluation=True)
    observation, _ = env.reset()
    row = int(env.decision_rows[0])
    covariance = covariance_snapshot(universe, row, 20)[np.triu_indices(2)] * 365.0
    n_signal = 3 * universe.n_sleeves
    n_regime = universe.regime.shape[1]
    start = n_signal + n_regime
    np.testing.assert_allclose(observation[start : start + 3], covariance.astype(np.float32), rtol=1e-6)
    returns = []
    for _ in range(6):
        observation, _, _, _, info = env.step(np.zeros(3, dtype=np.float32))
        returns.append(info["net_return"])
    # The realised volatility of the last `window` returns (population std, as the env documents), a year of 365 bars.
    volatility = statistics.pstdev(returns[-5:]) * math.sqrt(365.0)
    assert observation[-2] == pytest.approx(volatility, rel=1e-5)
    # Each class's borrow rate is per bar of its own calendar.
    equity = universe.sleeve_of_asset == universe.classes.index("equity")
    np.testing.assert_allclose(universe.borrow_rate[equity], COSTS["equity"].borrow_bps_annual * 1e-4 / 365.0)


def test_an_hourly_backtest_keeps_its_bars_apart_in_the_tables() -> None:
    market = on_calendar(make_market(n_days=48, n_assets=2, seed=3), 8760.0)
    hours = np.datetime64("2021-01-04T00:00:00") + np.arange(48).astype("timedelta64[h]")
    market = dataclasses.replace(market, dates=hours.astype("datetime64[s]"), frequency="1h")
    backtest = run_backtest("agent", market, "train", np.full((27, 2), 0.25), CostModel())
    frame, positions = backtest.to_frame(), backtest.positions_frame()
    assert frame["date"].n_unique() == frame.height == 27
    assert positions["date"].n_unique() == 27 and positions.height == 54
    assert frame["date"].to_list()[0].hour == 1  # realised at the bar after the first decision
    # A daily backtest keeps its Date column, as before calendars.
    daily = run_backtest(
        "agent", make_market(n_days=48, n_assets=2, seed=3), "train", np.full((27, 2), 0.25), CostModel()
    )
    assert str(daily.to_frame().schema["date"]) == "Date" and str(daily.positions_frame().schema["date"]) == "Date"

"""Metrics against independent computations (pandas, plain loops, hand-computed cases) and their edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_reference import reference_metrics

from hierl.evaluation.metrics import (
    METRIC_KEYS,
    MetricInputError,
    annualised_return,
    annualised_volatility,
    calmar_ratio,
    compute_metrics,
    cvar,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)

RNG = np.random.default_rng(7)
DAILY = RNG.normal(0.0004, 0.012, size=300)


def test_annualised_return_is_geometric() -> None:
    growth = 1.0
    for value in DAILY:
        growth *= 1.0 + value
    expected = growth ** (252 / len(DAILY)) - 1.0
    assert annualised_return(DAILY) == pytest.approx(expected, rel=1e-12)
    # Two days of +10% and -10% lose 1%: a geometric rate, not the arithmetic mean of 0.
    assert annualised_return(np.array([0.1, -0.1]), periods_per_year=2) == pytest.approx(-0.01)


def test_annualised_return_after_total_loss_is_minus_one() -> None:
    assert annualised_return(np.array([0.05, -1.0, 0.2])) == -1.0


def test_annualised_volatility_matches_pandas() -> None:
    expected = pd.Series(DAILY).std() * math.sqrt(252)
    assert annualised_volatility(DAILY) == pytest.approx(expected, rel=1e-12)


def test_sharpe_matches_pandas_with_scalar_and_array_risk_free() -> None:
    series = pd.Series(DAILY)
    assert sharpe_ratio(DAILY) == pytest.approx(series.mean() / series.std() * math.sqrt(252), rel=1e-12)
    rates = np.linspace(0.0, 0.0002, DAILY.size)
    excess = series - rates
    expected = excess.mean() / excess.std() * math.sqrt(252)
    assert sharpe_ratio(DAILY, risk_free=rates) == pytest.approx(expected, rel=1e-12)
    assert sharpe_ratio(DAILY, risk_free=0.0001) == pytest.approx(
        (series - 0.0001).mean() / series.std() * math.sqrt(252), rel=1e-12
    )


def test_sortino_uses_semideviation_over_all_periods() -> None:
    returns = np.array([0.02, -0.01, 0.03, -0.02, 0.01])
    # Hand computation: shortfalls are -0.01 and -0.02 over 5 periods.
    downside = math.sqrt((0.01**2 + 0.02**2) / 5)
    expected = 0.006 / downside * math.sqrt(252)
    assert sortino_ratio(returns) == pytest.approx(expected, rel=1e-12)

    squared = 0.0
    for value in DAILY:
        squared += min(value - 0.0001, 0.0) ** 2
    loop_expected = (sum(DAILY) / len(DAILY) - 0.0001) / math.sqrt(squared / len(DAILY)) * math.sqrt(252)
    assert sortino_ratio(DAILY, risk_free=0.0001) == pytest.approx(loop_expected, rel=1e-10)


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ([0.1, -0.5, 0.2], 0.5),
        ([-0.1], 0.1),
        ([0.1, 0.1, 0.1], 0.0),
        ([0.5, -0.2, -0.25, 1.0, -0.5], 0.5),  # NAV 1.5, 1.2, 0.9, 1.8, 0.9: 40% then 50%
        ([0.2, -0.1, 0.05, -0.3], 1.0 - 1.2 * 0.9 * 1.05 * 0.7 / 1.2),
    ],
)
def test_max_drawdown_hand_cases(returns: list[float], expected: float) -> None:
    assert max_drawdown(np.array(returns)) == pytest.approx(expected, abs=1e-12)


def test_max_drawdown_matches_a_running_peak_loop() -> None:
    nav, peak, worst = 1.0, 1.0, 0.0
    for value in DAILY:
        nav *= 1.0 + value
        peak = max(peak, nav)
        worst = max(worst, (peak - nav) / peak)
    assert max_drawdown(DAILY) == pytest.approx(worst, rel=1e-12)


def test_cvar_is_mean_of_worst_tail() -> None:
    returns = np.arange(1, 101) / 1000.0 - 0.05  # -0.049 ... 0.050
    assert cvar(returns, 0.95) == pytest.approx(-np.mean(returns[:5]), rel=1e-12)
    assert cvar(returns, 0.9) == pytest.approx(-np.mean(returns[:10]), rel=1e-12)
    # Fewer periods than 1 / (1 - level): the single worst one.
    assert cvar(np.array([0.01, -0.03, 0.02]), 0.95) == pytest.approx(0.03)
    # Only gains: a negative loss.
    assert cvar(np.array([0.01, 0.02]), 0.5) == pytest.approx(-0.01)


def test_cvar_rejects_a_level_outside_zero_one() -> None:
    with pytest.raises(MetricInputError, match="level"):
        cvar(DAILY, 1.0)


def test_calmar_is_annual_return_over_drawdown() -> None:
    returns = np.array([0.1, -0.5, 0.2])
    expected = ((1.1 * 0.5 * 1.2) ** (252 / 3) - 1.0) / 0.5
    assert calmar_ratio(returns) == pytest.approx(expected, rel=1e-12)


def test_zero_volatility_gives_zero_sharpe() -> None:
    constant = np.full(50, 0.001)
    assert sharpe_ratio(constant) == 0.0
    assert annualised_volatility(constant) == pytest.approx(0.0, abs=1e-12)
    assert sharpe_ratio(np.array([0.01])) == 0.0


def test_all_positive_returns_have_finite_ratios() -> None:
    returns = np.array([0.01, 0.02, 0.005, 0.03])
    assert max_drawdown(returns) == 0.0
    assert sortino_ratio(returns) == 0.0
    assert calmar_ratio(returns) == 0.0
    assert sharpe_ratio(returns) > 0.0


def test_empty_input_is_rejected() -> None:
    with pytest.raises(MetricInputError, match="empty"):
        sharpe_ratio(np.array([]))
    with pytest.raises(ValueError, match="empty"):
        compute_metrics(np.array([]), np.array([]))


def test_nan_input_is_rejected_with_its_name() -> None:
    with pytest.raises(MetricInputError, match=r"returns contains NaN.*index 2"):
        max_drawdown(np.array([0.01, 0.02, np.nan]))
    with pytest.raises(MetricInputError, match="turnover contains NaN"):
        compute_metrics(np.array([0.01, 0.02]), np.array([0.1, np.nan]))


def test_mismatched_turnover_is_rejected() -> None:
    with pytest.raises(MetricInputError, match="turnover has shape"):
        compute_metrics(np.zeros(3), np.zeros(2))


def test_compute_metrics_keys_and_values() -> None:
    turnover = RNG.uniform(0.0, 0.2, size=DAILY.size)
    cash = np.linspace(0.0, 0.0003, DAILY.size)
    for risk_free in (0.0, 0.0001, cash):
        metrics = compute_metrics(DAILY, turnover, risk_free=risk_free)
        assert tuple(metrics) == METRIC_KEYS
        assert all(type(value) is float for value in metrics.values())
        # Every key against the plain-loop recomputation, not against the functions compute_metrics calls.
        assert metrics == pytest.approx(reference_metrics(DAILY, turnover, risk_free), rel=1e-10, abs=1e-14)
    # 100 periods: the 95% tail is exactly the 5 worst, not 6 (the rounding of (1 - 0.95) * 100).
    hundred = DAILY[:100]
    assert compute_metrics(hundred, turnover[:100])["cvar_95"] == pytest.approx(-np.sort(hundred)[:5].mean())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-0.5, max_value=0.5, allow_nan=False), min_size=1, max_size=40))
def test_metrics_are_finite_json_floats_and_drawdown_is_a_fraction(values: list[float]) -> None:
    returns = np.array(values)
    metrics = compute_metrics(returns, np.zeros_like(returns))
    assert all(math.isfinite(value) for value in metrics.values())
    json.dumps(metrics, allow_nan=False)
    assert 0.0 <= metrics["max_drawdown"] <= 1.0


def test_sharpe_and_sortino_are_measured_over_the_cash_return() -> None:
    rng = np.random.default_rng(3)
    cash = np.full(500, 0.0002)
    returns = cash + rng.normal(0.0003, 0.01, 500)
    metrics = compute_metrics(returns, np.zeros(500), risk_free=cash)
    excess = pd.Series(returns - cash)
    assert metrics["sharpe"] == pytest.approx(excess.mean() / excess.std() * np.sqrt(252))
    # Holding cash earns exactly the risk-free rate: its excess return is 0, so it scores 0, not a huge ratio.
    varying_cash = rng.uniform(0.0001, 0.0003, 500)
    holding_cash = compute_metrics(varying_cash, np.zeros(500), risk_free=varying_cash)
    assert (holding_cash["sharpe"], holding_cash["sortino"]) == (0.0, 0.0)
    assert sharpe_ratio(varying_cash) > 10.0  # the same days measured over 0: the ratio the excess avoids

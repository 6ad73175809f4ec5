"""Each hard limit stops a policy built to break it, naming the limit, the value, the threshold and the date."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from hierl.config.safety import SafetyConfig, SafetyLimitOverrides, SafetyLimits
from hierl.data.market import MarketData
from hierl.envs.market_core import CostModel
from hierl.evaluation.backtest import Backtest, run_backtest
from hierl.safety import SafetyInputError, SafetyValidator, Violation

SYMBOLS = ("AAPL", "MSFT", "JPM", "XOM")
SECTORS = {"AAPL": "Information Technology", "MSFT": "Information Technology", "JPM": "Financials", "XOM": "Energy"}
FREE = CostModel(cost_bps=0.0, slippage_bps=0.0, borrow_bps_annual=0.0)
START = np.datetime64("2021-03-01")


def make_market(returns: np.ndarray) -> MarketData:
    """All rows form the validation block; zero cash rate, so a row's return is just w . r."""
    n_days, n_assets = returns.shape
    return MarketData(
        asset_class="equity",
        dates=START + np.arange(n_days).astype("timedelta64[D]"),
        symbols=SYMBOLS[:n_assets],
        feature_names=("f0",),
        features=np.zeros((n_days, n_assets, 1), dtype=np.float32),
        returns=returns,
        prices=100.0 * np.cumprod(1.0 + returns, axis=0),
        mask=np.ones((n_days, n_assets), dtype=bool),
        cash_return=np.zeros(n_days),
        split_bounds={"val": (0, n_days)},
        fingerprint="safety-test",
    )


def flat_backtest(weights: list[list[float]], costs: CostModel = FREE) -> Backtest:
    """Weights on a market with zero returns: no drift, so turnover is exactly the change of weights."""
    target = np.asarray(weights, dtype=np.float64)
    market = make_market(np.zeros((target.shape[0] + 1, target.shape[1])))
    return run_backtest("agent", market, "val", target, costs)


def realised_date(row: int) -> str:
    """Backtest row k is realised on market row k + 1."""
    return str(START + np.timedelta64(row + 1, "D"))


def only(limit: str, threshold: float, **config: object) -> SafetyConfig:
    """A config that checks one limit, so each test sees exactly the breach it built."""
    limits = SafetyLimits(**{f.name: None for f in fields(SafetyLimits)})
    setattr(limits, limit, threshold)
    return SafetyConfig(limits=limits, **config)  # type: ignore[arg-type]


def single_violation(cfg: SafetyConfig, backtest: Backtest, asset_class: str | dict[str, str] = "equity") -> Violation:
    report = SafetyValidator(cfg, SECTORS).check(backtest, asset_class)
    assert not report.passed
    assert len(report.violations) == 1
    return report.violations[0]


def test_sane_policy_passes_the_default_limits() -> None:
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0, 0.01, size=(60, 4))
    returns[0] = 0.0
    positions = np.clip(rng.normal(0.3, 0.2, size=(59, 4)), -1.0, 1.0)
    backtest = run_backtest("agent", make_market(returns), "val", positions / 4, CostModel())
    cfg = SafetyConfig(limits=SafetyLimits(max_gross_exposure=1.0, max_net_exposure=1.0, max_daily_turnover=2.0))
    report = SafetyValidator(cfg, SECTORS).check(backtest, "equity")
    assert report.passed, report.summary()
    assert set(report.checked) == {f.name for f in fields(SafetyLimits)} - {"max_asset_class_weight"}
    assert report.n_days == 59
    assert (report.start, report.end) == (realised_date(0), realised_date(58))


def test_fully_invested_equal_sleeves_at_the_leverage_bound_pass() -> None:
    """1/N sleeves sum to the bound only up to rounding; that must not be a breach."""
    backtest = flat_backtest([[0.1] * 4] * 3 + [[1 / 3, 1 / 3, 1 / 3, 0.0]])
    report = SafetyValidator(only("max_gross_exposure", 1.0), SECTORS).check(backtest, "equity")
    assert report.passed, report.summary()


def test_drawdown_breach_names_the_trough_date() -> None:
    asset_returns = [0.0, 0.10, -0.20, -0.25, 0.05, -0.10, 0.02]
    returns = np.zeros((len(asset_returns), 4))
    returns[:, 2] = asset_returns
    weights = np.tile([0.0, 0.0, 0.8, 0.0], (len(asset_returns) - 1, 1))
    backtest = run_backtest("agent", make_market(returns), "val", weights, FREE)

    nav, peak, drawdowns = 1.0, 1.0, []
    for r in asset_returns[1:]:
        nav *= 1.0 + 0.8 * r
        peak = max(peak, nav)
        drawdowns.append(1.0 - nav / peak)
    worst = int(np.argmax(drawdowns))

    violation = single_violation(only("max_drawdown", 0.2), backtest)
    assert violation.limit == "max_drawdown"
    assert violation.value == pytest.approx(drawdowns[worst])
    assert violation.excess == pytest.approx(drawdowns[worst] - 0.2)
    assert violation.date == realised_date(worst) == "2021-03-06"  # the second dip, row 4
    assert violation.symbol_or_group == "portfolio"
    assert violation.breach_days == sum(d > 0.2 for d in drawdowns)


def test_gross_exposure_breach_reports_the_worst_row_and_counts_every_breaching_row() -> None:
    weights = [[0.2, 0.2, 0.1, 0.0], [0.4, -0.4, 0.3, 0.2], [0.5, 0.1, 0.1, 0.0], [0.3, 0.3, -0.3, 0.2]]
    violation = single_violation(only("max_gross_exposure", 1.0), flat_backtest(weights))
    assert (violation.limit, violation.symbol_or_group) == ("max_gross_exposure", "portfolio")
    assert violation.value == pytest.approx(1.3)
    assert violation.threshold == 1.0
    assert violation.excess == pytest.approx(0.3)
    assert violation.date == realised_date(1)
    assert violation.breach_days == 2


def test_net_exposure_breach_counts_shorts_against_longs() -> None:
    weights = [[0.3, 0.3, -0.3, 0.0], [0.5, 0.5, -0.2, 0.0], [-0.4, -0.4, 0.0, 0.0]]
    violation = single_violation(only("max_net_exposure", 0.6), flat_backtest(weights))
    assert violation.limit == "max_net_exposure"
    assert violation.value == pytest.approx(0.8)
    assert violation.date == realised_date(1)
    assert violation.breach_days == 2


def test_single_asset_breach_names_the_symbol_of_a_short() -> None:
    weights = [[0.2, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2, -0.7], [0.55, 0.0, 0.0, 0.0]]
    violation = single_violation(only("max_asset_weight", 0.5), flat_backtest(weights))
    assert (violation.limit, violation.symbol_or_group) == ("max_asset_weight", "XOM")
    assert violation.value == pytest.approx(0.7)
    assert violation.excess == pytest.approx(0.2)
    assert violation.date == realised_date(1)
    assert violation.breach_days == 2


def test_sector_cap_sums_absolute_weights_within_a_sector() -> None:
    # Information Technology: |0.35| + |-0.3| = 0.65; Financials 0.5 alone stays under the cap.
    weights = [[0.1, 0.1, 0.5, 0.1], [0.35, -0.3, 0.5, 0.1]]
    violation = single_violation(only("max_sector_weight", 0.6), flat_backtest(weights))
    assert (violation.limit, violation.symbol_or_group) == ("max_sector_weight", "Information Technology")
    assert violation.value == pytest.approx(0.65)
    assert violation.date == realised_date(1)
    assert violation.breach_days == 1


def test_symbols_without_a_sector_are_capped_together_as_unknown() -> None:
    weights = [[0.1, 0.1, 0.35, 0.35]]
    backtest = flat_backtest(weights)
    report = SafetyValidator(only("max_sector_weight", 0.6), {"AAPL": "Information Technology"}).check(
        backtest, "equity"
    )
    assert [(v.symbol_or_group, v.value) for v in report.violations] == [("unknown", pytest.approx(0.8))]


def test_without_sector_metadata_the_sector_cap_is_not_checked() -> None:
    report = SafetyValidator(only("max_sector_weight", 0.6)).check(flat_backtest([[0.5, 0.5, 0.0, 0.0]]), "equity")
    assert report.passed
    assert report.checked == ()


def test_asset_class_cap_holds_each_class_to_its_own_limit() -> None:
    cfg = only(
        "max_asset_class_weight",
        1.0,
        per_asset_class={"commodity": SafetyLimitOverrides(max_asset_class_weight=0.2)},
    )
    classes = {"AAPL": "equity", "MSFT": "equity", "JPM": "equity", "XOM": "commodity"}
    weights = [[0.3, 0.3, 0.3, 0.1], [0.3, 0.3, 0.3, -0.3], [0.3, 0.3, 0.3, 0.25]]
    violation = single_violation(cfg, flat_backtest(weights), classes)
    assert (violation.limit, violation.symbol_or_group) == ("max_asset_class_weight", "commodity")
    assert violation.value == pytest.approx(0.3)
    assert violation.threshold == 0.2
    assert violation.date == realised_date(1)
    assert violation.breach_days == 2


def test_daily_turnover_breach_finds_the_flip() -> None:
    weights = [[0.2, 0.0, 0.0, 0.0], [0.2, 0.1, 0.0, 0.0], [-0.3, 0.1, 0.0, 0.0], [-0.3, 0.1, 0.0, 0.0]]
    traded = np.abs(np.diff(np.vstack([np.zeros(4), weights]), axis=0)).sum(axis=1)
    violation = single_violation(only("max_daily_turnover", 0.3), flat_backtest(weights))
    assert violation.limit == "max_daily_turnover"
    assert violation.value == pytest.approx(traded.max()) == pytest.approx(0.5)
    assert violation.date == realised_date(2)
    assert violation.breach_days == 1


def test_annual_turnover_breach_is_measured_over_the_block() -> None:
    weights = [[0.1 if k % 2 == 0 else -0.1, 0.0, 0.0, 0.0] for k in range(10)]
    expected = (0.1 + 9 * 0.2) / 10 * 252
    violation = single_violation(only("max_annual_turnover", 30.0), flat_backtest(weights))
    assert violation.limit == "max_annual_turnover"
    assert violation.value == pytest.approx(expected)
    assert violation.excess == pytest.approx(expected - 30.0)
    assert (violation.date, violation.breach_days) == (None, None)


def test_a_class_override_applies_to_a_one_class_book_but_not_to_a_book_spanning_classes() -> None:
    cfg = only("max_gross_exposure", 2.0, per_asset_class={"equity": SafetyLimitOverrides(max_gross_exposure=0.5)})
    backtest = flat_backtest([[0.3, 0.3, 0.3, 0.3]])
    validator = SafetyValidator(cfg, SECTORS)
    assert validator.check(backtest, "equity").violations[0].threshold == 0.5
    spanning = {"AAPL": "equity", "MSFT": "equity", "JPM": "equity", "XOM": "commodity"}
    assert validator.check(backtest, spanning).passed


def test_a_disabled_limit_is_not_checked_for_that_class() -> None:
    cfg = only(
        "max_sector_weight", 0.6, per_asset_class={"index": SafetyLimitOverrides(disabled=["max_sector_weight"])}
    )
    backtest = flat_backtest([[0.5, 0.5, 0.0, 0.0]])
    validator = SafetyValidator(cfg, SECTORS)
    assert not validator.check(backtest, "equity").passed
    report = validator.check(backtest, "index")
    assert report.passed
    assert "max_sector_weight" not in report.checked


def test_every_broken_limit_is_reported_once_in_config_order() -> None:
    weights = [[0.9, 0.9, 0.0, 0.0], [-0.9, -0.9, 0.0, 0.0]]
    cfg = SafetyConfig(limits=SafetyLimits(max_gross_exposure=1.0, max_daily_turnover=2.0))
    report = SafetyValidator(cfg, SECTORS).check(flat_backtest(weights), "equity")
    assert [v.limit for v in report.violations] == [
        "max_gross_exposure",
        "max_sector_weight",
        "max_daily_turnover",
        "max_annual_turnover",
    ]


def test_a_mapping_missing_a_symbol_is_rejected_by_name() -> None:
    validator = SafetyValidator(SafetyConfig(), SECTORS)
    with pytest.raises(SafetyInputError, match=r"\['XOM'\]"):
        validator.check(flat_backtest([[0.1] * 4]), {"AAPL": "equity", "MSFT": "equity", "JPM": "equity"})


def test_weights_that_do_not_match_the_dates_are_rejected() -> None:
    backtest = flat_backtest([[0.1] * 4, [0.1] * 4])
    broken = replace(backtest, weights=backtest.weights[:1])
    with pytest.raises(SafetyInputError, match="shape"):
        SafetyValidator(SafetyConfig(), SECTORS).check(broken, "equity")

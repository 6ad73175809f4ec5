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


def test_symbols_without_a_sector_are_listed_as_unchecked_not_pooled_into_one_sector() -> None:
    # JPM and XOM have no sector here: pooled they would hold 0.5 + 0.5 = 1.0 > 0.6 of one made-up sector.
    sectors = {"AAPL": "Information Technology", "MSFT": "Information Technology"}
    backtest = flat_backtest([[0.3, 0.2, 0.5, 0.5], [0.35, 0.35, 0.5, 0.5]])
    report = SafetyValidator(only("max_sector_weight", 0.6), sectors).check(backtest, "equity")
    # The symbols that have a sector are still capped: Information Technology 0.7 on the second row.
    assert [(v.symbol_or_group, v.value, v.date) for v in report.violations] == [
        ("Information Technology", pytest.approx(0.7), realised_date(1))
    ]
    assert report.checked == ("max_sector_weight",)
    (exemption,) = report.exemptions
    assert (exemption.limit, exemption.status, exemption.subjects) == ("max_sector_weight", "unchecked", ("JPM", "XOM"))
    assert exemption.setting.startswith("safety.sector_file=")
    assert "2 symbol(s) without a sector" in exemption.reason


def test_without_sector_metadata_the_sector_cap_is_not_checked() -> None:
    report = SafetyValidator(only("max_sector_weight", 0.6)).check(flat_backtest([[0.5, 0.5, 0.0, 0.0]]), "equity")
    assert report.passed
    assert report.checked == ()
    assert [(e.limit, e.subjects) for e in report.exemptions] == [("max_sector_weight", SYMBOLS)]


def test_a_sector_cap_that_is_off_leaves_no_symbol_unchecked() -> None:
    cfg = only("max_asset_weight", 1.0, per_asset_class={"index": SafetyLimitOverrides(disabled=["max_sector_weight"])})
    assert SafetyValidator(cfg, {}).check(flat_backtest([[0.5, 0.5, 0.0, 0.0]]), "equity").exemptions == ()
    cfg.limits.max_sector_weight = 0.6
    assert SafetyValidator(cfg, {}).check(flat_backtest([[0.5, 0.5, 0.0, 0.0]]), "index").exemptions == ()


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


def alternating_market_backtest(costs: CostModel) -> Backtest:
    """One asset whose return alternates +1% / -1%, and a book that holds +0.5 before each rise and -0.5 before
    each fall: it earns 0.5% before costs every row and flips (turnover ~1) every row."""
    n_rows = 40
    returns = np.zeros((n_rows + 1, 1))
    returns[1:, 0] = [0.01 if k % 2 == 0 else -0.01 for k in range(n_rows)]
    weights = 0.5 * np.sign(returns[1:])
    return run_backtest("agent", make_market(returns), "val", weights, costs)


@pytest.mark.parametrize("coverage", [2.0, None])
def test_a_turnover_over_the_cap_that_the_edge_does_not_cover_enough_is_refused(coverage: float | None) -> None:
    """Edge 0.5% a row against costs of ~30 bps a row: it pays its costs 1.67 times, short of 2."""
    costs = CostModel(cost_bps=30.0, slippage_bps=0.0, borrow_bps_annual=0.0)
    backtest = alternating_market_backtest(costs)
    edge = 0.005 * 252  # independent of the accounting: 0.5 x 1% every row, cash pays nothing
    violation = single_violation(only("max_annual_turnover", 100.0, turnover_cost_coverage=coverage), backtest)
    cost = violation.value * costs.trade_rate  # turnover a year x the cost of a unit traded
    assert 1.5 < edge / cost < 2.0
    assert violation.limit == "max_annual_turnover"
    assert violation.value == pytest.approx(252 * backtest.result.turnover.mean())
    assert violation.setting == "safety.limits.max_annual_turnover"
    assert violation.note is not None
    assert (
        f"its return over cash before costs is {edge:.2%} a year against costs of {cost:.2%} a year" in violation.note
    )
    if coverage is None:
        assert "safety.turnover_cost_coverage=null holds every policy to the cap" in violation.note
    else:
        assert f"beyond 2 times the costs it earns {edge - 2 * cost:.2%} a year" in violation.note
        assert "a waiver needs that above 0 with t >= 2 (safety.turnover_cost_coverage=2)" in violation.note


def test_a_turnover_over_the_cap_that_the_edge_pays_for_is_waived_and_reported() -> None:
    costs = CostModel(cost_bps=30.0, slippage_bps=0.0, borrow_bps_annual=0.0)
    backtest = alternating_market_backtest(costs)
    report = SafetyValidator(only("max_annual_turnover", 100.0, turnover_cost_coverage=1.5), SECTORS).check(
        backtest, "equity"
    )
    assert report.passed, report.summary()
    assert report.checked == ("max_annual_turnover",)
    (waiver,) = report.exemptions
    assert (waiver.limit, waiver.status, waiver.subjects) == ("max_annual_turnover", "waived", ("portfolio",))
    turnover = 252 * backtest.result.turnover.mean()
    assert f"turnover {turnover:.4g} is over safety.limits.max_annual_turnover=100, but the edge pays" in waiver.reason
    assert f"its return over cash before costs is {0.005 * 252:.2%} a year" in waiver.reason
    assert "t = inf" not in waiver.reason  # the drift of the weights moves the cost a little from row to row
    assert waiver.setting.startswith("safety.turnover_cost_coverage=null")


def test_an_edge_that_covers_the_costs_only_by_luck_buys_no_waiver() -> None:
    """A book that earns 5 times its costs on average, but with so much noise around it that the surplus is
    nowhere near two standard errors from zero: the cap binds."""
    n_rows = 40
    side = np.array([1.0 if k % 2 == 0 else -1.0 for k in range(n_rows)])
    noise = np.array([0.03, 0.03, -0.03, -0.03] * (n_rows // 4))  # mean zero, independent of the side
    returns = np.zeros((n_rows + 1, 1))
    returns[1:, 0] = side * (0.001 + noise)  # the book below earns 0.5 x (0.1% + noise) every row
    costs = CostModel(cost_bps=1.0, slippage_bps=0.0, borrow_bps_annual=0.0)
    backtest = run_backtest("agent", make_market(returns), "val", 0.5 * side[:, None], costs)
    gross = 0.5 * (0.001 + noise)
    surplus = gross - 2.0 * backtest.result.cost
    t_stat = surplus.mean() / (surplus.std(ddof=1) / np.sqrt(n_rows))
    assert gross.mean() > 4.0 * backtest.result.cost.mean()  # the point estimate alone would waive the cap
    assert 0.0 < t_stat < 0.5
    violation = single_violation(only("max_annual_turnover", 100.0), backtest)
    assert violation.note is not None
    assert f"beyond 2 times the costs it earns {surplus.mean() * 252:.2%} a year, t = {t_stat:.2f}" in violation.note


def test_a_churning_book_without_edge_is_refused_even_when_trading_is_free() -> None:
    """No costs and no edge: nothing pays for the turnover, so the cap binds (0 >= 2 x 0 is no waiver)."""
    weights = [[0.1 if k % 2 == 0 else -0.1, 0.0, 0.0, 0.0] for k in range(10)]
    violation = single_violation(only("max_annual_turnover", 30.0, turnover_cost_coverage=2.0), flat_backtest(weights))
    assert violation.limit == "max_annual_turnover"


def test_each_breach_names_the_key_its_threshold_came_from() -> None:
    cfg = SafetyConfig(
        limits=SafetyLimits(max_asset_weight=0.5, max_annual_turnover=None),
        per_asset_class={
            "commodity": SafetyLimitOverrides(max_asset_weight=0.2, max_drawdown=0.1),
            "index": SafetyLimitOverrides(max_annual_turnover=5.0),
        },
    )
    classes = {"AAPL": "equity", "MSFT": "equity", "JPM": "equity", "XOM": "commodity"}
    spanning = SafetyValidator(cfg, SECTORS).check(flat_backtest([[0.1, 0.1, 0.1, 0.3]]), classes)
    assert [(v.limit, v.symbol_or_group, v.setting) for v in spanning.violations] == [
        ("max_asset_weight", "XOM", "safety.per_asset_class.commodity.max_asset_weight")
    ]
    equity = SafetyValidator(cfg, SECTORS).check(flat_backtest([[0.6, 0.0, 0.0, 0.0]]), "equity")
    assert [v.setting for v in equity.violations] == ["safety.limits.max_asset_weight"]
    churn = [[0.2 if k % 2 == 0 else -0.2, 0.0, 0.0, 0.0] for k in range(10)]
    index = SafetyValidator(cfg, SECTORS).check(flat_backtest(churn), "index")
    assert [(v.limit, v.setting) for v in index.violations] == [
        ("max_annual_turnover", "safety.per_asset_class.index.max_annual_turnover")
    ]


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

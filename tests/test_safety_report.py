"""The report round-trips through JSON, says what broke, and the gate stops or lets through as configured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hierl.config.safety import LIMIT_NAMES, SafetyConfig, SafetyLimitOverrides, SafetyLimits
from hierl.envs.market_core import CostModel, simulate_portfolio
from hierl.errors import UserError
from hierl.evaluation.backtest import Backtest
from hierl.safety import (
    SAFETY_REPORT_FILE,
    SafetyReport,
    SafetyValidator,
    SafetyViolationError,
    apply_safety_gate,
    enforce,
    write_safety_report,
)

SECTORS = {"AAPL": "Information Technology", "JPM": "Financials"}


def backtest(weights: list[list[float]]) -> Backtest:
    target = np.asarray(weights, dtype=np.float64)
    result = simulate_portfolio(target, np.zeros_like(target), np.zeros(len(target)), CostModel())
    dates = np.datetime64("2022-06-01") + np.arange(len(target)).astype("timedelta64[D]")
    return Backtest(
        name="agent",
        dates=dates,
        symbols=("AAPL", "JPM"),
        weights=target,
        result=result,
        cash_return=np.zeros(len(target)),
    )


def limits(**values: float | None) -> SafetyConfig:
    return SafetyConfig(limits=SafetyLimits(max_annual_turnover=None, **values))


BREACHING = backtest([[0.5, 0.2], [0.9, 0.4], [0.3, 0.3]])


def failed_report() -> SafetyReport:
    return SafetyValidator(limits(max_gross_exposure=1.0, max_asset_weight=0.8), SECTORS).check(BREACHING, "equity")


def test_report_json_round_trips(tmp_path: Path) -> None:
    report = failed_report()
    path = write_safety_report(report, tmp_path)
    assert path == tmp_path / SAFETY_REPORT_FILE
    payload = json.loads(path.read_text())
    assert payload["passed"] is False
    assert payload["violations"][0]["limit"] == "max_gross_exposure"
    assert SafetyReport.from_dict(payload) == report


def test_summary_says_which_limit_by_how_much_and_when() -> None:
    text = failed_report().summary()
    assert "FAILED" in text
    assert "max_gross_exposure: 1.3 > 1 (by 0.3) on 2022-06-02 [portfolio, 1 breaching day(s)]" in text
    assert "max_asset_weight: 0.9 > 0.8 (by 0.1) on 2022-06-02 [AAPL" in text
    passed = SafetyValidator(limits(), SECTORS).check(backtest([[0.1, 0.1]]), "equity")
    assert passed.summary().startswith("safety check passed")


def test_enforce_stops_a_failed_report_with_the_summary() -> None:
    report = failed_report()
    with pytest.raises(SafetyViolationError, match=r"safety\.allow_violations=true") as caught:
        enforce(report, SafetyConfig())
    assert isinstance(caught.value, UserError)
    assert report.summary() in str(caught.value)


def test_allow_violations_lets_a_failed_report_through() -> None:
    report = failed_report()
    assert not report.passed and report.violations
    # Positive control: the same report stops the run when violations are not allowed.
    with pytest.raises(SafetyViolationError, match="max_gross_exposure"):
        enforce(report, SafetyConfig(allow_violations=False))
    assert enforce(report, SafetyConfig(allow_violations=True)) is None


def test_gate_writes_the_report_before_stopping(tmp_path: Path) -> None:
    validator = SafetyValidator(limits(max_gross_exposure=1.0), SECTORS)
    with pytest.raises(SafetyViolationError, match="max_gross_exposure"):
        apply_safety_gate(validator, BREACHING, "equity", tmp_path)
    assert json.loads((tmp_path / SAFETY_REPORT_FILE).read_text())["passed"] is False


def test_gate_lets_an_opted_out_breach_through_with_its_report(tmp_path: Path) -> None:
    cfg = limits(max_gross_exposure=1.0)
    cfg.allow_violations = True
    report = apply_safety_gate(SafetyValidator(cfg, SECTORS), BREACHING, "equity", tmp_path, "pre_finetune.json")
    assert report is not None and not report.passed
    assert (tmp_path / "pre_finetune.json").exists()


def test_disabled_gate_checks_and_writes_nothing(tmp_path: Path) -> None:
    cfg = limits(max_gross_exposure=1.0)
    cfg.enabled = False
    assert apply_safety_gate(SafetyValidator(cfg, SECTORS), BREACHING, "equity", tmp_path) is None
    assert not (tmp_path / SAFETY_REPORT_FILE).exists()


def moving_backtest(weights: list[list[float]], returns: list[list[float]] | None = None) -> Backtest:
    """`backtest` with asset returns (zero unless given) and zero costs, so only the weights decide the limits."""
    target = np.asarray(weights, dtype=np.float64)
    asset_returns = np.zeros_like(target) if returns is None else np.asarray(returns, dtype=np.float64)
    free = CostModel(cost_bps=0.0, slippage_bps=0.0, borrow_bps_annual=0.0)
    result = simulate_portfolio(target, asset_returns, np.zeros(len(target)), free)
    dates = np.datetime64("2022-06-01") + np.arange(len(target)).astype("timedelta64[D]")
    return Backtest("agent", dates, ("AAPL", "JPM"), target, result, np.zeros(len(target)))


# limit -> (threshold, a backtest that breaks it and no other limit)
BREAKERS: dict[str, tuple[float, Backtest]] = {
    "max_drawdown": (0.05, moving_backtest([[1.0, 0.0]] * 3, [[-0.04, 0.0], [-0.04, 0.0], [0.0, 0.0]])),
    "max_gross_exposure": (1.0, moving_backtest([[0.9, 0.4]])),
    "max_net_exposure": (0.5, moving_backtest([[0.4, 0.4]])),
    "max_asset_weight": (0.5, moving_backtest([[0.6, 0.0]])),
    "max_sector_weight": (0.5, moving_backtest([[0.6, 0.0]])),
    "max_asset_class_weight": (0.5, moving_backtest([[0.3, 0.3]])),
    "max_daily_turnover": (0.5, moving_backtest([[0.6, 0.0]])),
    "max_annual_turnover": (10.0, moving_backtest([[0.5, 0.0], [-0.5, 0.0]] * 5)),
}


def only_limit(limit: str, threshold: float) -> SafetyConfig:
    return SafetyConfig(limits=SafetyLimits(**{name: threshold if name == limit else None for name in LIMIT_NAMES}))


def test_every_limit_is_broken_by_its_breaker() -> None:
    assert sorted(BREAKERS) == sorted(LIMIT_NAMES)


@pytest.mark.parametrize("limit", sorted(BREAKERS))
def test_every_refusal_names_the_key_its_value_and_the_opt_out(limit: str) -> None:
    threshold, breaking = BREAKERS[limit]
    cfg = only_limit(limit, threshold)
    report = SafetyValidator(cfg, SECTORS).check(breaking, "equity")
    assert [v.limit for v in report.violations] == [limit]
    with pytest.raises(SafetyViolationError) as caught:
        enforce(report, cfg)
    message = str(caught.value)
    value = report.violations[0].value
    assert f"relax safety.limits.{limit}={threshold:g} (measured {value:.4g}" in message
    assert f"safety.per_asset_class.equity.{limit} for equity only" in message
    assert f"set by safety.limits.{limit}={threshold:g}" in message  # on the breach's own line too
    assert "or set safety.allow_violations=true" in message


def test_a_refusal_by_a_class_override_names_the_override_not_the_global_key() -> None:
    cfg = SafetyConfig(
        limits=SafetyLimits(max_annual_turnover=100.0),
        per_asset_class={"index": SafetyLimitOverrides(max_annual_turnover=10.0)},
    )
    report = SafetyValidator(cfg, SECTORS).check(BREAKERS["max_annual_turnover"][1], "index")
    with pytest.raises(SafetyViolationError) as caught:
        enforce(report, cfg)
    message = str(caught.value)
    assert "relax safety.per_asset_class.index.max_annual_turnover=10 (measured" in message
    assert "safety.limits.max_annual_turnover" not in message
    # A churning book without edge: the note says why the turnover cap was not waived.
    assert "beyond 2 times the costs it earns" in message
    assert "a waiver needs that above 0 with t >= 2 (safety.turnover_cost_coverage=2)" in message


def test_a_report_without_exemptions_has_the_keys_it_always_had() -> None:
    """The output record hashes safety_report.json: a book every limit was held against must read as before."""
    payload = failed_report().to_dict()
    assert set(payload) == {"strategy", "asset_classes", "start", "end", "n_days", "checked", "passed", "violations"}


def test_exemptions_round_trip_and_are_in_the_summary(tmp_path: Path) -> None:
    report = SafetyValidator(limits(max_sector_weight=0.6), {"AAPL": "Information Technology"}).check(
        backtest([[0.1, 0.7]]), "equity"
    )
    assert report.passed  # JPM alone would be 0.7 > 0.6 of a sector, but it has none
    payload = json.loads(write_safety_report(report, tmp_path).read_text())
    assert payload["exemptions"] == [
        {
            "limit": "max_sector_weight",
            "status": "unchecked",
            "subjects": ["JPM"],
            "reason": "1 symbol(s) without a sector in the packaged sample sectors (safety.sector_file=null)",
            "setting": "safety.sector_file=<csv with columns symbol,sector> caps them",
        }
    ]
    assert SafetyReport.from_dict(payload) == report
    assert "  max_sector_weight unchecked for JPM: 1 symbol(s) without a sector" in report.summary()


def test_a_report_written_before_violations_named_their_setting_still_loads() -> None:
    payload = failed_report().to_dict()
    for violation in payload["violations"]:
        del violation["setting"], violation["note"]
    loaded = SafetyReport.from_dict(payload)
    assert [v.setting for v in loaded.violations] == [f"safety.limits.{v['limit']}" for v in payload["violations"]]
    assert len(loaded.violations) == 3


def test_an_intraday_report_prints_timestamps_and_counts_bars(tmp_path: Path) -> None:
    """Hourly bars: the block and the worst breach are timestamps and the rows are called bars; the JSON keeps its
    keys, and a daily report reads exactly as before."""
    hours = np.datetime64("2022-06-01T13:00:00") + np.arange(3).astype("timedelta64[h]")
    hourly = Backtest("agent", hours, BREACHING.symbols, BREACHING.weights, BREACHING.result, BREACHING.cash_return)
    report = SafetyValidator(limits(max_gross_exposure=1.0), SECTORS).check(hourly, "crypto")
    violation = next(v for v in report.violations if v.limit == "max_gross_exposure")
    assert (report.start, report.end, violation.date) == ("2022-06-01T13:00:00", "2022-06-01T15:00:00", str(hours[1]))
    assert "2022-06-01T13:00:00..2022-06-01T15:00:00, 3 bars)" in report.summary()
    assert "on 2022-06-01T14:00:00 [portfolio, 1 breaching bar(s)]" in report.summary()
    assert SafetyReport.from_dict(json.loads(write_safety_report(report, tmp_path).read_text())) == report
    daily = failed_report().summary()
    assert "2022-06-01..2022-06-03, 3 days)" in daily and "breaching day(s)" in daily

"""The report round-trips through JSON, says what broke, and the gate stops or lets through as configured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hierl.config.safety import SafetyConfig, SafetyLimits
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

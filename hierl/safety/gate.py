"""The gate as the pipeline uses it: check, record the report in the run folder, then stop or warn."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hierl.evaluation.backtest import Backtest
from hierl.safety.report import SAFETY_REPORT_FILE, SafetyReport, enforce, write_safety_report
from hierl.safety.validator import SafetyValidator
from hierl.tracking.logging import get_logger

log = get_logger("safety")


def apply_safety_gate(
    validator: SafetyValidator,
    backtest: Backtest,
    asset_class: str | Mapping[str, str],
    run_dir: Path,
    filename: str = SAFETY_REPORT_FILE,
) -> SafetyReport | None:
    """Check `backtest`, write the report, and raise `SafetyViolationError` on a breach unless opted out.

    The report is written before the decision so that a stopped run still shows what broke. Returns None (and
    writes nothing) when `safety.enabled` is false.
    """
    if not validator.cfg.enabled:
        return None
    report = validator.check(backtest, asset_class)
    write_safety_report(report, run_dir, filename)
    if report.passed:
        log.info("%s", report.summary())
    elif validator.cfg.allow_violations:
        log.warning("%s\ncontinuing because safety.allow_violations=true", report.summary())
    enforce(report, validator.cfg)
    return report

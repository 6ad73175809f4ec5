"""The safety gate: hard risk limits every policy must meet before it is fine-tuned or reported."""

from hierl.safety.gate import apply_safety_gate
from hierl.safety.limits import limit_setting, limits_for_class, portfolio_limits
from hierl.safety.report import (
    SAFETY_REPORT_FILE,
    Exemption,
    SafetyReport,
    SafetyViolationError,
    Violation,
    enforce,
    write_safety_report,
)
from hierl.safety.sectors import SectorTable, load_sector_table, load_sectors, sector_of
from hierl.safety.validator import SafetyInputError, SafetyValidator

__all__ = [
    "SAFETY_REPORT_FILE",
    "Exemption",
    "SafetyInputError",
    "SafetyReport",
    "SafetyValidator",
    "SafetyViolationError",
    "SectorTable",
    "Violation",
    "apply_safety_gate",
    "enforce",
    "limit_setting",
    "limits_for_class",
    "load_sector_table",
    "load_sectors",
    "portfolio_limits",
    "sector_of",
    "write_safety_report",
]

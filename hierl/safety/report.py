"""The outcome of a safety check: what broke, by how much and when, as JSON for the run folder and as text."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hierl.config.safety import SafetyConfig
from hierl.errors import SafetyViolationError
from hierl.tracking.files import write_json

SAFETY_REPORT_FILE = "safety_report.json"
PORTFOLIO = "portfolio"


@dataclass(frozen=True)
class Violation:
    """The worst breach of one limit.

    Attributes:
        limit: the limit's name, as in `safety.limits`.
        value: the measured value at the worst breach.
        threshold: the limit that applied there.
        excess: value - threshold.
        date: ISO date of the worst breach (the day the row's return is realised, as in `backtest.parquet`);
            None for a limit measured over the whole block.
        symbol_or_group: the symbol, sector or asset class that breached, or "portfolio" for the whole book.
        breach_days: rows on which the limit was breached anywhere; None for a whole-block limit.
    """

    limit: str
    value: float
    threshold: float
    excess: float
    date: str | None
    symbol_or_group: str
    breach_days: int | None

    def describe(self) -> str:
        when = f"on {self.date}" if self.date is not None else "over the block"
        days = "" if self.breach_days is None else f", {self.breach_days} breaching day(s)"
        return (
            f"{self.limit}: {self.value:.4g} > {self.threshold:.4g} (by {self.excess:.4g}) {when} "
            f"[{self.symbol_or_group}{days}]"
        )


@dataclass(frozen=True)
class SafetyReport:
    """Every limit checked on one backtest and the worst breach of each broken one.

    Attributes:
        strategy: the backtest's name.
        asset_classes: the classes of the book's symbols, sorted.
        start, end: ISO dates of the first and last realised row.
        n_days: rows checked.
        checked: names of the limits that were checked (the others were null or had no data to apply to).
        violations: one per broken limit, in the order of `checked`.
    """

    strategy: str
    asset_classes: tuple[str, ...]
    start: str
    end: str
    n_days: int
    checked: tuple[str, ...]
    violations: tuple[Violation, ...]

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain str, int, float, None, lists and dicts."""
        return {
            "strategy": self.strategy,
            "asset_classes": list(self.asset_classes),
            "start": self.start,
            "end": self.end,
            "n_days": self.n_days,
            "checked": list(self.checked),
            "passed": self.passed,
            "violations": [asdict(v) for v in self.violations],
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> SafetyReport:
        """Inverse of `to_dict` (`passed` is derived, so it is not read back)."""
        return cls(
            strategy=payload["strategy"],
            asset_classes=tuple(payload["asset_classes"]),
            start=payload["start"],
            end=payload["end"],
            n_days=int(payload["n_days"]),
            checked=tuple(payload["checked"]),
            violations=tuple(Violation(**v) for v in payload["violations"]),
        )

    def summary(self) -> str:
        scope = f"{self.strategy!r} ({'+'.join(self.asset_classes)}, {self.start}..{self.end}, {self.n_days} days)"
        if self.passed:
            return f"safety check passed: {scope} meets all {len(self.checked)} limits ({', '.join(self.checked)})"
        lines = [f"safety check FAILED: {scope} breaks {len(self.violations)} of {len(self.checked)} limits"]
        lines.extend(f"  {v.describe()}" for v in self.violations)
        return "\n".join(lines)


def enforce(report: SafetyReport, cfg: SafetyConfig) -> None:
    """Stop the run on a failed report unless the user opted out; the caller logs the opted-out breach."""
    if report.passed or cfg.allow_violations:
        return
    names = ", ".join(f"safety.limits.{v.limit}" for v in report.violations)
    raise SafetyViolationError(
        f"{report.summary()}\nFix the policy, relax {names} (or a per_asset_class override), "
        "or set safety.allow_violations=true to continue despite the breach."
    )


def write_safety_report(report: SafetyReport, run_dir: Path, filename: str = SAFETY_REPORT_FILE) -> Path:
    """Write the report into the run folder atomically and return its path."""
    return write_json(Path(run_dir) / filename, report.to_dict())

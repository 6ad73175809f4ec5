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
# An exemption's summary line names at most this many symbols (the JSON lists them all).
SHOWN_SUBJECTS = 5


def _rows_name(date: str | None) -> str:
    """What a report's rows are called: "day" for daily bars (ISO days, as the text always read), "bar" for
    intraday ones, whose dates are ISO timestamps."""
    return "bar" if date is not None and "T" in date else "day"


@dataclass(frozen=True)
class Violation:
    """The worst breach of one limit.

    Attributes:
        limit: the limit's name, as in `safety.limits`.
        value: the measured value at the worst breach.
        threshold: the limit that applied there.
        excess: value - threshold.
        date: ISO date of the worst breach (the day the row's return is realised, as in `backtest.parquet`; an
            ISO timestamp for intraday bars); None for a limit measured over the whole block.
        symbol_or_group: the symbol, sector or asset class that breached, or "portfolio" for the whole book.
        breach_days: rows (days, or intraday bars) on which the limit was breached anywhere; None for a whole-block
            limit.
        setting: the config key the threshold came from (`safety.limits.<limit>` or
            `safety.per_asset_class.<class>.<limit>`): the one to change to let the policy through.
        note: why the limit applied where that is not obvious (the turnover cap: the edge against the costs).
    """

    limit: str
    value: float
    threshold: float
    excess: float
    date: str | None
    symbol_or_group: str
    breach_days: int | None
    setting: str
    note: str | None = None

    def describe(self) -> str:
        when = f"on {self.date}" if self.date is not None else "over the block"
        rows = "" if self.breach_days is None else f", {self.breach_days} breaching {_rows_name(self.date)}(s)"
        note = "" if self.note is None else f"; {self.note}"
        return (
            f"{self.limit}: {self.value:.4g} > {self.threshold:.4g} (by {self.excess:.4g}) {when} "
            f"[{self.symbol_or_group}{rows}], set by {self.setting}={self.threshold:g}{note}"
        )


@dataclass(frozen=True)
class Exemption:
    """A limit that was not held against part of the book, why, and the setting that decides it.

    Attributes:
        limit: the limit's name, as in `safety.limits`.
        status: "unchecked" (nothing to measure it on, e.g. symbols without a sector) or "waived" (measured over
            its threshold but let through by a rule of the config, e.g. a turnover paid for by the edge).
        subjects: the symbols concerned, or ("portfolio",) for the whole book.
        reason: one sentence with the numbers.
        setting: the config key (and the value to give it) that changes the outcome.
    """

    limit: str
    status: str
    subjects: tuple[str, ...]
    reason: str
    setting: str

    def describe(self) -> str:
        shown = ", ".join(self.subjects[:SHOWN_SUBJECTS])
        more = len(self.subjects) - SHOWN_SUBJECTS
        if more > 0:
            shown += f" and {more} more"
        return f"{self.limit} {self.status} for {shown}: {self.reason}; {self.setting}"


@dataclass(frozen=True)
class SafetyReport:
    """Every limit checked on one backtest and the worst breach of each broken one.

    Attributes:
        strategy: the backtest's name.
        asset_classes: the classes of the book's symbols, sorted.
        start, end: ISO dates of the first and last realised row (ISO timestamps for intraday bars).
        n_days: rows checked (days, or intraday bars; the summary names which).
        checked: names of the limits that were checked (the others were null or had no data to apply to).
        violations: one per broken limit, in the order of `checked`.
        exemptions: limits not held against part of the book (symbols without a sector) or waived (a turnover
            paid for by the edge), each with the setting that decides it.
    """

    strategy: str
    asset_classes: tuple[str, ...]
    start: str
    end: str
    n_days: int
    checked: tuple[str, ...]
    violations: tuple[Violation, ...]
    exemptions: tuple[Exemption, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain str, int, float, None, lists and dicts.

        `exemptions` is written only when there is one, so the report of a book every limit was held against
        reads exactly as before the key existed (the output record hashes it).
        """
        payload: dict[str, Any] = {
            "strategy": self.strategy,
            "asset_classes": list(self.asset_classes),
            "start": self.start,
            "end": self.end,
            "n_days": self.n_days,
            "checked": list(self.checked),
            "passed": self.passed,
            "violations": [asdict(v) for v in self.violations],
        }
        if self.exemptions:
            payload["exemptions"] = [asdict(e) for e in self.exemptions]
        return payload

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> SafetyReport:
        """Inverse of `to_dict` (`passed` is derived, so it is not read back).

        A report written before violations named their setting gets the global key, the only one it could
        have named then."""
        violations = tuple(Violation(**{"setting": f"safety.limits.{v['limit']}", **v}) for v in payload["violations"])
        exemptions = tuple(Exemption(**{**e, "subjects": tuple(e["subjects"])}) for e in payload.get("exemptions", []))
        return cls(
            strategy=payload["strategy"],
            asset_classes=tuple(payload["asset_classes"]),
            start=payload["start"],
            end=payload["end"],
            n_days=int(payload["n_days"]),
            checked=tuple(payload["checked"]),
            violations=violations,
            exemptions=exemptions,
        )

    def summary(self) -> str:
        rows = f"{self.n_days} {_rows_name(self.start)}s"
        scope = f"{self.strategy!r} ({'+'.join(self.asset_classes)}, {self.start}..{self.end}, {rows})"
        waived = [e.limit for e in self.exemptions if e.status == "waived"]
        if self.passed and not waived:
            lines = [f"safety check passed: {scope} meets all {len(self.checked)} limits ({', '.join(self.checked)})"]
        elif self.passed:
            met = [name for name in self.checked if name not in waived]
            lines = [
                f"safety check passed: {scope} meets {len(met)} of {len(self.checked)} limits ({', '.join(met)}); "
                f"{', '.join(waived)} waived"
            ]
        else:
            lines = [f"safety check FAILED: {scope} breaks {len(self.violations)} of {len(self.checked)} limits"]
            lines.extend(f"  {v.describe()}" for v in self.violations)
        lines.extend(f"  {e.describe()}" for e in self.exemptions)
        return "\n".join(lines)


def _relax(violation: Violation, asset_classes: tuple[str, ...]) -> str:
    """The key to change for one breach, with its current value and the value measured; for a one-class book
    whose global limit bound, also the class-only key."""
    text = f"{violation.setting}={violation.threshold:g} (measured {violation.value:.4g}"
    if violation.setting.startswith("safety.limits.") and len(asset_classes) == 1:
        text += f"; or safety.per_asset_class.{asset_classes[0]}.{violation.limit} for {asset_classes[0]} only"
    return text + ")"


def enforce(report: SafetyReport, cfg: SafetyConfig) -> None:
    """Stop the run on a failed report unless the user opted out; the caller logs the opted-out breach.

    The message names, for each breach, the exact key whose value bound (with its value) and the opt-out."""
    if report.passed or cfg.allow_violations:
        return
    fixes = " and ".join(_relax(v, report.asset_classes) for v in report.violations)
    raise SafetyViolationError(
        f"{report.summary()}\nFix the policy, relax {fixes}, "
        "or set safety.allow_violations=true to continue despite the breach."
    )


def write_safety_report(report: SafetyReport, run_dir: Path, filename: str = SAFETY_REPORT_FILE) -> Path:
    """Write the report into the run folder atomically and return its path."""
    return write_json(Path(run_dir) / filename, report.to_dict())

"""SafetyValidator: checks one backtest against the hard risk limits of `SafetyConfig`.

Every row-wise limit is measured as a [K, G] panel (K realised rows, G groups: the portfolio, each symbol,
each sector or each asset class) against one threshold per group, so that each limit has one code path and the
worst breach is simply the largest excess over the panel. Exposure limits are measured on the target weights
held over each row, dated by the day the row's return is realised (the dates of `backtest.parquet`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hierl.config.safety import LIMIT_NAMES, SafetyConfig, SafetyLimits, check_safety_values
from hierl.evaluation.backtest import Backtest
from hierl.evaluation.metrics import annualised_turnover, drawdown_series
from hierl.safety.limits import limits_for_class, portfolio_limits
from hierl.safety.report import PORTFOLIO, SafetyReport, Violation
from hierl.safety.sectors import load_sectors, sector_of

# Weights built as position / N sum to the leverage bound only up to rounding; that must not count as a breach.
TOLERANCE = 1e-9


class SafetyInputError(ValueError):
    """A backtest or asset-class mapping the validator cannot check."""


@dataclass(frozen=True)
class _Panel:
    """One row-wise limit: values [K, G], thresholds [G] (NaN where the limit does not apply), group labels."""

    limit: str
    values: np.ndarray
    thresholds: np.ndarray
    labels: tuple[str, ...]

    @property
    def checked(self) -> bool:
        return bool(np.any(~np.isnan(self.thresholds)))


def _threshold(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _portfolio_panel(limit: str, values: np.ndarray, limits: SafetyLimits) -> _Panel:
    return _Panel(limit, values[:, None], np.array([_threshold(getattr(limits, limit))]), (PORTFOLIO,))


def _group_panel(limit: str, abs_weights: np.ndarray, groups: list[str], thresholds: dict[str, float | None]) -> _Panel:
    """Sum of |w| per group on each row, each group against its own threshold."""
    labels = tuple(sorted(set(groups)))
    membership = (np.asarray(groups)[:, None] == np.asarray(labels)[None, :]).astype(np.float64)
    return _Panel(limit, abs_weights @ membership, np.array([_threshold(thresholds[g]) for g in labels]), labels)


def _worst(panel: _Panel, dates: np.ndarray) -> Violation | None:
    excess = panel.values - panel.thresholds[None, :]
    excess = np.where(np.isnan(excess), -np.inf, excess)
    breach = excess > TOLERANCE
    if not breach.any():
        return None
    row, group = np.unravel_index(int(np.argmax(excess)), excess.shape)
    return Violation(
        limit=panel.limit,
        value=float(panel.values[row, group]),
        threshold=float(panel.thresholds[group]),
        excess=float(excess[row, group]),
        date=str(dates[row].astype("datetime64[D]")),
        symbol_or_group=panel.labels[group],
        breach_days=int(breach.any(axis=1).sum()),
    )


def _annual_turnover(turnover: np.ndarray, threshold: float) -> Violation | None:
    """The one whole-block limit: annualised turnover, the same number as `turnover` in `metrics.json`."""
    value = annualised_turnover(turnover)
    if value - threshold <= TOLERANCE:
        return None
    return Violation(
        limit="max_annual_turnover",
        value=value,
        threshold=float(threshold),
        excess=value - threshold,
        date=None,
        symbol_or_group=PORTFOLIO,
        breach_days=None,
    )


def _symbol_classes(symbols: tuple[str, ...], asset_class: str | Mapping[str, str]) -> list[str]:
    if isinstance(asset_class, str):
        return [asset_class] * len(symbols)
    missing = [s for s in symbols if s not in asset_class]
    if missing:
        raise SafetyInputError(
            f"asset_class mapping has no class for symbols {missing}; map every symbol of the backtest "
            "or pass one class name for all of them"
        )
    return [asset_class[s] for s in symbols]


def _validated_weights(backtest: Backtest) -> np.ndarray:
    weights = np.asarray(backtest.weights, dtype=np.float64)
    expected = (len(backtest.dates), len(backtest.symbols))
    if weights.shape != expected or expected[0] == 0:
        raise SafetyInputError(
            f"backtest {backtest.name!r} has weights of shape {weights.shape}; expected a non-empty {expected} "
            "(one row per date, one column per symbol)"
        )
    series = (backtest.result.returns, backtest.result.turnover)
    if any(np.shape(s) != (expected[0],) for s in series):
        raise SafetyInputError(
            f"backtest {backtest.name!r} has {expected[0]} dates but its result rows do not match; "
            "build it with run_backtest"
        )
    if not np.all(np.isfinite(weights)):
        raise SafetyInputError(f"backtest {backtest.name!r} has NaN or inf weights; use 0 for no position")
    return weights


class SafetyValidator:
    """Checks backtests against `SafetyConfig`; without sector metadata the sector cap is not checked."""

    def __init__(self, cfg: SafetyConfig, sectors: Mapping[str, str] | None = None) -> None:
        check_safety_values(cfg)
        self.cfg = cfg
        self.sectors = None if sectors is None else dict(sectors)

    @classmethod
    def from_config(cls, cfg: SafetyConfig) -> SafetyValidator:
        """The validator with the sectors of `cfg.sector_file` (the packaged sample sectors when null)."""
        return cls(cfg, load_sectors(cfg.sector_file))

    def check(self, backtest: Backtest, asset_class: str | Mapping[str, str]) -> SafetyReport:
        """Measure every limit on the backtest; `asset_class` is the class of all symbols or one per symbol."""
        weights = _validated_weights(backtest)
        classes = _symbol_classes(backtest.symbols, asset_class)
        book = portfolio_limits(self.cfg, set(classes))
        class_limits = {c: limits_for_class(self.cfg, c) for c in set(classes)}
        abs_weights = np.abs(weights)
        turnover = np.asarray(backtest.result.turnover, dtype=np.float64)

        panels = [
            _portfolio_panel("max_drawdown", drawdown_series(backtest.result.returns), book),
            _portfolio_panel("max_gross_exposure", abs_weights.sum(axis=1), book),
            _portfolio_panel("max_net_exposure", np.abs(weights.sum(axis=1)), book),
            _Panel(
                "max_asset_weight",
                abs_weights,
                np.array([_threshold(class_limits[c].max_asset_weight) for c in classes]),
                tuple(backtest.symbols),
            ),
            _group_panel(
                "max_asset_class_weight",
                abs_weights,
                classes,
                {c: limits.max_asset_class_weight for c, limits in class_limits.items()},
            ),
            _portfolio_panel("max_daily_turnover", turnover, book),
        ]
        if self.sectors is not None:
            sectors = [sector_of(s, self.sectors) for s in backtest.symbols]
            panels.append(
                _group_panel("max_sector_weight", abs_weights, sectors, dict.fromkeys(sectors, book.max_sector_weight))
            )

        checked: set[str] = set()
        found: dict[str, Violation] = {}
        for panel in panels:
            if panel.checked:
                checked.add(panel.limit)
                violation = _worst(panel, backtest.dates)
                if violation is not None:
                    found[panel.limit] = violation
        if book.max_annual_turnover is not None:
            checked.add("max_annual_turnover")
            annual = _annual_turnover(turnover, book.max_annual_turnover)
            if annual is not None:
                found[annual.limit] = annual

        order = [name for name in LIMIT_NAMES if name in checked]
        return SafetyReport(
            strategy=backtest.name,
            asset_classes=tuple(sorted(set(classes))),
            start=str(backtest.dates[0].astype("datetime64[D]")),
            end=str(backtest.dates[-1].astype("datetime64[D]")),
            n_days=len(backtest.dates),
            checked=tuple(order),
            violations=tuple(found[name] for name in order if name in found),
        )

"""SafetyValidator: checks one backtest against the hard risk limits of `SafetyConfig`.

Every row-wise limit is measured as a [K, G] panel (K realised rows, G groups: the portfolio, each symbol,
each sector or each asset class) against one threshold per group, so that each limit has one code path and the
worst breach is simply the largest excess over the panel. Exposure limits are measured on the target weights
held over each row, dated by the day the row's return is realised (the dates of `backtest.parquet`: days for
daily bars, timestamps for intraday ones, which the report prints as such and counts as bars).

Each threshold carries the config key it came from, so a refusal names the key to change. Two things are not
held against the book, and the report lists each as an `Exemption` with its setting: symbols without a sector
(the sector cap cannot be measured on them) and a turnover over the cap that the book's edge pays for
(`safety.turnover_cost_coverage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hierl.config.safety import LIMIT_NAMES, SafetyConfig, SafetyLimits, check_safety_values
from hierl.data.timestamps import date_text
from hierl.evaluation.backtest import Backtest, table_dates
from hierl.evaluation.metrics import annualised_turnover, drawdown_series
from hierl.safety.limits import limit_setting, limits_for_class, portfolio_class, portfolio_limits
from hierl.safety.report import PORTFOLIO, Exemption, SafetyReport, Violation
from hierl.safety.sectors import load_sectors, sector_of

# Weights built as position / N sum to the leverage bound only up to rounding; that must not count as a breach.
TOLERANCE = 1e-9
SECTOR_FILE_FIX = "safety.sector_file=<csv with columns symbol,sector> caps them"
# The turnover cap is waived only when the edge beyond `safety.turnover_cost_coverage` times the costs stands this
# many standard errors above zero. The gate's block is the one the policy was selected on, and on a year or two of
# daily rows a point estimate is noisy enough (a book without skill reads +-10% a year) that luck alone could
# otherwise buy a waiver.
MIN_EDGE_T = 2.0


class SafetyInputError(ValueError):
    """A backtest or asset-class mapping the validator cannot check."""


@dataclass(frozen=True)
class _Panel:
    """One row-wise limit: values [K, G], thresholds [G] (NaN where the limit does not apply), group labels and
    the config key each group's threshold came from."""

    limit: str
    values: np.ndarray
    thresholds: np.ndarray
    labels: tuple[str, ...]
    settings: tuple[str, ...]

    @property
    def checked(self) -> bool:
        return bool(np.any(~np.isnan(self.thresholds)))


def _threshold(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _portfolio_panel(limit: str, values: np.ndarray, limits: SafetyLimits, setting: str) -> _Panel:
    return _Panel(limit, values[:, None], np.array([_threshold(getattr(limits, limit))]), (PORTFOLIO,), (setting,))


def _group_panel(
    limit: str,
    abs_weights: np.ndarray,
    groups: list[str],
    thresholds: Mapping[str, float | None],
    settings: Mapping[str, str],
) -> _Panel:
    """Sum of |w| per group on each row, each group against its own threshold."""
    labels = tuple(sorted(set(groups)))
    membership = (np.asarray(groups)[:, None] == np.asarray(labels)[None, :]).astype(np.float64)
    return _Panel(
        limit,
        abs_weights @ membership,
        np.array([_threshold(thresholds[g]) for g in labels]),
        labels,
        tuple(settings[g] for g in labels),
    )


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
        date=date_text(dates[row]),
        symbol_or_group=panel.labels[group],
        breach_days=int(breach.any(axis=1).sum()),
        setting=panel.settings[group],
    )


@dataclass(frozen=True)
class _CostCover:
    """The book's edge against its costs over the block, for the turnover cap's waiver (fractions of NAV a year).

    Attributes:
        edge: mean return over cash before costs (net return + costs - cash return).
        costs: mean costs paid, trading and borrow.
        surplus: mean of the edge less `coverage` times the costs, row by row.
        t_stat: of that surplus, mean over standard error; inf when it never varies and is positive.
    """

    edge: float
    costs: float
    surplus: float
    t_stat: float

    @property
    def pays(self) -> bool:
        return self.surplus > 0.0 and self.t_stat >= MIN_EDGE_T

    def describe(self, coverage: float) -> str:
        return (
            f"its return over cash before costs is {self.edge:.2%} a year against costs of {self.costs:.2%} a "
            f"year; beyond {coverage:g} times the costs it earns {self.surplus:.2%} a year, t = {self.t_stat:.2f}"
        )


def _cost_cover(backtest: Backtest, coverage: float) -> _CostCover:
    """The edge, the costs and the surplus of the edge over `coverage` times the costs, annualised as turnover is
    (with the backtest's bars a year)."""
    result = backtest.result
    cost = np.asarray(result.cost, dtype=np.float64)
    gross_excess = np.asarray(result.returns, dtype=np.float64) + cost - np.asarray(backtest.cash_return)
    surplus = gross_excess - coverage * cost
    mean = float(surplus.mean())
    spread = float(surplus.std(ddof=1)) if surplus.size > 1 else 0.0
    if spread > 0.0:
        t_stat = mean / (spread / np.sqrt(surplus.size))
    else:  # a surplus that never varies is as certain as its sign
        t_stat = np.inf if mean > 0.0 else -np.inf if mean < 0.0 else 0.0
    bars_per_year = backtest.bars_per_year
    return _CostCover(
        edge=float(gross_excess.mean()) * bars_per_year,
        costs=float(cost.mean()) * bars_per_year,
        surplus=mean * bars_per_year,
        t_stat=float(t_stat),
    )


def _annual_turnover(
    backtest: Backtest, threshold: float, setting: str, coverage: float | None
) -> tuple[Violation | None, Exemption | None]:
    """The one whole-block limit: annualised turnover, the same number as `turnover` in `metrics.json`: the mean
    traded notional per row times the backtest's bars a year (`Backtest.bars_per_year`, the class's calendar: 365
    for daily crypto bars, 252 for daily equity bars).

    The cap is a cost budget, so over it the book is refused only while its edge does not pay for its costs
    `coverage` times over, clearly (`_CostCover.pays`; coverage None: always refused). Returns the breach, or the
    waiver.
    """
    value = annualised_turnover(np.asarray(backtest.result.turnover, dtype=np.float64), backtest.bars_per_year)
    if value - threshold <= TOLERANCE:
        return None, None
    if coverage is None:
        cover = _cost_cover(backtest, 1.0)
        note = (
            f"its return over cash before costs is {cover.edge:.2%} a year against costs of {cover.costs:.2%} a "
            "year; safety.turnover_cost_coverage=null holds every policy to the cap"
        )
    else:
        cover = _cost_cover(backtest, coverage)
        if cover.pays:
            waiver = Exemption(
                limit="max_annual_turnover",
                status="waived",
                subjects=(PORTFOLIO,),
                reason=(
                    f"turnover {value:.4g} is over {setting}={threshold:g}, but the edge pays for it: "
                    f"{cover.describe(coverage)} >= {MIN_EDGE_T:g}"
                ),
                setting="safety.turnover_cost_coverage=null holds every policy to the cap",
            )
            return None, waiver
        note = (
            f"{cover.describe(coverage)}; a waiver needs that above 0 with t >= {MIN_EDGE_T:g} "
            f"(safety.turnover_cost_coverage={coverage:g}), so the cap binds"
        )
    violation = Violation(
        limit="max_annual_turnover",
        value=value,
        threshold=float(threshold),
        excess=value - threshold,
        date=None,
        symbol_or_group=PORTFOLIO,
        breach_days=None,
        setting=setting,
        note=note,
    )
    return violation, None


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
    series = (backtest.result.returns, backtest.result.turnover, backtest.result.cost, backtest.cash_return)
    if any(np.shape(s) != (expected[0],) for s in series):
        raise SafetyInputError(
            f"backtest {backtest.name!r} has {expected[0]} dates but its result rows do not match; "
            "build it with run_backtest"
        )
    if not np.all(np.isfinite(weights)):
        raise SafetyInputError(f"backtest {backtest.name!r} has NaN or inf weights; use 0 for no position")
    return weights


class SafetyValidator:
    """Checks backtests against `SafetyConfig`.

    `sectors` maps symbol -> sector; the sector cap is checked on the symbols it names, and a symbol it does not
    name (or every symbol, when `sectors` is None) is listed in the report as unchecked for the sector cap.
    """

    def __init__(self, cfg: SafetyConfig, sectors: Mapping[str, str] | None = None) -> None:
        check_safety_values(cfg)
        self.cfg = cfg
        self.sectors = None if sectors is None else dict(sectors)

    @classmethod
    def from_config(cls, cfg: SafetyConfig) -> SafetyValidator:
        """The validator with the sectors of `cfg.sector_file` (the packaged sample sectors when null)."""
        return cls(cfg, load_sectors(cfg.sector_file))

    def _sector_source(self) -> str:
        """Where the sectors were looked up, for the report's line on the symbols without one."""
        if self.sectors is None:
            return "no sector table (none was given to the validator)"
        if self.cfg.sector_file is None:
            return "the packaged sample sectors (safety.sector_file=null)"
        return f"safety.sector_file={self.cfg.sector_file}"

    def _sector_check(
        self, symbols: tuple[str, ...], abs_weights: np.ndarray, threshold: float | None, setting: str
    ) -> tuple[_Panel | None, Exemption | None]:
        """The sector cap over the symbols with a sector, and the exemption of those without one.

        Nothing when the book's sector cap is off (null or disabled for its class): then no symbol lacks a check.
        """
        if threshold is None:
            return None, None
        table = self.sectors or {}
        sectors = [sector_of(s, table) for s in symbols]
        known = [(column, sector) for column, sector in enumerate(sectors) if sector is not None]
        unknown = tuple(s for s, sector in zip(symbols, sectors, strict=True) if sector is None)
        panel = None
        if known:
            labels = [sector for _, sector in known]
            panel = _group_panel(
                "max_sector_weight",
                abs_weights[:, [column for column, _ in known]],
                labels,
                dict.fromkeys(labels, threshold),
                dict.fromkeys(labels, setting),
            )
        exemption = None
        if unknown:
            exemption = Exemption(
                limit="max_sector_weight",
                status="unchecked",
                subjects=unknown,
                reason=f"{len(unknown)} symbol(s) without a sector in {self._sector_source()}",
                setting=SECTOR_FILE_FIX,
            )
        return panel, exemption

    def check(self, backtest: Backtest, asset_class: str | Mapping[str, str]) -> SafetyReport:
        """Measure every limit on the backtest; `asset_class` is the class of all symbols or one per symbol."""
        cfg = self.cfg
        weights = _validated_weights(backtest)
        classes = _symbol_classes(backtest.symbols, asset_class)
        book = portfolio_limits(cfg, set(classes))
        book_class = portfolio_class(set(classes))
        class_limits = {c: limits_for_class(cfg, c) for c in set(classes)}
        abs_weights = np.abs(weights)
        turnover = np.asarray(backtest.result.turnover, dtype=np.float64)
        dates = table_dates(backtest.dates)  # days for daily bars (as ever), timestamps for intraday ones

        def book_setting(limit: str) -> str:
            return limit_setting(cfg, limit, book_class)

        panels = [
            _portfolio_panel(
                "max_drawdown", drawdown_series(backtest.result.returns), book, book_setting("max_drawdown")
            ),
            _portfolio_panel("max_gross_exposure", abs_weights.sum(axis=1), book, book_setting("max_gross_exposure")),
            _portfolio_panel("max_net_exposure", np.abs(weights.sum(axis=1)), book, book_setting("max_net_exposure")),
            _Panel(
                "max_asset_weight",
                abs_weights,
                np.array([_threshold(class_limits[c].max_asset_weight) for c in classes]),
                tuple(backtest.symbols),
                tuple(limit_setting(cfg, "max_asset_weight", c) for c in classes),
            ),
            _group_panel(
                "max_asset_class_weight",
                abs_weights,
                classes,
                {c: limits.max_asset_class_weight for c, limits in class_limits.items()},
                {c: limit_setting(cfg, "max_asset_class_weight", c) for c in class_limits},
            ),
            _portfolio_panel("max_daily_turnover", turnover, book, book_setting("max_daily_turnover")),
        ]
        exemptions: list[Exemption] = []
        sector_panel, unsectored = self._sector_check(
            backtest.symbols, abs_weights, book.max_sector_weight, book_setting("max_sector_weight")
        )
        if sector_panel is not None:
            panels.append(sector_panel)
        if unsectored is not None:
            exemptions.append(unsectored)

        checked: set[str] = set()
        found: dict[str, Violation] = {}
        for panel in panels:
            if panel.checked:
                checked.add(panel.limit)
                violation = _worst(panel, dates)
                if violation is not None:
                    found[panel.limit] = violation
        if book.max_annual_turnover is not None:
            checked.add("max_annual_turnover")
            annual, waiver = _annual_turnover(
                backtest, book.max_annual_turnover, book_setting("max_annual_turnover"), cfg.turnover_cost_coverage
            )
            if annual is not None:
                found[annual.limit] = annual
            if waiver is not None:
                exemptions.append(waiver)

        order = [name for name in LIMIT_NAMES if name in checked]
        return SafetyReport(
            strategy=backtest.name,
            asset_classes=tuple(sorted(set(classes))),
            start=date_text(dates[0]),
            end=date_text(dates[-1]),
            n_days=len(backtest.dates),
            checked=tuple(order),
            violations=tuple(found[name] for name in order if name in found),
            exemptions=tuple(sorted(exemptions, key=lambda e: LIMIT_NAMES.index(e.limit))),
        )

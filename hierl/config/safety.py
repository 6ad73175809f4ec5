"""Typed schema of the `safety` config group: the hard risk limits a policy must meet before it is trusted.

Limits are fractions of NAV. A limit set to null (None) is not checked.

Per-asset-class overrides are partial: `per_asset_class.<class>` sets only the limits that differ for that class
and lists in `disabled` the limits that do not apply to it at all (null there means "inherit", so disabling
needs its own list). Example:

    per_asset_class:
      index:
        max_asset_weight: 2.0
        disabled: [max_sector_weight]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from hierl.config.data import SPLITS
from hierl.config.domains import Interval, check_value
from hierl.errors import ConfigError


@dataclass
class SafetyLimits:
    """Hard limits on one backtest; each is checked on every row (or over the block, where stated).

    Attributes:
        max_drawdown: largest peak-to-trough NAV loss.
        max_gross_exposure: sum of |w| on any row.
        max_net_exposure: |sum of w| on any row.
        max_asset_weight: |w_i| of any one symbol on any row.
        max_sector_weight: sum of |w| over the symbols of one sector on any row.
        max_asset_class_weight: sum of |w| over the symbols of one asset class on any row (portfolios spanning
            classes; each class is held to its own value of this limit).
        max_daily_turnover: traded notional on any row (one bar of the book's calendar; a day on daily bars).
        max_annual_turnover: mean traded notional per row times the bars in a year of the book's calendar (the
            class's `asset.calendar`: 252 for daily equity bars, 365 for daily crypto bars; the hierarchy's decision
            calendar for a portfolio of classes), over the whole block. A cost budget, not a risk limit: it binds
            only while the policy's edge does not pay for its costs (see `SafetyConfig.turnover_cost_coverage`).
    """

    max_drawdown: float | None = 0.5
    max_gross_exposure: float | None = None
    max_net_exposure: float | None = None
    max_asset_weight: float | None = 1.0
    max_sector_weight: float | None = 0.6
    max_asset_class_weight: float | None = None
    max_daily_turnover: float | None = None
    max_annual_turnover: float | None = 100.0


@dataclass
class SafetyLimitOverrides:
    """The limits one asset class changes; a null field inherits `safety.limits`, `disabled` switches limits off."""

    max_drawdown: float | None = None
    max_gross_exposure: float | None = None
    max_net_exposure: float | None = None
    max_asset_weight: float | None = None
    max_sector_weight: float | None = None
    max_asset_class_weight: float | None = None
    max_daily_turnover: float | None = None
    max_annual_turnover: float | None = None
    disabled: list[str] = field(default_factory=list)


LIMIT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SafetyLimits))


@dataclass
class SafetyConfig:
    """The gate run on `split` before fine-tuning and before results are reported.

    `allow_violations` is the explicit opt-out: breaches are still written to `safety_report.json` and logged
    as warnings, but the run goes on. `sector_file` is a CSV with columns `symbol,sector[,asset_class]`; null
    uses the sectors shipped with the package for the sample symbols. The sector cap is not checked for a symbol
    without a sector (the report lists it as unchecked): pooling unlabelled symbols into one made-up sector would
    refuse any diversified book of the user's own or synthetic symbols for a concentration it does not have.

    `turnover_cost_coverage` (c, >= 1; null: the turnover cap always binds): `max_annual_turnover` is a budget
    for trading costs, so a policy over it still passes when its return over cash before costs, on the checked
    block, exceeds c times its costs (trading and borrow) two standard errors clear of zero: it would still make
    money if costs were c times those modelled, and not by luck. The report records the waiver.
    """

    enabled: bool = True
    allow_violations: bool = False
    split: str = "val"
    sector_file: str | None = None
    turnover_cost_coverage: float | None = 2.0
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    per_asset_class: dict[str, SafetyLimitOverrides] = field(default_factory=dict)


def _check_threshold(value: float | None, key: str) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0.0):
        raise ConfigError(f"{key} must be a non-negative number or null (not checked), got {value}")


def check_safety_values(cfg: SafetyConfig) -> None:
    """Fail at startup on a config that would only break, or silently check nothing, after training."""
    if cfg.split not in SPLITS:
        raise ConfigError(f"safety.split must be one of {list(SPLITS)}, got {cfg.split!r}")
    # Below 1 the waiver would pass a policy whose edge does not even pay for its modelled costs.
    check_value("safety.turnover_cost_coverage", cfg.turnover_cost_coverage, Interval(1.0, optional=True))
    for name in LIMIT_NAMES:
        _check_threshold(getattr(cfg.limits, name), f"safety.limits.{name}")
    for asset_class, overrides in cfg.per_asset_class.items():
        prefix = f"safety.per_asset_class.{asset_class}"
        for name in LIMIT_NAMES:
            _check_threshold(getattr(overrides, name), f"{prefix}.{name}")
        unknown = sorted(set(overrides.disabled) - set(LIMIT_NAMES))
        if unknown:
            raise ConfigError(f"{prefix}.disabled names unknown limits {unknown}; valid names are {list(LIMIT_NAMES)}")

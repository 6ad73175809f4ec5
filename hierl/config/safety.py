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
        max_daily_turnover: traded notional on any row.
        max_annual_turnover: mean traded notional per row times 252, over the whole block.
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
    uses the sectors shipped with the package for the sample symbols. A symbol without a sector belongs to the
    sector "unknown", which is capped like any other.
    """

    enabled: bool = True
    allow_violations: bool = False
    split: str = "val"
    sector_file: str | None = None
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    per_asset_class: dict[str, SafetyLimitOverrides] = field(default_factory=dict)


def _check_threshold(value: float | None, key: str) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0.0):
        raise ConfigError(f"{key} must be a non-negative number or null (not checked), got {value}")


def check_safety_values(cfg: SafetyConfig) -> None:
    """Fail at startup on a config that would only break, or silently check nothing, after training."""
    if cfg.split not in SPLITS:
        raise ConfigError(f"safety.split must be one of {list(SPLITS)}, got {cfg.split!r}")
    for name in LIMIT_NAMES:
        _check_threshold(getattr(cfg.limits, name), f"safety.limits.{name}")
    for asset_class, overrides in cfg.per_asset_class.items():
        prefix = f"safety.per_asset_class.{asset_class}"
        for name in LIMIT_NAMES:
            _check_threshold(getattr(overrides, name), f"{prefix}.{name}")
        unknown = sorted(set(overrides.disabled) - set(LIMIT_NAMES))
        if unknown:
            raise ConfigError(f"{prefix}.disabled names unknown limits {unknown}; valid names are {list(LIMIT_NAMES)}")

"""Which limit applies to which asset class: the global limits with each class's partial overrides on top."""

from __future__ import annotations

import math
from dataclasses import fields, replace

from hierl.config.safety import LIMIT_NAMES, SafetyConfig, SafetyLimitOverrides, SafetyLimits
from hierl.data.market import SPLITS
from hierl.errors import ConfigError


def _check_threshold(value: float | None, key: str) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0.0):
        raise ConfigError(f"{key} must be a non-negative number or null (not checked), got {value}")


def validate_safety_config(cfg: SafetyConfig) -> None:
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


def _apply(limits: SafetyLimits, overrides: SafetyLimitOverrides) -> SafetyLimits:
    changes: dict[str, float | None] = {}
    for item in fields(SafetyLimits):
        value = getattr(overrides, item.name)
        if value is not None:
            changes[item.name] = value
    for name in overrides.disabled:
        changes[name] = None
    return replace(limits, **changes)


def limits_for_class(cfg: SafetyConfig, asset_class: str) -> SafetyLimits:
    """`safety.limits` with `safety.per_asset_class.<asset_class>` applied (a class without overrides inherits)."""
    overrides = cfg.per_asset_class.get(asset_class)
    return cfg.limits if overrides is None else _apply(cfg.limits, overrides)


def portfolio_limits(cfg: SafetyConfig, asset_classes: set[str]) -> SafetyLimits:
    """Limits on the whole book: its class's when it holds one class, the global limits when it spans several."""
    if len(asset_classes) == 1:
        return limits_for_class(cfg, next(iter(asset_classes)))
    return cfg.limits

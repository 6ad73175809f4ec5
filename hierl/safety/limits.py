"""Which limit applies to which asset class: the global limits with each class's partial overrides on top."""

from __future__ import annotations

from dataclasses import fields, replace

from hierl.config.safety import SafetyConfig, SafetyLimitOverrides, SafetyLimits


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

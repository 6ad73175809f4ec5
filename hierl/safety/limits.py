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


def limit_setting(cfg: SafetyConfig, limit: str, asset_class: str | None) -> str:
    """The config key whose value is the threshold of `limit` for `asset_class` (None: a book spanning classes).

    A refusal names this key, so the user changes the number that actually bound: the class's override when it
    sets one, the global `safety.limits.<limit>` otherwise.
    """
    if asset_class is not None:
        overrides = cfg.per_asset_class.get(asset_class)
        if overrides is not None and getattr(overrides, limit) is not None:
            return f"safety.per_asset_class.{asset_class}.{limit}"
    return f"safety.limits.{limit}"


def portfolio_class(asset_classes: set[str]) -> str | None:
    """The class whose limits bind the whole book (see `portfolio_limits`): its one class, or None for several."""
    return next(iter(asset_classes)) if len(asset_classes) == 1 else None

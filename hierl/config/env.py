"""Typed schemas of the `env` and `reward` config groups."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UNIT_OPEN_BELOW, Interval, check_ranges
from hierl.errors import ConfigError, RewardConfigError, UserError


@dataclass
class EnvConfig:
    """Market simulation settings shared by every env; asset classes override costs and bounds.

    The action designs (`hierl.envs.action_design`) change how an action becomes the weight traded to, and are off
    at their defaults (trade to the target in full at every row):
    `no_trade_band` (fraction of NAV): no trade while |target - drifted weight| <= band;
    `partial_adjustment` in (0, 1]: move this fraction of the way from the drifted weight to the target;
    `decision_interval` (rows): the action counts on every k-th row of an episode, the position is held between.

    Rows are bars of the class's calendar (`asset.calendar`), not days: `window` and `episode_length` count bars, and
    the annual `borrow_bps_annual` is charged per bar, divided by the calendar's bars a year.
    """

    name: str = "trading"
    window: int = 1
    episode_length: int = 252
    max_leverage: float = 1.0
    cost_bps: float = 5.0
    slippage_bps: float = 0.0
    borrow_bps_annual: float = 50.0
    initial_nav: float = 1.0
    no_trade_band: float = 0.0
    partial_adjustment: float = 1.0
    decision_interval: int = 1


ENV_RANGES: dict[str, Interval] = {
    "window": AT_LEAST_ONE,
    "episode_length": AT_LEAST_ONE,
    "max_leverage": POSITIVE,
    # Negative costs or borrow fees would pay the agent for trading or for being short.
    "cost_bps": NON_NEGATIVE,
    "slippage_bps": NON_NEGATIVE,
    "borrow_bps_annual": NON_NEGATIVE,
    "initial_nav": POSITIVE,
    # A negative band would be no band at all; a fraction of 0 would never trade, above 1 would overshoot.
    "no_trade_band": NON_NEGATIVE,
    "partial_adjustment": UNIT_OPEN_BELOW,
    "decision_interval": AT_LEAST_ONE,
}

# The keys of the action designs: envs built straight from an `EnvConfig` check these themselves.
ACTION_DESIGN_KEYS = ("no_trade_band", "partial_adjustment", "decision_interval")


def check_env_values(cfg: EnvConfig) -> None:
    """Every `env.*` number of env=trading within its range (ConfigError naming the key otherwise)."""
    check_ranges(cfg, ENV_RANGES, "env")
    check_action_design_values(cfg)


def check_action_design_values(cfg: EnvConfig, error: type[UserError] = ConfigError) -> None:
    """The action-design keys within their ranges, and `decision_interval` a whole number of rows.

    The schema's int type stops `env.decision_interval=1.5` on the command line; an `EnvConfig` built in code
    skips that check, and `TradingEnv` calls this with its own error type."""
    interval = cfg.decision_interval
    if isinstance(interval, bool) or not isinstance(interval, int):
        raise error(f"env.decision_interval={interval!r} must be a whole number of rows >= 1")
    check_ranges(cfg, {key: ENV_RANGES[key] for key in ACTION_DESIGN_KEYS}, "env", error)


@dataclass
class RewardConfig:
    """Weights of the reward terms; a zero weight switches a term off.

    reward = scale * (return_weight * return - volatility_penalty * volatility - drawdown_penalty * drawdown
                      - turnover_penalty * turnover + differential_sharpe_weight * differential_sharpe
                      - cvar_penalty * cvar)

    `excess_return` measures the return term over `excess_reference`: "cash", or "benchmark" (in TradingEnv,
    holding the traded asset at weight 1; in PortfolioEnv, the sleeves at equal weight). `dsr_eta` is the
    adaptation rate of the differential Sharpe ratio's moving moments (Moody & Saffell); `cvar_alpha` is the tail
    fraction of the rolling CVaR taken over the last `cvar_window` net returns of the episode. Both windows count
    steps (bars of the env's calendar), not days, and no term is annualised, so the reward needs no calendar.
    """

    name: str = "risk_adjusted"
    return_weight: float = 1.0
    volatility_penalty: float = 0.1
    drawdown_penalty: float = 0.0
    turnover_penalty: float = 0.0
    volatility_window: int = 21
    scale: float = 100.0
    excess_return: bool = False
    excess_reference: str = "cash"
    differential_sharpe_weight: float = 0.0
    dsr_eta: float = 0.01
    cvar_penalty: float = 0.0
    cvar_window: int = 63
    cvar_alpha: float = 0.05


# What `reward.excess_return` measures the return term against; each env turns the name into a return per step.
EXCESS_REFERENCES = ("cash", "benchmark")


def check_reward_values(cfg: RewardConfig) -> None:
    """Raise one `RewardConfigError` naming the field and the fix, before any episode runs."""
    for field_name in ("return_weight", "differential_sharpe_weight", "scale"):
        value = getattr(cfg, field_name)
        if not math.isfinite(value):
            raise RewardConfigError(f"reward.{field_name}={value} must be a finite number")
    for field_name in ("volatility_penalty", "drawdown_penalty", "turnover_penalty", "cvar_penalty"):
        value = getattr(cfg, field_name)
        if not (math.isfinite(value) and value >= 0.0):
            raise RewardConfigError(
                f"reward.{field_name}={value}: penalties are subtracted from the reward, "
                "so use a finite value >= 0 (0 switches the term off)"
            )
    if cfg.volatility_window < 2:
        raise RewardConfigError(
            f"reward.volatility_window={cfg.volatility_window}: a standard deviation needs at least 2 returns"
        )
    if not 0.0 < cfg.dsr_eta < 1.0:
        raise RewardConfigError(f"reward.dsr_eta={cfg.dsr_eta} must lie in (0, 1), e.g. 0.01")
    if not 0.0 < cfg.cvar_alpha < 1.0:
        raise RewardConfigError(f"reward.cvar_alpha={cfg.cvar_alpha} must lie in (0, 1), e.g. 0.05")
    if cfg.excess_reference not in EXCESS_REFERENCES:
        raise RewardConfigError(
            f"reward.excess_reference={cfg.excess_reference!r} is not one of {', '.join(EXCESS_REFERENCES)}"
        )
    if cfg.cvar_window < 1:
        raise RewardConfigError(f"reward.cvar_window={cfg.cvar_window} must be at least 1")

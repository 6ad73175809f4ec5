"""Typed schemas of the `env` and `reward` config groups."""

from __future__ import annotations

from dataclasses import dataclass

from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Interval, check_ranges


@dataclass
class EnvConfig:
    """Market simulation settings shared by every env; asset classes override costs and bounds."""

    name: str = "trading"
    window: int = 32
    episode_length: int = 252
    max_leverage: float = 1.0
    cost_bps: float = 5.0
    slippage_bps: float = 0.0
    borrow_bps_annual: float = 50.0
    initial_nav: float = 1.0


ENV_RANGES: dict[str, Interval] = {
    "window": AT_LEAST_ONE,
    "episode_length": AT_LEAST_ONE,
    "max_leverage": POSITIVE,
    # Negative costs or borrow fees would pay the agent for trading or for being short.
    "cost_bps": NON_NEGATIVE,
    "slippage_bps": NON_NEGATIVE,
    "borrow_bps_annual": NON_NEGATIVE,
    "initial_nav": POSITIVE,
}


def check_env_values(cfg: EnvConfig) -> None:
    """Every `env.*` number of env=trading within its range (ConfigError naming the key otherwise)."""
    check_ranges(cfg, ENV_RANGES, "env")


@dataclass
class RewardConfig:
    """Weights of the reward terms; a zero weight switches a term off.

    reward = scale * (return_weight * return - volatility_penalty * volatility - drawdown_penalty * drawdown
                      - turnover_penalty * turnover + differential_sharpe_weight * differential_sharpe
                      - cvar_penalty * cvar)

    `excess_return` measures the return term over `excess_reference`: "cash", or "benchmark" (in TradingEnv,
    holding the traded asset at weight 1; in PortfolioEnv, the sleeves at equal weight). `dsr_eta` is the
    adaptation rate of the differential Sharpe ratio's moving moments (Moody & Saffell); `cvar_alpha` is the tail
    fraction of the rolling CVaR taken over the last `cvar_window` net returns of the episode.
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

"""Typed schemas of the SAC meta-controller (`agent=sac`) and its portfolio env (`env=portfolio`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UNIT_OPEN_BELOW, Interval, check_ranges
from hierl.errors import ConfigError


@dataclass
class SACConfig:
    """Stable-Baselines3 SAC hyperparameters, the training budget, and where the sleeves' signals come from.

    Defaults are sized for a 2-core CPU (small nets, one gradient step every `train_freq` env steps).
    `ent_coef` is SB3's string form: "auto", "auto_0.1" (learned, with that initial value) or a fixed number
    such as "0.05". `signals_path` is a signals Parquet file (`experiments/train_ppo_agents.py`); null trains
    one PPO per asset class first (each from `agent=ppo asset=<class>` and the run's `debug` preset), in
    `<run>/sleeves/<class>/`. `n_envs` parallel PortfolioEnvs feed SAC's replay buffer. `init_from` is a
    finished `agent=cql env=portfolio` run folder (e.g. `experiment=hierarchy agent=cql`) whose actor, critics and
    temperature SAC starts from (`hierl.agents.warm_start.warm_start_meta_controller`); one pretrained on
    TradingEnv or on other sleeves, regime features or env windows is refused before training.

    Checkpoints (`checkpoint_freq` timesteps apart, the newest `keep_checkpoints` kept) carry everything a
    `resume=true` needs, replay buffer included. `prefill_steps` transitions, split evenly over
    `prefill_policies` (`hierl.agents.replay_prefill.PREFILL_POLICIES`), are collected on the training block
    and added to the replay buffer before SAC takes its first step; 0 (the default) adds none.
    """

    name: str = "sac"
    total_timesteps: int = 20_000
    learning_rate: float = 3e-4
    buffer_size: int = 50_000
    batch_size: int = 128
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 4
    gradient_steps: int = 2
    ent_coef: str = "auto"
    learning_starts: int = 1_000
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    n_envs: int = 1
    eval_freq: int = 2_000
    checkpoint_freq: int = 10_000
    keep_checkpoints: int = 2
    signals_path: str | None = None
    init_from: str | None = None
    prefill_steps: int = 0
    prefill_policies: list[str] = field(default_factory=lambda: ["equal_weight", "inverse_volatility", "random"])


@dataclass
class PortfolioEnvConfig:
    """The meta-controller's market: sleeves per asset class, allocation limits and the penalty for breaching them.

    Limits (fractions of NAV, on sleeve weights): `max_leverage` caps the sum of sleeve weights (sleeves hold at
    most 1 unit of gross exposure each, so it also caps the asset-level gross), each sleeve's weight lies in
    [`min_sleeve_weight`, `max_sleeve_weight`], and one decision moves the weights by at most `turnover_budget`
    in L1 norm. `limit_penalty` multiplies (with `reward.scale`) the L1 distance between the weights the raw
    action asked for and the projected, feasible ones.

    `window` rows feed trailing realised volatilities; `cov_window` realised sleeve returns feed the Ledoit-Wolf
    covariance snapshot; `episode_length` counts decisions. Rows are bars of the hierarchy's decision calendar (the
    union of the classes' bars, `hierl.envs.sleeves`), not days, and the observation annualises with its bars a
    year. There are no costs here: each sleeve pays its own asset class's costs (conf/env_asset/trading_<class>.yaml).
    """

    name: str = "portfolio"
    window: int = 21
    cov_window: int = 63
    episode_length: int = 252
    max_leverage: float = 1.0
    min_sleeve_weight: float = 0.0
    max_sleeve_weight: float = 1.0
    turnover_budget: float = 0.2
    limit_penalty: float = 1.0
    initial_nav: float = 1.0


SAC_RANGES: dict[str, Interval] = {
    "total_timesteps": AT_LEAST_ONE,
    "learning_rate": POSITIVE,
    "buffer_size": AT_LEAST_ONE,
    "batch_size": AT_LEAST_ONE,
    "tau": UNIT_OPEN_BELOW,
    "gamma": UNIT_OPEN_BELOW,
    "train_freq": AT_LEAST_ONE,
    "gradient_steps": AT_LEAST_ONE,
    "learning_starts": NON_NEGATIVE,
    "n_envs": AT_LEAST_ONE,
    "eval_freq": AT_LEAST_ONE,
    "checkpoint_freq": AT_LEAST_ONE,
    "keep_checkpoints": AT_LEAST_ONE,
    "prefill_steps": NON_NEGATIVE,
}

PORTFOLIO_ENV_RANGES: dict[str, Interval] = {
    # A rolling volatility or covariance needs 2 returns; an episode needs 1 step.
    "window": Interval(2.0),
    "cov_window": Interval(2.0),
    "episode_length": AT_LEAST_ONE,
    "max_leverage": POSITIVE,
    # Sleeve weights are long only.
    "min_sleeve_weight": NON_NEGATIVE,
    "max_sleeve_weight": NON_NEGATIVE,
    "turnover_budget": NON_NEGATIVE,
    "limit_penalty": NON_NEGATIVE,
    "initial_nav": POSITIVE,
}


def check_sac_values(cfg: SACConfig) -> None:
    """Every `agent.*` number of agent=sac within its range."""
    check_ranges(cfg, SAC_RANGES, "agent")


def check_portfolio_env_values(cfg: PortfolioEnvConfig) -> None:
    """Every `env.*` number of env=portfolio within its range, and the sleeve bounds in order."""
    check_ranges(cfg, PORTFOLIO_ENV_RANGES, "env")
    if cfg.min_sleeve_weight > cfg.max_sleeve_weight:
        raise ConfigError(
            f"env.min_sleeve_weight={cfg.min_sleeve_weight} must be <= env.max_sleeve_weight={cfg.max_sleeve_weight}"
        )

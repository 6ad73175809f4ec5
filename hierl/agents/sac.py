"""Builds Stable-Baselines3 SAC (the meta-controller) from `SACConfig`.

The replay buffer is filled from live rollouts in PortfolioEnv; filling it from an offline dataset is left to the
CQL pretraining work.
"""

from __future__ import annotations

from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import VecEnv

from hierl.config.sac import SACConfig
from hierl.errors import ConfigError


def _ent_coef(value: str) -> str | float:
    """SB3's entropy coefficient: "auto", "auto_<init>", or a fixed number given as text."""
    if value == "auto" or value.startswith("auto_"):
        return value
    try:
        return float(value)
    except ValueError as error:
        raise ConfigError(f"agent.ent_coef={value!r} must be 'auto', 'auto_<initial value>' or a number") from error


def validate_sac_config(cfg: SACConfig) -> None:
    """One clear error per unusable value, before the replay buffer is allocated."""
    positive = ("total_timesteps", "buffer_size", "batch_size", "train_freq", "n_envs", "eval_freq")
    for name in positive:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"agent.{name}={getattr(cfg, name)} must be >= 1")
    if cfg.gradient_steps < 1 or cfg.learning_starts < 0:
        raise ConfigError(f"agent.gradient_steps={cfg.gradient_steps} must be >= 1, agent.learning_starts >= 0")
    if not (0.0 < cfg.tau <= 1.0 and 0.0 < cfg.gamma <= 1.0 and cfg.learning_rate > 0.0):
        raise ConfigError(f"agent.tau={cfg.tau} and agent.gamma={cfg.gamma} must lie in (0, 1], learning_rate > 0")
    if cfg.batch_size > cfg.buffer_size:
        raise ConfigError(f"agent.batch_size={cfg.batch_size} exceeds agent.buffer_size={cfg.buffer_size}")
    if cfg.init_from is not None:
        raise ConfigError(
            f"agent.init_from={cfg.init_from!r}: warm-starting SAC is not supported yet; set agent.init_from=null"
        )
    _ent_coef(cfg.ent_coef)


def build_sac(cfg: SACConfig, env: VecEnv, seed: int) -> SAC:
    """A SAC whose every hyperparameter comes from `cfg` (the run's resolved config shows the same values)."""
    validate_sac_config(cfg)
    return SAC(
        "MlpPolicy",
        env,
        learning_rate=cfg.learning_rate,
        buffer_size=cfg.buffer_size,
        learning_starts=cfg.learning_starts,
        batch_size=cfg.batch_size,
        tau=cfg.tau,
        gamma=cfg.gamma,
        train_freq=cfg.train_freq,
        gradient_steps=cfg.gradient_steps,
        ent_coef=_ent_coef(cfg.ent_coef),
        policy_kwargs={"net_arch": list(cfg.net_arch)},
        seed=seed,
        device="cpu",
        verbose=0,
    )

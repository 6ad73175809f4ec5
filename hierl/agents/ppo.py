"""Builds Stable-Baselines3 PPO, and its training env, from the (already per-asset-class merged) agent config.

Hydra has merged `conf/agent_asset/ppo_<asset>.yaml` into `cfg` before it gets here; this module only maps that
one config onto SB3's keyword arguments, so the run's resolved config shows exactly what was built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from hierl.agents.observation_scaling import make_vec_normalize
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.vector_env import TradingVecEnv
from hierl.errors import ConfigError

ACTIVATIONS: dict[str, type[torch.nn.Module]] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
LR_SCHEDULES = ("constant", "linear")


def make_training_vec_env(
    market: MarketData, env_cfg: EnvConfig, reward_cfg: RewardConfig, n_envs: int, seed: int
) -> VecMonitor:
    """`n_envs` training episodes of the class stepped in one numpy call; `VecMonitor` adds episode statistics.

    The vectorised env draws every episode's asset and start from one generator seeded `seed` (PPO re-seeds it
    with the same value), so runs repeat exactly.
    """
    return VecMonitor(TradingVecEnv(market, "train", env_cfg, reward_cfg, n_envs=n_envs, seed=seed))


@dataclass(frozen=True)
class PPOAgentFactory:
    """One PPO config -> SB3 keyword arguments -> a PPO model; invalid values fail before any work starts."""

    cfg: PPOConfig

    def validate(self) -> None:
        """Raise ConfigError for values the schema's type check lets through but SB3 cannot use."""
        cfg = self.cfg
        if cfg.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"agent.lr_schedule={cfg.lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}")
        if cfg.activation not in ACTIVATIONS:
            raise ConfigError(f"agent.activation={cfg.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        positive = {
            "total_timesteps": cfg.total_timesteps,
            "n_steps": cfg.n_steps,
            "batch_size": cfg.batch_size,
            "n_epochs": cfg.n_epochs,
            "n_envs": cfg.n_envs,
            "eval_freq": cfg.eval_freq,
            "checkpoint_freq": cfg.checkpoint_freq,
            "keep_checkpoints": cfg.keep_checkpoints,
        }
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"agent.{key}={value} must be at least 1")
        if cfg.learning_rate <= 0:
            raise ConfigError(f"agent.learning_rate={cfg.learning_rate} must be positive")
        if cfg.early_stopping_patience is not None and cfg.early_stopping_patience < 1:
            raise ConfigError(
                f"agent.early_stopping_patience={cfg.early_stopping_patience} must be at least 1, or null to "
                "never stop early"
            )
        if not cfg.net_arch or any(width < 1 for width in cfg.net_arch):
            raise ConfigError(f"agent.net_arch={list(cfg.net_arch)} needs at least one layer, each of width >= 1")
        rollout = cfg.n_steps * cfg.n_envs
        if cfg.batch_size > rollout:
            raise ConfigError(
                f"agent.batch_size={cfg.batch_size} is larger than one rollout (agent.n_steps x agent.n_envs = "
                f"{rollout}); lower agent.batch_size or raise agent.n_steps"
            )
        if cfg.init_from and cfg.normalize_observations:
            # The CQL policy was fitted on unscaled observations; under VecNormalize it would see other inputs.
            raise ConfigError(
                f"agent.init_from={cfg.init_from} cannot be combined with agent.normalize_observations=true: the "
                "CQL policy was trained on unscaled observations; drop one of the two"
            )

    def learning_rate(self) -> ConstantSchedule | LinearSchedule:
        """A picklable schedule of SB3's own, so a saved model resumes on the same learning-rate curve."""
        if self.cfg.lr_schedule == "linear":
            # SB3 measures progress from 0 to 1 over `total_timesteps`; the rate falls linearly to 0.
            return LinearSchedule(start=self.cfg.learning_rate, end=0.0, end_fraction=1.0)
        return ConstantSchedule(self.cfg.learning_rate)

    def kwargs(self, seed: int, tensorboard_log: Path | None = None) -> dict[str, Any]:
        """The keyword arguments of `stable_baselines3.PPO`, all from the config."""
        self.validate()
        cfg = self.cfg
        return {
            "policy": "MlpPolicy",
            "learning_rate": self.learning_rate(),
            "n_steps": cfg.n_steps,
            "batch_size": cfg.batch_size,
            "n_epochs": cfg.n_epochs,
            "gamma": cfg.gamma,
            "gae_lambda": cfg.gae_lambda,
            "clip_range": cfg.clip_range,
            "ent_coef": cfg.ent_coef,
            "vf_coef": cfg.vf_coef,
            "max_grad_norm": cfg.max_grad_norm,
            "target_kl": cfg.target_kl,
            "policy_kwargs": {
                "net_arch": list(cfg.net_arch),
                "activation_fn": ACTIVATIONS[cfg.activation],
                "log_std_init": cfg.log_std_init,
            },
            "tensorboard_log": str(tensorboard_log) if tensorboard_log else None,
            "seed": seed,
            "device": "cpu",
            "verbose": 0,
        }

    def training_env(
        self, market: MarketData, env_cfg: EnvConfig, reward_cfg: RewardConfig, seed: int
    ) -> VecMonitor | VecNormalize:
        """`make_training_vec_env`, wrapped in `VecNormalize` (observations only) with `agent.normalize_observations`.

        The normalizer's statistics update on these training episodes only; evaluations apply frozen copies.
        """
        env = make_training_vec_env(market, env_cfg, reward_cfg, self.cfg.n_envs, seed)
        return make_vec_normalize(env, self.cfg.gamma) if self.cfg.normalize_observations else env

    def build(self, env: VecEnv, seed: int, tensorboard_log: Path | None = None) -> PPO:
        """A fresh PPO on `env`; `env.num_envs` must be `agent.n_envs` (the batch-size check assumes it)."""
        if env.num_envs != self.cfg.n_envs:
            raise ConfigError(f"the training env has {env.num_envs} episodes but agent.n_envs={self.cfg.n_envs}")
        return PPO(env=env, **self.kwargs(seed, tensorboard_log))

"""Builds Stable-Baselines3 PPO from the (already per-asset-class merged) agent config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from hierl.config.agent import PPOConfig
from hierl.errors import ConfigError


def make_training_vec_env(make_env: Callable[[int], gym.Env], n_envs: int, seed: int) -> VecEnv:
    """`n_envs` independent training episodes, env i seeded `seed + i` so runs repeat exactly."""

    def thunk(index: int) -> Callable[[], gym.Env]:
        return lambda: make_env(seed + index)

    return DummyVecEnv([thunk(i) for i in range(n_envs)])


def build_ppo(cfg: PPOConfig, env: VecEnv, seed: int, tensorboard_log: Path | None = None) -> PPO:
    """A PPO whose every hyperparameter comes from `cfg`; the run's resolved config shows the same values."""
    rollout = cfg.n_steps * env.num_envs
    if cfg.batch_size > rollout:
        raise ConfigError(
            f"agent.batch_size={cfg.batch_size} is larger than one rollout (agent.n_steps x agent.n_envs = "
            f"{rollout}); lower agent.batch_size or raise agent.n_steps"
        )
    policy_kwargs = {"net_arch": list(cfg.net_arch), "activation_fn": torch.nn.Tanh}
    return PPO(
        "MlpPolicy",
        env,
        learning_rate=cfg.learning_rate,
        n_steps=cfg.n_steps,
        batch_size=cfg.batch_size,
        n_epochs=cfg.n_epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        target_kl=cfg.target_kl,
        policy_kwargs=policy_kwargs,
        tensorboard_log=str(tensorboard_log) if tensorboard_log else None,
        seed=seed,
        device="cpu",
        verbose=0,
    )

"""Deterministic rollouts of a policy over one split, all symbols of the class in lock step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from hierl.agents.observation_scaling import ObservationScaling
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.vector_env import TradingVecEnv

Predict = Callable[[np.ndarray], np.ndarray]
"""Batch of observations [B, obs_dim] -> batch of actions [B, 1]."""


def predictor(model: BaseAlgorithm, scaling: ObservationScaling | None = None) -> Predict:
    """The model's deterministic action for a batch of observations, as `model.predict(..., deterministic=True)`.

    `scaling` is the model's frozen observation statistics (from `agent.normalize_observations`): the env hands
    out raw observations, so the policy must see them scaled as in training. None feeds them unchanged.

    SB3's `predict` re-walks every module to set evaluation mode and re-checks the observation's shape on every
    call, which cost more than the network itself in a rollout of one call per day. This does the same
    arithmetic (the same float32 tensor through `policy._predict`, then SB3's own unscaling or clipping) with
    evaluation mode set once: the predictor is used between updates, never during one.
    """
    policy = model.policy
    policy.set_training_mode(False)
    space = policy.action_space
    if not isinstance(space, gymnasium.spaces.Box):
        raise TypeError(f"predictor needs a Box action space, the model has {space}")
    low, high, shape = space.low, space.high, space.shape

    def predict(observations: np.ndarray) -> np.ndarray:
        inputs = scaling.apply(observations) if scaling is not None else observations
        with torch.no_grad():
            actions = policy._predict(torch.as_tensor(inputs, device=policy.device), deterministic=True)
        batch = actions.cpu().numpy().reshape((-1, *shape))
        return policy.unscale_action(batch) if policy.squash_output else np.clip(batch, low, high)

    return predict


@dataclass(frozen=True)
class PolicyPositions:
    """Positions a policy chose on every decision row of a split, per symbol (fractions of that symbol's sleeve)."""

    decision_rows: np.ndarray
    positions: np.ndarray

    def portfolio_weights(self) -> np.ndarray:
        """Equal capital per symbol: each symbol's sleeve holds 1/N of the NAV."""
        return self.positions / self.positions.shape[1]


def rollout_positions(
    predict: Predict, market: MarketData, split: str, env_cfg: EnvConfig, reward_cfg: RewardConfig
) -> PolicyPositions:
    """Run every symbol's evaluation episode at once (`TradingVecEnv(whole_block=True)`), one `predict` per row.

    Each symbol's book is that of its own `TradingEnv` evaluation episode, step for step: the vectorised env's
    accounting and observations are the scalar env's (tests compare the two exactly).
    """
    env = TradingVecEnv(market, split, env_cfg, reward_cfg, n_envs=market.n_assets, whole_block=True)
    observations = env.reset()
    rows = env.decision_rows
    positions = np.zeros((len(rows), market.n_assets))
    for k in range(len(rows)):
        observations, _, dones, infos = env.step(predict(observations))
        positions[k] = infos.column("position")
        if k != len(rows) - 1 and np.count_nonzero(dones):
            ended = market.symbols[int(np.flatnonzero(dones)[0])]
            raise RuntimeError(f"evaluation episode of {ended} ended early at step {k}")
    return PolicyPositions(decision_rows=np.asarray(rows), positions=positions)

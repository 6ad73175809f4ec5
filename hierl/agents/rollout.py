"""Deterministic rollouts of a policy over one split, all symbols of the class in lock step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from hierl.agents.observation_scaling import ObservationScaling
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.trading_env import TradingEnv

Predict = Callable[[np.ndarray], np.ndarray]
"""Batch of observations [B, obs_dim] -> batch of actions [B, 1]."""


def predictor(model: BaseAlgorithm, scaling: ObservationScaling | None = None) -> Predict:
    """The model's deterministic action for a batch of observations.

    `scaling` is the model's frozen observation statistics (from `agent.normalize_observations`): the env hands
    out raw observations, so the policy must see them scaled as in training. None feeds them unchanged.
    """

    def predict(observations: np.ndarray) -> np.ndarray:
        inputs = scaling.apply(observations) if scaling is not None else observations
        actions, _ = model.predict(inputs, deterministic=True)
        return np.asarray(actions)

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
    """Run one evaluation episode per symbol and collect the positions, batched into one `predict` call per row."""
    envs = [TradingEnv(market, split, env_cfg, reward_cfg, symbol_index=i) for i in range(market.n_assets)]
    observations = [env.reset()[0] for env in envs]
    rows = envs[0].decision_rows
    if any(not np.array_equal(env.decision_rows, rows) for env in envs):
        raise RuntimeError("evaluation episodes of one split must share their decision rows")
    positions = np.zeros((len(rows), market.n_assets))
    for k in range(len(rows)):
        actions = predict(np.stack(observations))
        for i, env in enumerate(envs):
            observations[i], _, terminated, truncated, info = env.step(actions[i])
            positions[k, i] = info["position"]
            if (terminated or truncated) and k != len(rows) - 1:
                raise RuntimeError(f"evaluation episode of {market.symbols[i]} ended early at step {k}")
    return PolicyPositions(decision_rows=np.asarray(rows), positions=positions)

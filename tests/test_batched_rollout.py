"""Validation and backtests roll every symbol at once; they must give the per-symbol evaluation episodes' books."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from envs_fixtures import make_market
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.vec_env import DummyVecEnv

from hierl.agents.observation_scaling import model_scaling
from hierl.agents.rollout import predictor, rollout_positions
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.trading_env import TradingEnv
from hierl.envs.vector_env import TradingVecEnv

ENV = EnvConfig(window=5, episode_length=20, cost_bps=5.0, max_leverage=1.5)
REWARD = RewardConfig()


def per_symbol_positions(act: object, market: MarketData, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The reference: one `TradingEnv` evaluation episode per symbol, one observation per policy call.

    `act(observation[None, :])` gives the action of one observation; returns (decision rows, positions [K, N]).
    """
    columns = []
    rows = None
    for i in range(market.n_assets):
        env = TradingEnv(market, split, ENV, REWARD, symbol_index=i)
        observation, _ = env.reset()
        rows = env.decision_rows
        positions = []
        for _ in rows:
            observation, _, _, _, info = env.step(act(observation[None, :])[0])  # type: ignore[operator]
            positions.append(info["position"])
        columns.append(positions)
    assert rows is not None
    return np.asarray(rows), np.asarray(columns).T


def momentum_policy(observations: np.ndarray) -> np.ndarray:
    """A deterministic numpy policy of the observation, its own position and its drawdown (context columns)."""
    window_part = observations[:, :-4]
    context = observations[:, -4:]
    return np.tanh(window_part.mean(axis=1, keepdims=True) * 3.0 + context[:, :1] - context[:, 1:2])


def test_batched_rollout_equals_per_symbol_episodes_exactly_for_a_numpy_policy() -> None:
    # The same arithmetic on both paths: positions must be identical, not merely close.
    mask = np.ones((150, 4), dtype=bool)
    mask[100:110, 2] = False  # a symbol without prices for a while: its position is forced to 0
    market = make_market(n_days=150, n_assets=4, n_features=3, seed=3, mask=mask)
    for split in ("val", "test"):
        rows, expected = per_symbol_positions(momentum_policy, market, split)
        rollout = rollout_positions(momentum_policy, market, split, ENV, REWARD)
        np.testing.assert_array_equal(rollout.decision_rows, rows)
        np.testing.assert_array_equal(rollout.positions, expected)
    assert np.any(rollout_positions(momentum_policy, market, "val", ENV, REWARD).positions != 0.0)


def test_batched_rollout_sees_the_policy_change() -> None:
    # A positive control: another policy gives other positions, so the equality above is not vacuous.
    market = make_market(n_days=150, n_assets=4, n_features=3, seed=3)
    first = rollout_positions(momentum_policy, market, "val", ENV, REWARD).positions
    second = rollout_positions(lambda obs: -momentum_policy(obs), market, "val", ENV, REWARD).positions
    assert not np.allclose(first, second)


@pytest.mark.parametrize("normalize", [False, True])
def test_batched_ppo_rollout_matches_single_observation_predicts(normalize: bool) -> None:
    # SB3's own `predict`, one observation at a time, against the batched predictor: batching may only reorder
    # the network's float sums, so positions agree to 1e-6.
    market = make_market(n_days=200, n_assets=5, n_features=3, seed=1)
    env = TradingVecEnv(market, "train", ENV, REWARD, n_envs=2, seed=0)
    torch.manual_seed(0)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    if normalize:
        from hierl.agents.observation_scaling import make_vec_normalize

        model = PPO("MlpPolicy", make_vec_normalize(env, 0.99), n_steps=64, batch_size=64, seed=0, device="cpu")
        model.learn(128)  # statistics that differ from the identity
    scaling = model_scaling(model)
    assert (scaling is not None) == normalize

    def sb3_predict(observation: np.ndarray) -> np.ndarray:
        inputs = scaling.apply(observation) if scaling is not None else observation
        return model.predict(inputs, deterministic=True)[0]

    for split in ("val", "test"):
        rows, expected = per_symbol_positions(sb3_predict, market, split)
        rollout = rollout_positions(predictor(model, scaling), market, split, ENV, REWARD)
        np.testing.assert_array_equal(rollout.decision_rows, rows)
        np.testing.assert_allclose(rollout.positions, expected, rtol=0, atol=1e-6)


def test_predictor_equals_sb3_predict_for_squashed_sac_actions() -> None:
    # SAC squashes its actions with tanh and SB3 rescales them to the action space: the predictor must do the same.
    market = make_market(n_days=120, n_assets=3, n_features=2, seed=2)
    env = DummyVecEnv([lambda: TradingEnv(market, "train", ENV, REWARD, seed=0)])
    model = SAC("MlpPolicy", env, seed=0, device="cpu", learning_starts=0)
    observations = np.random.default_rng(0).normal(size=(7, env.observation_space.shape[0])).astype(np.float32)
    expected, _ = model.predict(observations, deterministic=True)
    np.testing.assert_allclose(predictor(model)(observations), expected, rtol=0, atol=1e-7)


def test_whole_block_env_refuses_a_step_after_the_block_and_wrong_sizes() -> None:
    market = make_market(n_days=60, n_assets=2, n_features=2, seed=0)
    env = TradingVecEnv(market, "val", ENV, REWARD, n_envs=2, whole_block=True)
    env.reset()
    for _ in env.decision_rows:
        _, _, dones, _ = env.step(np.zeros(2))
    assert dones.all()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros(2))
    with pytest.raises(ValueError, match="one episode per symbol"):
        TradingVecEnv(market, "val", ENV, REWARD, n_envs=3, whole_block=True)

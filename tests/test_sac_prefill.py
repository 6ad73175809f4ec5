"""The replay prefill: the buffer holds exactly the requested transitions, each one a real env step of the stored
action on the training block, and the allocators' actions ask the env for the weights they mean."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import DummyVecEnv

from hierl.agents.replay_prefill import (
    PREFILL_POLICIES,
    action_for_weights,
    equal_weight,
    policy_seeds,
    prefill_replay_buffer,
    split_steps,
)
from hierl.agents.sac import build_sac
from hierl.config.env import RewardConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.envs.portfolio_env import PortfolioEnv, request_from_action
from hierl.envs.sleeves import SleeveUniverse
from hierl.errors import ConfigError
from tests.portfolio_fixtures import two_class_universe

ENV = PortfolioEnvConfig(episode_length=40, min_sleeve_weight=0.05, max_sleeve_weight=0.7, turnover_budget=0.3)
REWARD = RewardConfig()
POLICIES = list(PREFILL_POLICIES)


def sac_model(universe: SleeveUniverse, n_envs: int, **changes: object) -> SAC:
    cfg = SACConfig(buffer_size=1000, batch_size=32, net_arch=[8, 8], n_envs=n_envs, **changes)  # type: ignore[arg-type]
    envs = [lambda: PortfolioEnv(universe, "train", ENV, REWARD) for _ in range(n_envs)]
    return build_sac(cfg, DummyVecEnv(envs), seed=0)  # type: ignore[arg-type]


def prefill(
    universe: SleeveUniverse, n_envs: int, steps: int, seed: int = 3, env_cfg: PortfolioEnvConfig = ENV
) -> tuple[SAC, dict[str, object]]:
    model = sac_model(universe, n_envs)
    assert model.replay_buffer is not None
    record = prefill_replay_buffer(model.replay_buffer, universe, env_cfg, REWARD, POLICIES, steps, seed)
    return model, record


def stored(model: SAC) -> dict[str, np.ndarray]:
    """The buffer's transitions in insertion order, one row each (n_envs slots interleaved as they were added)."""
    buffer = model.replay_buffer
    assert buffer is not None
    n = buffer.size()
    return {
        "obs": buffer.observations[:n].reshape(n * buffer.n_envs, -1),
        "next": buffer.next_observations[:n].reshape(n * buffer.n_envs, -1),
        "action": buffer.actions[:n].reshape(n * buffer.n_envs, -1),
        "reward": buffer.rewards[:n].reshape(-1),
        "done": buffer.dones[:n].reshape(-1),
        "timeout": buffer.timeouts[:n].reshape(-1),
    }


@pytest.mark.parametrize("n_envs", [1, 2])
def test_the_buffer_holds_exactly_prefill_steps_transitions(n_envs: int) -> None:
    model, record = prefill(two_class_universe(), n_envs, steps=90)
    assert model.replay_buffer is not None
    assert model.replay_buffer.size() * n_envs == 90 == record["steps"]
    per_policy = record["policies"]
    assert isinstance(per_policy, dict) and list(per_policy) == POLICIES
    assert sum(p["steps"] for p in per_policy.values()) == 90
    assert all(np.isfinite(p["mean_reward"]) for p in per_policy.values())
    assert model.num_timesteps == 0  # prefilled data is not counted as SAC's own steps


def test_stored_transitions_equal_a_fresh_env_stepped_with_the_stored_actions() -> None:
    universe = two_class_universe()
    steps = 150  # 50 per policy: more than one 40-step episode each, so resets and timeouts are covered
    model, _ = prefill(universe, n_envs=1, steps=steps, seed=11)
    buffer = stored(model)
    assert buffer["timeout"].any()
    start = 0
    for share, (env_seed, _) in zip(split_steps(steps, 3, 1), policy_seeds(11, 3), strict=True):
        env = PortfolioEnv(universe, "train", ENV, REWARD, seed=env_seed)
        observation, _ = env.reset()
        for t in range(start, start + share):
            np.testing.assert_array_equal(buffer["obs"][t], observation)
            next_observation, reward, terminated, truncated, _ = env.step(buffer["action"][t])
            np.testing.assert_array_equal(buffer["next"][t], next_observation)
            assert buffer["reward"][t] == np.float32(reward)
            assert buffer["done"][t] == (terminated or truncated)
            assert buffer["timeout"][t] == (truncated and not terminated)
            observation = env.reset()[0] if terminated or truncated else next_observation
        start += share


def test_the_equal_weight_actions_request_equal_weights() -> None:
    universe = two_class_universe()
    model, _ = prefill(universe, n_envs=1, steps=30)
    actions = stored(model)["action"][:10]  # the first policy's share
    for action in actions:
        np.testing.assert_allclose(request_from_action(action, ENV.max_leverage), [0.5, 0.5], atol=1e-6)


@pytest.mark.parametrize("max_leverage", [0.5, 1.0, 1.5])
def test_action_for_weights_inverts_the_env_action_mapping(max_leverage: float) -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 5):
        for _ in range(200):
            weights = rng.dirichlet(np.ones(n + 1))[:n] * max_leverage
            action = action_for_weights(weights, max_leverage)
            assert action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
            np.testing.assert_allclose(request_from_action(action, max_leverage), weights, atol=1e-6)
        full = equal_weight(n, max_leverage)
        np.testing.assert_allclose(request_from_action(action_for_weights(full, max_leverage), max_leverage), full)


def poisoned(universe: SleeveUniverse, rows: slice) -> SleeveUniverse:
    """Garbage on `rows` of every array the env reads from the universe."""
    changes = {}
    for name in ("asset_returns", "cash_return", "positions", "signals", "sleeve_returns", "regime"):
        values = getattr(universe, name).copy()
        values[rows] = 7.0 if name != "cash_return" else 0.5
        changes[name] = values
    return dataclasses.replace(universe, **changes)


def test_no_row_after_the_training_block_is_read() -> None:
    """Garbage in every row from the end of the training block on leaves the prefilled buffer unchanged, while
    garbage in the block's last row changes it: the prefill reads up to the boundary and not past it."""
    universe = two_class_universe()
    stop = universe.split_bounds["train"][1]
    # Episodes longer than the block start at its first decision row and run to its last one, which each policy's
    # share of 450 / 3 = 150 steps reaches (the block has 148 decision rows on the union of the classes' days).
    whole_block = dataclasses.replace(ENV, episode_length=1000)
    model, record = prefill(universe, n_envs=2, steps=450, env_cfg=whole_block)
    first, last = universe.dates[universe.decision_rows["train"][[0, -1]]]
    assert universe.decision_rows["train"][-1] == stop - 2  # its return is realised on the block's last row
    per_policy = record["policies"]
    assert isinstance(per_policy, dict)
    for name in POLICIES:
        assert (per_policy[name]["first_date"], per_policy[name]["last_date"]) == (str(first), str(last)), name
    later, _ = prefill(poisoned(universe, slice(stop, None)), n_envs=2, steps=450, env_cfg=whole_block)
    for key, values in stored(model).items():
        np.testing.assert_array_equal(values, stored(later)[key], err_msg=key)
    # Positive control: the block's last row (the return realised after its last decision) is read.
    last_row, _ = prefill(poisoned(universe, slice(stop - 1, stop)), n_envs=2, steps=450, env_cfg=whole_block)
    assert not np.array_equal(stored(model)["reward"], stored(last_row)["reward"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prefill_steps": 7, "n_envs": 2}, "prefill_steps"),
        ({"prefill_steps": 5000}, "prefill_steps"),
        ({"prefill_steps": 10, "prefill_policies": ["momentum"]}, "prefill_policies"),
        ({"prefill_steps": 10, "prefill_policies": []}, "prefill_policies"),
    ],
)
def test_bad_prefill_settings_fail_with_the_field_name(changes: dict[str, object], field: str) -> None:
    universe = two_class_universe()
    n_envs = changes.pop("n_envs", 1)
    assert isinstance(n_envs, int)
    with pytest.raises(ConfigError, match=field):
        sac_model(universe, n_envs, **changes)

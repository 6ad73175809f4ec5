"""The notebook API: `hierl.load_config`, `hierl.make_env`, `hierl.make_vec_env`."""

from __future__ import annotations

import numpy as np
import pytest

import hierl
from hierl.config.run import TrainConfig
from hierl.envs.trading_env import TradingEnv
from hierl.envs.vector_env import TradingVecEnv
from hierl.errors import ConfigError


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    return hierl.load_config(["asset=equity", "debug=smoke", "data=synthetic", "seed=3"])


def test_make_env_gives_the_configured_trading_env(config: TrainConfig) -> None:
    env = hierl.make_env(config, split="val", symbol_index=1)
    assert isinstance(env, TradingEnv)
    assert env.observation_space.shape == (config.env.window * env.market.n_features + 4,)
    observation, _ = env.reset()
    assert env.observation_space.contains(observation)
    block = env.market.block("val")
    assert env.decision_rows[0] == block.start + config.env.window - 1
    assert env.decision_rows[-1] == block.stop - 2


@pytest.mark.parametrize("kind", ["vectorised", "dummy", "subproc"])
def test_make_vec_env_steps_every_kind(config: TrainConfig, kind: str) -> None:
    vec = hierl.make_vec_env(config, n_envs=2, kind=kind)
    try:
        observations = vec.reset()
        assert observations.shape == (2, *vec.observation_space.shape)
        _, rewards, dones, infos = vec.step(np.full((2, 1), 0.5, dtype=np.float32))
        assert rewards.shape == (2,) and dones.shape == (2,)
        assert all(info["position"] == pytest.approx(0.5 * config.env.max_leverage) for info in infos)
    finally:
        vec.close()
    assert isinstance(vec, TradingVecEnv) == (kind == "vectorised")


@pytest.mark.slow
def test_subproc_episodes_equal_the_in_process_ones(config: TrainConfig) -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, size=(40, 2, 1)).astype(np.float32)
    rollouts = []
    for kind in ("dummy", "subproc"):
        vec = hierl.make_vec_env(config, n_envs=2, kind=kind)
        try:
            steps = [vec.reset()]
            steps += [vec.step(action)[0] for action in actions]
        finally:
            vec.close()
        rollouts.append(np.stack(steps))
    np.testing.assert_array_equal(rollouts[0], rollouts[1])


def test_make_vec_env_names_a_bad_kind_or_count(config: TrainConfig) -> None:
    with pytest.raises(ConfigError, match="kind='threads'"):
        hierl.make_vec_env(config, n_envs=2, kind="threads")
    with pytest.raises(ConfigError, match="n_envs=0"):
        hierl.make_vec_env(config, n_envs=0)


def test_make_env_refuses_the_portfolio_env_before_loading_data() -> None:
    hierarchy = hierl.load_config(["experiment=hierarchy", "data=csv", "data.path=/nonexistent/prices.csv"])
    with pytest.raises(ConfigError, match="use env=trading, not env=portfolio"):
        hierl.make_env(hierarchy)
    with pytest.raises(ConfigError, match="use env=trading, not env=portfolio"):
        hierl.make_vec_env(hierarchy, n_envs=2)

"""`StepInfo`: the env step's info dict, which SB3's DummyVecEnv deep-copies on every step."""

from __future__ import annotations

import copy
import pickle

import numpy as np
from envs_fixtures import make_market
from stable_baselines3.common.vec_env import DummyVecEnv

from hierl.config.env import EnvConfig, RewardConfig
from hierl.envs.step_info import StepInfo
from hierl.envs.trading_env import TradingEnv


def test_deep_copy_is_independent_for_mutable_values() -> None:
    info = StepInfo(row=3, nav=1.02, weights=np.array([0.1, 0.2]), history=[[1.0]], flag=np.bool_(True))
    copied = copy.deepcopy(info)
    assert type(copied) is StepInfo
    assert copied.keys() == info.keys()
    assert copied["row"] == 3 and copied["nav"] == 1.02
    copied["weights"][0] = 9.0
    copied["history"][0].append(2.0)
    assert info["weights"][0] == 0.1
    assert info["history"] == [[1.0]]


def test_deep_copy_keeps_shared_objects_shared() -> None:
    shared = np.zeros(2)
    copied = copy.deepcopy(StepInfo(a=shared, b=shared))
    assert copied["a"] is copied["b"]
    assert copied["a"] is not shared


def test_pickles_as_a_step_info() -> None:
    info = StepInfo(row=1, obs=np.ones(3))
    restored = pickle.loads(pickle.dumps(info))
    assert type(restored) is StepInfo
    assert restored["row"] == 1
    np.testing.assert_array_equal(restored["obs"], np.ones(3))


def test_dummy_vec_env_passes_trading_env_infos_through() -> None:
    market = make_market(120, 2, 2, seed=4)
    cfg, reward = EnvConfig(window=4, episode_length=20), RewardConfig(drawdown_penalty=0.5)
    direct = TradingEnv(market, "train", cfg, reward, seed=7)
    vec = DummyVecEnv([lambda: TradingEnv(market, "train", cfg, reward, seed=7)])
    direct.reset(seed=7)
    vec.seed(7)
    vec.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, size=(15, 1)).astype(np.float32)
    for action in actions:
        expected = direct.step(action)[4]
        _, rewards, _, infos = vec.step(action[None])
        got = {key: value for key, value in infos[0].items() if key != "TimeLimit.truncated"}
        assert got == expected
        assert rewards[0] == np.float32(sum(v for k, v in expected.items() if k.startswith("reward/")))

"""Every env's `get_state`/`set_state`: plain data that survives JSON + npz storage and resumes a run exactly."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.envs.portfolio_env import PortfolioEnv
from hierl.envs.trading_env import TradingEnv
from hierl.envs.vector_env import TradingVecEnv
from tests.envs_fixtures import make_market
from tests.portfolio_fixtures import two_class_universe

ENV = EnvConfig(window=4, episode_length=12, cost_bps=7.0, slippage_bps=1.0, borrow_bps_annual=90.0)
# Every reward term on, so each term's running state is part of what must round-trip.
REWARD = RewardConfig(
    volatility_penalty=0.1,
    drawdown_penalty=0.5,
    turnover_penalty=0.01,
    differential_sharpe_weight=0.2,
    cvar_penalty=0.3,
    cvar_window=6,
    volatility_window=5,
)
PORTFOLIO_ENV = PortfolioEnvConfig(window=5, cov_window=20, episode_length=15, min_sleeve_weight=0.1)


def stored(state: dict[str, Any]) -> dict[str, Any]:
    """`state` written as JSON (every non-array leaf) plus one npz (every array) and read back, with no pickle."""
    arrays: dict[str, np.ndarray] = {}

    def split(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            key = f"a{len(arrays)}"
            arrays[key] = value
            return {"__array__": key}
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value), f"non-string keys in {value!r}"
            return {k: split(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [split(v) for v in value]
        assert value is None or type(value) in (bool, int, float, str), f"{type(value)} is not plain data"
        return value

    text = json.dumps(split(state), allow_nan=False)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        read = {key: loaded[key] for key in loaded.files}

    def join(value: Any) -> Any:
        if isinstance(value, dict):
            return read[value["__array__"]] if set(value) == {"__array__"} else {k: join(v) for k, v in value.items()}
        if isinstance(value, list):
            return [join(v) for v in value]
        return value

    return dict(join(json.loads(text)))


def assert_same_steps(first: list[tuple[Any, ...]], second: list[tuple[Any, ...]]) -> None:
    """Observations, rewards, flags and every info value equal bit for bit, step by step."""
    assert len(first) == len(second)
    for got, expected in zip(second, first, strict=True):
        assert len(got) == len(expected)
        for got_part, expected_part in zip(got, expected, strict=True):
            if isinstance(expected_part, dict):
                assert set(got_part) == set(expected_part)
                for key, value in expected_part.items():
                    np.testing.assert_array_equal(got_part[key], value, err_msg=key)
            elif isinstance(expected_part, list):
                assert len(got_part) == len(expected_part)
                for got_info, info in zip(got_part, expected_part, strict=True):
                    assert set(got_info) == set(info)
                    for key, value in info.items():
                        np.testing.assert_array_equal(got_info[key], value, err_msg=key)
            else:
                np.testing.assert_array_equal(got_part, expected_part)


def run_gym_env(env: TradingEnv | PortfolioEnv, actions: np.ndarray) -> list[tuple[Any, ...]]:
    """Step through `actions`, resetting when an episode ends; returns every step's (and reset's) outputs."""
    outputs: list[tuple[Any, ...]] = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        outputs.append((obs.copy(), reward, terminated, truncated, dict(info)))
        if terminated or truncated:
            reset_obs, reset_info = env.reset()
            outputs.append((reset_obs.copy(), reset_info))
    return outputs


def check_round_trip(make: Callable[[int], TradingEnv | PortfolioEnv], action_shape: tuple[int, ...]) -> None:
    actions = np.random.default_rng(3).uniform(-1.2, 1.2, size=(40, *action_shape)).astype(np.float32)
    env = make(1)
    env.reset(seed=1)
    run_gym_env(env, actions[:17])  # mid-episode, after at least one restart
    state = stored(env.get_state())
    expected = run_gym_env(env, actions[17:])
    resumed = make(99)
    resumed.reset(seed=99)
    run_gym_env(resumed, actions[:5])  # a different place: everything must come from the state
    resumed.set_state(state)
    assert_same_steps(expected, run_gym_env(resumed, actions[17:]))


def test_trading_env_state_round_trips_through_json_and_npz() -> None:
    market = make_market(160, 3, 2, seed=4)
    check_round_trip(lambda seed: TradingEnv(market, "train", ENV, REWARD, seed=seed), (1,))


def test_trading_env_evaluation_state_round_trips() -> None:
    market = make_market(160, 3, 2, seed=4)
    env = TradingEnv(market, "val", ENV, REWARD, symbol_index=2)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(len(env.decision_rows), 1))
    env.reset()
    run_gym_env(env, actions[:9])
    state = stored(env.get_state())
    expected = [env.step(action) for action in actions[9:12]]
    resumed = TradingEnv(market, "val", ENV, REWARD, symbol_index=2)
    resumed.set_state(state)
    assert_same_steps(
        [(o.copy(), r, t, u, dict(i)) for o, r, t, u, i in expected],
        [(o.copy(), r, t, u, dict(i)) for o, r, t, u, i in (resumed.step(a) for a in actions[9:12])],
    )


def test_portfolio_env_state_round_trips_through_json_and_npz() -> None:
    universe = two_class_universe()
    check_round_trip(
        lambda seed: PortfolioEnv(universe, "train", PORTFOLIO_ENV, REWARD, seed=seed), (universe.n_sleeves + 1,)
    )


def test_portfolio_env_state_is_refused_by_an_env_of_another_shape() -> None:
    universe = two_class_universe()
    state = PortfolioEnv(universe, "train", PORTFOLIO_ENV, REWARD, seed=0).get_state()
    state["episode"]["holdings"] = np.zeros(len(universe.symbols) + 1)
    with pytest.raises(ValueError, match="assets"):
        PortfolioEnv(universe, "train", PORTFOLIO_ENV, REWARD, seed=0).set_state(state)


def run_vec_env(vec: TradingVecEnv, actions: np.ndarray) -> list[tuple[Any, ...]]:
    outputs: list[tuple[Any, ...]] = []
    for step_actions in actions:
        obs, rewards, dones, infos = vec.step(step_actions)
        outputs.append((obs.copy(), rewards, dones, list(infos)))
    return outputs


def test_vector_env_state_round_trips_through_json_and_npz() -> None:
    market = make_market(160, 3, 2, seed=4)
    actions = np.random.default_rng(5).uniform(-1.2, 1.2, size=(50, 4, 1)).astype(np.float32)
    vec = TradingVecEnv(market, "train", ENV, REWARD, n_envs=4, seed=1)
    vec.reset()
    run_vec_env(vec, actions[:23])
    vec.step_async(actions[23])  # a pending action is part of the state too
    state = stored(vec.get_state())
    expected = [vec.step_wait()] + [vec.step(a) for a in actions[24:]]
    resumed = TradingVecEnv(market, "train", ENV, REWARD, n_envs=4, seed=99)
    resumed.reset()
    run_vec_env(resumed, actions[:4])  # 4 steps: another ring position of every rolling window than 23
    resumed.set_state(state)
    got = [resumed.step_wait()] + [resumed.step(a) for a in actions[24:]]
    assert_same_steps(
        [(o.copy(), r, d, list(i)) for o, r, d, i in expected], [(o.copy(), r, d, list(i)) for o, r, d, i in got]
    )

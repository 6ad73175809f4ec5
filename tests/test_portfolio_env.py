"""PortfolioEnv: a valid gymnasium env, causal observations, weights inside the limits, rewards that add up."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf
from stable_baselines3.common.env_checker import check_env

from hierl.config.env import RewardConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.data.market import MarketData
from hierl.envs.portfolio_env import REWARD_LIMIT_KEY, PortfolioEnv
from hierl.envs.sleeves import build_universe, covariance_snapshot, simulate_hierarchy
from hierl.errors import ConfigError
from tests.portfolio_fixtures import COSTS, momentum_signals, two_class_markets, two_class_universe

ENV = PortfolioEnvConfig(window=5, cov_window=20, episode_length=30, min_sleeve_weight=0.1, max_sleeve_weight=0.7)
REWARD = RewardConfig(volatility_penalty=0.0, cvar_penalty=0.5, drawdown_penalty=1.0, cvar_window=10)


def test_check_env_passes() -> None:
    check_env(PortfolioEnv(two_class_universe(), "train", ENV, REWARD, seed=0), warn=True, skip_render_check=True)


def test_covariance_snapshot_is_ledoit_wolf_on_the_trailing_window_only() -> None:
    universe = two_class_universe()
    row = int(universe.decision_rows["val"][15])
    available = np.flatnonzero(universe.realised[: row + 1])[-20:]
    expected = LedoitWolf().fit(universe.sleeve_returns[available]).covariance_
    np.testing.assert_allclose(covariance_snapshot(universe, row, 20), expected, rtol=1e-12, atol=0)
    assert available[-1] <= row
    # Rewrite every later row: the snapshot does not move.
    changed = universe.sleeve_returns.copy()
    changed[row + 1 :] = np.random.default_rng(1).normal(0.0, 0.5, size=changed[row + 1 :].shape)
    later = dataclasses.replace(universe, sleeve_returns=changed)
    np.testing.assert_array_equal(covariance_snapshot(later, row, 20), covariance_snapshot(universe, row, 20))


def observations_through(markets: dict[str, MarketData], cut: np.datetime64) -> list[np.ndarray]:
    """The evaluation episode's observations on the val block, the fixed action stepped, up to the one dated `cut`."""
    signals = {n: momentum_signals(m) for n, m in markets.items()}
    universe = build_universe(markets, signals, COSTS, 10)
    env = PortfolioEnv(universe, "val", ENV, REWARD, evaluation=True)
    observations = [env.reset()[0]]
    action = np.array([0.3, -0.2, 0.1], dtype=np.float32)
    for row in env.decision_rows:
        if universe.dates[row] >= cut:
            break
        observations.append(env.step(action)[0])
    return observations


def shifted_returns(
    markets: dict[str, MarketData], changed: Callable[[np.ndarray], np.ndarray]
) -> dict[str, MarketData]:
    """Every class's returns plus 0.05 x a fixed random draw on the dates `changed(dates)` selects."""
    rng = np.random.default_rng(4)
    shocked = {}
    for name, market in markets.items():
        returns = market.returns.copy()
        rows = changed(market.dates)
        returns[rows] += 0.05 * rng.standard_normal(returns[rows].shape)
        shocked[name] = dataclasses.replace(market, returns=returns)
    return shocked


def test_observations_up_to_a_day_ignore_data_after_it() -> None:
    markets = two_class_markets()
    base = two_class_universe()
    cut = base.dates[base.decision_rows["val"][12]]
    expected = observations_through(markets, cut)
    assert len(expected) == 13
    after = observations_through(shifted_returns(markets, lambda dates: dates > cut), cut)
    np.testing.assert_array_equal(np.array(after), np.array(expected))
    # Positive control: the same shock on the days since the 8th decision moves the observation at the cut (the
    # covariance of trailing sleeve returns), so the comparison above could fail.
    since = base.dates[base.decision_rows["val"][8]]
    before = observations_through(shifted_returns(markets, lambda dates: (dates > since) & (dates <= cut)), cut)
    assert not np.array_equal(before[-1], expected[-1])


def test_traded_weights_meet_every_limit_for_random_actions() -> None:
    env = PortfolioEnv(two_class_universe(), "train", ENV, REWARD, seed=3)
    rng = np.random.default_rng(0)
    env.reset(seed=3)
    previous = env.limits.initial_weights()
    violations = 0
    for _ in range(400):
        action = rng.uniform(-1.0, 1.0, size=3) * rng.choice([1.0, 0.0])
        _, reward, terminated, truncated, info = env.step(action)
        weights = info["sleeve_weights"]
        assert np.all(weights >= ENV.min_sleeve_weight - 1e-12) and np.all(weights <= ENV.max_sleeve_weight + 1e-12)
        assert weights.sum() <= ENV.max_leverage + 1e-12
        assert np.abs(weights - previous).sum() <= ENV.turnover_budget + 1e-12
        terms = sum(v for k, v in info.items() if k.startswith("reward/"))
        assert np.isclose(reward, terms)
        assert np.isclose(info[REWARD_LIMIT_KEY], -REWARD.scale * ENV.limit_penalty * info["violation"])
        violations += info["violation"] > 0
        previous = weights
        if terminated or truncated:
            env.reset()
            previous = env.limits.initial_weights()
    assert violations > 0, "random actions should sometimes ask for more than the limits allow"


def test_excess_over_the_benchmark_is_over_the_sleeves_at_equal_weight() -> None:
    universe = two_class_universe()
    reward = RewardConfig(volatility_penalty=0.0, excess_return=True, excess_reference="benchmark", scale=10.0)
    env = PortfolioEnv(universe, "val", ENV, reward, evaluation=True)
    env.reset()
    for _ in range(10):
        _, _, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        equal_weight = np.mean(universe.sleeve_returns[info["row"] + 1])
        assert info["reward/return"] == pytest.approx(10.0 * (info["net_return"] - equal_weight), abs=1e-12)


def test_evaluation_episode_accounting_matches_simulate_hierarchy() -> None:
    universe = two_class_universe()
    env = PortfolioEnv(universe, "test", ENV, REWARD, evaluation=True)
    env.reset()
    rng = np.random.default_rng(2)
    weights, returns = [], []
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, size=3))
        weights.append(info["sleeve_weights"])
        returns.append(info["net_return"])
        done = terminated or truncated
    result, _ = simulate_hierarchy(universe, np.array(weights), universe.decision_rows["test"])
    np.testing.assert_allclose(returns, result.returns, atol=1e-15)


def test_impossible_limits_fail_before_the_env_is_built() -> None:
    bad = dataclasses.replace(ENV, min_sleeve_weight=0.6, max_sleeve_weight=0.7)
    with pytest.raises(ConfigError, match="max_leverage"):
        PortfolioEnv(two_class_universe(), "train", bad, REWARD)

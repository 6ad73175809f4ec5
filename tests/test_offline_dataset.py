"""The offline dataset: env-exact transitions, the configured policy mix, causality, and d3rlpy's view of it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from envs_fixtures import make_market

from hierl.agents.behaviour_policies import check_mix, load_ppo_behaviour, make_behaviour_policies
from hierl.agents.offline_dataset import (
    DATASET_FILE,
    DATASET_TABLE_FILE,
    OfflineDataset,
    OfflineDatasetSpec,
    allocate_episodes,
    build_offline_dataset,
    write_offline_dataset,
)
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.trading_env import TradingEnv
from hierl.errors import UserError
from hierl.tracking.run_state import mark_finished, mark_running

ENV = EnvConfig(window=5, episode_length=30)
REWARD = RewardConfig(volatility_penalty=0.1, drawdown_penalty=0.5, turnover_penalty=0.01)
MIX = {"buy_and_hold": 0.25, "momentum": 0.25, "mean_reversion": 0.25, "random": 0.25}


def build(market: MarketData, transitions: int = 600, mix: dict[str, float] | None = None, noise: float = 0.1):
    shares = check_mix(mix or MIX, None)
    spec = OfflineDatasetSpec(transitions, shares, noise, seed=3)
    return build_offline_dataset(market, ENV, REWARD, spec, make_behaviour_policies(shares, 10, 3, None))


@pytest.fixture(scope="module")
def market() -> MarketData:
    return make_market(n_days=200, n_assets=3, n_features=2, seed=1)


@pytest.fixture(scope="module")
def dataset(market: MarketData) -> OfflineDataset:
    return build(market)


def test_shapes_and_sizes(dataset: OfflineDataset, market: MarketData) -> None:
    n = len(dataset)
    assert n == 600  # 20 whole episodes of 30 steps
    assert dataset.n_episodes == 20
    assert dataset.observations.shape == (n, ENV.window * market.n_features + 4)
    assert dataset.observations.dtype == np.float32
    assert dataset.actions.shape == (n, 1)
    assert np.abs(dataset.actions).max() <= 1.0
    assert dataset.rewards.shape == dataset.terminals.shape == dataset.timeouts.shape == (n,)
    assert dataset.final_observations.shape == (20, dataset.observations.shape[1])
    train = market.block("train")
    assert dataset.row.min() >= train.start + ENV.window - 1
    assert dataset.row.max() <= train.stop - 2  # every reward is earned inside the training block


def test_size_is_rounded_up_to_whole_episodes(market: MarketData) -> None:
    assert len(build(market, transitions=31)) == 60


def test_transitions_are_exactly_the_envs(dataset: OfflineDataset, market: MarketData) -> None:
    """Replaying an episode's actions in a fresh env reproduces its observations, rewards and costs."""
    for episode in (0, 7, 19):
        at = np.flatnonzero(dataset.episode == episode)
        env = TradingEnv(market, "train", ENV, REWARD, seed=99)
        options = {"symbol_index": int(dataset.symbol_index[at[0]]), "start_row": int(dataset.row[at[0]])}
        observation, _ = env.reset(options=options)
        for i in at:
            np.testing.assert_array_equal(observation, dataset.observations[i])
            observation, reward, _, truncated, info = env.step(dataset.actions[i])
            assert np.float32(reward) == dataset.rewards[i]
            assert info["cost"] == dataset.cost[i] and info["net_return"] == dataset.net_return[i]
            assert truncated == dataset.timeouts[i]
        np.testing.assert_array_equal(observation, dataset.final_observations[episode])


@pytest.mark.parametrize("n_episodes", [1, 7, 10, 33])
def test_episode_allocation_follows_the_mix(n_episodes: int) -> None:
    shares = {"a": 0.5, "b": 0.3, "c": 0.2}
    schedule = allocate_episodes(shares, n_episodes)
    assert len(schedule) == n_episodes
    for name, share in shares.items():
        assert abs(schedule.count(name) - share * n_episodes) < 1.0


def test_policy_shares_of_the_dataset(market: MarketData) -> None:
    data = build(market, transitions=300, mix={"buy_and_hold": 5.0, "momentum": 3.0, "random": 2.0})
    assert data.policy_shares() == pytest.approx({"buy_and_hold": 0.5, "momentum": 0.3, "random": 0.2})
    frame = data.to_frame(market)
    per_episode = frame.group_by("episode").agg(pl.col("policy").n_unique())
    assert per_episode["policy"].max() == 1  # one policy per episode


def test_behaviour_policies_act_as_named(market: MarketData) -> None:
    mix = {"buy_and_hold": 1.0, "momentum": 1.0, "mean_reversion": 1.0}
    data = build(market, transitions=300, mix=mix, noise=0.0)  # lookbacks: momentum 10 rows, mean reversion 3
    names = np.asarray(data.policy_names)[data.policy_index]
    assert np.all(data.actions[names == "buy_and_hold"] == 1.0)
    for name, lookback, direction in (("momentum", 10, 1.0), ("mean_reversion", 3, -1.0)):
        chosen = np.flatnonzero(names == name)
        assert len(chosen) >= 90  # at least three whole episodes of 30 steps each
        for i in chosen:
            row = data.row[i]
            past = market.returns[max(0, row - lookback + 1) : row + 1, data.symbol_index[i]]
            assert data.actions[i, 0] == direction * np.sign(np.prod(1.0 + past) - 1.0), (name, i)


def test_noise_spreads_deterministic_actions(market: MarketData) -> None:
    data = build(market, transitions=300, mix={"buy_and_hold": 1.0}, noise=0.2)
    assert 0.05 < data.actions.std() < 0.2
    assert data.actions.max() == 1.0  # clipped, never above the bound


def test_later_data_does_not_change_earlier_transitions(market: MarketData) -> None:
    """Data from row T + 1 on is rewritten (a crash and new features): every decision made at or before T, and
    every reward earned before T, stays the same."""
    cut = market.block("train").start + 60
    returns, features = market.returns.copy(), market.features.copy()
    returns[cut + 1 :] = -0.2
    features[cut + 1 :] = np.random.default_rng(5).normal(size=features[cut + 1 :].shape).astype(np.float32)
    changed = dataclasses.replace(market, returns=returns, features=features)
    before, after = build(market), build(changed)
    np.testing.assert_array_equal(before.row, after.row)  # starts and assets do not depend on the data
    decided = before.row <= cut
    earned = before.row < cut
    assert earned.sum() > 50 and (before.row == cut).sum() > 2 and (before.row > cut + 1).sum() > 50
    np.testing.assert_array_equal(before.observations[decided], after.observations[decided])
    np.testing.assert_array_equal(before.actions[decided], after.actions[decided])
    np.testing.assert_array_equal(before.rewards[earned], after.rewards[earned])
    assert not np.array_equal(before.rewards[before.row > cut], after.rewards[before.row > cut])


def test_mdp_dataset_keeps_every_transition(dataset: OfflineDataset) -> None:
    mdp = dataset.to_mdp_dataset()
    assert mdp.transition_count == len(dataset)
    assert mdp.size() == dataset.n_episodes
    episode = mdp.episodes[4]
    last = mdp.transition_picker(episode, episode.transition_count - 1)
    np.testing.assert_array_equal(last.next_observation, dataset.final_observations[4])
    assert last.terminal == 0.0  # a time limit, not the end of the world: CQL bootstraps from it
    np.testing.assert_array_equal(last.observation, dataset.observations[dataset.episode == 4][-1])


def test_written_files_read_back(dataset: OfflineDataset, market: MarketData, tmp_path: Path) -> None:
    from d3rlpy.dataset import InfiniteBuffer, ReplayBuffer

    write_offline_dataset(dataset, market, tmp_path)
    table = pl.read_parquet(tmp_path / DATASET_TABLE_FILE)
    expected = {"episode", "step", "row", "date", "symbol", "policy", "action", "reward", "net_return", "cost"}
    assert expected <= set(table.columns)
    assert len(table) == len(dataset)
    assert table["reward"].to_numpy() == pytest.approx(dataset.rewards.astype(np.float64))
    with (tmp_path / DATASET_FILE).open("rb") as handle:
        loaded = ReplayBuffer.load(handle, InfiniteBuffer())
    assert loaded.transition_count == len(dataset)
    np.testing.assert_array_equal(loaded.episodes[0].observations[:30], dataset.observations[:30])


@pytest.mark.parametrize(
    ("mix", "ppo_run", "message"),
    [
        ({"buy_and_hold": 1.0, "lottery": 1.0}, None, "lottery"),
        ({"buy_and_hold": 0.0}, None, "positive share"),
        ({"random": -1.0, "momentum": 2.0}, None, ">= 0"),
        ({"ppo": 1.0}, None, "behaviour_ppo_run"),
        ({"random": 1.0}, "outputs/some_ppo_run", "behaviour_mix.ppo"),
    ],
)
def test_bad_mix_is_one_clear_error(mix: dict[str, float], ppo_run: str | None, message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_mix(mix, ppo_run)


def test_ppo_behaviour_run_is_checked(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a folder"):
        load_ppo_behaviour(tmp_path / "missing", (14,))
    with pytest.raises(UserError, match=r"best_model\.zip"):
        load_ppo_behaviour(tmp_path, (14,))


def test_ppo_behaviour_policy_is_the_models_deterministic_action(market: MarketData, tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    env = TradingEnv(market, "train", ENV, REWARD, seed=0)
    PPO("MlpPolicy", env, n_steps=32, batch_size=32, device="cpu", seed=0).save(tmp_path / "best_model.zip")
    mark_running(tmp_path)
    with pytest.raises(UserError, match="status: running"):
        load_ppo_behaviour(tmp_path, env.observation_space.shape or ())
    mark_finished(tmp_path)
    with pytest.raises(UserError, match="shape"):
        load_ppo_behaviour(tmp_path, (99,))
    policy = load_ppo_behaviour(tmp_path, env.observation_space.shape or ())
    model = PPO.load(tmp_path / "best_model.zip", device="cpu")
    observation, _ = env.reset()
    expected, _ = model.predict(observation, deterministic=True)
    assert policy.act(observation, market.returns[:10, 0], np.random.default_rng(0)) == pytest.approx(expected[0])
    assert policy.deterministic  # so a PPO behaviour gets agent.behaviour_noise like the trading rules

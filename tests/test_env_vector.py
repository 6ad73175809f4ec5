"""TradingVecEnv equals K independent TradingEnvs given the same starts and actions, and works with SB3."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from envs_fixtures import make_market
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor
from training_checks import assert_every_parameter_moved, assert_finite_losses, record_logs, snapshot

from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.trading_env import TradingEnv
from hierl.envs.vector_env import TradingVecEnv
from hierl.errors import EnvSetupError

ENV = EnvConfig(window=6, episode_length=25, max_leverage=1.5, cost_bps=7.0, slippage_bps=1.0)
REWARD = RewardConfig(
    drawdown_penalty=0.5,
    turnover_penalty=0.01,
    differential_sharpe_weight=0.1,
    cvar_penalty=0.2,
    cvar_window=12,
    volatility_window=7,
    excess_return=True,
)
STARTS = [(0, 5), (1, 40), (2, 77), (0, 60), (1, 5)]


@pytest.mark.parametrize("reference", ["cash", "benchmark"])
def test_vector_env_equals_independent_trading_envs(reference: str) -> None:
    mask = np.ones((140, 3), dtype=bool)
    mask[50:55, 1] = False
    market = make_market(140, 3, 3, seed=8, mask=mask)
    reward = dataclasses.replace(REWARD, excess_reference=reference)
    vec = TradingVecEnv(market, "train", ENV, reward, n_envs=len(STARTS), seed=0)
    singles = [TradingEnv(market, "train", ENV, reward) for _ in STARTS]
    vec.set_options([{"symbol_index": asset, "start_row": row} for asset, row in STARTS])
    vec_obs = vec.reset()
    single_obs = [
        env.reset(options={"symbol_index": a, "start_row": r})[0] for env, (a, r) in zip(singles, STARTS, strict=True)
    ]
    np.testing.assert_array_equal(vec_obs, np.array(single_obs))
    actions = np.random.default_rng(1).uniform(-1.5, 1.5, size=(ENV.episode_length, len(STARTS), 1))
    finished = np.zeros(len(STARTS), dtype=bool)
    for step_actions in actions:
        vec_obs, vec_rewards, dones, vec_infos = vec.step(step_actions.astype(np.float32))
        for k in np.flatnonzero(~finished):
            obs, reward, terminated, truncated, info = singles[k].step(step_actions[k].astype(np.float32))
            assert dones[k] == (terminated or truncated)
            # Same formulas in the same order of float operations: equal to the bit, except the differential Sharpe
            # term, whose `variance ** 1.5` numpy and Python's float round differently in the last bit.
            if dones[k]:
                assert vec_infos[k]["TimeLimit.truncated"] == (truncated and not terminated)
                np.testing.assert_array_equal(vec_infos[k]["terminal_observation"], obs)
            else:
                np.testing.assert_array_equal(vec_obs[k], obs)
            assert vec_rewards[k] == pytest.approx(np.float32(reward), rel=1e-6, abs=1e-9)
            assert set(vec_infos[k]) - {"terminal_observation", "TimeLimit.truncated"} == set(info)
            for key, value in info.items():
                if key == "reward/differential_sharpe":
                    assert vec_infos[k][key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
                else:
                    assert vec_infos[k][key] == value, key
        finished |= dones
    # The short episode (start 77 stops at the block end) and the full-length ones all ended.
    assert finished.all()


def test_ended_episodes_restart_inside_the_block() -> None:
    market = make_market(140, 3, 2, seed=3)
    start, stop = market.split_bounds["train"]
    vec = TradingVecEnv(market, "train", EnvConfig(window=4, episode_length=10), RewardConfig(), n_envs=4, seed=2)
    vec.reset()
    episodes = 0
    for _ in range(60):
        obs, _, dones, infos = vec.step(np.zeros((4, 1), dtype=np.float32))
        assert np.isfinite(obs).all()
        assert all(start + 3 <= info["row"] <= stop - 2 for info in infos)
        episodes += int(dones.sum())
        # A fresh episode starts flat with no drawdown.
        np.testing.assert_array_equal(obs[dones, -4:-1], 0.0)
    assert episodes == 4 * 6


def test_seeded_reset_is_reproducible() -> None:
    market = make_market(140, 3, 2, seed=3)
    # Episodes shorter than the block, so the generator draws each episode's start row as well as its asset.
    vec = TradingVecEnv(market, "train", EnvConfig(window=4, episode_length=20), RewardConfig(), n_envs=3)
    vec.seed(11)
    first, first_rows = vec.reset(), [info["row"] for info in vec.reset_infos]
    vec.seed(11)
    np.testing.assert_array_equal(vec.reset(), first)
    assert [info["row"] for info in vec.reset_infos] == first_rows
    # The seed drives the draw: another seed starts other episodes (a generator the env ignored would not).
    vec.seed(12)
    assert not np.array_equal(vec.reset(), first)
    assert [info["row"] for info in vec.reset_infos] != first_rows


@pytest.mark.slow
def test_ppo_trains_on_the_vector_env() -> None:
    market = make_market(140, 3, 2, seed=4)
    vec = VecMonitor(TradingVecEnv(market, "train", EnvConfig(window=4, episode_length=20), RewardConfig(), n_envs=2))
    model = PPO("MlpPolicy", vec, n_steps=32, batch_size=32, n_epochs=1, policy_kwargs={"net_arch": [8]}, seed=0)
    initial = snapshot(model.policy)
    recorder = record_logs(model)
    model.learn(total_timesteps=64)
    assert model.num_timesteps == 64
    # Trained, not only stepped: every layer moved and both updates' losses were finite.
    assert_every_parameter_moved(initial, model.policy)
    assert_finite_losses(model, recorder, ("train/value_loss", "train/policy_gradient_loss", "train/entropy_loss"))


def test_zero_envs_is_rejected() -> None:
    with pytest.raises(EnvSetupError, match="n_envs=0"):
        TradingVecEnv(make_market(140, 3, 2), "train", EnvConfig(window=4), RewardConfig(), n_envs=0)


def test_get_state_and_set_state_resume_the_episodes_exactly() -> None:
    market = make_market(140, 3, 3, seed=8)
    actions = np.random.default_rng(5).uniform(-1, 1, size=(60, 4, 1)).astype(np.float32)
    vec = TradingVecEnv(market, "train", ENV, REWARD, n_envs=4, seed=1)
    vec.reset()
    for step_actions in actions[:30]:
        vec.step(step_actions)
    state = pickle.loads(pickle.dumps(vec.get_state()))
    expected = [vec.step(step_actions) for step_actions in actions[30:]]
    resumed = TradingVecEnv(market, "train", ENV, REWARD, n_envs=4, seed=99)
    resumed.reset()
    resumed.set_state(state)
    for (obs, rewards, dones, infos), step_actions in zip(expected, actions[30:], strict=True):
        got_obs, got_rewards, got_dones, got_infos = resumed.step(step_actions)
        np.testing.assert_array_equal(got_obs, obs)
        np.testing.assert_array_equal(got_rewards, rewards)
        np.testing.assert_array_equal(got_dones, dones)
        for got, info in zip(got_infos, infos, strict=True):
            assert set(got) == set(info)
            for key, value in info.items():
                np.testing.assert_array_equal(got[key], value)


def dollar_navs(market: MarketData, cfg: EnvConfig, asset: int, row: int, actions: list[float]) -> list[float]:
    """NAV after each step of one episode from `row`, in money: trade to the target, hold a day, pay the fees."""
    trade_rate = (cfg.cost_bps + cfg.slippage_bps) * 1e-4
    borrow = cfg.borrow_bps_annual * 1e-4 / 252
    nav, holdings, navs = cfg.initial_nav, 0.0, []
    for k, action in enumerate(actions):
        target = action * cfg.max_leverage * nav
        fee = trade_rate * abs(target - holdings) + borrow * max(-target, 0.0)
        holdings = target * (1.0 + market.returns[row + k + 1, asset])
        nav = holdings + (nav - target) * (1.0 + market.cash_return[row + k + 1]) - fee
        navs.append(nav)
    return navs


def test_infos_are_built_when_read_and_keep_the_values_of_their_step() -> None:
    market = make_market(140, 3, 2, seed=3)
    cfg = EnvConfig(window=4, episode_length=3)
    vec = TradingVecEnv(market, "train", cfg, RewardConfig(), n_envs=3, seed=2)
    starts = [(0, 10), (1, 30), (2, 50)]
    vec.set_options([{"symbol_index": asset, "start_row": row} for asset, row in starts])
    vec.reset()
    actions = [0.5, -0.5, -0.5]
    _, _, _, first = vec.step(np.full((3, 1), actions[0], dtype=np.float32))
    vec.step(np.full((3, 1), actions[1], dtype=np.float32))
    _, _, dones, ending = vec.step(np.full((3, 1), actions[2], dtype=np.float32))
    assert dones.all()
    for _ in range(3):  # episodes end and restart in between
        vec.step(np.full((3, 1), -0.5, dtype=np.float32))
    # Read only now: each step's infos hold the values of their own step, against an independent dollar book.
    expected = [dollar_navs(market, cfg, asset, row, actions) for asset, row in starts]
    assert len(first) == 3
    assert [info["row"] for info in first] == [row for _, row in starts]
    assert [info["position"] for info in first] == [0.5, 0.5, 0.5]
    assert [info["nav"] for info in first] == pytest.approx([navs[0] for navs in expected], rel=1e-13)
    # The step where the episodes ended reports their final NAV, not the 1.0 their restart set.
    assert [info["nav"] for info in ending] == pytest.approx([navs[2] for navs in expected], rel=1e-13)
    assert [info["nav"] for info in first[1:]] == pytest.approx([navs[0] for navs in expected[1:]], rel=1e-13)
    first[0]["extra"] = 1
    assert first[0]["extra"] == 1

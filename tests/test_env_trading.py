"""TradingEnv: API checks, hand-computed accounting, modes, observation layout and clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from envs_fixtures import make_market
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from hierl.config.env import EnvConfig, RewardConfig
from hierl.envs.trading_env import TradingEnv
from hierl.errors import ConfigError, EnvSetupError, RewardConfigError

# 10 bps per unit traded, 1 bp per day on shorts.
COSTLY = EnvConfig(window=1, episode_length=50, cost_bps=8.0, slippage_bps=2.0, borrow_bps_annual=252.0)
RETURN_ONLY = RewardConfig(volatility_penalty=0.0, scale=1.0)


def one_asset_market(asset_returns: list[float], cash_rate: float = 0.0):
    n_days = len(asset_returns)
    return make_market(
        n_days,
        1,
        2,
        returns=np.array(asset_returns),
        cash_rate=cash_rate,
        split_bounds={"train": (0, n_days), "val": (0, n_days), "test": (0, n_days)},
    )


def run(env: TradingEnv, actions: list[float]) -> list[dict]:
    infos = []
    for action in actions:
        _, _, _, _, info = env.step(np.array([action], dtype=np.float32))
        infos.append(info)
    return infos


@pytest.mark.parametrize("symbol_index", [None, 1])
def test_gymnasium_and_sb3_check_env(symbol_index: int | None) -> None:
    market = make_market(150, 3, 4)
    reward = RewardConfig(drawdown_penalty=1.0, turnover_penalty=0.1, differential_sharpe_weight=0.1, cvar_penalty=0.1)
    env = TradingEnv(market, "val", EnvConfig(window=8, episode_length=20), reward, symbol_index=symbol_index)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")
        warnings.filterwarnings("ignore", message=".*render.*")
        gymnasium_check_env(env)
    sb3_check_env(env)


def test_long_step_by_hand() -> None:
    env = TradingEnv(one_asset_market([0.0, 0.02, 0.0, 0.0], 1e-4), "train", COSTLY, RETURN_ONLY, symbol_index=0)
    env.reset()
    _, reward, _, _, info = env.step(np.array([0.5], dtype=np.float32))
    assert info["row"] == 0
    assert info["position"] == 0.5
    assert info["turnover"] == pytest.approx(0.5)
    assert info["cost"] == pytest.approx(0.0005)
    assert info["net_return"] == pytest.approx(0.5 * 0.02 + 0.5 * 1e-4 - 0.0005)
    assert info["nav"] == pytest.approx(1.00955)
    assert reward == pytest.approx(0.00955)
    assert info["reward/return"] == pytest.approx(0.00955)


def test_short_step_pays_borrow() -> None:
    env = TradingEnv(one_asset_market([0.0, 0.02, 0.0], 1e-4), "train", COSTLY, RETURN_ONLY, symbol_index=0)
    env.reset()
    (info,) = run(env, [-1.0])
    assert info["cost"] == pytest.approx(0.0011)
    assert info["net_return"] == pytest.approx(-0.02 + 2 * 1e-4 - 0.0011)


def test_flip_from_long_to_short_turns_over_twice_the_position() -> None:
    env = TradingEnv(one_asset_market([0.0, 0.0, 0.0, 0.0]), "train", COSTLY, RETURN_ONLY, symbol_index=0)
    env.reset()
    first, second = run(env, [1.0, -1.0])
    drifted = 1.0 / (1 - 0.001)  # flat price, NAV shrank by the cost of buying
    assert first["turnover"] == pytest.approx(1.0)
    assert second["turnover"] == pytest.approx(1.0 + drifted)
    assert second["cost"] == pytest.approx(0.001 * (1.0 + drifted) + 0.0001)


def test_leverage_cap_scales_and_clips_actions() -> None:
    cfg = EnvConfig(window=1, max_leverage=2.0, cost_bps=0.0, borrow_bps_annual=0.0)
    env = TradingEnv(one_asset_market([0.0, 0.01, 0.01, 0.01, 0.0]), "train", cfg, RETURN_ONLY, symbol_index=0)
    env.reset()
    infos = run(env, [1.0, 5.0, -7.0])
    assert [info["position"] for info in infos] == [2.0, 2.0, -2.0]
    assert infos[0]["net_return"] == pytest.approx(2 * 0.01)


def test_nav_path_over_three_steps_by_hand() -> None:
    market = one_asset_market([0.0, 0.1, -0.1, 0.05, 0.0])
    env = TradingEnv(market, "train", COSTLY, RETURN_ONLY, symbol_index=0)
    env.reset()
    infos = run(env, [1.0, 1.0, 0.0])
    nav1 = 1.0 + 0.1 - 0.001
    drifted = 1.1 / nav1
    nav2 = nav1 * (1 - 0.1 - 0.001 * (drifted - 1.0))
    drifted = 0.9 / (1 - 0.1 - 0.001 * (drifted - 1.0))
    nav3 = nav2 * (1 - 0.001 * drifted)
    np.testing.assert_allclose([info["nav"] for info in infos], [nav1, nav2, nav3], rtol=1e-12)


def test_position_is_forced_flat_where_the_asset_has_no_price() -> None:
    mask = np.array([[True], [False], [True], [True]])
    returns = np.array([0.0, 0.0, 0.05, 0.0])
    market = make_market(
        4,
        1,
        2,
        returns=returns,
        mask=mask,
        cash_rate=0.0,
        split_bounds={"train": (0, 4), "val": (0, 4), "test": (0, 4)},
    )
    env = TradingEnv(market, "train", COSTLY, RETURN_ONLY, symbol_index=0)
    obs, _ = env.reset()
    assert obs[-1] == 1.0
    obs, _, _, _, _ = env.step(np.array([1.0], dtype=np.float32))
    assert obs[-1] == 0.0
    (second,) = run(env, [1.0])
    assert second["position"] == 0.0
    assert second["turnover"] == pytest.approx(1.0 / (1 - 0.001))
    assert second["net_return"] == pytest.approx(-0.001 / (1 - 0.001))


def test_observation_layout() -> None:
    market = make_market(60, 2, 3, seed=4)
    cfg = EnvConfig(window=5, cost_bps=0.0, borrow_bps_annual=0.0, max_leverage=2.0)
    env = TradingEnv(market, "train", cfg, RETURN_ONLY, symbol_index=1)
    obs, info = env.reset()
    first = int(env.decision_rows[0])
    assert first == 4 and info["row"] == 4
    assert obs.dtype == np.float32 and obs.shape == (5 * 3 + 4,)
    np.testing.assert_array_equal(obs[:15], market.features[0:5, 1, :].reshape(-1))
    np.testing.assert_array_equal(obs[15:], [0.0, 0.0, 0.0, 1.0])
    obs, _, _, _, step_info = env.step(np.array([0.5], dtype=np.float32))
    np.testing.assert_array_equal(obs[:15], market.features[1:6, 1, :].reshape(-1))
    asset_return = market.returns[5, 1]
    cash = market.cash_return[5]
    nav = 1.0 + 1.0 * asset_return + (1 - 1.0) * cash
    assert step_info["nav"] == pytest.approx(nav)
    assert obs[15] == pytest.approx(1.0 * (1 + asset_return) / nav / 2.0, rel=1e-6)
    assert obs[16] == pytest.approx(max(0.0, 1.0 - nav), abs=1e-7)
    assert obs[17] == pytest.approx(np.log(nav), abs=1e-7)


def test_evaluation_mode_is_deterministic_and_covers_the_block() -> None:
    market = make_market(100, 3, 2, seed=1)
    start, stop = market.split_bounds["val"]
    cfg = EnvConfig(window=6, episode_length=5)
    trajectories = []
    for seed in (0, 1):
        env = TradingEnv(market, "val", cfg, RewardConfig(), symbol_index=2, seed=seed)
        np.testing.assert_array_equal(env.decision_rows, np.arange(start + 5, stop - 1))
        obs, _ = env.reset(seed=seed + 10)
        observations, rows, done = [obs], [], False
        while not done:
            obs, _, terminated, truncated, info = env.step(np.array([np.tanh(obs[:3].sum())], dtype=np.float32))
            observations.append(obs)
            rows.append(info["row"])
            done = terminated or truncated
        np.testing.assert_array_equal(rows, env.decision_rows)
        assert truncated and not terminated
        trajectories.append(np.array(observations))
    np.testing.assert_array_equal(trajectories[0], trajectories[1])


def test_training_episodes_stay_in_the_block_and_use_every_asset() -> None:
    market = make_market(200, 3, 2, seed=2)
    start, stop = market.split_bounds["train"]
    env = TradingEnv(market, "train", EnvConfig(window=10, episode_length=30), RewardConfig(), seed=7)
    assets, lengths = set(), []
    for _ in range(40):
        env.reset()
        rows = env.decision_rows
        assert rows[0] >= start + 9 and rows[-1] <= stop - 2
        assets.add(env.current_symbol_index)
        steps, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done, steps = terminated or truncated, steps + 1
        lengths.append(steps)
    assert assets == {0, 1, 2}
    assert set(lengths) == {30}


def test_training_skips_assets_without_prices_in_the_block() -> None:
    mask = np.ones((200, 3), dtype=bool)
    mask[:, 1] = False
    market = make_market(200, 3, 2, mask=mask)
    env = TradingEnv(market, "train", EnvConfig(window=10, episode_length=30), RewardConfig(), seed=0)
    seen = set()
    for _ in range(30):
        env.reset()
        seen.add(env.current_symbol_index)
    assert seen == {0, 2}


def test_reset_options_pin_asset_and_start() -> None:
    env = TradingEnv(make_market(200, 3, 2), "train", EnvConfig(window=10, episode_length=30), RewardConfig())
    _, info = env.reset(options={"symbol_index": 2, "start_row": 50})
    assert info["row"] == 50 and env.current_symbol_index == 2
    np.testing.assert_array_equal(env.decision_rows, np.arange(50, 80))


def test_bankrupt_book_terminates_with_a_finite_observation() -> None:
    cfg = EnvConfig(window=1, max_leverage=3.0)
    env = TradingEnv(one_asset_market([0.0, -0.6, 0.0, 0.0]), "train", cfg, RewardConfig(), symbol_index=0)
    env.reset()
    obs, reward, terminated, truncated, info = env.step(np.array([1.0], dtype=np.float32))
    assert terminated and not truncated and info["nav"] <= 0.0
    assert np.isfinite(obs).all() and np.isfinite(reward)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([1.0], dtype=np.float32))


@pytest.mark.parametrize(
    ("env_cfg", "reward_cfg", "split", "symbol_index", "message"),
    [
        (EnvConfig(window=0), RewardConfig(), "train", None, "env.window"),
        (EnvConfig(max_leverage=-1.0), RewardConfig(), "train", None, "env.max_leverage"),
        (EnvConfig(cost_bps=float("nan")), RewardConfig(), "train", None, "env.cost_bps"),
        (EnvConfig(window=30), RewardConfig(), "test", None, "lower env.window"),
        (EnvConfig(window=5), RewardConfig(), "holdout", None, "unknown split"),
        (EnvConfig(window=5), RewardConfig(), "train", 3, "symbol_index=3"),
        (EnvConfig(window=5), RewardConfig(volatility_window=1), "train", None, "reward.volatility_window"),
        (EnvConfig(window=5), RewardConfig(turnover_penalty=-1.0), "train", None, "reward.turnover_penalty"),
        (EnvConfig(window=5), RewardConfig(dsr_eta=1.5), "train", None, "reward.dsr_eta"),
    ],
)
def test_bad_inputs_raise_one_clear_error(
    env_cfg: EnvConfig, reward_cfg: RewardConfig, split: str, symbol_index: int | None, message: str
) -> None:
    # User errors (`ConfigError`), printed by the entrypoints as one line.
    with pytest.raises(ConfigError, match=message) as error:
        TradingEnv(make_market(100, 3, 2), split, env_cfg, reward_cfg, symbol_index=symbol_index)
    assert isinstance(error.value, EnvSetupError | RewardConfigError)
    assert "\n" not in str(error.value)


def test_non_finite_features_are_rejected() -> None:
    market = make_market(100, 2, 2)
    market.features[10, 0, 1] = np.nan
    with pytest.raises(EnvSetupError, match="NaN"):
        TradingEnv(market, "train", EnvConfig(window=5), RewardConfig())

"""The action designs `env.no_trade_band`, `env.partial_adjustment` and `env.decision_interval`.

Each option against a dollar ledger written here (positions, turnover, cost, net return, row by row); TradingVecEnv
equal to TradingEnv with each option on, over several episodes and restarts; the evaluation rollout plus the
backtest reproducing the env's net returns (what keeps results honest); the defaults leaving every output as it
was (a digest recorded before the options existed); one-line errors for bad values; exact resume from a state.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from envs_fixtures import make_market
from test_env_state import assert_same_steps, check_round_trip, stored

from hierl.agents.rollout import rollout_positions
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.loading import load_config
from hierl.data.market import MarketData
from hierl.envs.action_design import ActionDesign, traded_weight
from hierl.envs.episodes import cost_model
from hierl.envs.trading_env import TradingEnv
from hierl.envs.vector_env import TradingVecEnv
from hierl.errors import ConfigError, EnvSetupError
from hierl.evaluation.backtest import Backtest, run_backtest

# 10 bps per unit traded, 1 bp per day on shorts, positions up to 2x NAV.
COSTLY = EnvConfig(
    window=1, episode_length=50, max_leverage=2.0, cost_bps=8.0, slippage_bps=2.0, borrow_bps_annual=252.0
)
TRADE_RATE = 10e-4
BORROW_RATE = 1e-4
CASH = 1e-4
RETURN_ONLY = RewardConfig(volatility_penalty=0.0, scale=1.0)
# The asset's return over each row's holding period is RETURNS[row + 1].
RETURNS = [0.0, 0.03, -0.02, 0.01, 0.04, -0.03, 0.02, 0.0, -0.01, 0.02]
INFO_KEYS = ("position", "turnover", "cost", "net_return", "nav")

# Each option alone, then all three at once.
DESIGNS = {
    "band": {"no_trade_band": 0.15},
    "partial": {"partial_adjustment": 0.4},
    "interval": {"decision_interval": 3},
    "all": {"no_trade_band": 0.1, "partial_adjustment": 0.6, "decision_interval": 2},
}

# Rule = (step in the episode, target of the action, drifted weight) -> weight traded to; the test's own statement
# of each option, applied by the ledger on tradable rows only.
Rule = Callable[[int, float, float], float]


def one_asset_market(mask: list[bool] | None = None) -> MarketData:
    n_days = len(RETURNS)
    return make_market(
        n_days,
        1,
        2,
        returns=np.array(RETURNS),
        mask=None if mask is None else np.array(mask)[:, None],
        cash_rate=CASH,
        split_bounds={"train": (0, n_days), "val": (0, n_days), "test": (0, n_days)},
    )


def ledger(actions: list[float], rule: Rule, tradable: list[bool] | None = None) -> dict[str, list[float]]:
    """The book in money, from cash: at each row decide the weight by `rule` (0 where the asset has no price), pay
    TRADE_RATE on the money traded and BORROW_RATE on the money short, hold the row, earn cash on the rest."""
    nav, holdings = 1.0, 0.0
    rows: dict[str, list[float]] = {key: [] for key in INFO_KEYS}
    for step, action in enumerate(actions):
        drifted = holdings / nav
        target = max(-1.0, min(1.0, action)) * COSTLY.max_leverage
        weight = rule(step, target, drifted) if tradable is None or tradable[step] else 0.0
        money = weight * nav
        fee = TRADE_RATE * abs(money - holdings) + BORROW_RATE * max(-money, 0.0)
        holdings = money * (1.0 + RETURNS[step + 1])
        new_nav = holdings + (nav - money) * (1.0 + CASH) - fee
        for key, value in zip(
            INFO_KEYS, (weight, abs(money - drifted * nav) / nav, fee / nav, new_nav / nav - 1.0, new_nav), strict=True
        ):
            rows[key].append(value)
        nav = new_nav
    return rows


def env_rows(cfg: EnvConfig, actions: list[float], mask: list[bool] | None = None) -> dict[str, list[float]]:
    """TradingEnv's `info` values, row by row, for one evaluation episode of the one-asset market."""
    env = TradingEnv(one_asset_market(mask), "train", cfg, RETURN_ONLY, symbol_index=0)
    env.reset()
    rows: dict[str, list[float]] = {key: [] for key in INFO_KEYS}
    for action in actions:
        _, _, _, _, info = env.step(np.array([action], dtype=np.float64))
        for key in INFO_KEYS:
            rows[key].append(info[key])
    return rows


def assert_rows_equal(got: dict[str, list[float]], expected: dict[str, list[float]]) -> None:
    for key in INFO_KEYS:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-15, err_msg=key)


def traded(rows: dict[str, list[float]]) -> list[bool]:
    return [turnover > 0.0 for turnover in rows["turnover"]]


def test_no_trade_band_keeps_the_drifted_weight_inside_the_band_and_trades_to_the_target_outside() -> None:
    band = 0.15
    cfg = dataclasses.replace(COSTLY, no_trade_band=band)
    # targets (x2): 0.5 from flat; 0.6 near the drifted ~0.51; -0.2; -0.1 near ~-0.20; 0 from ~-0.21; 0.14 from
    # flat (inside); 1.0; 0.9 twice near ~1.0.
    actions = [0.25, 0.3, -0.1, -0.05, 0.0, 0.07, 0.5, 0.45, 0.45]

    def rule(step: int, target: float, drifted: float) -> float:
        return drifted if abs(target - drifted) <= band else target

    got = env_rows(cfg, actions)
    assert_rows_equal(got, ledger(actions, rule))
    assert traded(got) == [True, False, True, False, True, False, True, False, False]
    # Outside the band the book goes to the target itself, not to the band's edge.
    assert [got["position"][k] for k in (0, 2, 4, 6)] == [0.5, -0.2, 0.0, 1.0]
    # Inside it the position is the drifted weight: the row's turnover is 0 and the borrow of a short still paid.
    assert got["position"][1] == pytest.approx(0.5 * 1.03 / (1.0 + got["net_return"][0]), rel=1e-12)
    assert got["cost"][3] == pytest.approx(BORROW_RATE * -got["position"][3], rel=1e-12)


def test_partial_adjustment_moves_a_fraction_of_the_way_to_the_target() -> None:
    fraction = 0.4
    cfg = dataclasses.replace(COSTLY, partial_adjustment=fraction)
    actions = [0.5, 0.5, 0.5, -0.5, -0.5, 0.0, 1.0, 1.0, 1.0]

    def rule(step: int, target: float, drifted: float) -> float:
        return drifted + fraction * (target - drifted)

    got = env_rows(cfg, actions)
    assert_rows_equal(got, ledger(actions, rule))
    assert got["position"][0] == 0.4  # 0.4 of the way from flat to 1.0
    assert got["turnover"][0] == pytest.approx(0.4)
    # Every row trades, each time less than the full gap.
    assert all(traded(got))
    positions = np.array(got["position"])
    assert np.all(np.diff(positions[:3]) > 0) and positions[2] < 1.0


def test_decision_interval_holds_the_position_between_decisions() -> None:
    cfg = dataclasses.replace(COSTLY, decision_interval=3)
    actions = [0.5, -1.0, 1.0, -0.5, 0.9, 0.9, 0.8, -0.3, 0.3]

    def rule(step: int, target: float, drifted: float) -> float:
        return target if step % 3 == 0 else drifted

    got = env_rows(cfg, actions)
    assert_rows_equal(got, ledger(actions, rule))
    assert traded(got) == [True, False, False, True, False, False, True, False, False]
    assert [got["position"][k] for k in (0, 3, 6)] == [1.0, -1.0, 1.6]
    # A held row's position is the previous row's weight drifted with the price and the NAV.
    for k in (1, 2, 4, 5, 7, 8):
        drifted = got["position"][k - 1] * (1.0 + RETURNS[k]) / (1.0 + got["net_return"][k - 1])
        assert got["position"][k] == pytest.approx(drifted, rel=1e-12)


@pytest.mark.parametrize("name", DESIGNS)
def test_a_row_without_a_price_still_forces_the_position_to_zero(name: str) -> None:
    options = DESIGNS[name]
    cfg = dataclasses.replace(COSTLY, **options)
    mask = [True, True, True, True, False, True, True, True, True, True]
    actions = [0.5, 0.5, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    band = options.get("no_trade_band", 0.0)
    fraction = options.get("partial_adjustment", 1.0)
    interval = options.get("decision_interval", 1)

    def rule(step: int, target: float, drifted: float) -> float:
        if step % interval != 0 or abs(target - drifted) <= band:
            return drifted
        return drifted + fraction * (target - drifted)

    got = env_rows(cfg, actions, mask)
    assert_rows_equal(got, ledger(actions, rule, mask))
    assert got["position"][4] == 0.0
    assert got["turnover"][4] > 0.0  # sold on the row without a price, whatever the options say
    if interval > 1 and 5 % interval != 0:
        assert got["position"][5] == 0.0  # held: flat until the next decision


def test_the_options_combine_as_documented() -> None:
    # The band is measured on the whole gap; outside it the book moves the partial fraction; only decision rows act.
    cfg = dataclasses.replace(COSTLY, **DESIGNS["all"])
    # Targets (x2): 1.0 from flat (to 0.6); held; 0.6 near the drifted ~0.60 (inside the band); held; -0.8; held;
    # 1.8; held; 2.0.
    actions = [0.5, -1.0, 0.3, 0.2, -0.4, 0.9, 0.9, -1.0, 1.0]

    def rule(step: int, target: float, drifted: float) -> float:
        if step % 2 != 0 or abs(target - drifted) <= 0.1:
            return drifted
        return drifted + 0.6 * (target - drifted)

    got = env_rows(cfg, actions)
    assert_rows_equal(got, ledger(actions, rule))
    assert got["position"][0] == 0.6
    assert traded(got) == [True, False, False, False, True, False, True, False, True]


def test_traded_weight_gives_the_same_numbers_on_floats_and_arrays() -> None:
    # One function serves TradingEnv (floats) and TradingVecEnv ([K] arrays): the same operations, bit for bit.
    rng = np.random.default_rng(0)
    target = rng.uniform(-2.0, 2.0, 200)
    drifted = np.where(rng.random(200) < 0.2, target + rng.uniform(-0.05, 0.05, 200), rng.uniform(-2.0, 2.0, 200))
    tradable = rng.random(200) < 0.8
    steps = rng.integers(0, 12, 200)
    for options in [{}, *DESIGNS.values()]:
        design = ActionDesign(**options)
        arrays = traded_weight(target, drifted, tradable, steps, design)
        floats = [
            traded_weight(float(t), float(d), bool(m), int(s), design)
            for t, d, m, s in zip(target, drifted, tradable, steps, strict=True)
        ]
        assert all(type(value) is float for value in floats)
        np.testing.assert_array_equal(arrays, floats)
        assert np.any(arrays != np.where(tradable, target, 0.0)) == bool(options)
    # The band's edge belongs to the band (binary fractions, so the gap is exactly 0.25).
    band = ActionDesign(no_trade_band=0.25)
    assert traded_weight(0.75, 0.5, True, 0, band) == 0.5
    assert traded_weight(0.75, 0.4999, True, 0, band) == 0.75
    # At the defaults it is the envs' default path (which skips it): the target, 0 where there is no price.
    assert ActionDesign.of(EnvConfig()) is None
    np.testing.assert_array_equal(traded_weight(target, drifted, tradable, steps, ActionDesign()), target * tradable)


def pinned_episode(vec: TradingVecEnv, k: int) -> dict[str, int]:
    """The (symbol, first row) of the vectorised env's episode k, as reset options for a TradingEnv."""
    episodes = vec.get_state()["episodes"]
    return {"symbol_index": int(episodes["asset"][k]), "start_row": int(episodes["start_row"][k])}


@pytest.mark.parametrize("name", DESIGNS)
def test_vector_env_equals_trading_envs_over_several_episodes(name: str) -> None:
    mask = np.ones((140, 3), dtype=bool)
    mask[30:34, 1] = False
    mask[60:62, 0] = False
    market = make_market(140, 3, 3, seed=8, mask=mask)
    cfg = EnvConfig(
        window=6, episode_length=11, max_leverage=1.5, cost_bps=7.0, slippage_bps=1.0, borrow_bps_annual=90.0
    )
    cfg = dataclasses.replace(cfg, **DESIGNS[name])
    reward = RewardConfig(drawdown_penalty=0.5, turnover_penalty=0.01, cvar_penalty=0.2, cvar_window=5)
    n_envs = 4
    vec = TradingVecEnv(market, "train", cfg, reward, n_envs=n_envs, seed=0)
    vec_obs = vec.reset()
    singles = [TradingEnv(market, "train", cfg, reward) for _ in range(n_envs)]
    for k, env in enumerate(singles):
        np.testing.assert_array_equal(vec_obs[k], env.reset(options=pinned_episode(vec, k))[0])
    actions = np.random.default_rng(1).uniform(-1.3, 1.3, size=(45, n_envs, 1))
    episodes = n_envs
    held = 0
    for step_actions in actions:
        vec_obs, vec_rewards, dones, vec_infos = vec.step(step_actions)
        for k, env in enumerate(singles):
            obs, reward_k, terminated, truncated, info = env.step(step_actions[k])
            assert dones[k] == (terminated or truncated)
            assert vec_rewards[k] == np.float32(reward_k)
            assert set(vec_infos[k]) - {"terminal_observation", "TimeLimit.truncated"} == set(info)
            for key, value in info.items():
                assert vec_infos[k][key] == value, key
            held += info["turnover"] == 0.0 and info["position"] != 0.0
            if dones[k]:
                np.testing.assert_array_equal(vec_infos[k]["terminal_observation"], obs)
                obs, _ = env.reset(options=pinned_episode(vec, k))
                episodes += 1
            np.testing.assert_array_equal(vec_obs[k], obs)
    assert episodes >= 3 * n_envs  # several episodes each, every one restarted mid-run
    assert held > 0 or name == "partial"  # the options did hold positions (partial trades on every row)


def momentum_policy(observations: np.ndarray) -> np.ndarray:
    """A deterministic numpy policy of the features and of its own position (so the actions depend on the path)."""
    return np.tanh(observations[:, :-4].mean(axis=1, keepdims=True) * 3.0 + observations[:, -4:-3])


def env_episode(market: MarketData, split: str, cfg: EnvConfig, symbol: int) -> dict[str, np.ndarray]:
    """One symbol's TradingEnv evaluation episode under `momentum_policy`: its `info` values, row by row."""
    env = TradingEnv(market, split, cfg, RewardConfig(), symbol_index=symbol)
    observation, _ = env.reset()
    rows: dict[str, list[float]] = {key: [] for key in INFO_KEYS}
    for _ in env.decision_rows:
        observation, _, _, _, info = env.step(momentum_policy(observation[None, :])[0])
        for key in INFO_KEYS:
            rows[key].append(info[key])
    return {key: np.array(values) for key, values in rows.items()}


@pytest.mark.parametrize("name", ["defaults", *DESIGNS])
def test_rollout_records_what_each_env_held(name: str) -> None:
    # Every symbol of the class at once (whole-block TradingVecEnv): each column is its own TradingEnv's positions.
    mask = np.ones((160, 3), dtype=bool)
    mask[140:143, 2] = False
    market = make_market(160, 3, 3, seed=2, mask=mask)
    cfg = EnvConfig(window=5, max_leverage=1.5, cost_bps=7.0, **DESIGNS.get(name, {}))
    for split in ("val", "test"):
        rollout = rollout_positions(momentum_policy, market, split, cfg, RewardConfig())
        for symbol in range(market.n_assets):
            expected = env_episode(market, split, cfg, symbol)["position"]
            np.testing.assert_array_equal(rollout.positions[:, symbol], expected)


@pytest.mark.parametrize("borrow_bps_annual", [0.0, 80.0])
@pytest.mark.parametrize("name", ["defaults", *DESIGNS])
def test_rollout_and_backtest_reproduce_the_env_row_by_row(name: str, borrow_bps_annual: float) -> None:
    # The run's reported backtest re-simulates the recorded positions with the market core: for one symbol it must
    # give the env's own net returns, turnover and costs. Held rows record the drifted weight, so the backtest
    # trades nothing there either.
    mask = np.ones((160, 1), dtype=bool)
    mask[140:143] = False
    market = make_market(160, 1, 3, seed=5, mask=mask)
    cfg = EnvConfig(window=5, max_leverage=1.5, cost_bps=7.0, borrow_bps_annual=borrow_bps_annual)
    cfg = dataclasses.replace(cfg, **DESIGNS.get(name, {}))
    for split in ("val", "test"):
        rollout = rollout_positions(momentum_policy, market, split, cfg, RewardConfig())
        backtest = rollout_backtest(market, split, cfg, rollout.portfolio_weights(), rollout.decision_rows)
        env = env_episode(market, split, cfg, 0)
        assert np.any(env["position"] < 0.0)  # shorts, so the borrow fee is exercised
        result = backtest.result
        # One accounting kernel: the env's episode and the backtest of its positions are the same bits.
        for got, key in ((result.returns, "net_return"), (result.turnover, "turnover"), (result.cost, "cost")):
            np.testing.assert_array_equal(got, env[key], err_msg=key)
        np.testing.assert_allclose(result.nav, env["nav"], rtol=1e-14)
        if name in ("interval", "band"):
            assert np.count_nonzero(result.turnover <= 1e-16) > len(rollout.decision_rows) // 4


def rollout_backtest(market: MarketData, split: str, cfg: EnvConfig, weights: np.ndarray, rows: np.ndarray) -> Backtest:
    """The backtest a run reports for the agent: the recorded weights through the market core."""
    return run_backtest("agent", market, split, weights, cost_model(cfg), rows)


# sha256 of the default envs' outputs in `default_outputs_digest`, recorded before the action designs existed and
# re-taken when backtests moved onto the one accounting kernel: 24 of its 2,876 numbers changed, all of them
# 3-asset backtest returns, by at most 3.5e-18 (every env value is the same bits).
DEFAULT_OUTPUTS_SHA256 = "b9625ef7da9560e4a81d7bbc31c5dd6cfef2caeec34eaac002a1c385a534e6ee"


def default_outputs_digest(cfg: EnvConfig) -> str:
    """Accounting and rewards of seeded TradingEnv and TradingVecEnv training episodes (with restarts) and of
    whole-block rollouts with their backtests, at fixed actions, as one sha256."""
    mask = np.ones((160, 3), dtype=bool)
    mask[40:46, 1] = False
    mask[120:125, 0] = False
    market = make_market(160, 3, 2, seed=11, mask=mask)
    reward = RewardConfig()
    keys = ("row", "position", "net_return", "turnover", "cost", "nav")
    values: list[float] = []
    env = TradingEnv(market, "train", cfg, reward, seed=3)
    env.reset(seed=3)
    for action in np.random.default_rng(4).uniform(-1.3, 1.3, size=(100, 1)):
        _, reward_k, terminated, truncated, info = env.step(action)
        values += [float(info[key]) for key in keys] + [float(reward_k)]
        if terminated or truncated:
            env.reset()
    vec = TradingVecEnv(market, "train", cfg, reward, n_envs=4, seed=5)
    vec.reset()
    for actions in np.random.default_rng(6).uniform(-1.3, 1.3, size=(70, 4, 1)):
        _, rewards, _, infos = vec.step(actions)
        for key in keys:
            values += infos.column(key).astype(np.float64).tolist()
        values += rewards.astype(np.float64).tolist()
    for split in ("val", "test"):
        rollout = rollout_positions(
            lambda obs: np.tanh(obs[:, :-4].mean(axis=1, keepdims=True) * 3.0 + obs[:, -4:-3]),
            market,
            split,
            cfg,
            reward,
        )
        backtest = rollout_backtest(market, split, cfg, rollout.portfolio_weights(), rollout.decision_rows)
        values += rollout.positions.reshape(-1).tolist() + backtest.result.returns.tolist()
    return hashlib.sha256(np.asarray(values, dtype=np.float64).tobytes()).hexdigest()


DIGEST_ENV = EnvConfig(
    window=5, episode_length=30, max_leverage=1.5, cost_bps=7.0, slippage_bps=1.0, borrow_bps_annual=80.0
)


def test_defaults_leave_every_output_as_it_was() -> None:
    assert default_outputs_digest(DIGEST_ENV) == DEFAULT_OUTPUTS_SHA256


def test_the_default_digest_sees_an_option() -> None:
    # A positive control: the digest covers the positions, so a band (of one tenth of a basis point) changes it.
    assert default_outputs_digest(dataclasses.replace(DIGEST_ENV, no_trade_band=1e-5)) != DEFAULT_OUTPUTS_SHA256


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.no_trade_band=-0.01", "env.no_trade_band=-0.01 must be a finite number >= 0"),
        ("env.no_trade_band=inf", "env.no_trade_band=inf must be a finite number >= 0"),
        ("env.partial_adjustment=0", "env.partial_adjustment=0.0 must lie in (0, 1]"),
        ("env.partial_adjustment=1.5", "env.partial_adjustment=1.5 must lie in (0, 1]"),
        ("env.decision_interval=0", "env.decision_interval=0 must be >= 1"),
    ],
)
def test_a_bad_value_is_one_config_error_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config([override])
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"no_trade_band": -1.0}, "env.no_trade_band=-1.0 must be a finite number >= 0"),
        ({"partial_adjustment": 0.0}, "env.partial_adjustment=0.0 must lie in (0, 1]"),
        ({"decision_interval": 2.5}, "env.decision_interval=2.5 must be a whole number of rows >= 1"),
        ({"decision_interval": 0}, "env.decision_interval=0 must be >= 1"),
    ],
)
def test_an_env_built_from_a_bad_config_refuses_it(options: dict[str, Any], message: str) -> None:
    cfg = dataclasses.replace(EnvConfig(window=4), **options)
    market = make_market(60, 2, 2)
    for build in (
        lambda: TradingEnv(market, "train", cfg, RewardConfig()),
        lambda: TradingVecEnv(market, "train", cfg, RewardConfig(), n_envs=2),
    ):
        with pytest.raises(EnvSetupError) as raised:
            build()
        assert str(raised.value) == message


def test_the_options_compose_from_the_command_line() -> None:
    cfg = load_config(["env.no_trade_band=0.05", "env.partial_adjustment=0.5", "env.decision_interval=5"]).env
    assert isinstance(cfg, EnvConfig)
    assert ActionDesign.of(cfg) == ActionDesign(no_trade_band=0.05, partial_adjustment=0.5, decision_interval=5)


STATE_ENV = EnvConfig(
    window=4,
    episode_length=12,
    cost_bps=7.0,
    slippage_bps=1.0,
    borrow_bps_annual=90.0,
    no_trade_band=0.1,
    partial_adjustment=0.7,
    decision_interval=4,
)


def test_trading_env_state_round_trips_with_the_options_on() -> None:
    # The state is taken at step 5 of the second episode, between two decisions: the place in the decision cycle
    # must come back from it.
    market = make_market(160, 3, 2, seed=4)
    check_round_trip(lambda seed: TradingEnv(market, "train", STATE_ENV, RewardConfig(), seed=seed), (1,))


def test_vector_env_state_round_trips_with_the_options_on() -> None:
    market = make_market(160, 3, 2, seed=4)
    actions = np.random.default_rng(5).uniform(-1.2, 1.2, size=(50, 3, 1))
    vec = TradingVecEnv(market, "train", STATE_ENV, RewardConfig(), n_envs=3, seed=1)
    vec.reset()
    for step_actions in actions[:23]:  # after one restart, at step 11 of 12, between two decisions
        vec.step(step_actions)
    state = stored(vec.get_state())
    expected = [vec.step(step_actions) for step_actions in actions[23:]]
    resumed = TradingVecEnv(market, "train", STATE_ENV, RewardConfig(), n_envs=3, seed=99)
    resumed.reset()
    resumed.step(actions[0])
    resumed.set_state(state)
    got = [resumed.step(step_actions) for step_actions in actions[23:]]
    assert_same_steps(
        [(obs, rewards, dones, list(infos)) for obs, rewards, dones, infos in expected],
        [(obs, rewards, dones, list(infos)) for obs, rewards, dones, infos in got],
    )

"""Each reward term against an independent formula, and the composition the env reports."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from envs_fixtures import make_market

from hierl.config.env import EnvConfig, RewardConfig
from hierl.envs.trading_env import TradingEnv
from hierl.rewards.batched import BATCHED_TERMS, BatchedRewardFunction
from hierl.rewards.composite import (
    EPISODE_TERMS,
    RewardConfigError,
    RewardFunction,
    signed_weights,
    term_arguments,
)
from hierl.rewards.terms import (
    CVaRTerm,
    DifferentialSharpeTerm,
    DrawdownTerm,
    ReturnTerm,
    TurnoverTerm,
    VolatilityTerm,
)

RNG = np.random.default_rng(11)
NET = RNG.normal(0.0005, 0.01, 120)
CASH = np.full(120, 1e-4)
TURNOVER = RNG.uniform(0, 2, 120)
DRAWDOWN = np.clip(RNG.normal(0.05, 0.05, 120), 0, None)


def feed(term) -> np.ndarray:
    """The term's value at each step of the fixed series above (net return, cash, turnover, drawdown)."""
    term.reset()
    return np.array([term(n, c, t, d) for n, c, t, d in zip(NET, CASH, TURNOVER, DRAWDOWN, strict=True)])


def feed_series(term, net: np.ndarray) -> np.ndarray:
    """The term's value at each step of `net`, for terms that read only the net return."""
    term.reset()
    return np.array([term(float(r), 0.0, 0.0, 0.0) for r in net])


def test_return_term_plain_and_in_excess_of_the_reference() -> None:
    np.testing.assert_array_equal(feed(ReturnTerm()), NET)
    np.testing.assert_allclose(feed(ReturnTerm(excess=True)), NET - 1e-4)


def test_turnover_term_is_the_traded_notional() -> None:
    np.testing.assert_array_equal(feed(TurnoverTerm()), TURNOVER)


@pytest.mark.parametrize("window", [2, 5, 21])
def test_volatility_term_is_a_causal_rolling_std(window: int) -> None:
    expected = pd.Series(NET).rolling(window, min_periods=2).std(ddof=0).fillna(0.0).to_numpy()
    np.testing.assert_allclose(feed(VolatilityTerm(window)), expected, rtol=1e-9, atol=1e-12)


def test_drawdown_term_penalises_only_deepening() -> None:
    deepening = np.diff(DRAWDOWN, prepend=0.0)
    expected = [change if change > 0 else 0.0 for change in deepening]
    np.testing.assert_allclose(feed(DrawdownTerm()), expected)


@pytest.mark.parametrize(("window", "alpha"), [(10, 0.05), (20, 0.1), (63, 0.05)])
def test_cvar_term_is_the_mean_of_the_worst_tail(window: int, alpha: float) -> None:
    expected = []
    for k in range(len(NET)):
        recent = NET[max(0, k - window + 1) : k + 1]
        worst_first = sorted(recent)
        n_tail = max(1, int(np.ceil(round(alpha * len(recent), 9))))
        expected.append(max(0.0, -float(np.mean(worst_first[:n_tail]))))
    np.testing.assert_allclose(feed(CVaRTerm(window, alpha)), expected, rtol=1e-12)


def test_differential_sharpe_matches_moody_saffell_recursion() -> None:
    eta = 0.05
    mean, second = 0.0, 0.0
    expected = []
    for r in NET:
        variance = second - mean**2
        expected.append(
            (second * (r - mean) - 0.5 * mean * (r**2 - second)) / variance**1.5 if variance > 1e-12 else 0.0
        )
        mean, second = (1 - eta) * mean + eta * r, (1 - eta) * second + eta * r**2
    np.testing.assert_allclose(feed(DifferentialSharpeTerm(eta)), expected, rtol=1e-9)


def test_differential_sharpe_is_the_first_order_change_of_the_moving_sharpe() -> None:
    """S_t - S_{t-1} ~= eta * D_t for small eta, where S = A / sqrt(B - A^2) (Moody & Saffell, eq. 4)."""
    eta = 1e-3
    net = 0.01 * np.sin(np.arange(4000)) + 0.002
    dsr = feed_series(DifferentialSharpeTerm(eta), net)
    mean, second, sharpe = 0.0, 0.0, []
    for r in net:
        mean, second = mean + eta * (r - mean), second + eta * (r * r - second)
        sharpe.append(mean / math.sqrt(second - mean**2))
    # Once the moving moments carry a long history the step changes are small and the O(eta^2) rest vanishes.
    changes = np.diff(sharpe) / eta
    np.testing.assert_allclose(changes[-500:], dsr[1:][-500:], rtol=2e-2, atol=2e-3)


def test_env_reward_is_the_scaled_weighted_sum_of_independent_terms() -> None:
    cfg = RewardConfig(
        return_weight=1.0,
        volatility_penalty=0.2,
        drawdown_penalty=0.5,
        turnover_penalty=0.01,
        differential_sharpe_weight=0.1,
        cvar_penalty=0.3,
        cvar_window=10,
        volatility_window=5,
        scale=10.0,
        excess_return=True,
    )
    market = make_market(120, 2, 2, seed=5)
    env = TradingEnv(market, "train", EnvConfig(window=4, episode_length=60), cfg, symbol_index=0)
    env.reset()
    actions = np.sin(np.arange(len(env.decision_rows)))
    rewards, infos = [], []
    for action in actions:
        _, reward, _, _, info = env.step(np.array([action], dtype=np.float32))
        rewards.append(reward)
        infos.append(info)
    net = np.array([i["net_return"] for i in infos])
    nav = np.array([i["nav"] for i in infos])
    turnover = np.array([i["turnover"] for i in infos])
    cash = market.cash_return[env.decision_rows + 1]
    drawdown = 1 - nav / np.maximum.accumulate(np.r_[1.0, nav])[1:]
    volatility = pd.Series(net).rolling(5, min_periods=2).std(ddof=0).fillna(0.0).to_numpy()
    deepening = np.clip(np.diff(drawdown, prepend=0.0), 0, None)
    cvar = feed_series(CVaRTerm(10, 0.05), net)
    dsr = feed_series(DifferentialSharpeTerm(0.01), net)
    expected = 10.0 * ((net - cash) - 0.2 * volatility - 0.5 * deepening - 0.01 * turnover + 0.1 * dsr - 0.3 * cvar)
    np.testing.assert_allclose(rewards, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([i["reward/volatility"] for i in infos], -10.0 * 0.2 * volatility, atol=1e-12)
    np.testing.assert_allclose([i["reward/drawdown"] for i in infos], -10.0 * 0.5 * deepening, atol=1e-12)


def test_trading_env_excess_over_the_benchmark_is_over_holding_the_asset() -> None:
    market = make_market(120, 2, 2, seed=6)
    cfg = RewardConfig(volatility_penalty=0.0, excess_return=True, excess_reference="benchmark", scale=10.0)
    env = TradingEnv(market, "train", EnvConfig(window=4), cfg, symbol_index=1)
    env.reset()
    infos = [env.step(np.array([np.cos(k)], dtype=np.float32))[4] for k in range(len(env.decision_rows))]
    held = market.returns[env.decision_rows + 1, 1]
    net = np.array([info["net_return"] for info in infos])
    np.testing.assert_allclose([info["reward/return"] for info in infos], 10.0 * (net - held), rtol=1e-12, atol=1e-15)
    # Holding the asset scores about 0 against itself once the entry cost is paid (only a sliver of rebalancing
    # back to weight 1 costs anything afterwards).
    env.reset()
    _, _, _, _, entry = env.step(np.array([1.0], dtype=np.float32))
    _, _, _, _, held_on = env.step(np.array([1.0], dtype=np.float32))
    assert abs(held_on["reward/return"]) < 1e-5 < abs(entry["reward/return"])


def test_zero_weights_switch_terms_off() -> None:
    reward = RewardFunction(RewardConfig(volatility_penalty=0.0, cvar_penalty=0.2))
    assert reward.info_keys == ("reward/return", "reward/cvar")


def test_reset_forgets_the_previous_episode() -> None:
    reward = RewardFunction(RewardConfig(volatility_penalty=1.0, scale=1.0))
    info: dict = {}
    first = [reward(r, 0.0, 0.0, 0.0, info) for r in NET[:10]]
    reward.reset()
    assert [reward(r, 0.0, 0.0, 0.0, info) for r in NET[:10]] == first


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        (RewardConfig(scale=float("inf")), "reward.scale"),
        (RewardConfig(drawdown_penalty=-0.1), "reward.drawdown_penalty"),
        (RewardConfig(cvar_alpha=0.0), "reward.cvar_alpha"),
        (RewardConfig(cvar_window=0), "reward.cvar_window"),
        (RewardConfig(excess_reference="index"), "reward.excess_reference"),
    ],
)
def test_bad_reward_config_names_the_field(cfg: RewardConfig, field: str) -> None:
    with pytest.raises(RewardConfigError, match=field):
        RewardFunction(cfg)


ALL_TERMS = RewardConfig(
    excess_return=True,
    volatility_penalty=0.3,
    volatility_window=7,
    drawdown_penalty=0.5,
    turnover_penalty=0.01,
    differential_sharpe_weight=0.2,
    cvar_penalty=0.4,
    cvar_window=9,
)


def test_every_term_has_one_episode_form_and_one_batched_form() -> None:
    names = set(signed_weights(ALL_TERMS))
    assert names == set(EPISODE_TERMS) == set(BATCHED_TERMS)
    with pytest.raises(RewardConfigError, match="unknown reward term 'sortino'"):
        term_arguments("sortino", ALL_TERMS)


def test_batched_terms_equal_the_episode_terms_step_for_step_across_resets() -> None:
    """Three episodes stepped together, each restarting at its own steps, against one RewardFunction each."""
    n_envs, n_steps = 3, 60
    rng = np.random.default_rng(4)
    net = rng.normal(0.0, 0.01, size=(n_steps, n_envs))
    reference = rng.normal(1e-4, 1e-4, size=(n_steps, n_envs))
    turnover = rng.uniform(0.0, 1.5, size=(n_steps, n_envs))
    drawdown = np.clip(rng.normal(0.05, 0.05, size=(n_steps, n_envs)), 0.0, None)
    restarts = rng.uniform(size=(n_steps, n_envs)) < 0.08
    batched = BatchedRewardFunction(ALL_TERMS, n_envs)
    single = [RewardFunction(ALL_TERMS) for _ in range(n_envs)]
    for step in range(n_steps):
        if restarts[step].any():
            batched.reset(restarts[step])
            for restarted in np.flatnonzero(restarts[step]).tolist():
                single[restarted].reset()
        total, contributions = batched(net[step], reference[step], turnover[step], drawdown[step])
        for k, reward in enumerate(single):
            info: dict = {}
            value = reward(
                float(net[step, k]), float(reference[step, k]), float(turnover[step, k]), float(drawdown[step, k]), info
            )
            assert set(info) == set(contributions)
            for key, contribution in info.items():
                if key == "reward/differential_sharpe":  # numpy's power may round differently from libm's
                    assert contributions[key][k] == pytest.approx(contribution, rel=1e-12, abs=1e-15)
                else:
                    assert contributions[key][k] == contribution, key
            assert total[k] == pytest.approx(value, rel=1e-12, abs=1e-15)

"""No lookahead: data after row T cannot change what the agent saw or earned before T."""

from __future__ import annotations

import dataclasses

import numpy as np
from envs_fixtures import make_market

from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.trading_env import TradingEnv

ALL_TERMS = RewardConfig(
    volatility_penalty=0.1,
    drawdown_penalty=0.5,
    turnover_penalty=0.01,
    differential_sharpe_weight=0.1,
    cvar_penalty=0.1,
    cvar_window=10,
)


def rewrite_after(market: MarketData, row: int, seed: int) -> MarketData:
    rng = np.random.default_rng(seed)
    features, returns = market.features.copy(), market.returns.copy()
    features[row + 1 :] = rng.normal(size=features[row + 1 :].shape)
    returns[row + 1 :] = rng.normal(0, 0.05, size=returns[row + 1 :].shape)
    return dataclasses.replace(market, features=features, returns=returns)


def play(market: MarketData) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """Observation seen and reward earned at each decision row, under a policy that reacts to what it sees."""
    env = TradingEnv(market, "train", EnvConfig(window=8), ALL_TERMS, symbol_index=1)
    obs, _ = env.reset()
    seen, earned, done = {}, {}, False
    for row in env.decision_rows:
        if done:
            break
        seen[int(row)] = obs
        obs, reward, terminated, truncated, _ = env.step(np.array([np.tanh(obs.sum())], dtype=np.float32))
        earned[int(row)] = reward
        done = terminated or truncated
    return seen, earned


def test_changing_data_after_row_t_leaves_earlier_decisions_untouched() -> None:
    market = make_market(150, 3, 3, seed=9)
    cutoff = 50
    seen, earned = play(market)
    seen_changed, earned_changed = play(rewrite_after(market, cutoff, seed=1))
    for row in seen:
        if row <= cutoff:
            np.testing.assert_array_equal(seen[row], seen_changed[row])
    for row in earned:
        # The decision at row t earns returns[t + 1], so rows up to cutoff - 1 are fixed.
        if row < cutoff:
            assert earned[row] == earned_changed[row]
    # The check has teeth: the first reward that may see the new data does change.
    assert earned[cutoff] != earned_changed[cutoff]
    assert not np.array_equal(seen[cutoff + 1], seen_changed[cutoff + 1])

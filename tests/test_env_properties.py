"""Invariants of TradingEnv under arbitrary actions, markets and leverage bounds."""

from __future__ import annotations

import numpy as np
import pytest
from envs_fixtures import make_market
from hypothesis import given, settings
from hypothesis import strategies as st

from hierl.config.env import EnvConfig, RewardConfig
from hierl.envs.trading_env import TradingEnv

REWARD = RewardConfig(drawdown_penalty=0.5, differential_sharpe_weight=0.1, cvar_penalty=0.1, cvar_window=5)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    max_leverage=st.floats(0.1, 4.0),
    cost_bps=st.floats(0.0, 50.0),
    actions=st.lists(st.floats(-5.0, 5.0, allow_nan=False), min_size=1, max_size=40),
)
def test_nav_identity_leverage_bound_and_finite_observations(
    seed: int, max_leverage: float, cost_bps: float, actions: list[float]
) -> None:
    market = make_market(60, 2, 2, seed=seed)
    cfg = EnvConfig(window=4, episode_length=40, max_leverage=max_leverage, cost_bps=cost_bps)
    env = TradingEnv(market, "train", cfg, REWARD, seed=seed)
    obs, _ = env.reset()
    nav = cfg.initial_nav
    assert np.isfinite(obs).all()
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(np.array([action], dtype=np.float32))
        assert info["nav"] == pytest.approx(nav * (1.0 + info["net_return"]), rel=1e-12)
        assert abs(info["position"]) <= max_leverage
        assert obs.dtype == np.float32 and np.isfinite(obs).all() and np.isfinite(reward)
        assert reward == pytest.approx(sum(v for k, v in info.items() if k.startswith("reward/")))
        nav = info["nav"]
        if terminated or truncated:
            break

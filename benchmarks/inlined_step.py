"""A ceiling for `TradingEnv`: the same step with everything written out in one function, for the default reward.

`TradingEnv.step` calls the market core's `step_single_asset` and a `RewardFunction` that loops over reward-term
objects; each call costs tens of nanoseconds on a step of about a microsecond and a half. `InlinedTradingEnv`
does the same work (accounting, the return and rolling-volatility terms with their `info` entries, the
observation's context) with no calls at all, and state kept in plain attributes. It is not part of hierl: it
gives up composable reward terms and a single accounting function, and serves the benchmark as the fastest a
per-step Python env with this contract can go here, so a ratio can be read against what is reachable at all.
`assert_same_steps` checks that it returns exactly what `TradingEnv` returns before anything is timed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.episodes import MIN_NAV_RATIO
from hierl.envs.step_info import StepInfo
from hierl.envs.trading_env import TradingEnv


class InlinedTradingEnv(TradingEnv):
    """`TradingEnv` with `step` inlined for a reward of the return and rolling-volatility terms only."""

    def __init__(
        self, market: MarketData, split: str, env_cfg: EnvConfig, reward_cfg: RewardConfig, *, seed: int | None = None
    ) -> None:
        active = {
            "drawdown_penalty": reward_cfg.drawdown_penalty,
            "turnover_penalty": reward_cfg.turnover_penalty,
            "differential_sharpe_weight": reward_cfg.differential_sharpe_weight,
            "cvar_penalty": reward_cfg.cvar_penalty,
        }
        if any(active.values()) or reward_cfg.excess_return:
            raise ValueError(f"the inlined step covers return and volatility terms only, not {active}")
        self._return_weight = reward_cfg.scale * reward_cfg.return_weight
        self._volatility_weight = -reward_cfg.scale * reward_cfg.volatility_penalty
        self._volatility_window = reward_cfg.volatility_window
        super().__init__(market, split, env_cfg, reward_cfg, seed=seed)

    def _start_episode(self, asset: int, start_row: int, end_row: int) -> None:
        super()._start_episode(asset, start_row, end_row)
        self._flat = memoryview(self._observations.reshape(-1))
        self._ring = [0.0] * self._volatility_window
        self._count = 0
        self._sum = 0.0
        self._sum_sq = 0.0

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode has ended; call reset() before step()")
        fraction = float(action[0])
        if not -1.0 <= fraction <= 1.0:  # NaN fails this comparison too
            if not math.isfinite(fraction):
                raise ValueError(f"action {action!r} is not finite")
            fraction = 1.0 if fraction > 1.0 else -1.0
        k = self._k
        target = fraction * self._max_leverage if self._mask[k] else 0.0
        k += 1
        next_cash = self._cash[k]
        next_return = self._returns[k]
        turnover = abs(target - self._weight)
        cost = self._trade_rate * turnover + self._borrow_rate * (-target if target < 0.0 else 0.0)
        net_return = target * next_return + (1.0 - target) * next_cash - cost
        growth = 1.0 + net_return
        weight_after = target * (1.0 + next_return) / growth if growth > 0.0 else 0.0
        nav = self._nav * growth
        peak = self._peak
        if nav > peak:
            self._peak = peak = nav
        drawdown = 1.0 - nav / peak
        window = self._volatility_window
        count = self._count
        slot = count % window
        leaving = self._ring[slot]  # 0.0 until the ring is full: subtracting it changes nothing
        self._ring[slot] = net_return
        total = self._sum - leaving + net_return
        total_sq = self._sum_sq - leaving * leaving + net_return * net_return
        count += 1
        self._count, self._sum, self._sum_sq = count, total, total_sq
        volatility = 0.0
        if count >= 2:
            n = count if count < window else window
            mean = total / n
            variance = total_sq / n - mean * mean
            if variance > 0.0:
                volatility = math.sqrt(variance)
        return_part = self._return_weight * net_return
        volatility_part = self._volatility_weight * volatility
        row = self._row
        info = StepInfo()
        info["row"] = row
        info["position"] = target
        info["net_return"] = net_return
        info["turnover"] = turnover
        info["cost"] = cost
        info["nav"] = nav
        info["reward/return"] = return_part
        info["reward/volatility"] = volatility_part
        self._nav = nav
        self._weight = weight_after
        self._row = row + 1
        self._k = k
        terminated = nav <= 0.0
        truncated = not terminated and row >= self._end_row
        self._done = terminated or truncated
        ratio = nav / self._initial_nav
        base = k * self._obs_size + self._window_size
        flat = self._flat
        flat[base] = weight_after / self._max_leverage
        flat[base + 1] = drawdown
        flat[base + 2] = math.log(ratio if ratio > MIN_NAV_RATIO else MIN_NAV_RATIO)
        return self._observations[k], return_part + volatility_part, terminated, truncated, info


def assert_same_steps(reference: TradingEnv, inlined: InlinedTradingEnv, actions: np.ndarray) -> None:
    """Step both envs (same seed) through `actions`, resetting alike; every output must match."""
    reference.reset(seed=1)
    inlined.reset(seed=1)
    for action in actions:
        expected = reference.step(action)
        got = inlined.step(action)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=1e-15)
        assert got[2:4] == expected[2:4]
        assert type(got[4]) is type(expected[4]) and got[4].keys() == expected[4].keys()
        np.testing.assert_allclose(list(got[4].values()), list(expected[4].values()), rtol=1e-12, atol=1e-15)
        if expected[2] or expected[3]:
            reference.reset()
            inlined.reset()

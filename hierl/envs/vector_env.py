"""K training episodes of one asset class stepped in one numpy call, as an SB3 `VecEnv`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices

from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.episodes import (
    CONTEXT_NAMES,
    MIN_NAV_RATIO,
    EnvSetupError,
    cost_model,
    episode_layout,
    prepare_arrays,
    validate_env_config,
)
from hierl.envs.market_core import step_single_asset_books
from hierl.rewards.batched import BatchedRewardFunction

# observations [K, D], rewards [K], dones [K], one info dict per episode
StepBatch = tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]


class TradingVecEnv(VecEnv):
    """`n_envs` training-mode `TradingEnv` episodes with shared arrays and one accounting call per step.

    Observations, actions, accounting, rewards and `info` keys are those of `TradingEnv` (training mode); an
    episode that ends is reset at once with a new random asset and start, SB3 style (`terminal_observation`
    and `TimeLimit.truncated` in its info). `set_options([{"symbol_index": i, "start_row": t}, ...])` before
    `reset()` pins the episodes of that reset.
    """

    render_mode = None

    def __init__(
        self,
        market: MarketData,
        split: str,
        env_cfg: EnvConfig,
        reward_cfg: RewardConfig,
        *,
        n_envs: int,
        seed: int | None = None,
    ) -> None:
        if n_envs < 1:
            raise EnvSetupError(f"n_envs={n_envs} must be at least 1")
        validate_env_config(env_cfg)
        self._reward = BatchedRewardFunction(reward_cfg, n_envs)
        self.market = market
        self.split = split
        self.env_cfg = env_cfg
        self._layout = episode_layout(market, split, env_cfg)
        if len(self._layout.tradable_assets) == 0:
            raise EnvSetupError(f"no symbol of {market.asset_class!r} has a price in the {split!r} block")
        self._arrays = prepare_arrays(market)
        self._costs = cost_model(env_cfg)
        self._max_leverage = float(env_cfg.max_leverage)
        self._window_size = env_cfg.window * self._arrays.n_features
        # windows[i, s] is the flattened window of asset i that starts at row s: a strided view, no copy.
        self._windows = np.lib.stride_tricks.sliding_window_view(self._arrays.features_flat, self._window_size, axis=1)[
            :, :: self._arrays.n_features
        ]
        obs_size = self._window_size + len(CONTEXT_NAMES)
        self._obs_size = obs_size
        observation_space = gymnasium.spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float32)
        action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        super().__init__(n_envs, observation_space, action_space)
        self._rng = np.random.default_rng(seed)
        self._asset = np.zeros(n_envs, dtype=np.int64)
        self._start_row = np.full(n_envs, self._layout.first_row, dtype=np.int64)
        self._end_row = np.full(n_envs, self._layout.first_row, dtype=np.int64)
        self._row = self._start_row.copy()
        self._weight = np.zeros(n_envs)
        self._nav = np.full(n_envs, float(env_cfg.initial_nav))
        self._peak = self._nav.copy()
        self._drawdown = np.zeros(n_envs)
        self._actions = np.zeros(n_envs)
        self._start_episodes(np.ones(n_envs, dtype=bool), [{} for _ in range(n_envs)])

    @property
    def current_symbol_indices(self) -> np.ndarray:
        return self._asset.copy()

    def _start_episodes(self, which: np.ndarray, options: Sequence[dict[str, Any]]) -> None:
        for k in np.flatnonzero(which).tolist():
            pinned = options[k]
            if "symbol_index" in pinned or "start_row" in pinned:
                asset = int(pinned.get("symbol_index", 0))
                start_row = int(pinned.get("start_row", self._layout.first_row))
                self._layout.check_start(asset, start_row, self.market.n_assets)
            else:
                asset, start_row = self._layout.sample(self._rng)
            self._asset[k] = asset
            self._start_row[k] = start_row
            self._end_row[k] = self._layout.end_row(start_row)
        self._row[which] = self._start_row[which]
        self._weight[which] = 0.0
        self._nav[which] = self.env_cfg.initial_nav
        self._peak[which] = self.env_cfg.initial_nav
        self._drawdown[which] = 0.0
        self._reward.reset(which)

    def _observations(self) -> np.ndarray:
        obs = np.empty((self.num_envs, self._obs_size), dtype=np.float32)
        obs[:, : self._window_size] = self._windows[self._asset, self._row - (self.env_cfg.window - 1)]
        ratio = np.maximum(self._nav / self.env_cfg.initial_nav, MIN_NAV_RATIO)
        obs[:, self._window_size] = self._weight / self._max_leverage
        obs[:, self._window_size + 1] = self._drawdown
        obs[:, self._window_size + 2] = np.log(ratio)
        obs[:, self._window_size + 3] = self._arrays.mask[self._asset, self._row]
        return obs

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._start_episodes(np.ones(self.num_envs, dtype=bool), self._options)
        self.reset_infos = [{"row": int(row)} for row in self._row]
        self._reset_seeds()
        self._reset_options()
        return self._observations()

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs)
        if not np.isfinite(actions).all():
            raise ValueError(f"actions {actions!r} are not all finite")
        self._actions = np.clip(actions, -1.0, 1.0)

    def step(self, actions: np.ndarray) -> StepBatch:
        self.step_async(actions)
        return self.step_wait()

    def step_wait(self) -> StepBatch:
        tradable = self._arrays.mask[self._asset, self._row]
        target = np.where(tradable, self._actions * self._max_leverage, 0.0)
        next_rows = self._row + 1
        next_cash = self._arrays.cash_return[next_rows]
        net_return, turnover, cost, weight_after = step_single_asset_books(
            self._weight, target, self._arrays.returns[self._asset, next_rows], next_cash, self._costs
        )
        nav = self._nav * (1.0 + net_return)
        self._peak = np.maximum(self._peak, nav)
        self._drawdown = 1.0 - nav / self._peak
        rewards, contributions = self._reward(net_return, next_cash, turnover, self._drawdown)
        decision_rows = self._row.copy()
        self._nav = nav
        self._weight = weight_after
        self._row = next_rows
        terminated = nav <= 0.0
        truncated = ~terminated & (next_rows > self._end_row)
        dones = terminated | truncated
        obs = self._observations()
        infos = self._infos(decision_rows, target, net_return, turnover, cost, nav, contributions)
        if dones.any():
            for k in np.flatnonzero(dones):
                infos[k]["terminal_observation"] = obs[k].copy()
                infos[k]["TimeLimit.truncated"] = bool(truncated[k])
            self._start_episodes(dones, [{} for _ in range(self.num_envs)])
            obs[dones] = self._observations()[dones]
        return obs, rewards.astype(np.float32), dones, infos

    def _infos(
        self,
        rows: np.ndarray,
        position: np.ndarray,
        net_return: np.ndarray,
        turnover: np.ndarray,
        cost: np.ndarray,
        nav: np.ndarray,
        contributions: dict[str, np.ndarray],
    ) -> list[dict[str, Any]]:
        # `tolist` turns each column into Python scalars in one call, as TradingEnv reports them.
        columns = {
            "row": rows.tolist(),
            "position": position.tolist(),
            "net_return": net_return.tolist(),
            "turnover": turnover.tolist(),
            "cost": cost.tolist(),
            "nav": nav.tolist(),
        }
        columns.update({key: value.tolist() for key, value in contributions.items()})
        keys = list(columns)
        return [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]

    def close(self) -> None:
        pass

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attributes are shared by all episodes, so each index gets the vectorised env's own value."""
        return [getattr(self, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gymnasium.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

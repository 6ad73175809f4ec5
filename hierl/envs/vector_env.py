"""K training episodes of one asset class stepped in one numpy call, as an SB3 `VecEnv`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import gymnasium
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices

from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.action_design import ActionDesign, traded_weight
from hierl.envs.episodes import (
    MIN_NAV_RATIO,
    EnvSetupError,
    cost_model,
    episode_layout,
    prepare_arrays,
    trading_spaces,
    validate_env_config,
)
from hierl.envs.market_core import step_single_asset_books
from hierl.rewards.batched import BatchedRewardFunction

_ZERO = np.array(0.0)
_ONE = np.array(1.0)
_MINUS_ONE = np.array(-1.0)
_MIN_NAV_RATIO = np.array(MIN_NAV_RATIO)
_ONE_ROW = np.array(1, dtype=np.int64)

# observations [K, D], rewards [K], dones [K], one info dict per episode
StepBatch = tuple[np.ndarray, np.ndarray, np.ndarray, "StepInfos"]

# The attributes `get_state` captures: every array that changes while episodes run.
_EPISODE_ARRAYS = ("_asset", "_start_row", "_end_row", "_row", "_index", "_weight", "_nav", "_peak", "_drawdown")


class StepInfos(Sequence[dict[str, Any]]):
    """The `info` dicts of one vectorised step, one per episode, built the first time any of them is read.

    Building K dicts costs about as much as the rest of a vectorised step, and a caller that never reads them
    (a rollout that only needs observations and rewards) should not pay for it. SB3 reads infos by index,
    iteration, slicing and `len`, all of which this supports; once built, the dicts are ordinary dicts and
    stay the same objects, so writing into one of them sticks. The columns are arrays the env no longer
    changes, so a late read sees the values of this step.
    """

    def __init__(self, columns: dict[str, np.ndarray], extras: dict[int, dict[str, Any]]) -> None:
        """`columns`: one [K] array per info key; `extras`: further keys of some episodes (those that ended)."""
        self._columns = columns
        self._extras = extras
        self._length = len(columns["row"])
        self._dicts: list[dict[str, Any]] | None = None

    def column(self, key: str) -> np.ndarray:
        """One info key of every episode as a [K] array, without building the dicts (read-only)."""
        return self._columns[key]

    def _built(self) -> list[dict[str, Any]]:
        if self._dicts is None:
            # `tolist` turns each column into Python scalars in one call, as TradingEnv reports them.
            keys = list(self._columns)
            rows = zip(*(column.tolist() for column in self._columns.values()), strict=True)
            self._dicts = [dict(zip(keys, values, strict=True)) for values in rows]
            for k, extra in self._extras.items():
                self._dicts[k].update(extra)
        return self._dicts

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self._built()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


class TradingVecEnv(VecEnv):
    """`n_envs` training-mode `TradingEnv` episodes with shared arrays and one accounting call per step.

    Observations, actions (with the same action design), accounting, rewards and `info` keys are those of
    `TradingEnv` (training mode); an episode that ends is reset at once with a new random asset and start, SB3
    style (`terminal_observation` and `TimeLimit.truncated` in its info).
    `set_options([{"symbol_index": i, "start_row": t}, ...])` before `reset()` pins the episodes of that reset.
    The infos of a step are a `StepInfos`, built when first read. An episode's step count, which decides the
    rows where its action counts under `env.decision_interval`, is `row - start_row`, so the state holds it.

    Each episode is located by its flat index `asset * n_days + row` into the market arrays (see
    `AssetArrays`), so the lookups of a step are 1-D gathers. `get_state`/`set_state` save and restore the
    running episodes and the generator, for an exact resume from a checkpoint.

    `whole_block=True` is `TradingEnv`'s evaluation mode for every symbol at once: episode k trades symbol k
    over the whole block from its first decision row (`n_envs` must be the number of symbols), with no
    randomness and no restart. All episodes end together on the block's last decision row; a book wiped out
    before it ends its episode early, as in `TradingEnv`, and any further `step` is refused until `reset`.
    Validation and backtests roll a policy through it with one policy call per row (bar).
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
        whole_block: bool = False,
    ) -> None:
        if n_envs < 1:
            raise EnvSetupError(f"n_envs={n_envs} must be at least 1")
        if whole_block and n_envs != market.n_assets:
            raise EnvSetupError(
                f"whole_block=True runs one episode per symbol: n_envs={n_envs}, but the class has {market.n_assets}"
            )
        validate_env_config(env_cfg)
        self.whole_block = whole_block
        self._reward = BatchedRewardFunction(reward_cfg, n_envs)
        self._excess_over_benchmark = reward_cfg.excess_reference == "benchmark"
        self.market = market
        self.split = split
        self.env_cfg = env_cfg
        self._layout = episode_layout(market, split, env_cfg)
        if not whole_block:
            self._layout.check_training(market.asset_class)
        # The decision rows of every whole-block episode, as `TradingEnv.decision_rows` in evaluation mode.
        self.decision_rows = np.arange(self._layout.first_row, self._layout.last_row + 1)
        self._ended = False
        self._arrays = prepare_arrays(market)
        self._costs = cost_model(env_cfg, market.bars_per_year)
        # 0-d arrays: numpy combines them with arrays faster than Python floats, with the same float64 result.
        self._max_leverage = np.array(float(env_cfg.max_leverage))
        # The largest position each (asset, row) allows: max_leverage where the asset trades, 0 where it does not,
        # so a step's targets are one gather and one product.
        self._position_limit = np.where(self._arrays.mask, self._max_leverage, 0.0)
        # None at the defaults, so that the default step skips the action design altogether (see TradingEnv).
        self._action_design = ActionDesign.of(env_cfg)
        self._initial_nav = np.array(float(env_cfg.initial_nav))
        self._window_size = env_cfg.window * self._arrays.n_features
        self._windows = self._arrays.windows(env_cfg.window)
        self._window_offset = np.array(env_cfg.window - 1)  # windows[index - offset] ends at the row of index
        observation_space, action_space = trading_spaces(env_cfg.window, self._arrays.n_features)
        self._obs_size = observation_space.shape[0]
        super().__init__(n_envs, observation_space, action_space)
        self._rng = np.random.default_rng(seed)
        self._asset = np.zeros(n_envs, dtype=np.int64)
        self._start_row = np.full(n_envs, self._layout.first_row, dtype=np.int64)
        self._end_row = np.full(n_envs, self._layout.first_row, dtype=np.int64)
        self._row = self._start_row.copy()
        self._index = self._row.copy()
        self._weight = np.zeros(n_envs)
        self._nav = np.full(n_envs, float(env_cfg.initial_nav))
        self._peak = self._nav.copy()
        self._drawdown = np.zeros(n_envs)
        self._actions = np.zeros(n_envs)
        self._start_episodes(np.ones(n_envs, dtype=bool))

    def get_state(self) -> dict[str, Any]:
        """Everything that changes while episodes run, as plain data: the episodes' places in the market and their
        books (copies of [K] arrays), whether whole-block episodes have ended, the actions of a pending
        `step_async`, the reward terms' running state, the generator that draws new episodes
        (`bit_generator.state`) and SB3's pending reset seeds and options. Market arrays and config are left out:
        they come from the constructor. Every leaf is a numpy array, int, float, bool, str or None, so the state
        can be stored as JSON plus arrays."""
        return {
            "episodes": {name.lstrip("_"): getattr(self, name).copy() for name in _EPISODE_ARRAYS},
            "ended": self._ended,
            "actions": self._actions.copy(),
            "reward": self._reward.get_state(),
            "rng": self._rng.bit_generator.state,
            "seeds": [None if seed is None else int(seed) for seed in self._seeds],
            "options": [dict(options) for options in self._options],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state()` of a TradingVecEnv with the same market, split, configs and `n_envs`."""
        episodes = state["episodes"]
        names = {name.lstrip("_") for name in _EPISODE_ARRAYS}
        if set(episodes) != names or np.shape(episodes["asset"]) != (self.num_envs,):
            raise ValueError(f"the state is not that of a TradingVecEnv with n_envs={self.num_envs}")
        for name in _EPISODE_ARRAYS:
            current = getattr(self, name)
            setattr(self, name, np.array(episodes[name.lstrip("_")], dtype=current.dtype))
        self._ended = bool(state["ended"])
        self._actions = np.array(state["actions"], dtype=np.float64)
        self._reward.set_state(state["reward"])
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
        self._seeds = list(state["seeds"])
        self._options = [dict(options) for options in state["options"]]

    def _start_episodes(self, which: np.ndarray, options: Sequence[dict[str, Any]] | None = None) -> None:
        """Start new episodes where `which` is True: pinned by `options[k]` (SB3's per-env reset options) or drawn."""
        if self.whole_block:
            if options is not None and any(options):
                raise EnvSetupError("a whole-block TradingVecEnv always runs every symbol over the whole block")
            self._asset[which] = np.flatnonzero(which)
            self._start_row[which] = self._layout.first_row
            self._end_row[which] = self._layout.last_row
        else:
            for k in np.flatnonzero(which).tolist():
                pinned = options[k] if options is not None else {}
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
        self._index[which] = self._asset[which] * self._arrays.n_days + self._start_row[which]
        self._weight[which] = 0.0
        self._nav[which] = self.env_cfg.initial_nav
        self._peak[which] = self.env_cfg.initial_nav
        self._drawdown[which] = 0.0
        self._reward.reset(which)

    def _observations(self, envs: np.ndarray | None = None) -> np.ndarray:
        """Observations of the episodes `envs` (an index array; None for all) at their current rows."""
        index, weight, drawdown, nav = self._index, self._weight, self._drawdown, self._nav
        if envs is not None:
            index, weight, drawdown, nav = index[envs], weight[envs], drawdown[envs], nav[envs]
        obs = np.empty((len(index), self._obs_size), dtype=np.float32)
        context = self._window_size
        obs[:, :context] = self._windows[index - self._window_offset]
        obs[:, context] = weight / self._max_leverage
        obs[:, context + 1] = drawdown
        obs[:, context + 2] = np.log(np.maximum(nav / self._initial_nav, _MIN_NAV_RATIO))
        obs[:, context + 3] = self._arrays.mask[index]
        return obs

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._start_episodes(np.ones(self.num_envs, dtype=bool), self._options)
        self._ended = False
        self.reset_infos = [{"row": int(row)} for row in self._row]
        self._reset_seeds()
        self._reset_options()
        return self._observations()

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs)
        if np.count_nonzero(np.isfinite(actions)) != self.num_envs:
            raise ValueError(f"actions {actions!r} are not all finite")
        # np.clip(actions, -1, 1) without its Python-level wrapper, which costs more than the clipping.
        self._actions = np.minimum(np.maximum(actions, _MINUS_ONE), _ONE)

    def step(self, actions: np.ndarray) -> StepBatch:  # type: ignore[override]  # infos: see `StepInfos`
        self.step_async(actions)
        return self.step_wait()

    def step_wait(self) -> StepBatch:  # type: ignore[override]  # infos: a lazy Sequence, see `StepInfos`
        if self._ended:
            raise RuntimeError("the whole-block episodes have ended; call reset() before step()")
        arrays = self._arrays
        index = self._index
        target = self._actions * self._position_limit[index]
        if self._action_design is not None:
            steps = self._row - self._start_row
            target = traded_weight(target, self._weight, arrays.mask[index], steps, self._action_design)
        next_index = index + _ONE_ROW
        next_cash = arrays.cash_return[next_index]
        next_returns = arrays.returns[next_index]
        net_return, turnover, cost, weight_after = step_single_asset_books(
            self._weight, target, next_returns, next_cash, self._costs
        )
        nav = self._nav * (_ONE + net_return)
        self._peak = np.maximum(self._peak, nav)
        self._drawdown = _ONE - nav / self._peak
        reference = next_returns if self._excess_over_benchmark else next_cash  # see TradingEnv
        rewards, contributions = self._reward(net_return, reference, turnover, self._drawdown)
        decision_rows = self._row
        # Fresh arrays, not updated in place: `_start_episodes` below edits these, and the infos keep the old ones
        # (`nav` too: the infos get a copy of it when some episode restarts).
        self._nav = nav
        self._weight = weight_after
        self._row = decision_rows + _ONE_ROW
        self._index = next_index
        terminated = nav <= _ZERO
        dones = terminated | (self._row > self._end_row)
        columns = {
            "row": decision_rows,
            "position": target,
            "net_return": net_return,
            "turnover": turnover,
            "cost": cost,
            "nav": nav,
            **contributions,
        }
        obs = self._observations()
        ended: dict[int, dict[str, Any]] = {}
        if self.whole_block:
            # No restart: the episodes end with the block (or the first wiped-out book ends them all).
            self._ended = bool(np.count_nonzero(dones))
        elif np.count_nonzero(dones):
            done_envs = np.flatnonzero(dones)
            columns["nav"] = nav.copy()
            for k in done_envs.tolist():
                ended[k] = {"terminal_observation": obs[k].copy(), "TimeLimit.truncated": not bool(terminated[k])}
            self._start_episodes(dones)
            obs[done_envs] = self._observations(done_envs)
        infos = StepInfos(columns, ended)
        return obs, rewards.astype(np.float32), dones, infos

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

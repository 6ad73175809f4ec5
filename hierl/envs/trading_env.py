"""A single-asset trading env: one episode trades one asset of a class, with the shared market accounting."""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np

from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.action_design import ActionDesign, traded_weight
from hierl.envs.episodes import (
    MIN_NAV_RATIO,
    EnvSetupError,
    cost_model,
    episode_layout,
    trading_spaces,
    validate_env_config,
)
from hierl.envs.market_core import step_single_asset
from hierl.envs.step_info import StepInfo
from hierl.rewards.composite import RewardFunction


class TradingEnv(gymnasium.Env):
    """Trade one asset of `market` inside the `split` block; the action is the target position.

    Observation (float32, length `window * F + 4`): the features of rows t - window + 1 .. t of the episode's
    asset, time-major (row by row, F features each), then the context
        [position / max_leverage, drawdown, log(nav / episode initial nav), tradable],
    where position is the weight held going into the decision (drifted since the last trade), drawdown is
    1 - nav / peak nav of the episode, and tradable is 1.0 when the asset has a price at t (else 0.0: the
    position is then forced to 0).

    Action: Box[-1, 1] of shape (1,); target position = clip(action) * max_leverage, in fractions of NAV.
    The action designs `env.no_trade_band`, `env.partial_adjustment` and `env.decision_interval` turn the target
    into the weight traded to (`action_design.traded_weight`); at their defaults that is the target itself.

    Step at decision row t: trade from the drifted weight to the target at the close of t (paying
    cost_bps + slippage_bps per unit traded and borrow on a short), earn `returns[t + 1]` on the position and
    the cash rate on the rest (see `market_core.step_single_asset`). `info` holds `row`, `position` (the weight
    traded to, held over the row), `net_return`, `turnover`, `cost`, `nav` and `reward/<term>` for each active
    reward term (contributions that add up to the reward); it is a `StepInfo`, a dict that SB3's `DummyVecEnv`
    deep-copies cheaply.

    Training mode (`symbol_index` None): each reset draws an asset with data in the block and a start row;
    `reset(options={"symbol_index": i, "start_row": t})` pins both. The episode is truncated after
    `episode_length` steps or at the end of the block, and terminated if the NAV reaches 0.
    Evaluation mode: the whole block for `symbol_index`, from the first row with a full window, with no
    randomness. `decision_rows` lists the rows of the current episode's decisions, in order.

    Observations are rows of one matrix per episode, prepared at reset (see `_start_episode`); each is written
    once before it is returned and never changed afterwards.

    `get_state` / `set_state` save and restore the running episode, the reward terms and the generator as plain
    data. `TradingVecEnv` steps K of these episodes in one numpy call with the same numbers; this per-step form
    stays because a one-episode numpy step costs about 11 times as much as this one (see `benchmarks/bench_envs.py`).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium reads it from the class)

    def __init__(
        self,
        market: MarketData,
        split: str,
        env_cfg: EnvConfig,
        reward_cfg: RewardConfig,
        *,
        symbol_index: int | None = None,
        seed: int | None = None,
    ) -> None:
        validate_env_config(env_cfg)
        self._reward = RewardFunction(reward_cfg)
        self._excess_over_benchmark = reward_cfg.excess_reference == "benchmark"
        self.market = market
        self.split = split
        self.env_cfg = env_cfg
        self.symbol_index = symbol_index
        self._layout = episode_layout(market, split, env_cfg)
        if symbol_index is not None:
            self._layout.check_start(symbol_index, self._layout.first_row, market.n_assets)
        else:
            self._layout.check_training(market.asset_class)
        self._n_features = market.n_features
        costs = cost_model(env_cfg, market.bars_per_year)
        self._trade_rate = costs.trade_rate
        self._borrow_rate = costs.borrow_rate_per_bar
        self._max_leverage = float(env_cfg.max_leverage)
        # None at the defaults, so that the default step skips the action design altogether.
        self._action_design = ActionDesign.of(env_cfg)
        self._initial_nav = env_cfg.initial_nav
        self._window = env_cfg.window
        self._window_size = env_cfg.window * self._n_features
        self.observation_space, self.action_space = trading_spaces(env_cfg.window, self._n_features)
        self._obs_size = self.observation_space.shape[0]
        super().reset(seed=seed)
        self.decision_rows = np.arange(self._layout.first_row, self._layout.last_row + 1)
        self._start_episode(symbol_index or 0, self._layout.first_row, self._layout.last_row)

    @property
    def current_symbol_index(self) -> int:
        """Index (into `market.symbols`) of the asset traded in the current episode."""
        return self._asset

    def _start_episode(self, asset: int, start_row: int, end_row: int) -> None:
        # Everything that does not depend on the actions is prepared here, once per episode, so that a step only
        # does the accounting, the reward and three context values. `_observations[k]` is the observation at
        # decision row start_row + k: its feature window and tradable flag are filled now, its position,
        # drawdown and NAV change by the step that reaches it (row 0's are those of a fresh book, all 0). Each row
        # is written once and returned once (a new matrix per episode), so a returned observation never changes
        # afterwards. The returns, cash and mask of the episode are Python lists, whose items make float
        # arithmetic several times faster than numpy scalars do.
        self._asset = asset
        self._end_row = end_row
        self._row = start_row
        self._k = 0
        n_observations = end_row - start_row + 2
        first_window_row = start_row - self._window + 1
        features = np.ascontiguousarray(
            self.market.features[first_window_row : end_row + 2, asset], dtype=np.float32
        ).reshape(-1)
        # windows[k] = features[k * F : k * F + window * F]: overlapping rows of one buffer, not copies.
        item = features.itemsize
        windows = np.lib.stride_tricks.as_strided(
            features,
            shape=(n_observations, self._window_size),
            strides=(self._n_features * item, item),
            writeable=False,
        )
        observations = np.empty((n_observations, self._obs_size), dtype=np.float32)
        observations[:, : self._window_size] = windows
        mask = self.market.mask[start_row : end_row + 2, asset]
        # A fresh book: flat (position 0), no drawdown, NAV at its initial value (log NAV change 0).
        observations[0, self._window_size : self._window_size + 3] = 0.0
        observations[:, self._window_size + 3] = mask
        self._observations = observations
        self._returns = self.market.returns[start_row : end_row + 2, asset].tolist()
        self._cash = self.market.cash_return[start_row : end_row + 2].tolist()
        # The return the reward's excess is measured against: cash, or holding the traded asset (the benchmark).
        self._reference = self._returns if self._excess_over_benchmark else self._cash
        self._mask = mask.tolist()
        self._done = False
        self._weight = 0.0
        self._nav = float(self.env_cfg.initial_nav)
        self._peak = self._nav
        self._reward.reset()

    def get_state(self) -> dict[str, Any]:
        """The running episode and the generator, as plain data (ints, floats, bools, nested dicts and lists).

        {"episode": {asset, start_row, end_row, step, done, weight, nav, peak}, "reward": per-term state,
        "rng": `np_random.bit_generator.state`, "rng_seed": gymnasium's seed}. Market arrays, config and the
        prepared observations are left out: `set_state` rebuilds them from the constructor's arguments.
        """
        return {
            "episode": {
                "asset": int(self._asset),
                "start_row": int(self._row - self._k),
                "end_row": int(self._end_row),
                "step": int(self._k),
                "done": bool(self._done),
                "weight": float(self._weight),
                "nav": float(self._nav),
                "peak": float(self._peak),
            },
            "reward": self._reward.get_state(),
            "rng": self.np_random.bit_generator.state,
            "rng_seed": self._np_random_seed,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state()` of a TradingEnv built with the same market, split, configs and mode: the next
        `step` returns what it would have returned after that `get_state`."""
        episode = state["episode"]
        asset, start_row, end_row = int(episode["asset"]), int(episode["start_row"]), int(episode["end_row"])
        self._layout.check_start(asset, start_row, self.market.n_assets)
        self.decision_rows = np.arange(start_row, end_row + 1)
        self._start_episode(asset, start_row, end_row)
        k = int(episode["step"])
        self._k = k
        self._row = start_row + k
        self._done = bool(episode["done"])
        self._weight = float(episode["weight"])
        self._nav = float(episode["nav"])
        self._peak = float(episode["peak"])
        self._reward.set_state(state["reward"])
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self._np_random = rng
        self._np_random_seed = state["rng_seed"]
        if k > 0:
            # The context `step` wrote into the observation it returned last, with the same arithmetic.
            self._write_context(k, self._weight, 1.0 - self._nav / self._peak, self._nav)

    def _write_context(self, k: int, weight: float, drawdown: float, nav: float) -> np.ndarray:
        """Observation k with the book's context (position, drawdown, log NAV change) written in."""
        obs = self._observations[k]
        context = self._window_size
        ratio = nav / self._initial_nav
        obs[context] = weight / self._max_leverage
        obs[context + 1] = drawdown
        obs[context + 2] = math.log(ratio if ratio > MIN_NAV_RATIO else MIN_NAV_RATIO)
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if self.symbol_index is not None:
            if options:
                raise EnvSetupError("an evaluation-mode TradingEnv always runs the whole block; drop `options`")
            self._start_episode(self.symbol_index, self._layout.first_row, self._layout.last_row)
            return self._observations[0], {"row": self._row}
        if options and ("symbol_index" in options or "start_row" in options):
            asset = int(options.get("symbol_index", 0))
            start_row = int(options.get("start_row", self._layout.first_row))
            self._layout.check_start(asset, start_row, self.market.n_assets)
        else:
            asset, start_row = self._layout.sample(self.np_random)
        end_row = self._layout.end_row(start_row)
        self.decision_rows = np.arange(start_row, end_row + 1)
        self._start_episode(asset, start_row, end_row)
        return self._observations[0], {"row": self._row}

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
        if self._action_design is not None:
            target = traded_weight(target, self._weight, self._mask[k], k, self._action_design)
        k += 1
        next_cash = self._cash[k]
        net_return, turnover, cost, weight_after = step_single_asset(
            self._weight, target, self._returns[k], next_cash, self._trade_rate, self._borrow_rate
        )
        nav = self._nav * (1.0 + net_return)
        if nav > self._peak:
            self._peak = nav
        drawdown = 1.0 - nav / self._peak
        row = self._row
        # Filled item by item: on an empty dict subclass that is faster than passing the items to its constructor.
        info = StepInfo()
        info["row"] = row
        info["position"] = target
        info["net_return"] = net_return
        info["turnover"] = turnover
        info["cost"] = cost
        info["nav"] = nav
        reward = self._reward(net_return, self._reference[k], turnover, drawdown, info)
        self._nav = nav
        self._weight = weight_after
        self._row = row + 1
        self._k = k
        terminated = nav <= 0.0
        truncated = not terminated and row >= self._end_row
        self._done = terminated or truncated
        # The context of the next observation: the book after this step.
        obs = self._write_context(k, weight_after, drawdown, nav)
        return obs, reward, terminated, truncated, info

"""The meta-controller's env: allocate NAV across asset-class sleeves under hard allocation limits."""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np

from hierl.config.env import RewardConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.envs.market_core import hold_closed
from hierl.envs.projection import AllocationLimits, project_allocation
from hierl.envs.sleeves import SleeveUniverse, covariance_snapshot, step_hierarchy
from hierl.envs.step_info import StepInfo
from hierl.errors import ConfigError, EnvSetupError
from hierl.rewards.composite import RewardFunction

REWARD_LIMIT_KEY = "reward/allocation_limit"


def allocation_limits(cfg: PortfolioEnvConfig, n_sleeves: int) -> AllocationLimits:
    return AllocationLimits(
        n_sleeves=n_sleeves,
        min_weight=cfg.min_sleeve_weight,
        max_weight=cfg.max_sleeve_weight,
        max_leverage=cfg.max_leverage,
        turnover_budget=cfg.turnover_budget,
    )


def validate_portfolio_config(cfg: PortfolioEnvConfig) -> None:
    """One clear error per bad value, before any array is prepared."""
    # A rolling volatility or covariance needs 2 returns; an episode needs 1 step.
    for name, minimum in (("window", 2), ("cov_window", 2), ("episode_length", 1)):
        value = getattr(cfg, name)
        if value < minimum:
            raise ConfigError(f"env.{name}={value} is too small (window sizes >= 2, episodes >= 1)")
    if not (math.isfinite(cfg.limit_penalty) and cfg.limit_penalty >= 0.0):
        raise ConfigError(f"env.limit_penalty={cfg.limit_penalty} must be a finite number >= 0")
    if not (math.isfinite(cfg.initial_nav) and cfg.initial_nav > 0.0):
        raise ConfigError(f"env.initial_nav={cfg.initial_nav} must be a finite number > 0")


def request_from_action(action: np.ndarray, max_leverage: float) -> np.ndarray:
    """Requested sleeve weights: a in [-1, 1]^(C + 1) -> shares (a + 1) / 2 of sleeves and cash, times the cap.

    The last entry is cash, so the request's sum never exceeds `max_leverage`; an all -1 action asks for cash.
    """
    shares = (np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0
    total = float(shares.sum())
    if total <= 0.0:
        return np.zeros(len(shares) - 1)
    return np.asarray(max_leverage * shares[:-1] / total)


class PortfolioEnv(gymnasium.Env):
    """Choose sleeve weights on each aligned decision row of a split; sleeves follow their PPO signals.

    Observation (float32), built only from data up to the decision row:
      per sleeve: mean signal, signal dispersion (std over symbols), implied net position (sum of positions);
      regime indicators (`universe.regime_names`);
      upper triangle of the annualised Ledoit-Wolf covariance of the last `cov_window` realised sleeve returns;
      previous decision's sleeve weights (the turnover budget's anchor), drawdown, annualised realised volatility
      of the episode's last `window` returns, and the fraction of the turnover budget the last step used.
    Annualised with the decision calendar's bars a year (`universe.bars_per_year`); windows count its bars.

    Action: Box[-1, 1]^(C + 1), sleeves then cash, mapped by `request_from_action` and projected onto the limits
    by `project_allocation`; the weights that trade always meet them. The L1 distance between request and
    projection is the violation, penalised with `env.limit_penalty` (times `reward.scale`). The controller
    decides on every bar of the decision calendar; a class without a bar there holds its assets' drifted weights
    (no trade, no cost; `market_core.hold_closed`), so its part of the decision takes effect at its next bar.

    Reward: `RewardFunction(reward)` of the step's net return (costs of every class included), turnover and
    drawdown (the `reward` group weights return, CVaR, drawdown, ...), minus the limit penalty. Episodes start
    from cash with the anchor at `AllocationLimits.initial_weights`. Training mode draws a start row and runs
    `episode_length` steps; evaluation mode (`evaluation=True`) runs the whole split once.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium reads it from the class)

    def __init__(
        self,
        universe: SleeveUniverse,
        split: str,
        env_cfg: PortfolioEnvConfig,
        reward_cfg: RewardConfig,
        *,
        evaluation: bool = False,
        seed: int | None = None,
    ) -> None:
        validate_portfolio_config(env_cfg)
        if split not in universe.decision_rows:
            raise EnvSetupError(f"unknown split {split!r}; expected one of {sorted(universe.decision_rows)}")
        self.universe = universe
        self.split = split
        self.env_cfg = env_cfg
        self.evaluation = evaluation
        self.limits = allocation_limits(env_cfg, universe.n_sleeves)
        self._reward = RewardFunction(reward_cfg)
        # The return the reward's excess is measured against, by row: cash, or the sleeves held at equal weight (each
        # sleeve's own return, realised at the row after its decision).
        self._reference = (
            universe.sleeve_returns.mean(axis=1) if reward_cfg.excess_reference == "benchmark" else universe.cash_return
        )
        self._penalty = reward_cfg.scale * env_cfg.limit_penalty
        self._rows = universe.decision_rows[split]
        # Where each asset's class has a bar, and the rows on which some class lacks one at the decision or at the
        # end of the row: only those rows hold (the others step exactly as on one calendar).
        self._asset_bars = universe.has_bar[:, universe.sleeve_of_asset]
        self._holds = np.asarray(~(self._asset_bars[:-1].all(axis=1) & self._asset_bars[1:].all(axis=1)))
        self._market_obs = self._market_observations(self._rows)
        n = universe.n_sleeves
        self._obs_size = self._market_obs.shape[1] + n + 3
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, shape=(self._obs_size,), dtype=np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(n + 1,), dtype=np.float32)
        super().reset(seed=seed)
        self._start_episode(0, len(self._rows) - 1)

    def _market_observations(self, rows: np.ndarray) -> np.ndarray:
        """Everything of the observation that does not depend on the book, once per env (numpy rows)."""
        universe = self.universe
        upper = np.triu_indices(universe.n_sleeves)
        parts = []
        for c in range(universe.n_sleeves):
            columns = universe.sleeve_of_asset == c
            signals = np.nan_to_num(universe.signals[rows][:, columns])
            parts.append(
                np.stack(
                    [signals.mean(axis=1), signals.std(axis=1), universe.positions[rows][:, columns].sum(axis=1)],
                    axis=1,
                )
            )
        parts.append(universe.regime[rows])
        covariances = [covariance_snapshot(universe, int(row), self.env_cfg.cov_window)[upper] for row in rows]
        parts.append(np.asarray(covariances) * universe.bars_per_year)
        return np.concatenate(parts, axis=1).astype(np.float32)

    @property
    def decision_rows(self) -> np.ndarray:
        """Aligned rows of the current episode's decisions, in order."""
        return self._rows[self._first : self._last + 1]

    def _start_episode(self, first: int, last: int) -> None:
        self._first, self._last, self._step = first, last, first
        self._anchor = self.limits.initial_weights()
        self._holdings = np.zeros(len(self.universe.symbols))
        self._nav = float(self.env_cfg.initial_nav)
        self._peak = self._nav
        self._drawdown = 0.0
        self._recent: list[float] = []
        self._budget_used = 0.0
        self._done = False
        self._reward.reset()

    def get_state(self) -> dict[str, Any]:
        """The running episode and the generator, as plain data; everything else comes from the constructor.

        {"episode": {first, last, step (ints), done (bool), anchor, holdings (float64 arrays [C], [N]), nav, peak,
        drawdown, budget_used (floats), recent (list of floats)}, "reward": per-term state (lists, floats, ints),
        "rng": `np_random.bit_generator.state`, "rng_seed": gymnasium's seed (int or None)}.
        """
        return {
            "episode": {
                "first": int(self._first),
                "last": int(self._last),
                "step": int(self._step),
                "done": bool(self._done),
                "anchor": np.array(self._anchor, dtype=np.float64),
                "holdings": np.array(self._holdings, dtype=np.float64),
                "nav": float(self._nav),
                "peak": float(self._peak),
                "drawdown": float(self._drawdown),
                "budget_used": float(self._budget_used),
                "recent": [float(value) for value in self._recent],
            },
            "reward": self._reward.get_state(),
            "rng": self.np_random.bit_generator.state,
            "rng_seed": self._np_random_seed,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state()` of a PortfolioEnv built from the same universe, split and configs: the next
        `step` returns what it would have returned after that `get_state`."""
        episode = state["episode"]
        anchor = np.array(episode["anchor"], dtype=np.float64)
        holdings = np.array(episode["holdings"], dtype=np.float64)
        if anchor.shape != (self.universe.n_sleeves,) or holdings.shape != (len(self.universe.symbols),):
            raise ValueError(
                f"the state holds {anchor.shape} sleeve and {holdings.shape} asset weights; this env has "
                f"{self.universe.n_sleeves} sleeves and {len(self.universe.symbols)} assets"
            )
        self._first, self._last, self._step = int(episode["first"]), int(episode["last"]), int(episode["step"])
        self._done = bool(episode["done"])
        self._anchor = anchor
        self._holdings = holdings
        self._nav = float(episode["nav"])
        self._peak = float(episode["peak"])
        self._drawdown = float(episode["drawdown"])
        self._budget_used = float(episode["budget_used"])
        self._recent = [float(value) for value in episode["recent"]]
        self._reward.set_state(state["reward"])
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self._np_random = rng
        self._np_random_seed = state["rng_seed"]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if self.evaluation:
            self._start_episode(0, len(self._rows) - 1)
        else:
            latest = max(0, len(self._rows) - self.env_cfg.episode_length)
            first = int(self.np_random.integers(0, latest + 1))
            self._start_episode(first, min(first + self.env_cfg.episode_length, len(self._rows)) - 1)
        return self._observation(), {"row": int(self._rows[self._step])}

    def _observation(self) -> np.ndarray:
        recent = self._recent[-self.env_cfg.window :]
        volatility = float(np.std(recent)) * math.sqrt(self.universe.bars_per_year) if len(recent) >= 2 else 0.0
        book = np.concatenate((self._anchor, (self._drawdown, volatility, self._budget_used)))
        return np.concatenate((self._market_obs[self._step], book.astype(np.float32)))

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode has ended; call reset() before step()")
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape or not np.all(np.isfinite(action)):
            raise ValueError(f"action {action!r} must be finite with shape {self.action_space.shape}")
        universe = self.universe
        row = int(self._rows[self._step])
        request = request_from_action(action, self.limits.max_leverage)
        weights = project_allocation(request, self._anchor, self.limits)
        violation = float(np.abs(request - weights).sum())
        moved = float(np.abs(weights - self._anchor).sum())
        self._budget_used = moved / self.limits.turnover_budget if self.limits.turnover_budget > 0.0 else 0.0
        target = weights[universe.sleeve_of_asset] * universe.positions[row]
        costs = universe.costs
        if self._holds[row]:
            bars = self._asset_bars
            target, costs = hold_closed(target, self._holdings, bars[row], bars[row + 1], costs)
        cash = float(universe.cash_return[row + 1])
        result = step_hierarchy(
            self._holdings,
            target,
            universe.asset_returns[row + 1],
            cash,
            costs,
            universe.sleeve_of_asset,
            universe.n_sleeves,
        )
        nav = self._nav * (1.0 + result.net_return)
        self._peak = max(self._peak, nav)
        self._drawdown = 1.0 - nav / self._peak if self._peak > 0.0 else 1.0
        info = StepInfo(
            row=row,
            sleeve_weights=weights,
            request=request,
            violation=violation,
            net_return=result.net_return,
            turnover=result.turnover,
            cost=result.cost,
            nav=nav,
            contributions=result.contributions,
        )
        reference = float(self._reference[row + 1])
        reward = self._reward(result.net_return, reference, result.turnover, self._drawdown, info)
        info[REWARD_LIMIT_KEY] = -self._penalty * violation
        reward += info[REWARD_LIMIT_KEY]
        self._nav = nav
        self._holdings = result.weights_after
        self._anchor = weights
        self._recent.append(result.net_return)
        self._step += 1
        terminated = nav <= 0.0
        truncated = not terminated and self._step > self._last
        self._done = terminated or truncated
        if self._done:
            self._step = self._last  # the final observation repeats the last row; it is never acted on
        return self._observation(), float(reward), terminated, truncated, info

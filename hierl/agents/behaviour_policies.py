"""Behaviour policies that collect the offline dataset.

TradingEnv (one asset class, warm-starts PPO): simple trading rules, random actions, or a trained PPO. A policy
decides at the close of row t from what is known then: the env's observation and the traded asset's returns up to
row t (`past_returns[-1]` is the return from t - 1 to t).

PortfolioEnv (the sleeves, warm-starts the SAC meta-controller): the walk-forward allocators of
`hierl.evaluation.hierarchy_baselines` (equal weight, inverse volatility, HRP, min CVaR: refitted on the first
decision row of each month on the sleeve returns realised up to it), and uniform random actions. An allocator's
weights are turned into the raw action that requests them (`replay_prefill.action_for_weights`, the inverse of
the env's action map), so the env projects them onto its limits exactly as it does every SAC action.

No policy sees a later row, which keeps the dataset causal like everything else in hierl.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from hierl.config.cql import ALLOCATION_POLICIES, BEHAVIOUR_POLICIES
from hierl.errors import UserError
from hierl.run.folder import BEST_MODEL_FILE
from hierl.tracking.run_state import read_state

if TYPE_CHECKING:
    from hierl.envs.projection import AllocationLimits
    from hierl.envs.sleeves import SleeveUniverse

PPO_BEST_MODEL_FILE = BEST_MODEL_FILE


class BehaviourPolicy(Protocol):
    """One action in [-1, 1] (target position / max_leverage) for one decision."""

    @property
    def name(self) -> str: ...

    @property
    def deterministic(self) -> bool:
        """False when the policy draws its own random actions (it then gets no extra noise)."""
        ...

    def act(self, observation: np.ndarray, past_returns: np.ndarray, rng: np.random.Generator) -> float: ...


def trailing_log_return(past_returns: np.ndarray, lookback: int) -> float:
    """Log return over the last `lookback` rows (fewer at the start of the history)."""
    window = past_returns[-lookback:]
    return float(np.log1p(window).sum()) if len(window) else 0.0


@dataclass(frozen=True)
class BuyAndHold:
    """Always fully long: the passive benchmark most trading data looks like."""

    name: str = "buy_and_hold"
    deterministic: bool = True

    def act(self, observation: np.ndarray, past_returns: np.ndarray, rng: np.random.Generator) -> float:
        return 1.0


@dataclass(frozen=True)
class TrailingReturnSign:
    """The sign of the trailing `lookback`-row return, followed or faded: `momentum` (direction +1) is long after a
    rise and short after a fall; `mean_reversion` (direction -1) does the opposite."""

    name: str
    lookback: int
    direction: float
    deterministic: bool = True

    def act(self, observation: np.ndarray, past_returns: np.ndarray, rng: np.random.Generator) -> float:
        return self.direction * float(np.sign(trailing_log_return(past_returns, self.lookback)))


@dataclass(frozen=True)
class UniformRandom:
    """Uniform actions: coverage of the whole action range, so CQL sees what every position earns."""

    name: str = "random"
    deterministic: bool = False

    def act(self, observation: np.ndarray, past_returns: np.ndarray, rng: np.random.Generator) -> float:
        return float(rng.uniform(-1.0, 1.0))


@dataclass(frozen=True)
class PredictorPolicy:
    """A trained policy's deterministic action (a batch-of-one call of its predict function)."""

    predict: Callable[[np.ndarray], np.ndarray]
    name: str = "ppo"
    deterministic: bool = True

    def act(self, observation: np.ndarray, past_returns: np.ndarray, rng: np.random.Generator) -> float:
        return float(np.asarray(self.predict(observation[None, :])).reshape(-1)[0])


def load_ppo_behaviour(run_dir: Path, observation_shape: tuple[int, ...]) -> PredictorPolicy:
    """The best model of a finished PPO run as a behaviour policy; checked before any episode is collected."""
    from stable_baselines3 import PPO

    from hierl.agents.model_files import load_model
    from hierl.agents.observation_scaling import read_scaling
    from hierl.agents.rollout import predictor

    model_path = run_dir / PPO_BEST_MODEL_FILE
    if not run_dir.is_dir():
        raise UserError(
            f"agent.behaviour_ppo_run={run_dir} is not a folder; pass the run folder of a finished "
            "`python -m hierl.train agent=ppo` run, or set agent.behaviour_ppo_run=null"
        )
    if not model_path.is_file():
        raise UserError(
            f"agent.behaviour_ppo_run={run_dir} has no {PPO_BEST_MODEL_FILE}; pass the folder of a finished PPO run"
        )
    status = read_state(run_dir).get("status")
    if status != "finished":
        raise UserError(
            f"agent.behaviour_ppo_run={run_dir} is not a finished run (run_state.json status: {status}); "
            "pass the folder of a finished PPO run"
        )
    model = load_model(PPO, model_path)
    shape = tuple(model.observation_space.shape or ())
    if shape != tuple(observation_shape):
        raise UserError(
            f"the PPO model in {run_dir} takes observations of shape {shape}, but this run's TradingEnv makes "
            f"{tuple(observation_shape)}; use the same env.window, data features and asset class as that run"
        )
    # The PPO run's own observation scaling (if it used agent.normalize_observations), so it acts as it did there.
    return PredictorPolicy(predictor(model, read_scaling(model_path)))


def make_behaviour_policies(
    shares: dict[str, float], momentum_lookback: int, reversion_lookback: int, ppo: PredictorPolicy | None
) -> dict[str, BehaviourPolicy]:
    """The policies named in `shares` (as returned by `check_mix`)."""
    if momentum_lookback < 1 or reversion_lookback < 1:
        raise UserError(
            f"agent.momentum_lookback={momentum_lookback} and agent.reversion_lookback={reversion_lookback} "
            "must be at least 1 row"
        )
    policies: dict[str, BehaviourPolicy] = {}
    for name in shares:
        if name == "buy_and_hold":
            policies[name] = BuyAndHold()
        elif name == "momentum":
            policies[name] = TrailingReturnSign(name, momentum_lookback, direction=1.0)
        elif name == "mean_reversion":
            policies[name] = TrailingReturnSign(name, reversion_lookback, direction=-1.0)
        elif name == "random":
            policies[name] = UniformRandom()
        elif name == "ppo" and ppo is not None:
            policies[name] = ppo
        else:
            raise UserError(f"behaviour policy {name!r} cannot be built; check agent.behaviour_mix")
    return policies


def check_mix(mix: dict[str, float], ppo_run: str | None) -> dict[str, float]:
    """The mix normalised to shares summing to 1; one UserError for anything that cannot be collected."""
    unknown = sorted(set(mix) - set(BEHAVIOUR_POLICIES))
    if unknown:
        raise UserError(
            f"agent.behaviour_mix has unknown policies {unknown}; use names from {list(BEHAVIOUR_POLICIES)}"
        )
    bad = {name: share for name, share in mix.items() if not (math.isfinite(share) and share >= 0.0)}
    if bad:
        raise UserError(f"agent.behaviour_mix shares must be finite numbers >= 0, got {bad}")
    total = sum(mix.values())
    if total <= 0.0:
        raise UserError("agent.behaviour_mix gives every policy a share of 0; give at least one a positive share")
    if mix.get("ppo", 0.0) > 0.0 and ppo_run is None:
        raise UserError("agent.behaviour_mix.ppo > 0 needs agent.behaviour_ppo_run=<a finished PPO run folder>")
    if ppo_run is not None and mix.get("ppo", 0.0) <= 0.0:
        raise UserError(
            f"agent.behaviour_ppo_run={ppo_run} would be ignored: give it a share with agent.behaviour_mix.ppo=0.25"
        )
    return {name: share / total for name, share in mix.items() if share > 0.0}


# --- PortfolioEnv: allocation policies over the sleeves. ---


class AllocationPolicy(Protocol):
    """One raw PortfolioEnv action in [-1, 1]^(C + 1) (sleeves, then cash) for one decision row."""

    @property
    def name(self) -> str: ...

    @property
    def deterministic(self) -> bool:
        """False when the policy draws its own random actions (it then gets no extra noise)."""
        ...

    def act(self, observation: np.ndarray, row: int, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class HeldAllocation:
    """A walk-forward allocator's target on each decision row of a split, as the raw actions that request it.

    `actions[k]` is for `rows[k]`; the allocator was fitted on the first decision row of that month, on sleeve
    returns realised up to it (`hierarchy_baselines.hierarchy_baseline_weights`), so the action at row t uses no
    later row.
    """

    name: str
    rows: np.ndarray
    actions: np.ndarray
    deterministic: bool = True

    def act(self, observation: np.ndarray, row: int, rng: np.random.Generator) -> np.ndarray:
        k = int(np.searchsorted(self.rows, row))
        if k >= len(self.rows) or self.rows[k] != row:
            raise ValueError(f"{self.name} holds no weights for row {row}: it was built on other decision rows")
        return np.array(self.actions[k], dtype=np.float64)


@dataclass(frozen=True)
class RandomAllocation:
    """Uniform raw actions: coverage of the whole action box, so CQL sees what every allocation earns."""

    n_actions: int
    name: str = "random"
    deterministic: bool = False

    def act(self, observation: np.ndarray, row: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=self.n_actions)


def check_allocation_mix(mix: dict[str, float], ppo_run: str | None) -> dict[str, float]:
    """The env=portfolio shares of `agent.behaviour_mix`, normalised to sum to 1; one UserError for anything that
    cannot be collected.

    Only allocation policies count on env=portfolio: the trading rules the default mix lists (buy_and_hold,
    momentum, mean_reversion, ppo) play TradingEnv episodes. A mix that names no allocator but `random` (the
    default) means every allocation policy in equal shares; naming one (`+agent.behaviour_mix.hrp=0.5`) uses the
    allocators' entries as given, `random` included.
    """
    if ppo_run is not None:
        raise UserError(
            f"agent.behaviour_ppo_run={ppo_run} plays TradingEnv episodes; env=portfolio collects allocation "
            "policies only: set agent.behaviour_ppo_run=null"
        )
    unknown = sorted(set(mix) - set(BEHAVIOUR_POLICIES) - set(ALLOCATION_POLICIES))
    if unknown:
        raise UserError(
            f"agent.behaviour_mix has unknown policies {unknown}; on env=portfolio use names from "
            f"{list(ALLOCATION_POLICIES)}"
        )
    named = {name: share for name, share in mix.items() if name in ALLOCATION_POLICIES}
    if all(name == "random" for name in named):
        named = dict.fromkeys(ALLOCATION_POLICIES, 1.0)
    bad = {name: share for name, share in named.items() if not (math.isfinite(share) and share >= 0.0)}
    if bad:
        raise UserError(f"agent.behaviour_mix shares must be finite numbers >= 0, got {bad}")
    total = sum(named.values())
    if total <= 0.0:
        raise UserError(
            f"agent.behaviour_mix gives every allocation policy a share of 0 ({named}); give at least one of "
            f"{list(ALLOCATION_POLICIES)} a positive share"
        )
    return {name: share / total for name, share in named.items() if share > 0.0}


def make_allocation_policies(
    shares: dict[str, float], universe: SleeveUniverse, limits: AllocationLimits, split: str
) -> dict[str, AllocationPolicy]:
    """The policies named in `shares` (as returned by `check_allocation_mix`) on the decision rows of `split`.

    The allocators' weights are those of the hierarchy's baselines on the same sleeves and limits (one owner:
    `hierarchy_baseline_weights`), computed once for the whole split.
    """
    # skfolio (and CVXPY behind min CVaR) and SB3 only when a run collects portfolio episodes.
    from hierl.agents.replay_prefill import action_for_weights
    from hierl.evaluation.hierarchy_baselines import hierarchy_baseline_weights

    fitted = {name for name in shares if name != "random"}
    weights = hierarchy_baseline_weights(universe, split, limits) if fitted else {}
    rows = universe.decision_rows[split]
    policies: dict[str, AllocationPolicy] = {}
    for name in shares:
        if name == "random":
            policies[name] = RandomAllocation(universe.n_sleeves + 1)
        elif name in weights:
            actions = np.stack([action_for_weights(w, limits.max_leverage) for w in weights[name]])
            policies[name] = HeldAllocation(name, rows, actions)
        else:
            raise UserError(f"allocation policy {name!r} cannot be built; check agent.behaviour_mix")
    return policies

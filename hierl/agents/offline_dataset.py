"""The offline dataset CQL learns from: training-block episodes of the online env under behaviour policies.

Transitions come from stepping the env itself (`TradingEnv` for one asset class, `PortfolioEnv` for the
meta-controller), so observations, rewards, costs and the reward terms are exactly those an online agent meets.
Each episode is played by one behaviour policy; the mix decides how many episodes each gets (largest-remainder
rounding, so the shares are as close to the mix as whole episodes allow). Both envs share the episode loop
(`play_episodes`) and the d3rlpy view of the result (`Transitions.to_mdp_dataset`); each adds only its own
accounting columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from hierl.agents.behaviour_policies import AllocationPolicy, BehaviourPolicy
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.data.market import MarketData
from hierl.envs.portfolio_env import PortfolioEnv
from hierl.envs.sleeves import SleeveUniverse
from hierl.envs.trading_env import TradingEnv
from hierl.errors import UserError
from hierl.tracking.files import write_atomic, write_parquet

if TYPE_CHECKING:
    from d3rlpy.dataset import MDPDataset

DATASET_SPLIT = "train"
DATASET_FILE = "offline_dataset.h5"
DATASET_TABLE_FILE = "offline_dataset.parquet"

Choose = Callable[[str, np.ndarray, int, np.random.Generator], np.ndarray]
"""(policy name, observation, decision row, the episode's generator) -> the action handed to the env (float32)."""
Describe = Callable[[Mapping[str, Any]], tuple[Any, ...]]
"""A step's info -> the env-specific accounting kept for that transition."""


@dataclass(frozen=True)
class OfflineDatasetSpec:
    """How much to collect and how: `transitions` (rounded up to whole episodes), the normalised policy shares,
    and the std of the Gaussian noise added to deterministic policies' actions."""

    transitions: int
    shares: dict[str, float]
    noise: float
    seed: int


@dataclass(frozen=True)
class Transitions:
    """N transitions of E episodes, in collection order: what every env's dataset holds.

    Attributes:
        observations: float32 [N, D], the observation each action was chosen on.
        actions: float32 [N, A], the action given to the env, clipped to [-1, 1].
        rewards: float32 [N], the env's reward.
        terminals / timeouts: bool [N], the env ended the episode at this step (NAV wiped out / time limit).
        episode, step, row, policy_index: int64 [N], where each transition comes from (`row`: the decision row).
        net_return, cost: float64 [N], the env's accounting of the step.
        final_observations: float32 [E, D], the observation after each episode's last step (its bootstrap state).
        policy_names: names indexed by `policy_index`.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    row: np.ndarray
    policy_index: np.ndarray
    net_return: np.ndarray
    cost: np.ndarray
    final_observations: np.ndarray
    policy_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def n_episodes(self) -> int:
        return len(self.final_observations)

    def policy_shares(self) -> dict[str, float]:
        """Fraction of transitions collected by each policy."""
        counts = np.bincount(self.policy_index, minlength=len(self.policy_names))
        return {name: float(counts[i]) / len(self) for i, name in enumerate(self.policy_names)}

    def to_mdp_dataset(self) -> MDPDataset:
        """The d3rlpy `MDPDataset` of these transitions.

        d3rlpy takes the next observation from the following row and drops the last row of a time-limited
        episode, so the observation after such an episode's last step is appended as one extra row (action 0,
        reward 0) flagged as the timeout: every collected transition stays in the dataset and bootstraps from
        the state the env really reached.
        """
        from d3rlpy.constants import ActionSpace
        from d3rlpy.dataset import MDPDataset

        ends = np.flatnonzero(self.terminals | self.timeouts)
        truncated = ends[self.timeouts[ends]]
        at = truncated + 1
        observations = np.insert(self.observations, at, self.final_observations[self.episode[truncated]], axis=0)
        actions = np.insert(self.actions, at, 0.0, axis=0)
        rewards = np.insert(self.rewards, at, 0.0)
        terminals = np.insert(self.terminals.astype(np.float32), at, 0.0)
        timeouts = np.insert(np.zeros(len(self), dtype=np.float32), at, 1.0)
        return MDPDataset(
            observations=observations,
            actions=actions,
            rewards=rewards,
            terminals=terminals,
            timeouts=timeouts,
            action_space=ActionSpace.CONTINUOUS,
            action_size=actions.shape[1],
        )

    def _core(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(Transitions)}


@dataclass(frozen=True)
class OfflineDataset(Transitions):
    """TradingEnv transitions: one asset per episode (`symbol_index`, int64 [N]) and the `position` (float64 [N])
    the env holds after each step; actions are [N, 1]."""

    symbol_index: np.ndarray
    position: np.ndarray

    def to_frame(self, market: MarketData) -> pl.DataFrame:
        """One row per transition, for inspection next to the run's backtests."""
        return pl.DataFrame(
            {
                "episode": self.episode,
                "step": self.step,
                "row": self.row,
                "date": market.dates[self.row],
                "symbol": np.asarray(market.symbols)[self.symbol_index],
                "policy": np.asarray(self.policy_names)[self.policy_index],
                "action": self.actions[:, 0].astype(np.float64),
                "position": self.position,
                "reward": self.rewards.astype(np.float64),
                "net_return": self.net_return,
                "cost": self.cost,
                "terminal": self.terminals,
                "timeout": self.timeouts,
            }
        )


@dataclass(frozen=True)
class PortfolioOfflineDataset(Transitions):
    """PortfolioEnv transitions: actions are [N, C + 1] (sleeves, then cash); `sleeve_weights` (float64 [N, C])
    are the weights traded after the env projected the request onto its limits, `violation` (float64 [N]) the L1
    distance between request and projection that the reward penalises."""

    sleeve_weights: np.ndarray
    violation: np.ndarray

    def to_frame(self, universe: SleeveUniverse) -> pl.DataFrame:
        """One row per transition: the raw action and the traded weight of every sleeve, for inspection."""
        columns: dict[str, Any] = {
            "episode": self.episode,
            "step": self.step,
            "row": self.row,
            "date": universe.dates[self.row],
            "policy": np.asarray(self.policy_names)[self.policy_index],
        }
        for c, name in enumerate(universe.classes):
            columns[f"action/{name}"] = self.actions[:, c].astype(np.float64)
        columns["action/cash"] = self.actions[:, -1].astype(np.float64)
        for c, name in enumerate(universe.classes):
            columns[f"weight/{name}"] = self.sleeve_weights[:, c]
        columns.update(
            violation=self.violation,
            reward=self.rewards.astype(np.float64),
            net_return=self.net_return,
            cost=self.cost,
            terminal=self.terminals,
            timeout=self.timeouts,
        )
        return pl.DataFrame(columns)


def allocate_episodes(shares: dict[str, float], n_episodes: int) -> list[str]:
    """Policy name of each episode: counts proportional to `shares` (largest remainder), grouped by policy."""
    names = list(shares)
    exact = np.array([shares[name] * n_episodes for name in names])
    counts = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - counts), kind="stable")[: n_episodes - int(counts.sum())]:
        counts[i] += 1
    return [name for name, count in zip(names, counts, strict=True) for _ in range(int(count))]


def _check_spec(spec: OfflineDatasetSpec) -> None:
    if spec.transitions < 1:
        raise UserError(f"agent.total_timesteps={spec.transitions} must be at least 1 transition")
    if not (math.isfinite(spec.noise) and spec.noise >= 0.0):
        raise UserError(f"agent.behaviour_noise={spec.noise} must be a finite number >= 0")


def episode_schedule(spec: OfflineDatasetSpec, episode_length: int, decision_rows: int) -> list[str]:
    """The policy of each episode: enough whole episodes for `spec.transitions` (an episode is at most
    `episode_length` of the block's `decision_rows`), split by `spec.shares`."""
    return allocate_episodes(spec.shares, math.ceil(spec.transitions / min(episode_length, decision_rows)))


def play_episodes(
    env: TradingEnv | PortfolioEnv,
    schedule: Sequence[str],
    names: tuple[str, ...],
    seed: int,
    choose: Choose,
    describe: Describe,
) -> tuple[Transitions, list[tuple[Any, ...]]]:
    """Play one episode per entry of `schedule` from the env's own seeded resets; returns the transitions and
    `describe(info)` of each step (the env-specific accounting).

    Episode starts come from the env's seeded sampling and every episode's policy randomness from its own
    generator (`[seed, episode]`), so nothing random depends on the data: changing the data after row T changes no
    transition decided before T.
    """
    observations: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    final_observations: list[np.ndarray] = []
    # One tuple per transition: episode, step, row, policy, reward, net_return, cost, terminal, timeout.
    records: list[tuple[int, int, int, int, float, float, float, bool, bool]] = []
    details: list[tuple[Any, ...]] = []
    for episode, name in enumerate(schedule):
        policy_index = names.index(name)
        rng = np.random.default_rng([seed, episode])
        observation, info = env.reset()
        row = int(info["row"])
        step, done = 0, False
        while not done:
            action = choose(name, observation, row, rng)
            observations.append(observation)
            actions.append(action)
            observation, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            records.append(
                (
                    episode,
                    step,
                    row,
                    policy_index,
                    float(reward),
                    float(info["net_return"]),
                    float(info["cost"]),
                    bool(terminated),
                    bool(truncated),
                )
            )
            details.append(describe(info))
            row, step = row + 1, step + 1
        final_observations.append(observation)
    columns = list(zip(*records, strict=True))
    episode_, step_, row_, policy_ = (np.asarray(c, dtype=np.int64) for c in columns[:4])
    net_return, cost = (np.asarray(c, dtype=np.float64) for c in columns[5:7])
    terminal, timeout = (np.asarray(c, dtype=bool) for c in columns[7:])
    transitions = Transitions(
        observations=np.stack(observations).astype(np.float32),
        actions=np.stack(actions).astype(np.float32),
        rewards=np.asarray(columns[4], dtype=np.float32),
        terminals=terminal,
        timeouts=timeout,
        episode=episode_,
        step=step_,
        row=row_,
        policy_index=policy_,
        net_return=net_return,
        cost=cost,
        final_observations=np.stack(final_observations).astype(np.float32),
        policy_names=names,
    )
    return transitions, details


def build_offline_dataset(
    market: MarketData,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    spec: OfflineDatasetSpec,
    policies: dict[str, BehaviourPolicy],
) -> OfflineDataset:
    """Play whole TradingEnv episodes of the training block, each with one behaviour policy, until
    `spec.transitions` are collected; the env draws each episode's asset and start row."""
    _check_spec(spec)
    env = TradingEnv(market, DATASET_SPLIT, env_cfg, reward_cfg, seed=spec.seed)
    # Before the first reset `decision_rows` spans the whole block.
    schedule = episode_schedule(spec, env_cfg.episode_length, len(env.decision_rows))

    def choose(name: str, observation: np.ndarray, row: int, rng: np.random.Generator) -> np.ndarray:
        policy = policies[name]
        action = policy.act(observation, market.returns[: row + 1, env.current_symbol_index], rng)
        if policy.deterministic and spec.noise > 0.0:
            action += spec.noise * float(rng.normal())
        return np.array([min(1.0, max(-1.0, action))], dtype=np.float32)

    def describe(info: Mapping[str, Any]) -> tuple[int, float]:
        return env.current_symbol_index, float(info["position"])

    core, details = play_episodes(env, schedule, tuple(policies), spec.seed, choose, describe)
    symbol, position = zip(*details, strict=True)
    return OfflineDataset(
        **core._core(),
        symbol_index=np.asarray(symbol, dtype=np.int64),
        position=np.asarray(position, dtype=np.float64),
    )


def build_portfolio_dataset(
    universe: SleeveUniverse,
    env_cfg: PortfolioEnvConfig,
    reward_cfg: RewardConfig,
    spec: OfflineDatasetSpec,
    policies: Mapping[str, AllocationPolicy],
) -> PortfolioOfflineDataset:
    """Play whole PortfolioEnv episodes of the training block, each with one allocation policy, until
    `spec.transitions` are collected. `behaviour_noise` is added to every entry of a deterministic policy's raw
    action before clipping to [-1, 1]."""
    _check_spec(spec)
    env = PortfolioEnv(universe, DATASET_SPLIT, env_cfg, reward_cfg, seed=spec.seed)
    schedule = episode_schedule(spec, env_cfg.episode_length, len(env.decision_rows))

    def choose(name: str, observation: np.ndarray, row: int, rng: np.random.Generator) -> np.ndarray:
        policy = policies[name]
        action = np.asarray(policy.act(observation, row, rng), dtype=np.float64)
        if policy.deterministic and spec.noise > 0.0:
            action = action + spec.noise * rng.normal(size=action.shape)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def describe(info: Mapping[str, Any]) -> tuple[np.ndarray, float]:
        return np.asarray(info["sleeve_weights"], dtype=np.float64), float(info["violation"])

    core, details = play_episodes(env, schedule, tuple(policies), spec.seed, choose, describe)
    weights, violation = zip(*details, strict=True)
    return PortfolioOfflineDataset(
        **core._core(),
        sleeve_weights=np.stack(weights),
        violation=np.asarray(violation, dtype=np.float64),
    )


def write_dataset_files(dataset: Transitions, table: pl.DataFrame, run_dir: Path) -> None:
    """offline_dataset.h5 (d3rlpy's own format, `ReplayBuffer.load`) and offline_dataset.parquet (`table`)."""
    mdp = dataset.to_mdp_dataset()

    def dump(path: Path) -> None:
        with path.open("w+b") as handle:  # h5py reads back what it writes
            mdp.dump(handle)

    write_atomic(run_dir / DATASET_FILE, dump)
    write_parquet(run_dir / DATASET_TABLE_FILE, table)


def write_offline_dataset(dataset: OfflineDataset, market: MarketData, run_dir: Path) -> None:
    """The dataset files of a TradingEnv dataset (`write_dataset_files`)."""
    write_dataset_files(dataset, dataset.to_frame(market), run_dir)

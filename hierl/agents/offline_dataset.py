"""The offline dataset CQL learns from: TradingEnv episodes on the training block under behaviour policies.

Transitions come from stepping `TradingEnv` itself, so observations, rewards, costs and the reward terms are
exactly those an online agent meets. Each episode is played by one behaviour policy; the mix decides how many
episodes each gets (largest-remainder rounding, so the shares are as close to the mix as whole episodes allow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hierl.agents.behaviour_policies import BehaviourPolicy
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.envs.trading_env import TradingEnv
from hierl.errors import UserError
from hierl.tracking.files import write_atomic, write_parquet

if TYPE_CHECKING:
    from d3rlpy.dataset import MDPDataset

DATASET_SPLIT = "train"
DATASET_FILE = "offline_dataset.h5"
DATASET_TABLE_FILE = "offline_dataset.parquet"


@dataclass(frozen=True)
class OfflineDatasetSpec:
    """How much to collect and how: `transitions` (rounded up to whole episodes), the normalised policy shares,
    and the std of the Gaussian noise added to deterministic policies' actions."""

    transitions: int
    shares: dict[str, float]
    noise: float
    seed: int


@dataclass(frozen=True)
class OfflineDataset:
    """N transitions of E episodes, in collection order.

    Attributes:
        observations: float32 [N, D], the observation each action was chosen on.
        actions: float32 [N, 1], the action given to the env, clipped to [-1, 1].
        rewards: float32 [N], the env's reward.
        terminals / timeouts: bool [N], the env ended the episode at this step (NAV wiped out / time limit).
        episode, step, row, symbol_index, policy_index: int64 [N], where each transition comes from.
        net_return, cost, position: float64 [N], the env's accounting of the step.
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
    symbol_index: np.ndarray
    policy_index: np.ndarray
    net_return: np.ndarray
    cost: np.ndarray
    position: np.ndarray
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


def allocate_episodes(shares: dict[str, float], n_episodes: int) -> list[str]:
    """Policy name of each episode: counts proportional to `shares` (largest remainder), grouped by policy."""
    names = list(shares)
    exact = np.array([shares[name] * n_episodes for name in names])
    counts = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - counts), kind="stable")[: n_episodes - int(counts.sum())]:
        counts[i] += 1
    return [name for name, count in zip(names, counts, strict=True) for _ in range(int(count))]


def build_offline_dataset(
    market: MarketData,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    spec: OfflineDatasetSpec,
    policies: dict[str, BehaviourPolicy],
) -> OfflineDataset:
    """Play whole training-block episodes, each with one behaviour policy, until `spec.transitions` are collected.

    Episode starts and assets come from the env's own seeded sampling, and every episode's policy noise from
    its own generator, so nothing random depends on the data: changing the data after row T changes no
    transition decided before T.
    """
    if spec.transitions < 1:
        raise UserError(f"agent.total_timesteps={spec.transitions} must be at least 1 transition")
    if not (math.isfinite(spec.noise) and spec.noise >= 0.0):
        raise UserError(f"agent.behaviour_noise={spec.noise} must be a finite number >= 0")
    env = TradingEnv(market, DATASET_SPLIT, env_cfg, reward_cfg, seed=spec.seed)
    # Before the first reset `decision_rows` spans the whole block; an episode is at most episode_length of it.
    episode_length = min(env_cfg.episode_length, len(env.decision_rows))
    schedule = allocate_episodes(spec.shares, math.ceil(spec.transitions / episode_length))
    names = tuple(policies)
    observations: list[np.ndarray] = []
    final_observations: list[np.ndarray] = []
    # One tuple per transition: episode, step, row, symbol, policy, action, reward, net_return, cost, position,
    # terminal, timeout.
    records: list[tuple[int, int, int, int, int, float, float, float, float, float, bool, bool]] = []
    for episode, name in enumerate(schedule):
        policy, policy_index = policies[name], names.index(name)
        rng = np.random.default_rng([spec.seed, episode])
        observation, info = env.reset()
        row, asset = int(info["row"]), env.current_symbol_index
        step, done = 0, False
        while not done:
            action = policy.act(observation, market.returns[: row + 1, asset], rng)
            if policy.deterministic and spec.noise > 0.0:
                action += spec.noise * float(rng.normal())
            action = min(1.0, max(-1.0, action))
            observations.append(observation)
            observation, reward, terminated, truncated, info = env.step(np.array([action], dtype=np.float32))
            done = terminated or truncated
            records.append(
                (
                    episode,
                    step,
                    row,
                    asset,
                    policy_index,
                    action,
                    float(reward),
                    float(info["net_return"]),
                    float(info["cost"]),
                    float(info["position"]),
                    bool(terminated),
                    bool(truncated),
                )
            )
            row, step = row + 1, step + 1
        final_observations.append(observation)
    columns = list(zip(*records, strict=True))
    episode_, step_, row_, symbol_, policy_ = (np.asarray(c, dtype=np.int64) for c in columns[:5])
    action_, reward_ = (np.asarray(c, dtype=np.float32) for c in columns[5:7])
    net_return, cost, position = (np.asarray(c, dtype=np.float64) for c in columns[7:10])
    terminal, timeout = (np.asarray(c, dtype=bool) for c in columns[10:])
    return OfflineDataset(
        observations=np.stack(observations).astype(np.float32),
        actions=action_[:, None],
        rewards=reward_,
        terminals=terminal,
        timeouts=timeout,
        episode=episode_,
        step=step_,
        row=row_,
        symbol_index=symbol_,
        policy_index=policy_,
        net_return=net_return,
        cost=cost,
        position=position,
        final_observations=np.stack(final_observations).astype(np.float32),
        policy_names=names,
    )


def write_offline_dataset(dataset: OfflineDataset, market: MarketData, run_dir: Path) -> None:
    """offline_dataset.h5 (d3rlpy's own format, `ReplayBuffer.load`) and offline_dataset.parquet (inspection)."""
    mdp = dataset.to_mdp_dataset()

    def dump(path: Path) -> None:
        with path.open("w+b") as handle:  # h5py reads back what it writes
            mdp.dump(handle)

    write_atomic(run_dir / DATASET_FILE, dump)
    write_parquet(run_dir / DATASET_TABLE_FILE, dataset.to_frame(market))

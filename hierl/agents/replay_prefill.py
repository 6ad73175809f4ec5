"""SAC's replay buffer filled from allocation policies stepped on the training block, before SAC's first step.

Why: SAC's first `learning_starts` steps are uniform random actions, so its critic starts from books no allocator
would hold. Transitions of simple allocators (equal weight, inverse volatility) show it the returns of
diversified books from the start. They come from a separate `PortfolioEnv` on the training block, so
observations, rewards, costs and the allocation-limit penalty are exactly those SAC's own steps produce, and no
validation or test row is read. The policies are causal: at decision row t they see only sleeve returns realised
at or before t (`trailing_sleeve_returns`), as the observation does.

Action mapping. The env turns a raw action a in [-1, 1]^(C + 1) (sleeves, then cash) into requested weights
w = L * s[:C] / sum(s) with shares s = (a + 1) / 2 and L = `env.max_leverage` (`request_from_action`). For
target weights w >= 0 with sum(w) <= L, `action_for_weights` takes the proportions p = (w / L, 1 - sum(w) / L)
(they sum to 1), scales them so the largest share is 1 (s = p / max(p)) and returns a = 2 s - 1; then
`request_from_action(a)` gives back w (up to float32 rounding). The env projects that request onto the limits
(bounds, leverage, turnover budget) as it does every SAC action. SAC's action space is the env's Box[-1, 1],
on which SB3's `scale_action` is the identity, so the raw action is what the buffer stores, as for SAC's own
transitions. `random` draws raw actions uniformly from the action space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer

from hierl.config.env import RewardConfig
from hierl.config.sac import PortfolioEnvConfig
from hierl.envs.portfolio_env import PortfolioEnv
from hierl.envs.sleeves import SleeveUniverse, trailing_sleeve_returns

PREFILL_POLICIES = ("equal_weight", "inverse_volatility", "random")
PREFILL_SPLIT = "train"
# Mixed into the run's seed so the prefill's generators never coincide with the training envs' streams.
_SEED_STREAM = 7_919

Policy = Callable[[int], np.ndarray]


def action_for_weights(weights: np.ndarray, max_leverage: float) -> np.ndarray:
    """The raw action whose requested sleeve weights (`request_from_action`) are `weights` (see module doc)."""
    weights = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    gross = float(weights.sum())
    if gross > max_leverage:
        weights, gross = weights * (max_leverage / gross), max_leverage
    proportions = np.append(weights / max_leverage, max(0.0, 1.0 - gross / max_leverage))
    shares = proportions / proportions.max()
    return np.asarray(2.0 * shares - 1.0, dtype=np.float32)


def equal_weight(n_sleeves: int, max_leverage: float) -> np.ndarray:
    """1/C of min(1, L) in each sleeve, the gross the baselines hold."""
    return np.full(n_sleeves, min(1.0, max_leverage) / n_sleeves)


def inverse_volatility(universe: SleeveUniverse, row: int, window: int, max_leverage: float) -> np.ndarray:
    """Weights proportional to 1 / volatility of the last `window` sleeve returns realised at or before `row`;
    equal weights until every sleeve has a non-zero volatility."""
    history = trailing_sleeve_returns(universe, row, window)
    volatility = history.std(axis=0) if len(history) >= 2 else np.zeros(universe.n_sleeves)
    if np.any(volatility <= 0.0):
        return equal_weight(universe.n_sleeves, max_leverage)
    inverse = 1.0 / volatility
    return np.asarray(min(1.0, max_leverage) * inverse / inverse.sum())


def make_policy(name: str, env: PortfolioEnv, rng: np.random.Generator) -> Policy:
    """The raw action (float32) of policy `name` at a decision row of `env`'s split."""
    universe, cfg = env.universe, env.env_cfg
    if name == "equal_weight":
        fixed = action_for_weights(equal_weight(universe.n_sleeves, cfg.max_leverage), cfg.max_leverage)
        return lambda _row: fixed
    if name == "inverse_volatility":
        return lambda row: action_for_weights(
            inverse_volatility(universe, row, cfg.cov_window, cfg.max_leverage), cfg.max_leverage
        )
    if name == "random":
        shape = env.action_space.shape
        return lambda _row: rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    raise ValueError(f"unknown prefill policy {name!r}; expected one of {PREFILL_POLICIES}")


@dataclass(frozen=True)
class Transitions:
    """Transitions in SB3's replay-buffer form, one per env step; `rows` are the aligned decision rows acted on."""

    observations: np.ndarray
    next_observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    timeouts: np.ndarray
    rows: np.ndarray
    episodes: int

    def __len__(self) -> int:
        return len(self.rewards)


def collect_transitions(env: PortfolioEnv, policy: Policy, steps: int) -> Transitions:
    """`steps` env steps of `policy`, resetting at each episode's end as SB3's VecEnv does.

    `dones` is terminated or truncated and `timeouts` marks truncation, as SB3 stores its own transitions; the
    next observation of a done step is the episode's final observation (SB3's `terminal_observation`).
    """
    observation, _ = env.reset()
    k, episodes = 0, 1
    columns: dict[str, list[Any]] = {name: [] for name in ("obs", "next", "action", "reward", "done", "timeout", "row")}
    for _ in range(steps):
        row = int(env.decision_rows[k])
        action = policy(row)
        next_observation, reward, terminated, truncated, _info = env.step(action)
        for name, value in zip(
            columns,
            (observation, next_observation, action, reward, terminated or truncated, truncated and not terminated, row),
            strict=True,
        ):
            columns[name].append(value)
        if terminated or truncated:
            observation, _ = env.reset()
            k, episodes = 0, episodes + 1
        else:
            observation, k = next_observation, k + 1
    return Transitions(
        observations=np.asarray(columns["obs"], dtype=np.float32),
        next_observations=np.asarray(columns["next"], dtype=np.float32),
        actions=np.asarray(columns["action"], dtype=np.float32),
        rewards=np.asarray(columns["reward"], dtype=np.float32),
        dones=np.asarray(columns["done"], dtype=bool),
        timeouts=np.asarray(columns["timeout"], dtype=bool),
        rows=np.asarray(columns["row"], dtype=np.int64),
        episodes=episodes,
    )


def add_transitions(buffer: ReplayBuffer, transitions: Transitions) -> None:
    """`buffer.add` in groups of the buffer's `n_envs` (SB3 stores one transition per training env per call)."""
    n_envs = buffer.n_envs
    if len(transitions) % n_envs:
        raise ValueError(f"{len(transitions)} transitions do not fill groups of n_envs={n_envs}")
    for start in range(0, len(transitions), n_envs):
        group = slice(start, start + n_envs)
        buffer.add(
            transitions.observations[group],
            transitions.next_observations[group],
            transitions.actions[group],
            transitions.rewards[group],
            transitions.dones[group],
            [{"TimeLimit.truncated": bool(timeout)} for timeout in transitions.timeouts[group]],
        )


def split_steps(total: int, n_policies: int, n_envs: int) -> list[int]:
    """`total` steps split as evenly as possible, each share a multiple of `n_envs` (so whole buffer groups)."""
    groups = total // n_envs
    return [n_envs * (groups // n_policies + (i < groups % n_policies)) for i in range(n_policies)]


def policy_seeds(seed: int, n_policies: int) -> list[tuple[int, int]]:
    """(env seed, policy generator seed) of each prefill policy, derived from the run's `seed`."""
    children = np.random.SeedSequence([seed, _SEED_STREAM]).spawn(n_policies)
    return [(int(a), int(b)) for a, b in (child.generate_state(2) for child in children)]


def prefill_replay_buffer(
    buffer: ReplayBuffer,
    universe: SleeveUniverse,
    env_cfg: PortfolioEnvConfig,
    reward_cfg: RewardConfig,
    policies: Sequence[str],
    steps: int,
    seed: int,
) -> dict[str, Any]:
    """Step each policy in its own training-block env, add the transitions to `buffer`; return what was added.

    Each policy gets its own env and generator from `seed`, so the prefill is reproducible and draws nothing
    from the global generators SAC's training uses.
    """
    shares = split_steps(steps, len(policies), buffer.n_envs)
    record: dict[str, Any] = {"split": PREFILL_SPLIT, "steps": 0, "policies": {}}
    for name, share, (env_seed, policy_seed) in zip(policies, shares, policy_seeds(seed, len(policies)), strict=True):
        env = PortfolioEnv(universe, PREFILL_SPLIT, env_cfg, reward_cfg, seed=env_seed)
        transitions = collect_transitions(env, make_policy(name, env, np.random.default_rng(policy_seed)), share)
        add_transitions(buffer, transitions)
        dates = universe.dates[transitions.rows] if share else universe.dates[:0]
        record["policies"][name] = {
            "steps": share,
            "episodes": transitions.episodes if share else 0,
            "mean_reward": float(transitions.rewards.mean()) if share else None,
            "first_date": str(dates.min()) if share else None,
            "last_date": str(dates.max()) if share else None,
        }
        record["steps"] += share
    return record

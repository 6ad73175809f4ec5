"""Typed schema of `agent=cql`: offline pretraining with d3rlpy CQL on a dataset of behaviour-policy episodes.

Budget keys keep the meaning they have in the libraries that own the words (`debug=smoke` shrinks them in
conf/debug_agent/smoke_cql.yaml):

- `total_timesteps` is experience, as in Stable-Baselines3: env steps collected into the offline dataset.
- `n_steps` is d3rlpy's: gradient steps of CQL.
- `eval_freq` is d3rlpy's `n_steps_per_epoch`: the policy is backtested on the validation block after each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UNIT_OPEN_BELOW, Interval, check_ranges

BEHAVIOUR_POLICIES = ("buy_and_hold", "momentum", "mean_reversion", "random", "ppo")
# The policies that play env=portfolio episodes: the walk-forward allocators of `hierl.evaluation.hierarchy_baselines`
# and uniform random actions.
ALLOCATION_POLICIES = ("equal_weight", "inverse_volatility", "hrp", "min_cvar", "random")


@dataclass
class CQLConfig:
    """d3rlpy CQL hyperparameters, the training budget, and how the offline dataset is collected.

    With `env=trading` the dataset is TradingEnv episodes of one asset class (the run warm-starts PPO); with
    `env=portfolio` it is PortfolioEnv episodes over the PPO sleeves' signals (the run warm-starts the SAC
    meta-controller). No key is specific to one env: a key the env does not use is ignored or refused, below.

    Attributes:
        total_timesteps: transitions in the offline dataset, rounded up to whole episodes of `env.episode_length`.
        behaviour_mix: share of episodes per behaviour policy (normalised to sum to 1). env=trading: buy_and_hold,
            momentum, mean_reversion, random and ppo (0 by default: it needs `behaviour_ppo_run`). env=portfolio:
            the `ALLOCATION_POLICIES` entries only (the trading rules' shares do not apply there); when the mix
            names no allocator but `random` (as the default does), every allocation policy gets an equal share.
        behaviour_noise: std of Gaussian noise added to the deterministic behaviour policies' actions, so the
            dataset covers actions next to theirs (CQL cannot value actions it never saw).
        momentum_lookback / reversion_lookback: trailing returns, in rows, the two signal policies look at
            (env=trading only).
        behaviour_ppo_run: a finished PPO run folder whose best_model.zip collects the `ppo` share of episodes
            (env=trading only; refused with env=portfolio).
        n_steps: gradient steps of CQL.
        eval_freq: gradient steps between validation backtests; the best-scoring weights are kept.
        checkpoint_freq: gradient steps between weight snapshots in `checkpoints/`.
        net_arch: hidden units of the actor and of each critic (d3rlpy vector encoders, ReLU).
    """

    name: str = "cql"
    total_timesteps: int = 50_000
    behaviour_mix: dict[str, float] = field(
        default_factory=lambda: {
            "buy_and_hold": 0.25,
            "momentum": 0.25,
            "mean_reversion": 0.25,
            "random": 0.25,
            "ppo": 0.0,
        }
    )
    behaviour_noise: float = 0.1
    momentum_lookback: int = 21
    reversion_lookback: int = 5
    behaviour_ppo_run: str | None = None
    n_steps: int = 20_000
    batch_size: int = 256
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    actor_learning_rate: float = 1e-4
    critic_learning_rate: float = 3e-4
    temp_learning_rate: float = 1e-4
    alpha_learning_rate: float = 1e-4
    conservative_weight: float = 5.0
    alpha_threshold: float = 10.0
    n_action_samples: int = 10
    n_critics: int = 2
    gamma: float = 0.99
    tau: float = 0.005
    initial_temperature: float = 1.0
    eval_freq: int = 2_000
    checkpoint_freq: int = 10_000


CQL_RANGES: dict[str, Interval] = {
    "total_timesteps": AT_LEAST_ONE,
    "behaviour_noise": NON_NEGATIVE,
    "momentum_lookback": AT_LEAST_ONE,
    "reversion_lookback": AT_LEAST_ONE,
    "n_steps": AT_LEAST_ONE,
    "batch_size": AT_LEAST_ONE,
    # 0 freezes a parameter (e.g. a fixed temperature), which d3rlpy allows.
    "actor_learning_rate": NON_NEGATIVE,
    "critic_learning_rate": NON_NEGATIVE,
    "temp_learning_rate": NON_NEGATIVE,
    "alpha_learning_rate": NON_NEGATIVE,
    "conservative_weight": NON_NEGATIVE,
    "alpha_threshold": NON_NEGATIVE,
    "n_action_samples": AT_LEAST_ONE,
    "n_critics": AT_LEAST_ONE,
    # d3rlpy's CQL bootstraps over an infinite horizon, so gamma must stay below 1.
    "gamma": Interval(0.0, 1.0, high_open=True),
    "tau": UNIT_OPEN_BELOW,
    "initial_temperature": POSITIVE,
    "eval_freq": AT_LEAST_ONE,
    "checkpoint_freq": AT_LEAST_ONE,
}


def check_cql_values(cfg: CQLConfig) -> None:
    """Every `agent.*` number of agent=cql within its range."""
    check_ranges(cfg, CQL_RANGES, "agent")

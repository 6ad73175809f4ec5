"""Typed schema of the `agent` config group."""

from __future__ import annotations

from dataclasses import dataclass, field

from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UNIT, UNIT_OPEN_BELOW, Interval, check_ranges


@dataclass
class PPOConfig:
    """Stable-Baselines3 PPO hyperparameters plus the training budget.

    `lr_schedule` is `constant` or `linear` (decays `learning_rate` to 0 over `total_timesteps`); `activation` is
    `tanh` or `relu` for every hidden layer of `net_arch`. `early_stopping_patience` stops training after that
    many validations without a new best score (null: never). `checkpoint_freq` timesteps between resumable
    checkpoints, of which the newest `keep_checkpoints` are kept. `normalize_observations` adds SB3's
    `VecNormalize` running observation statistics on top of the data layer's feature scaling; every evaluation then
    uses the statistics saved beside the evaluated model.
    """

    name: str = "ppo"
    total_timesteps: int = 100_000
    learning_rate: float = 3e-4
    lr_schedule: str = "constant"
    n_steps: int = 1024
    batch_size: int = 256
    n_epochs: int = 5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = 0.05
    n_envs: int = 4
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    eval_freq: int = 10_000
    early_stopping_patience: int | None = None
    checkpoint_freq: int = 50_000
    keep_checkpoints: int = 2
    init_from: str | None = None
    normalize_observations: bool = False
    # Initial log standard deviation of the Gaussian policy. SB3's default, 0.0, explores with std 1 on actions in
    # [-1, 1]: most draws are clipped to a full position and every step trades, so costs drown the reward's signal.
    log_std_init: float = -1.0


PPO_RANGES: dict[str, Interval] = {
    "total_timesteps": AT_LEAST_ONE,
    "learning_rate": POSITIVE,
    "n_steps": AT_LEAST_ONE,
    # SB3 normalises advantages over each minibatch, which needs at least 2 samples.
    "batch_size": Interval(2.0),
    "n_epochs": AT_LEAST_ONE,
    "gamma": UNIT_OPEN_BELOW,
    "gae_lambda": UNIT,
    "clip_range": POSITIVE,
    # A negative entropy or value coefficient would reward collapsing the policy or a wrong value estimate.
    "ent_coef": NON_NEGATIVE,
    "vf_coef": NON_NEGATIVE,
    "max_grad_norm": POSITIVE,
    "target_kl": Interval(0.0, low_open=True, optional=True),
    "n_envs": AT_LEAST_ONE,
    "eval_freq": AT_LEAST_ONE,
    "early_stopping_patience": Interval(1.0, optional=True),
    "checkpoint_freq": AT_LEAST_ONE,
    "keep_checkpoints": AT_LEAST_ONE,
    "log_std_init": Interval(),
}


def check_ppo_values(cfg: PPOConfig) -> None:
    """Every `agent.*` number of agent=ppo within its range (ConfigError naming the key otherwise)."""
    check_ranges(cfg, PPO_RANGES, "agent")

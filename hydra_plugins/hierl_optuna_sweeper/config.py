"""Schemas of the `hierl_optuna` sweeper, its samplers and its pruners, registered in Hydra's ConfigStore.

Samplers and pruners are config groups of `_target_` nodes, so a user picks one with
`override /hydra/sweeper/sampler: random` and tunes it with `hydra.sweeper.sampler.seed=1`; a misspelt option or
key is rejected by Hydra while it composes, before the sweep starts.

This module is imported by Hydra's plugin scan in every Hydra app, so it must not import Optuna. The scan runs it
before it is in `sys.modules`, where `dataclass` looks up postponed annotations, so they are not postponed here.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

SWEEPER_TARGET = "hydra_plugins.hierl_optuna_sweeper.sweeper.HierlOptunaSweeper"


@dataclass
class TPESamplerConfig:
    """Tree-structured Parzen estimator: the default, good with mixed categorical and continuous spaces."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = False
    group: bool = False
    constant_liar: bool = True


@dataclass
class RandomSamplerConfig:
    """Independent uniform sampling: a baseline, and the right choice for very small budgets."""

    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class CmaEsSamplerConfig:
    """CMA-ES for continuous spaces; needs the `cmaes` package. Categorical parameters fall back to random."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = None
    n_startup_trials: int = 1
    sigma0: float | None = None
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False


@dataclass
class NSGAIISamplerConfig:
    """NSGA-II genetic search: the sampler for several objectives (a list of directions)."""

    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = None
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class NoPrunerConfig:
    """Never prune; intermediate values are still recorded in the study."""

    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConfig:
    """Prune a trial whose best intermediate value is worse than the median of earlier trials at the same step."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConfig:
    """Asynchronous successive halving; `min_resource` is a step count or "auto"."""

    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig:
    """Hyperband over successive-halving brackets; `max_resource` is the last reported step or "auto"."""

    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class HierlOptunaSweeperConfig:
    """`hydra.sweeper` when `hierl_optuna` is selected.

    `direction` is "minimize", "maximize" or a list of them (one per value the task returns). `n_trials` is the
    study's total: every trial started counts (complete, pruned, failed, or running on any worker), so a second run,
    or a second worker, with the same `storage` and `study_name` only adds what is missing. `n_jobs` trials are
    launched together as one batch by the configured Hydra launcher. `storage` is an RDB URL (`sqlite:///<file>`,
    `postgresql://...`, `mysql+pymysql://...`) or `journal:///<file>`. `heartbeat_interval` (seconds, RDB storages)
    lets a worker fail only the trials of workers that stopped: a trial is stale once its heartbeat is twice that
    old. `warmup_steps`: no trial is pruned before this step, whatever the pruner (values are still reported).
    `test_command`: the command that tests the best trial once, written into the summary; `{run_dir}` is its run
    folder and `{overrides}` its overrides. `params` maps config keys to Hydra sweep expressions (`choice(...)`,
    `range(...)`, `interval(...)`, `tag(log, interval(...))`) or fixed values.
    """

    _target_: str = SWEEPER_TARGET
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"sampler": "tpe"}, {"pruner": "none"}])
    direction: Any = "minimize"
    study_name: str = "${hydra.job.name}"
    storage: str = "sqlite:///${hydra.sweep.dir}/optuna.db"
    n_trials: int = 20
    n_jobs: int = 1
    heartbeat_interval: int | None = 60
    warmup_steps: int = 0
    test_command: str | None = None
    sampler: Any = None
    pruner: Any = None
    params: dict[str, Any] = field(default_factory=dict)


SAMPLERS: dict[str, type] = {
    "tpe": TPESamplerConfig,
    "random": RandomSamplerConfig,
    "cmaes": CmaEsSamplerConfig,
    "nsgaii": NSGAIISamplerConfig,
}

PRUNERS: dict[str, type] = {
    "none": NoPrunerConfig,
    "median": MedianPrunerConfig,
    "successive_halving": SuccessiveHalvingPrunerConfig,
    "hyperband": HyperbandPrunerConfig,
}


def register_configs() -> None:
    """Store the sweeper and every sampler and pruner option; Hydra's plugin scan runs this on import."""
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="hierl_optuna", node=HierlOptunaSweeperConfig, provider="hierl")
    for name, node in SAMPLERS.items():
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="hierl")
    for name, node in PRUNERS.items():
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="hierl")


register_configs()

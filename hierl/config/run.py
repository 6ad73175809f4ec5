"""Typed schemas of the run-level config sections (asset, logger, paths, multistage) and of the whole config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias

from omegaconf import MISSING
from typing_extensions import TypeVar

from hierl.config.agent import PPOConfig
from hierl.config.cql import CQLConfig
from hierl.config.data import DAILY_BARS_PER_YEAR, DataConfig
from hierl.config.domains import Interval, check_ranges
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.config.safety import SafetyConfig
from hierl.config.walk_forward import WalkForwardConfig


@dataclass
class CalendarConfig:
    """When an asset class trades, so that every annualisation counts its bars, not a hard-coded 252.

    `days_per_year`: trading days a year (252 US equities, 365 crypto, about 260 FX). `hours_per_day`: trading hours
    a day, which turn intraday bars into bars per day (6.5 for a US equity session, 24 for crypto).
    `bars_per_year`: set it to override the product (e.g. a session with a lunch break).
    """

    days_per_year: float = DAILY_BARS_PER_YEAR
    hours_per_day: float = 6.5
    bars_per_year: float | None = None


CALENDAR_RANGES: dict[str, Interval] = {
    "days_per_year": Interval(0.0, 366.0, low_open=True),
    "hours_per_day": Interval(0.0, 24.0, low_open=True),
    "bars_per_year": Interval(0.0, low_open=True, optional=True),
}


def check_calendar_values(calendar: CalendarConfig) -> None:
    """`asset.calendar.*` in range, as one ConfigError naming the key (run with the other config checks, and by the
    data layer for a calendar built in code)."""
    check_ranges(calendar, CALENDAR_RANGES, "asset.calendar")


@dataclass
class AssetConfig:
    """The asset class a run trades; per-class overrides of env, reward and agent live in its YAML file."""

    name: str = MISSING
    symbols: list[str] | None = None
    calendar: CalendarConfig = field(default_factory=CalendarConfig)


@dataclass
class LoggerConfig:
    """Where metrics go besides the run folder: none, csv, tensorboard or wandb.

    `group` groups W&B runs; null means the sweep folder's name in a multirun, else the experiment's name.
    """

    name: str = "none"
    project: str = "hierl"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    mode: str = "offline"


@dataclass
class PathsConfig:
    """Where runs, caches and generated results (the benchmark's headline, the warm-start study) are written."""

    root_dir: str = "."
    output_dir: str = MISSING
    cache_dir: str = MISSING
    results_dir: str = MISSING


@dataclass
class RayConfig:
    """An existing Ray cluster to join (`address`), the CPUs each unit of work asks for, and what a cluster of
    several machines needs (docs/distributed.md, `hierl.orchestration.execution`).

    `storage`: how unit folders reach this run folder: `shared` (every node sees it: one machine, or a shared
    filesystem), `driver` (each unit runs in a node-local folder that comes back through Ray's object store) or a
    location every node and this machine can write (an absolute path such as an NFS mount, or a URI pyarrow opens:
    `file://`, `s3://`, `gs://`), through which the folders travel instead. `runtime_env`: Ray's runtime environment
    of the job (`working_dir`, `py_modules`, `pip`, `env_vars`: how the code reaches nodes where hierl is not
    installed); empty passes on this process's PYTHONPATH. `log_to_driver`: print the units' logs on this console
    (null: on a cluster, not on a local Ray). `max_retries`: how often Ray reruns a unit whose worker or node died;
    a unit's own error is never retried.
    """

    address: str | None = None
    cpus_per_worker: float = 1.0
    storage: str = "shared"
    runtime_env: dict[str, Any] = field(default_factory=dict)
    log_to_driver: bool | None = None
    max_retries: int = 2


@dataclass
class RuntimeConfig:
    """How a process uses the machine; `hierl.runtime` owns the policy.

    `torch_threads`: torch's intra-op thread count, `auto` (one thread for small networks, the process's CPU
    budget for large ones) or a whole number that overrides the policy.
    """

    torch_threads: str = "auto"


@dataclass
class MultiStageConfig:
    """What a multi-stage run trains and where its units run; read by the multi-stage scripts and the hierarchy.

    `asset_classes`: the classes to train (null: every class of the data source; the hierarchy's sleeves too).
    `seeds`: the seeds to train each class with (null: just `seed`). `stages`: the stages
    experiments/train_all_agents.py runs, in pipeline order; `stage_overrides.<stage>`: command-line overrides for
    that stage's units only. `distributed`: run independent units (asset classes x seeds) as Ray tasks, on a local
    Ray of `num_workers` workers unless `ray.address` names a cluster.

    `sac_signals`: the PPO signals the SAC meta-controller trains on (the hierarchy's and the pipeline's).
    `out_of_fold`: for every training day, a signal of a PPO model that never trained on it, from an inner expanding
    walk-forward of `oof_folds` PPO units per class whose test blocks of `oof_years` each tile the end of the
    training block (SAC trains on those days only); `in_sample`: the sleeves' own signals on their training block,
    which look several times better there than anywhere else. Validation and test signals are out of sample
    either way.
    """

    asset_classes: list[str] | None = None
    seeds: list[int] | None = None
    stages: list[str] = field(default_factory=lambda: ["cql", "ppo", "sac"])
    stage_overrides: dict[str, list[str]] = field(default_factory=lambda: {"cql": [], "ppo": [], "sac": []})
    distributed: bool = False
    num_workers: int = 2
    ray: RayConfig = field(default_factory=RayConfig)
    sac_signals: str = "out_of_fold"
    oof_folds: int = 2
    oof_years: float = 1.5


AgentConfig: TypeAlias = PPOConfig | SACConfig | CQLConfig
"""Any option of the `agent` group."""
AnyEnvConfig: TypeAlias = EnvConfig | PortfolioEnvConfig
"""Any option of the `env` group."""

# Covariant, so a stage's config (`PPORunConfig`) is also a `TrainConfig` of any agent; the defaults make a bare
# `TrainConfig` mean "any agent, any env".
AgentT = TypeVar("AgentT", bound=AgentConfig, default=AgentConfig, covariant=True)
EnvT = TypeVar("EnvT", bound=AnyEnvConfig, default=AnyEnvConfig, covariant=True)


@dataclass
class RunSettings:
    """Every run-level section and key of the composed config: all of it but `agent` and `env`."""

    asset: AssetConfig = field(default_factory=AssetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    seed: int = 0
    optimized_metric: str = "val/sharpe"
    progress: bool = True
    # Set by a `debug` preset so stages composed inside a run (the hierarchy's sleeves) use the same preset.
    debug_name: str | None = None
    # Names the experiment (W&B group outside a sweep); null uses the entrypoint's name.
    experiment_name: str | None = None
    # Continue from the newest checkpoint of the run folder (`hydra.run.dir=<existing run>`).
    resume: bool = False
    # Backtest the selected policy on the test block too. Sweep presets set it false: trials are chosen on the
    # validation block, and the chosen configuration is tested once afterwards (docs/sweeps.md).
    evaluate_test: bool = True
    multistage: MultiStageConfig = field(default_factory=MultiStageConfig)
    # The folds of `python -m hierl.walk_forward` (read by nothing else).
    walk_forward: WalkForwardConfig = field(default_factory=WalkForwardConfig)


@dataclass(kw_only=True)
class TrainConfig(RunSettings, Generic[AgentT, EnvT]):
    """The whole config of one stage, typed by its agent and env: built once by `to_train_config`.

    A stage takes its own alias (`PPORunConfig`, `SACRunConfig`, `CQLRunConfig`); `hierl.train.job_for` narrows
    the composed config to it once, where the stage is chosen.
    """

    agent: AgentT
    env: EnvT


PPORunConfig: TypeAlias = TrainConfig[PPOConfig, EnvConfig]
SACRunConfig: TypeAlias = TrainConfig[SACConfig, PortfolioEnvConfig]
CQLRunConfig: TypeAlias = TrainConfig[CQLConfig, EnvConfig]


@dataclass
class ComposedConfig(RunSettings):
    """The schema Hydra composes `conf/train.yaml` into (`train_schema`).

    `agent` and `env` hold a different schema per option; each option's YAML names its own schema in its defaults
    list, so they are type-checked as they are composed. OmegaConf cannot hold a generic dataclass, hence this
    untyped slot; `to_train_config` turns it into a `TrainConfig` at once.
    """

    agent: Any = MISSING
    env: Any = MISSING

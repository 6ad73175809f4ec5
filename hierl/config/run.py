"""Typed schemas of the run-level config groups (asset, logger, paths) and of the whole composed config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from hierl.config.data import DataConfig
from hierl.config.env import RewardConfig
from hierl.config.safety import SafetyConfig


@dataclass
class AssetConfig:
    """The asset class a run trades; per-class overrides of env, reward and agent live in its YAML file."""

    name: str = MISSING
    symbols: list[str] | None = None


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
    """Where runs and caches are written."""

    root_dir: str = "."
    output_dir: str = MISSING
    cache_dir: str = MISSING


@dataclass
class RayConfig:
    """An existing Ray cluster to join (`address`), and the CPUs each unit of work asks for."""

    address: str | None = None
    cpus_per_worker: float = 1.0


@dataclass
class RuntimeConfig:
    """How a process uses the machine; `hierl.runtime` owns the policy.

    `torch_threads`: torch's intra-op thread count, `auto` (one thread for small networks, the process's CPU
    budget for large ones) or a whole number that overrides the policy.
    """

    torch_threads: str = "auto"


@dataclass
class TrainConfig:
    """The whole config of `python -m hierl.train`."""

    # `agent` and `env` hold different schemas per option (ppo/sac/cql, trading/portfolio); each option's YAML
    # names its schema in its defaults list, so they are still type-checked when composed.
    agent: Any = MISSING
    asset: AssetConfig = field(default_factory=AssetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    env: Any = MISSING
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
    # experiments/train_ppo_agents.py: the asset classes to train (null: every class of the data source) and the
    # seeds to train each with (null: just `seed`).
    asset_classes: list[str] | None = None
    seeds: list[int] | None = None
    # Multi-stage entrypoints (experiments/train_all_agents.py): run independent units (asset classes x seeds) as
    # Ray tasks, on a local Ray unless `ray.address` names a cluster.
    stages: list[str] = field(default_factory=lambda: ["cql", "ppo", "sac"])
    # Overrides for one stage only: `"stage_overrides.sac=['agent.total_timesteps=5000']"`.
    stage_overrides: dict[str, list[str]] = field(default_factory=lambda: {"cql": [], "ppo": [], "sac": []})
    distributed: bool = False
    num_workers: int = 2
    ray: RayConfig = field(default_factory=RayConfig)

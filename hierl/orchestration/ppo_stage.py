"""The PPO stage: one PPO agent per asset class and seed, the selected seed per class, and their signals.

Shared by `experiments/train_ppo_agents.py`, the hierarchy's sleeves and `experiments/train_all_agents.py`, so a
class x seed is trained, selected and turned into signals the same way everywhere:

- every (class, seed) is one unit of `run_units` (locally or as a Ray task) trained in its own folder
  (`<root>/<class>/`, or `<root>/<class>/seed_<s>/` with several seeds), which also gets that run's
  `signals.parquet`;
- a unit whose folder is already `finished` with the same config is reused, not retrained, so a stage is
  resumable from its outputs; a finished folder with a different config is refused rather than silently mixed in;
- per class, the seed with the best validation Sharpe ratio supplies the class's signals (never chosen on test),
  and with several seeds `seeds_summary.json` holds the spread of the test Sharpe ratio over seeds
  (of the validation one with `evaluate_test=false`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import polars as pl
from hydra import compose

from hierl.config.loading import flat_config, to_train_config
from hierl.config.paths import config_dir
from hierl.config.run import PPORunConfig, TrainConfig
from hierl.config.stages import ppo_run
from hierl.data.pipeline import available_asset_classes
from hierl.entrypoint import override_key, run_folder_bookkeeping
from hierl.errors import ConfigError, UserError
from hierl.evaluation.seeds import summarise_seeds
from hierl.orchestration.asset_run import BEST_MODEL_FILE, check_trainable, load_run_market, train_asset_agent
from hierl.orchestration.execution import ExecutionConfig, Node, Unit, UnitOutcome, run_units
from hierl.orchestration.signals import SIGNALS_FILE, saved_model_signals, write_signals
from hierl.orchestration.unit_folders import input_paths, moved
from hierl.run.folder import RunFolder
from hierl.tracking.checkpoints import CHECKPOINT_DIR, latest_checkpoint
from hierl.tracking.files import write_json
from hierl.tracking.logging import get_logger
from hierl.tracking.run_state import read_state

log = get_logger("ppo_stage")

T = TypeVar("T")
ConfigT = TypeVar("ConfigT", bound=TrainConfig)

# Keys a multi-stage entrypoint sets per unit (`asset`, `seed`) or reads itself (the `multistage` section); the
# user's values for them are not passed on when a class's config is composed.
PER_JOB_KEYS = frozenset({"asset", "seed"})
MULTISTAGE_SECTION = "multistage"
SEED_METRIC = "test/sharpe"
SELECTION_METRIC = "val/sharpe"
SEEDS_SUMMARY_FILE = "seeds_summary.json"
UNIT_CONFIG_FILE = "unit_config.json"
# The config sections that decide a unit's result; a finished folder is reused only when they are unchanged.
IDENTITY_SECTIONS = ("agent", "env", "reward", "asset", "data", "safety", "seed")


# --- Unit folders: any stage's unit (CQL, PPO, SAC) is trained, skipped or refused through these. ---


def seed_metric(per_seed: Mapping[int, Mapping[str, float]]) -> str:
    """The metric whose spread over seeds the stage reports: the test Sharpe ratio, or the validation one when the
    seeds' test blocks were not read (`evaluate_test=false`), so the summary never reads a block the user held out."""
    return SEED_METRIC if all(SEED_METRIC in metrics for metrics in per_seed.values()) else SELECTION_METRIC


def unit_identity(cfg: TrainConfig) -> dict[str, Any]:
    """The config keys that decide a unit's result (as JSON values, so a stored copy compares equal)."""
    flat = {k: v for k, v in flat_config(cfg).items() if k.split(".")[0] in IDENTITY_SECTIONS}
    identity: dict[str, Any] = json.loads(json.dumps(flat, default=str))
    return identity


def finished_unit(run_dir: Path, cfg: TrainConfig) -> bool:
    """True when `run_dir` holds a finished run of this very config; UserError when it holds another config's."""
    if read_state(run_dir)["status"] != "finished":
        return False
    stored_file = run_dir / UNIT_CONFIG_FILE
    stored = json.loads(stored_file.read_text()) if stored_file.is_file() else {}
    now = unit_identity(cfg)
    changed = sorted(k for k in stored.keys() | now.keys() if stored.get(k) != now.get(k))
    if changed:
        detail = ", ".join(f"{k}: {stored.get(k)!r} -> {now.get(k)!r}" for k in changed[:5])
        raise UserError(
            f"{run_dir} holds a finished run of another config ({detail}); use a new hydra.run.dir, or delete "
            "that folder to retrain it"
        )
    return True


def run_in_folder(run_dir: Path, cfg: TrainConfig, work: Callable[[], T]) -> T:
    """`work()` with the unit folder's bookkeeping: its config, run_state.json and log.jsonl.

    Unlike `hierl.entrypoint.run_job` it never exits the process: a unit's error is raised to `run_units`,
    which reports it and goes on with the other units.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / UNIT_CONFIG_FILE, unit_identity(cfg))
    with run_folder_bookkeeping(run_dir):
        return work()


def reuse_or_run(name: str, run_dir: Path, cfg: TrainConfig, work: Callable[[], dict[str, float]]) -> dict[str, float]:
    """The metrics of `run_dir` when it already holds a finished run of `cfg`, else of `work()` run in it."""
    if finished_unit(run_dir, cfg):
        log.info("%s: finished earlier, reusing %s", name, run_dir)
        return RunFolder(run_dir).read_metrics()
    return run_in_folder(run_dir, cfg, work)


# --- Planning: classes, seeds and every unit's composed config, checked before anything trains. ---


def passed_on(overrides: Sequence[str], dropped: frozenset[str] = PER_JOB_KEYS) -> list[str]:
    """The user's command-line overrides minus the keys set per unit and the `multistage` section."""
    kept = []
    for override in overrides:
        key = override_key(override)
        if key not in dropped and key.split(".")[0] != MULTISTAGE_SECTION:
            kept.append(override)
    return kept


def with_output_dir(cfg: ConfigT, folder: Path) -> ConfigT:
    """`cfg` writing to `folder`: a unit's config names its own folder, not the multi-stage run's."""
    return dataclasses.replace(cfg, paths=dataclasses.replace(cfg.paths, output_dir=str(folder)))


def agent_inputs(cfg: TrainConfig, fields: Sequence[str]) -> tuple[Path, ...]:
    """The paths outside its folder a unit's agent reads: the `fields` of `cfg.agent` that are set."""
    return input_paths(*(getattr(cfg.agent, name) for name in fields))


def relocated_config(cfg: ConfigT, fields: Sequence[str], inputs: Mapping[Path, Path], run_dir: Path) -> ConfigT:
    """`cfg` writing to `run_dir`, its agent reading the node-local copies (`inputs`) of its `fields`; each job
    names its fields once (`INPUT_FIELDS`), so what it sends and what it reads on the node cannot drift apart."""
    moved_fields: dict[str, Any] = {name: moved(getattr(cfg.agent, name), inputs) for name in fields}
    return with_output_dir(dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **moved_fields)), run_dir)


def with_seed(cfg: ConfigT, seed: int) -> ConfigT:
    """`cfg` of one seed: a class's config is composed once and each seed's unit is a copy with its seed."""
    return dataclasses.replace(cfg, seed=seed)


def compose_config(overrides: Sequence[str]) -> TrainConfig:
    """`conf/train.yaml` composed with `overrides` (inside a Hydra app or a `initialize_config_dir` block).

    Multi-stage entrypoints call it once per asset class and stage, where the class's YAML (conf/asset,
    conf/agent_asset) must be composed under the user's overrides; every unit's config is then a
    `dataclasses.replace` of that typed result (`with_seed`, `with_output_dir`).
    """
    return to_train_config(compose("train", overrides=list(overrides)))


def compose_ppo_config(overrides: Sequence[str]) -> PPORunConfig:
    """`compose_config` narrowed to a PPO unit's config (agent=ppo on env=trading, else one ConfigError)."""
    return ppo_run(compose_config(overrides))


def resolve_classes(outer: TrainConfig) -> list[str]:
    """`multistage.asset_classes` (null: every class of the data source), each with its conf/asset/<class>.yaml
    and conf/env_asset/trading_<class>.yaml."""
    return checked_classes(outer, outer.multistage.asset_classes, "multistage.asset_classes")


def checked_classes(outer: TrainConfig, wanted: Sequence[str] | None, key: str) -> list[str]:
    """`wanted` (null: every class of the data source), each a class of the data with its conf/asset/<class>.yaml;
    a mistake is one ConfigError naming `key`."""
    available = available_asset_classes(outer.data, Path(outer.paths.cache_dir))
    classes = list(wanted) if wanted is not None else available
    unknown = [c for c in classes if c not in available]
    if unknown or not classes:
        raise ConfigError(f"{key}={classes} must name classes of the data source; available: {available}")
    for asset_class in classes:
        if not (config_dir() / "asset" / f"{asset_class}.yaml").is_file():
            raise ConfigError(
                f"asset class {asset_class!r} has no conf/asset/{asset_class}.yaml; add one (copy equity.yaml) "
                f"or leave it out of {key}"
            )
    return classes


def resolve_seeds(outer: TrainConfig) -> list[int]:
    """`multistage.seeds`, or just `seed` when it is null."""
    return checked_seeds(outer, outer.multistage.seeds, "multistage.seeds")


def checked_seeds(outer: TrainConfig, wanted: Sequence[int] | None, key: str) -> list[int]:
    """`wanted`, or just `seed` when it is null; a mistake is one ConfigError naming `key`."""
    seeds = list(wanted) if wanted is not None else [outer.seed]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"{key}={seeds} must be a non-empty list without repeats (or null for just `seed`)")
    return seeds


def execution_config(outer: TrainConfig) -> ExecutionConfig:
    """Where a stage's units run, from `multistage.distributed`, `multistage.num_workers` and `multistage.ray`."""
    multistage, ray = outer.multistage, outer.multistage.ray
    return ExecutionConfig(
        distributed=multistage.distributed,
        num_workers=multistage.num_workers,
        cpus_per_worker=ray.cpus_per_worker,
        address=ray.address,
        storage=ray.storage,
        runtime_env=dict(ray.runtime_env) or None,
        log_to_driver=ray.log_to_driver,
        max_retries=ray.max_retries,
    )


@dataclass(frozen=True)
class PPOJob:
    """One (asset class, seed) training run and its folder.

    A `FolderJob` (`hierl.orchestration.unit_folders`): when run folders travel between nodes, `relocated` is
    this job in a node-local folder, warm-started from a node-local copy of its CQL run. `planned` is then the
    config the driver planned, which reuse and refusal compare (`identity`), so a unit's `unit_config.json` reads
    the same whichever node wrote it.
    """

    # The agent's paths outside the unit's folder: the CQL run a warm start reads.
    INPUT_FIELDS: ClassVar[tuple[str, ...]] = ("init_from",)

    asset_class: str
    seed: int
    cfg: PPORunConfig
    run_dir: Path
    planned: PPORunConfig | None = None

    @property
    def name(self) -> str:
        return f"ppo/{self.asset_class}/seed_{self.seed}"

    @property
    def identity(self) -> PPORunConfig:
        """The config a finished folder must have been trained with to be reused."""
        return self.planned if self.planned is not None else self.cfg

    def inputs(self) -> tuple[Path, ...]:
        return agent_inputs(self.cfg, self.INPUT_FIELDS)

    def relocated(self, run_dir: Path, inputs: Mapping[Path, Path]) -> PPOJob:
        cfg = relocated_config(self.cfg, self.INPUT_FIELDS, inputs, run_dir)
        return dataclasses.replace(self, cfg=cfg, run_dir=run_dir, planned=self.identity)


def ppo_folder(root: Path, asset_class: str, seed: int, n_seeds: int) -> Path:
    """`<root>/<class>/`, or `<root>/<class>/seed_<s>/` when the stage trains several seeds."""
    folder = root / asset_class
    return folder / f"seed_{seed}" if n_seeds > 1 else folder


def plan_ppo_jobs(class_cfgs: Mapping[str, PPORunConfig], seeds: Sequence[int], root: Path) -> list[PPOJob]:
    """Every (class, seed) job, its config the class's with that seed and folder, checked before training."""
    jobs = []
    for asset_class, class_cfg in class_cfgs.items():
        for seed in seeds:
            folder = ppo_folder(root, asset_class, seed, len(seeds))
            cfg = with_output_dir(with_seed(class_cfg, seed), folder)
            check_trainable(cfg)
            jobs.append(PPOJob(asset_class, seed, cfg, folder))
    return jobs


# --- Running: one unit per job, then selection, summaries and signals. ---


def run_ppo_job(job: PPOJob) -> dict[str, float]:
    """Train one job in its folder and write that run's signals; a finished folder is reused as it is.

    With `resume=true` an interrupted job continues from its newest checkpoint; otherwise it starts afresh.
    """
    can_continue = job.cfg.resume and latest_checkpoint(job.run_dir / CHECKPOINT_DIR) is not None
    cfg = dataclasses.replace(job.cfg, resume=can_continue)

    def work() -> dict[str, float]:
        market = load_run_market(cfg)  # once, for training and for the signals
        outcome = train_asset_agent(cfg, job.run_dir, market)
        signals = saved_model_signals(job.run_dir / BEST_MODEL_FILE, market, cfg.env, cfg.reward)
        write_signals(job.run_dir / SIGNALS_FILE, [signals])
        return outcome.metrics

    return reuse_or_run(job.name, job.run_dir, job.identity, work)


@dataclass
class PPOStageResult:
    """Every job's metrics or error, the node it ran on, the seed chosen per class, and the stage's flat metrics."""

    jobs: list[PPOJob]
    per_job: dict[tuple[str, int], dict[str, float]]
    errors: dict[str, str]
    chosen: dict[str, PPOJob] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)

    def job(self, asset_class: str, seed: int) -> PPOJob:
        return next(j for j in self.jobs if j.asset_class == asset_class and j.seed == seed)

    def signals_of_seed(self, seed: int) -> pl.DataFrame | None:
        """Every class's signals from its run of `seed`; None unless every class's run of that seed succeeded."""
        classes = dict.fromkeys(j.asset_class for j in self.jobs)
        if any((c, seed) not in self.per_job for c in classes):
            return None
        return pl.concat([pl.read_parquet(self.job(c, seed).run_dir / SIGNALS_FILE) for c in classes])


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


def train_ppo_stage(
    jobs: Sequence[PPOJob], root: Path, signals_path: Path, execution: ExecutionConfig
) -> PPOStageResult:
    """Run every job, then per class the seed summary, the selected seed, and the stage's signals table.

    A failed job is reported in `errors` and costs no other job its result; a class all of whose jobs failed
    has no signals. `signals_path` is written when at least one class has a selected seed.
    """
    outcomes: list[UnitOutcome[dict[str, float]]] = run_units(
        [Unit(job.name, run_ppo_job, job=job) for job in jobs], execution
    )
    result = PPOStageResult(list(jobs), {}, {})
    for job, outcome in zip(jobs, outcomes, strict=True):
        if outcome.node is not None:
            result.nodes[job.name] = outcome.node
        if outcome.ok and outcome.value is not None:
            result.per_job[(job.asset_class, job.seed)] = outcome.value
        else:
            result.errors[job.name] = outcome.error or "no metrics"
    frames = []
    n_seeds = len({job.seed for job in jobs})
    for asset_class in dict.fromkeys(job.asset_class for job in jobs):
        done = [j for j in jobs if j.asset_class == asset_class and (asset_class, j.seed) in result.per_job]
        if not done:
            continue
        per_seed = {j.seed: result.per_job[(asset_class, j.seed)] for j in done}
        if n_seeds > 1:
            metric = seed_metric(per_seed)
            summary = summarise_seeds({s: m[metric] for s, m in per_seed.items()}, metric)
            write_json(root / asset_class / SEEDS_SUMMARY_FILE, summary.to_dict())
            result.metrics[f"{asset_class}/{metric}_mean"] = summary.mean
        chosen = max(done, key=lambda j: _finite(per_seed[j.seed].get(SELECTION_METRIC)))
        result.chosen[asset_class] = chosen
        result.metrics.update({f"{asset_class}/{k}": v for k, v in per_seed[chosen.seed].items()})
        frames.append(pl.read_parquet(chosen.run_dir / SIGNALS_FILE))
        log.info("%s signals from seed %d (%s)", asset_class, chosen.seed, chosen.run_dir)
    if frames:
        write_signals(signals_path, frames)
    return result

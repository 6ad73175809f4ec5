"""The whole pipeline in one run folder: CQL per class -> PPO per class x seed -> SAC per seed -> summary.

    <run>/cql/<class>/                 CQL pretraining (stage `cql`), warm-starts that class's PPO runs
    <run>/ppo/<class>[/seed_<s>]/      PPO per class and seed (stage `ppo`, `hierl.orchestration.ppo_stage`)
    <run>/signals.parquet              each class's signals from its best-validation seed
    <run>/ppo/oof_<j>/<class>[/seed_<s>]/  inner PPO units: the seed-s SAC's out-of-fold training signals
    <run>/ppo/signals_seed_<s>.parquet the signals the seed-s SAC uses: out of fold on the training block
                                       (`multistage.sac_signals`, `hierl.orchestration.oof_signals`), then every
                                       class's seed-s run on validation and test
    <run>/sac/seed_<s>/                SAC meta-controller on the seed-s signals (stage `sac`), tested vs baselines
    <run>/pipeline_summary.json        every unit's status, folder, node and test metrics; the failures

Every stage's units (classes for CQL, classes x seeds for PPO, seeds for SAC) are independent, so they run as Ray
tasks with `distributed=true`. A unit whose folder is already finished with the same config is reused, so running
the same command with the same `hydra.run.dir` finishes what is missing and redoes nothing. A failed unit is
reported (summary, exit status) and costs only the units that need its output: a class's PPO runs need its CQL
run, the seed-s SAC needs every class's seed-s PPO run (and its inner units). The inner units train without the CQL
warm start: a CQL model pretrained on the whole training block has seen their test blocks.

Per-stage configs: each class's config of each stage is composed once, when the pipeline is planned (the class's
YAML, conf/asset and conf/agent_asset, must be composed under the user's overrides); every unit's config is then a
`dataclasses.replace` of that typed config (seed, warm start, signals, folder). PPO gets every override of the
command line (with `agent=ppo asset=<class>`; `agent.init_from=<run>/cql/<class>` after CQL); CQL gets them without
`agent.*` and `experiment` (`agent=cql asset=<class>`, the same env so the warm start fits); SAC gets them without
`agent.*`, `env.*`, `reward.*` and `experiment` (`experiment=hierarchy`), since those keys configure the per-class
agents. `multistage.stage_overrides.<stage>` is appended to a stage's own.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console

from hierl.config.run import CQLRunConfig, PPORunConfig, SACRunConfig, TrainConfig
from hierl.config.stages import cql_run, sac_run
from hierl.entrypoint import SUMMARY_METRICS, override_key
from hierl.errors import ConfigError, UnitsFailed, UserError
from hierl.evaluation.report import results_table
from hierl.orchestration.asset_run import RunOutcome
from hierl.orchestration.cql_run import check_cql_run, pretrain_cql
from hierl.orchestration.execution import ExecutionConfig, Node, Unit, run_units
from hierl.orchestration.hierarchy_run import check_config, train_meta_controller
from hierl.orchestration.oof_signals import SplitOutOfFold, plan_split_out_of_fold, train_split_signals
from hierl.orchestration.ppo_stage import (
    PPOStageResult,
    agent_inputs,
    compose_config,
    compose_ppo_config,
    execution_config,
    passed_on,
    plan_ppo_jobs,
    relocated_config,
    resolve_classes,
    resolve_seeds,
    reuse_or_run,
    train_ppo_stage,
    with_output_dir,
    with_seed,
)
from hierl.orchestration.signals import SIGNALS_FILE, write_signals
from hierl.run.folder import RunFolder
from hierl.tracking.files import write_json
from hierl.tracking.logging import get_logger

log = get_logger("pipeline")

STAGES = ("cql", "ppo", "sac")
SUMMARY_FILE = "pipeline_summary.json"
# Keys CQL and SAC do not take from the command line (they configure the PPO agents or choose the stage's preset).
NOT_FOR_CQL = ("agent", "experiment")
NOT_FOR_SAC = ("agent", "env", "reward", "experiment")


@dataclass(frozen=True)
class CQLJob:
    """One class's CQL pretraining unit.

    A `FolderJob` like `PPOJob`: `relocated` runs it in a node-local folder (reading a node-local copy of its
    behaviour PPO run, if any), `planned` keeps the driver's config for reuse and refusal (`identity`).
    """

    # The agent's paths outside the unit's folder: the PPO run whose policy logs part of the dataset.
    INPUT_FIELDS: ClassVar[tuple[str, ...]] = ("behaviour_ppo_run",)

    name: str
    cfg: CQLRunConfig
    run_dir: Path
    planned: CQLRunConfig | None = None

    @property
    def identity(self) -> CQLRunConfig:
        return self.planned if self.planned is not None else self.cfg

    def inputs(self) -> tuple[Path, ...]:
        return agent_inputs(self.cfg, self.INPUT_FIELDS)

    def relocated(self, run_dir: Path, inputs: Mapping[Path, Path]) -> CQLJob:
        cfg = relocated_config(self.cfg, self.INPUT_FIELDS, inputs, run_dir)
        return dataclasses.replace(self, cfg=cfg, run_dir=run_dir, planned=self.identity)


@dataclass(frozen=True)
class SACJob:
    """One seed's meta-controller unit, with the PPO configs its sleeves were trained with.

    A `FolderJob` like `PPOJob`: `relocated` runs it in a node-local folder on node-local copies of its signals
    (and of the CQL run it warm-starts from, if any); `planned` keeps the driver's config (`identity`).
    """

    # The agent's paths outside the unit's folder: the signals it allocates across and its warm start.
    INPUT_FIELDS: ClassVar[tuple[str, ...]] = ("signals_path", "init_from")

    name: str
    cfg: SACRunConfig
    run_dir: Path
    class_cfgs: dict[str, PPORunConfig]
    planned: SACRunConfig | None = None

    @property
    def identity(self) -> SACRunConfig:
        return self.planned if self.planned is not None else self.cfg

    def inputs(self) -> tuple[Path, ...]:
        return agent_inputs(self.cfg, self.INPUT_FIELDS)

    def relocated(self, run_dir: Path, inputs: Mapping[Path, Path]) -> SACJob:
        cfg = relocated_config(self.cfg, self.INPUT_FIELDS, inputs, run_dir)
        return dataclasses.replace(self, cfg=cfg, run_dir=run_dir, planned=self.identity)


def run_cql_job(job: CQLJob) -> dict[str, float]:
    """Pretrain CQL in the job's folder, or reuse it when it is finished with the same config."""
    return reuse_or_run(job.name, job.run_dir, job.identity, lambda: pretrain_cql(job.cfg, job.run_dir).metrics)


def run_sac_job(job: SACJob) -> dict[str, float]:
    """Train and evaluate the meta-controller in the job's folder, or reuse it when it is finished."""
    return reuse_or_run(
        job.name,
        job.run_dir,
        job.identity,
        lambda: train_meta_controller(job.cfg, job.run_dir, job.class_cfgs).metrics,
    )


def pipeline_stages(outer: TrainConfig) -> list[str]:
    """The stages to run, in pipeline order; SAC needs PPO's signals, so `sac` without `ppo` is refused."""
    stages = list(outer.multistage.stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ConfigError(f"multistage.stages={stages} must be a non-empty subset of {list(STAGES)}")
    if "sac" in stages and "ppo" not in stages:
        raise ConfigError(
            "multistage.stages=[...sac] needs ppo too: SAC allocates across the PPO sleeves' signals (finished PPO "
            "units in the same hydra.run.dir are reused, not retrained)"
        )
    return [s for s in STAGES if s in stages]


def _without(overrides: Sequence[str], sections: Sequence[str]) -> list[str]:
    """`overrides` minus those that set a key of one of `sections` (or the section itself: `agent=cql`)."""
    return [o for o in overrides if override_key(o).split(".")[0] not in sections]


def _warm_started(cfg: PPORunConfig, init_from: Path | None) -> PPORunConfig:
    """`cfg` warm-started from the CQL run folder `init_from` (unchanged without one)."""
    if init_from is None:
        return cfg
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, init_from=str(init_from)))


@dataclass(frozen=True)
class StageConfigs:
    """Each stage's typed config, composed once per class (and once for SAC) before any unit starts."""

    cql: dict[str, CQLRunConfig]
    ppo: dict[str, PPORunConfig]
    sac: SACRunConfig | None


def compose_stage_configs(
    outer: TrainConfig, overrides: Sequence[str], stages: Sequence[str], classes: Sequence[str]
) -> StageConfigs:
    """The configs of every stage that runs: CQL and PPO per class, SAC once; see the module docstring."""
    extra: Mapping[str, Sequence[str]] = outer.multistage.stage_overrides
    base = passed_on(overrides)

    def stage_extra(stage: str) -> list[str]:
        return list(extra.get(stage, []))

    for_cql = _without(base, NOT_FOR_CQL)
    cql = {
        c: cql_run(compose_config([*for_cql, "agent=cql", "env=trading", f"asset={c}", *stage_extra("cql")]))
        for c in (classes if "cql" in stages else [])
    }
    ppo = {
        c: compose_ppo_config([*base, "agent=ppo", "env=trading", f"asset={c}", *stage_extra("ppo")]) for c in classes
    }
    sac = (
        sac_run(compose_config([*_without(base, NOT_FOR_SAC), "experiment=hierarchy", *stage_extra("sac")]))
        if "sac" in stages
        else None
    )
    return StageConfigs(cql, ppo, sac)


@dataclass
class Pipeline:
    """What one pipeline run trains, composed and checked before any unit starts."""

    outer: TrainConfig
    configs: StageConfigs
    run_dir: Path
    stages: list[str]
    classes: list[str]
    seeds: list[int]
    execution: ExecutionConfig
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    out_of_fold: SplitOutOfFold | None = None

    def cql_config(self, asset_class: str) -> CQLRunConfig:
        return with_output_dir(self.configs.cql[asset_class], self.run_dir / "cql" / asset_class)

    def ppo_configs(self, cql_runs: Mapping[str, Path]) -> dict[str, PPORunConfig]:
        """Each class's PPO config, warm-started from its CQL run when there is one."""
        return {c: _warm_started(cfg, cql_runs.get(c)) for c, cfg in self.configs.ppo.items() if c in self.classes}

    def sac_config(self, seed: int, signals_path: Path) -> SACRunConfig:
        assert self.configs.sac is not None
        cfg = with_seed(self.configs.sac, seed)
        cfg = dataclasses.replace(
            cfg,
            agent=dataclasses.replace(cfg.agent, signals_path=str(signals_path)),
            multistage=dataclasses.replace(cfg.multistage, asset_classes=list(self.classes)),
        )
        return with_output_dir(cfg, self.run_dir / "sac" / f"seed_{seed}")

    def check(self) -> None:
        """Check one config of every stage, so a bad value fails before hours of training."""
        for asset_class in self.classes:
            if "cql" in self.stages:
                check_cql_run(self.cql_config(asset_class))
            plan_ppo_jobs({asset_class: self.configs.ppo[asset_class]}, self.seeds[:1], self.run_dir / "ppo")
        if "sac" in self.stages:
            check_config(self.sac_config(self.seeds[0], self.run_dir / "ppo" / "signals.parquet"))

    def record(
        self, name: str, run_dir: Path, metrics: dict[str, float] | None, error: str | None, node: Node | None = None
    ) -> None:
        entry: dict[str, Any] = {"run_dir": str(run_dir), "status": "finished" if error is None else "failed"}
        if node is not None:
            entry["node"] = node.to_dict()
        if metrics is not None:
            entry["metrics"] = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
        if error is not None:
            entry["error"] = error
            self.failures[name] = error
        self.results[name] = entry

    def run_cql(self) -> dict[str, Path]:
        """CQL per class; the folders of the classes whose CQL run finished."""
        jobs = [CQLJob(f"cql/{c}", self.cql_config(c), self.run_dir / "cql" / c) for c in self.classes]
        outcomes = run_units([Unit(job.name, run_cql_job, job=job) for job in jobs], self.execution)
        finished = {}
        for asset_class, job, outcome in zip(self.classes, jobs, outcomes, strict=True):
            self.record(job.name, job.run_dir, outcome.value, outcome.error, outcome.node)
            if outcome.ok:
                finished[asset_class] = job.run_dir
        return finished

    def run_ppo(self, cql_runs: dict[str, Path] | None) -> PPOStageResult:
        """PPO per class x seed, warm-started from each class's CQL run when the CQL stage ran."""
        root = self.run_dir / "ppo"
        classes = self.classes if cql_runs is None else [c for c in self.classes if c in cql_runs]
        for asset_class in sorted(set(self.classes) - set(classes)):
            for seed in self.seeds:
                name = f"ppo/{asset_class}/seed_{seed}"
                self.record(name, root / asset_class, None, f"not run: cql/{asset_class} failed")
        class_cfgs = self.ppo_configs(cql_runs or {})
        jobs = plan_ppo_jobs({c: class_cfgs[c] for c in classes}, self.seeds, root)
        result = train_ppo_stage(jobs, root, self.run_dir / SIGNALS_FILE, self.execution)
        for job in jobs:
            self.record(
                job.name,
                job.run_dir,
                result.per_job.get((job.asset_class, job.seed)),
                result.errors.get(job.name),
                result.nodes.get(job.name),
            )
        return result

    def run_sac(self, ppo: PPOStageResult) -> None:
        """One meta-controller per seed, on the signals of every class's run of that seed."""
        jobs = []
        for seed in self.seeds:
            name, folder = f"sac/seed_{seed}", self.run_dir / "sac" / f"seed_{seed}"
            frame = ppo.signals_of_seed(seed) if len(ppo.chosen) == len(self.classes) else None
            if frame is None:
                self.record(name, folder, None, f"not run: a PPO run of seed {seed} failed")
                continue
            class_cfgs = {c: ppo.job(c, seed).cfg for c in self.classes}
            if self.out_of_fold is not None:
                runs = {c: ppo.job(c, seed).run_dir for c in self.classes}
                split = train_split_signals(
                    self.out_of_fold, class_cfgs, runs, seed, len(self.seeds), self.run_dir / "ppo", self.execution
                )
                # Listed without metrics: an inner unit's test block lies inside the training block, so its
                # `test/*` numbers are not test results of the pipeline.
                for unit in split.units:
                    self.record(unit.name, unit.run_dir, None, unit.outcome.error, unit.outcome.node)
                try:
                    frame = split.signals()
                except UserError as error:
                    self.record(name, folder, None, f"not run: {error}")
                    continue
            signals_path = self.run_dir / "ppo" / f"signals_seed_{seed}.parquet"
            write_signals(signals_path, [frame])
            jobs.append(SACJob(name, self.sac_config(seed, signals_path), folder, class_cfgs))
        outcomes = run_units([Unit(job.name, run_sac_job, job=job) for job in jobs], self.execution)
        for job, outcome in zip(jobs, outcomes, strict=True):
            self.record(job.name, job.run_dir, outcome.value, outcome.error, outcome.node)

    def summary(self) -> dict[str, Any]:
        return {
            "stages": self.stages,
            "asset_classes": self.classes,
            "seeds": self.seeds,
            "distributed": self.execution.distributed,
            "units": self.results,
            "failed": sorted(self.failures),
        }

    def metrics(self) -> dict[str, float]:
        """Flat `<unit>/<metric>` of every finished unit, and the optimised metric of the last stage that ran
        (averaged over its units)."""
        flat = {
            f"{name}/{key}": value
            for name, entry in self.results.items()
            for key, value in entry.get("metrics", {}).items()
        }
        last = self.stages[-1]
        values = [
            entry["metrics"].get(self.outer.optimized_metric, math.nan)
            for name, entry in self.results.items()
            if name.startswith(f"{last}/") and "metrics" in entry
        ]
        flat[self.outer.optimized_metric] = sum(values) / len(values) if values else math.nan
        return flat


def print_summary(pipeline: Pipeline) -> None:
    """Each finished unit's test metrics in one table, then the failures."""
    rows = {
        name: {metric: entry["metrics"][f"test/{metric}"] for metric in SUMMARY_METRICS}
        for name, entry in pipeline.results.items()
        if "metrics" in entry
    }
    console = Console(file=sys.stdout, width=120)
    console.print(results_table(rows, "pipeline: test block of every unit"))
    for name, error in pipeline.failures.items():
        console.print(f"[red]failed[/red] {name}: {error}")


def run_pipeline(outer: TrainConfig, overrides: list[str], run_dir: Path) -> RunOutcome:
    """Every stage of `stages`, then `pipeline_summary.json`; UnitsFailed (after writing it) if a unit failed."""
    stages, classes = pipeline_stages(outer), resolve_classes(outer)
    pipeline = Pipeline(
        outer=outer,
        configs=compose_stage_configs(outer, overrides, stages, classes),
        run_dir=run_dir,
        stages=stages,
        classes=classes,
        seeds=resolve_seeds(outer),
        execution=execution_config(outer),
    )
    pipeline.check()
    if "sac" in stages and outer.multistage.sac_signals == "out_of_fold":
        # Planned from the data before any unit trains, so inner folds that do not fit fail first.
        ppo_cfgs = {c: pipeline.configs.ppo[c] for c in classes}
        pipeline.out_of_fold = plan_split_out_of_fold(ppo_cfgs, outer.multistage, "ppo")
    try:
        cql_runs = pipeline.run_cql() if "cql" in pipeline.stages else None
        if "ppo" in pipeline.stages:
            ppo = pipeline.run_ppo(cql_runs)
            if "sac" in pipeline.stages:
                pipeline.run_sac(ppo)
    finally:
        if pipeline.execution.distributed:
            import ray

            ray.shutdown()
    write_json(run_dir / SUMMARY_FILE, pipeline.summary())
    metrics = pipeline.metrics()
    RunFolder(run_dir).write_metrics(metrics)
    print_summary(pipeline)
    if pipeline.failures:
        raise UnitsFailed(
            f"{len(pipeline.failures)} unit(s) failed ("
            + "; ".join(f"{name}: {error.splitlines()[0]}" for name, error in sorted(pipeline.failures.items()))
            + "); the others' "
            f"results are in {run_dir / SUMMARY_FILE}. Run the same command with hydra.run.dir={run_dir} to "
            "retry only what failed"
        )
    return RunOutcome(run_dir, metrics)

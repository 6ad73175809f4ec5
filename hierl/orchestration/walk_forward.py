"""Walk-forward research: every fold trains, selects on its own validation block and tests once on its own test
block; the folds' test blocks tile the calendar, so their test segments stitch into one out-of-sample record.

    <run>/walk_forward.json                            the folds: block dates, seeds, status, each unit's node
    <run>/folds/fold_<k>/ppo/<class>[/seed_<s>]/       the fold's PPO agent per class (and seed)
    <run>/folds/fold_<k>/oof_<j>/<class>[/seed_<s>]/   inner PPO units: SAC's out-of-fold training signals
    <run>/folds/fold_<k>/signals_seed_<s>.parquet      the out-of-fold signals of the fold's SAC of seed s
    <run>/folds/fold_<k>/sac/seed_<s>/                 the fold's SAC meta-controller (stages [ppo, sac])
    <run>/oos_backtest.parquet, oos_baselines.parquet, oos_positions.parquet, oos_equity.png, metrics.json

Folds reach their units as data bounds (`hierl.orchestration.walk_forward_plan`); out-of-fold signals are
`hierl.orchestration.oof_signals`; the record and its statistics `hierl.orchestration.oos_record`.

Units are the PPO stage's and the pipeline's: every PPO unit of every fold (outer and inner, each class and seed)
is independent, so they all run in one `run_units` call (in this process, or as Ray tasks with
`multistage.distributed=true`), then every fold's SAC units in another. A unit whose folder is finished with the
same config is reused, so running the same command with the same `hydra.run.dir` finishes what is missing, fold
by fold; with `resume=true` interrupted units continue from their newest checkpoint. A failed unit costs only the
fold and seed that need it: the other seeds' records are still written, then the run fails naming it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from hierl.config.run import PPORunConfig, SACRunConfig, TrainConfig
from hierl.entrypoint import SUMMARY_METRICS, override_key
from hierl.envs.sleeves import union_bars_per_year, union_calendar
from hierl.errors import ConfigError, UnitsFailed, UserError
from hierl.evaluation.report import results_table
from hierl.orchestration.asset_run import RunOutcome, check_trainable, load_run_market
from hierl.orchestration.execution import ExecutionConfig, Node, Unit, UnitOutcome, run_units
from hierl.orchestration.hierarchy_run import check_config
from hierl.orchestration.oof_signals import fold_signals
from hierl.orchestration.oos_record import Segment, record_metrics, stitch, write_record
from hierl.orchestration.pipeline import SACJob, StageConfigs, compose_stage_configs, run_sac_job
from hierl.orchestration.ppo_stage import (
    PPOJob,
    checked_classes,
    checked_seeds,
    execution_config,
    ppo_folder,
    run_ppo_job,
    with_output_dir,
    with_seed,
)
from hierl.orchestration.signals import write_signals
from hierl.orchestration.walk_forward_plan import (
    FoldDates,
    PlannedFold,
    WalkForwardPlan,
    check_no_split_dates,
    plan_walk_forward,
    walk_forward_embargo,
)
from hierl.run.folder import RunFolder
from hierl.tracking.logging import get_logger

log = get_logger("walk_forward")

FOLDS_DIR = "folds"
SECTION = "walk_forward"


@dataclass(frozen=True)
class FoldSeed:
    """The units of one fold and seed: a PPO unit per class, the inner PPO units per class, and SAC's folder."""

    fold: PlannedFold
    seed: int
    ppo: dict[str, PPOJob]
    oof: tuple[dict[str, PPOJob], ...]
    sac_dir: Path | None
    signals_path: Path | None

    def ppo_units(self) -> list[tuple[str, PPOJob]]:
        """(unit name, job) of every PPO unit, the fold's own first."""
        named = [(f"{self.fold.name}/ppo/{c}/seed_{self.seed}", job) for c, job in self.ppo.items()]
        for inner, jobs in zip(self.fold.oof, self.oof, strict=True):
            named += [(f"{inner.name}/{c}/seed_{self.seed}", job) for c, job in jobs.items()]
        return named

    @property
    def sac_name(self) -> str:
        return f"{self.fold.name}/sac/seed_{self.seed}"

    def record_unit(self) -> tuple[str, Path]:
        """The unit whose test block the record holds: SAC when it runs, else the one PPO agent."""
        if self.sac_dir is not None:
            return self.sac_name, self.sac_dir
        ((name, job),) = self.ppo_units()
        return name, job.run_dir


@dataclass
class WalkForward:
    """One walk-forward run: its plan and units, composed and checked before any unit starts, and their outcomes."""

    outer: TrainConfig
    configs: StageConfigs
    plan: WalkForwardPlan
    run_dir: Path
    classes: list[str]
    seeds: list[int]
    execution: ExecutionConfig
    units: list[FoldSeed] = field(default_factory=list)
    outcomes: dict[str, str | None] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def with_sac(self) -> bool:
        return self.configs.sac is not None

    def ppo_job(self, asset_class: str, seed: int, fold_root: Path, blocks: FoldDates) -> PPOJob:
        """A PPO unit of `asset_class` and `seed` bounded to `blocks`, in `<fold_root>/<class>[/seed_<s>]`."""
        base = self.configs.ppo[asset_class]
        cfg = dataclasses.replace(base, data=blocks.data_config(base.data, self.plan.embargo))
        folder = ppo_folder(fold_root, asset_class, seed, len(self.seeds))
        return PPOJob(asset_class, seed, with_output_dir(with_seed(cfg, seed), folder), folder)

    def plan_units(self) -> None:
        """Every fold x seed's units; one config of each kind is checked before anything trains."""
        for fold in self.plan.folds:
            root = self.run_dir / FOLDS_DIR / fold.name
            for seed in self.seeds:
                ppo = {c: self.ppo_job(c, seed, root / "ppo", fold.dates) for c in self.classes}
                oof = tuple(
                    {c: self.ppo_job(c, seed, root / inner.name.split("/")[-1], inner) for c in self.classes}
                    for inner in fold.oof
                )
                sac_dir = root / "sac" / f"seed_{seed}" if self.with_sac else None
                signals = root / f"signals_seed_{seed}.parquet" if self.with_sac else None
                self.units.append(FoldSeed(fold, seed, ppo, oof, sac_dir, signals))
        first = self.units[0]
        for job in first.ppo.values():
            check_trainable(job.cfg)
        if first.sac_dir is not None and first.signals_path is not None:
            check_config(self.sac_config(first, first.signals_path))

    def sac_config(self, unit: FoldSeed, signals_path: Path) -> SACRunConfig:
        """The fold's meta-controller of one seed, on the fold's data bounds and its out-of-fold signals."""
        assert self.configs.sac is not None and unit.sac_dir is not None
        cfg = with_seed(self.configs.sac, unit.seed)
        cfg = dataclasses.replace(
            cfg,
            data=unit.fold.dates.data_config(cfg.data, self.plan.embargo),
            agent=dataclasses.replace(cfg.agent, signals_path=str(signals_path)),
            multistage=dataclasses.replace(cfg.multistage, asset_classes=list(self.classes)),
        )
        return with_output_dir(cfg, unit.sac_dir)

    def failed(self, names: Sequence[str]) -> list[str]:
        return [name for name in names if self.outcomes.get(name, "not run") is not None]

    def record(self, outcomes: Sequence[UnitOutcome[Any]]) -> None:
        for outcome in outcomes:
            self.outcomes[outcome.name] = outcome.error
            if outcome.node is not None:
                self.nodes[outcome.name] = outcome.node

    def run_ppo(self) -> None:
        """Every PPO unit of every fold, seed and class, outer and inner, in one batch of independent units."""
        named = [pair for unit in self.units for pair in unit.ppo_units()]
        self.record(run_units([Unit(name, run_ppo_job, job=job) for name, job in named], self.execution))

    def run_sac(self) -> None:
        """Each fold x seed's meta-controller on its out-of-fold signals, when every PPO unit it needs finished."""
        jobs = []
        for unit in self.units:
            assert unit.signals_path is not None and unit.sac_dir is not None
            missing = self.failed([name for name, _ in unit.ppo_units()])
            if missing:
                self.outcomes[unit.sac_name] = f"not run: {', '.join(missing)} failed"
                continue
            try:
                frame = fold_signals(
                    unit.fold,
                    {c: job.run_dir for c, job in unit.ppo.items()},
                    [{c: job.run_dir for c, job in jobs_of.items()} for jobs_of in unit.oof],
                )
                write_signals(unit.signals_path, [frame])
            except UserError as error:
                self.outcomes[unit.sac_name] = f"{type(error).__name__}: {error}"
                continue
            class_cfgs = {c: job.cfg for c, job in unit.ppo.items()}
            jobs.append(SACJob(unit.sac_name, self.sac_config(unit, unit.signals_path), unit.sac_dir, class_cfgs))
        self.record(run_units([Unit(job.name, run_sac_job, job=job) for job in jobs], self.execution))

    def unit_names(self, unit: FoldSeed) -> list[str]:
        names = [name for name, _ in unit.ppo_units()]
        return [*names, unit.sac_name] if self.with_sac else names

    def complete_seeds(self) -> list[int]:
        """The seeds whose every fold's record unit finished: each is one whole out-of-sample record."""
        return [
            seed for seed in self.seeds if not self.failed([u.record_unit()[0] for u in self.units if u.seed == seed])
        ]

    def summary(self) -> dict[str, Any]:
        """walk_forward.json: the plan, and per fold its blocks, seeds and status (with the failed units and the
        node each unit that ran ran on)."""
        folds = []
        for fold in self.plan.folds:
            names = [name for unit in self.units if unit.fold.index == fold.index for name in self.unit_names(unit)]
            failed = {name: self.outcomes[name] for name in self.failed(names) if name in self.outcomes}
            pending = [name for name in names if name not in self.outcomes]
            status = "failed" if failed else "planned" if pending else "finished"
            entry: dict[str, Any] = {"fold": fold.index, **fold.dates.blocks(), "seeds": self.seeds, "status": status}
            entry["decision_start"] = fold.dates.decision_start
            entry["oof"] = [{"fold": inner.name, **inner.blocks()} for inner in fold.oof]
            if failed:
                entry["failed"] = failed
            nodes = {name: self.nodes[name].to_dict() for name in names if name in self.nodes}
            if nodes:
                entry["nodes"] = nodes
            folds.append(entry)
        calendar = self.plan.calendar
        wf = self.outer.walk_forward
        return {
            "scheme": wf.scheme,
            "stages": list(wf.stages),
            "asset_classes": self.classes,
            "seeds": self.seeds,
            "embargo_days": self.plan.embargo,
            "calendar": {"start": str(calendar[0]), "end": str(calendar[-1]), "days": len(calendar)},
            "bars_per_year": self.plan.bars_per_year,
            "folds": folds,
        }

    def segments(self, seeds: Sequence[int]) -> list[Segment]:
        return [
            Segment(u.fold.index, u.seed, u.record_unit()[1], u.fold.dates.test_start, u.fold.dates.test_end)
            for u in self.units
            if u.seed in seeds
        ]

    def selection_metric(self, seeds: Sequence[int]) -> dict[str, float]:
        """`val/sharpe`: the mean over folds and seeds of the record units' validation Sharpe, a score a sweep over
        walk-forward configs may select on without looking at any test block."""
        folders = [RunFolder(u.record_unit()[1]) for u in self.units if u.seed in seeds]
        values = [folder.read_metrics().get("val/sharpe", math.nan) for folder in folders]
        return {"val/sharpe": float(sum(values) / len(values))} if values else {}


def walk_forward_overrides(overrides: Sequence[str]) -> list[str]:
    """The command line's overrides without the `walk_forward` section, for composing each unit's config."""
    return [o for o in overrides if override_key(o).split(".")[0] != SECTION]


def plan_run(outer: TrainConfig, overrides: Sequence[str], run_dir: Path) -> WalkForward:
    """Check the config, compose every stage's config, cut the folds and name every unit; nothing trains yet."""
    wf = outer.walk_forward
    if not outer.evaluate_test:
        raise ConfigError(
            "evaluate_test=false skips the test blocks a walk-forward is made of; drop it (each fold is still chosen "
            "on its validation block and tested once)"
        )
    check_no_split_dates(outer.data)
    stages = list(wf.stages)
    classes = checked_classes(outer, wf.asset_classes, "walk_forward.asset_classes")
    if stages == ["ppo"] and len(classes) != 1:
        raise ConfigError(
            f"walk_forward.stages=[ppo] tests one PPO agent, but walk_forward.asset_classes gives {classes}; name "
            "one class (walk_forward.asset_classes=[equity]) or add sac to combine them"
        )
    seeds = checked_seeds(outer, wf.seeds, "walk_forward.seeds")
    configs = compose_stage_configs(outer, walk_forward_overrides(overrides), stages, classes)
    ppo_cfgs: dict[str, PPORunConfig] = configs.ppo
    base = next(iter(ppo_cfgs.values()))
    embargo = walk_forward_embargo(wf, base.data, ppo_cfgs)
    # The calendar: the days every class trades within data.start..data.end, with no split dates of its own.
    calendar_data = dataclasses.replace(base.data, splits=dataclasses.replace(base.data.splits, embargo_days=embargo))
    markets = [load_run_market(dataclasses.replace(cfg, data=calendar_data)) for cfg in ppo_cfgs.values()]
    window = max(cfg.env.window for cfg in ppo_cfgs.values())
    min_rows = window + base.data.splits.min_block_steps
    plan = plan_walk_forward(
        union_calendar(markets),
        wf,
        embargo,
        window,
        min_rows,
        out_of_fold="sac" in stages,
        bars_per_year=union_bars_per_year(markets),
    )
    run = WalkForward(outer, configs, plan, run_dir, classes, seeds, execution_config(outer))
    run.plan_units()
    return run


def print_record(metrics: dict[str, float], title: str) -> None:
    """The out-of-sample metrics of the agent and every baseline, in one table."""
    rows: dict[str, dict[str, float]] = {"agent": {}}
    for key, value in metrics.items():
        parts = key.split("/")
        if parts[0] != "oos" or parts[-1] not in SUMMARY_METRICS:
            continue
        if len(parts) == 2:
            rows["agent"][parts[1]] = value
        elif parts[1] == "baseline":
            rows.setdefault(parts[2], {})[parts[-1]] = value
    Console(file=sys.stdout, width=120).print(results_table(rows, title))


def run_walk_forward(outer: TrainConfig, overrides: list[str], run_dir: Path) -> RunOutcome:
    """Plan, train every fold's units, stitch the record and measure it; UnitsFailed (after writing what the
    finished seeds give) if a unit failed."""
    run = plan_run(outer, overrides, run_dir)
    folder = RunFolder(run_dir)
    folder.write_walk_forward(run.summary())
    log.info(
        "%d folds x %d seeds, %d units; test blocks %s..%s",
        len(run.plan.folds),
        len(run.seeds),
        sum(len(run.unit_names(u)) for u in run.units),
        run.plan.folds[0].dates.test_start,
        run.plan.folds[-1].dates.test_end,
    )
    try:
        run.run_ppo()
        if run.with_sac:
            run.run_sac()
    finally:
        if run.execution.distributed:
            import ray

            ray.shutdown()
    folder.write_walk_forward(run.summary())
    seeds = run.complete_seeds()
    metrics: dict[str, float] = {}
    first, last = run.plan.folds[0].dates, run.plan.folds[-1].dates
    title = f"walk-forward: {len(run.plan.folds)} folds, {first.test_start}..{last.test_end}"
    if seeds:
        record = stitch(run.segments(seeds))
        write_record(folder, record, f"{title} ({'hierarchy' if run.with_sac else run.classes[0]})")
        metrics = {**record_metrics(record, bars_per_year=run.plan.bars_per_year), **run.selection_metric(seeds)}
        folder.write_metrics(metrics)
        print_record(metrics, f"{title}: out of sample")
    failures = {name: error for name, error in run.outcomes.items() if error is not None}
    if failures:
        raise UnitsFailed(
            f"{len(failures)} unit(s) failed ("
            + "; ".join(f"{name}: {error.splitlines()[0]}" for name, error in sorted(failures.items()))
            + f"); the record holds seeds {seeds} and {folder.walk_forward_path} names the failures. Run the same "
            f"command with hydra.run.dir={run_dir} to retry only what failed"
        )
    return RunOutcome(run_dir, metrics)

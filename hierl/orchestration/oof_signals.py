"""The signals a meta-controller trains, selects and is tested on: every row out of fold.

A PPO model's signals on its own training block are in-sample (they look several times better there than
anywhere else), so SAC would learn to trust the sleeves too much. In a walk-forward fold, for any date, the
signal comes from a PPO model that never trained on that date:

- SAC's training rows (split `train`) are the test blocks of the fold's inner expanding walk-forward
  (`<fold>/oof_<j>`, `hierl.orchestration.walk_forward_plan`): inner unit j trains on the fold's training block up
  to its own validation block, is selected there, and supplies the days from its first test decision up to the
  next inner unit's; together they tile the end of the fold's training block;
- validation and test rows are those of the fold's own PPO units, trained on the whole training block.

A single split (`experiment=hierarchy`, the pipeline's SAC stage, with `multistage.sac_signals=out_of_fold`) is one
such fold. Before anything trains, `plan_split_out_of_fold` cuts the split's training block into the inner
walk-forward of `multistage.oof_folds` blocks of `multistage.oof_years` (validation blocks as long as the split's
own); `train_split_signals` then trains its units in `<root>/oof_<j>/<class>[/seed_<s>]` and joins their test rows
to the sleeves' own validation and test rows.

Every row records `source_fold` (the unit whose model produced it) and `source_train_end` (the last day that
model trained on, from the unit's `data_fingerprint.json`); `validate_signals` refuses a row whose model trained
on its date or later. On intraday bars the fold dates, the signals' dates and `source_train_end` are timestamps
(`hierl.orchestration.walk_forward_plan`), compared bar by bar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from hierl.config.run import MultiStageConfig, PPORunConfig
from hierl.data.splits import embargo_rows
from hierl.data.timestamps import before as dated_before
from hierl.data.timestamps import bound, since
from hierl.envs.market_core import bars_in_years
from hierl.envs.sleeves import union_bars_per_year, union_calendar, union_split_blocks
from hierl.errors import UserError
from hierl.orchestration.asset_run import load_run_market
from hierl.orchestration.execution import ExecutionConfig, Unit, UnitOutcome, run_units
from hierl.orchestration.ppo_stage import PPOJob, ppo_folder, run_ppo_job, with_output_dir, with_seed
from hierl.orchestration.signals import SOURCE_FOLD, SOURCE_TRAIN_END, validate_signals
from hierl.orchestration.walk_forward_plan import (
    FoldDates,
    PlannedFold,
    inner_folds,
)
from hierl.run.folder import RunFolder
from hierl.tracking.logging import get_logger

log = get_logger("oof_signals")


def unit_signals(
    run_dir: Path,
    splits: Sequence[str],
    source: str,
    first: str | None = None,
    before: str | None = None,
    as_split: str | None = None,
) -> pl.DataFrame:
    """The rows of `splits` of one PPO unit's signals (dates in [first, before) when given), relabelled `as_split`
    when given, with their provenance: `source` and the unit's last training day."""
    run = RunFolder(run_dir)
    frame = validate_signals(pl.read_parquet(run.signals_path), str(run.signals_path))
    frame = frame.filter(pl.col("split").is_in(list(splits)))
    if first is not None:
        frame = frame.filter(since(first))
    if before is not None:
        frame = frame.filter(dated_before(before))
    train = run.split_dates("train")
    if train is None:
        raise UserError(f"{run_dir} has no training block in data_fingerprint.json; rerun that unit")
    train_end = bound(train[1])
    end_type = pl.Datetime("us") if isinstance(train_end, datetime) else pl.Date()
    return frame.with_columns(
        pl.lit(as_split).alias("split") if as_split is not None else pl.col("split"),
        pl.lit(source).alias(SOURCE_FOLD),
        pl.lit(train_end, dtype=end_type).alias(SOURCE_TRAIN_END),
    )


def fold_signals(
    fold: PlannedFold, ppo_runs: Mapping[str, Path], oof_runs: Sequence[Mapping[str, Path]]
) -> pl.DataFrame:
    """Every class's out-of-fold signals for one walk-forward fold (see `out_of_fold_signals`)."""
    return out_of_fold_signals(fold.name, fold.oof, ppo_runs, oof_runs)


def out_of_fold_signals(
    name: str, inner: Sequence[FoldDates], ppo_runs: Mapping[str, Path], oof_runs: Sequence[Mapping[str, Path]]
) -> pl.DataFrame:
    """Every class's out-of-fold signals (see the module docstring): the inner units' test rows as the training
    rows, then the units trained on the whole training block (`ppo_runs`, labelled `name`): their validation and
    test rows.

    Inner unit j supplies the decisions from its `decision_start` up to (not including) its `test_end`, the next
    inner unit's first decision day (the last training day for the last one), so the rows tile the end of the
    training block with no day twice.
    """
    if len(oof_runs) != len(inner):
        raise ValueError(f"{name} plans {len(inner)} inner folds, got units for {len(oof_runs)}")
    frames = [
        unit_signals(run_dir, ["test"], block.name, block.decision_start, block.test_end, as_split="train")
        for block, runs in zip(inner, oof_runs, strict=True)
        for run_dir in runs.values()
    ]
    frames += [unit_signals(run_dir, ["val", "test"], name) for run_dir in ppo_runs.values()]
    return pl.concat(frames)


@dataclass(frozen=True)
class SplitOutOfFold:
    """The inner walk-forward of one split's training block: its folds (named `<name>/oof_<j>`) and the embargo
    between their blocks. Planned from the data before anything trains, so folds that do not fit fail first."""

    name: str
    folds: tuple[FoldDates, ...]
    embargo: int


def plan_split_out_of_fold(
    class_cfgs: Mapping[str, PPORunConfig], multistage: MultiStageConfig, name: str
) -> SplitOutOfFold:
    """The inner walk-forward over the training block of the classes' split, on the union of their bars (where the
    meta-controller decides).

    The embargo is the split's (`data.splits.embargo_days`, else the longest `env.window`), and each inner
    validation block is as long as the split's own validation block.
    """
    markets = [load_run_market(cfg) for cfg in class_cfgs.values()]
    calendar = union_calendar(markets)
    blocks = union_split_blocks(markets, calendar)
    (train_start, train_stop), (val_start, val_stop) = blocks["train"], blocks["val"]
    window = max(cfg.env.window for cfg in class_cfgs.values())
    splits = next(iter(class_cfgs.values())).data.splits
    embargo = embargo_rows(splits, window)
    folds = inner_folds(
        name,
        calendar[train_start:train_stop],
        multistage.oof_folds,
        val_stop - val_start,
        bars_in_years(multistage.oof_years, union_bars_per_year(markets)),
        embargo,
        window + splits.min_block_steps,
        window - 1,
        settings=f"multistage.oof_folds={multistage.oof_folds} blocks of multistage.oof_years={multistage.oof_years}",
        longer="a longer training block (an earlier data.start, a later data.splits.train_end), or "
        "multistage.sac_signals=in_sample",
    )
    return SplitOutOfFold(name, folds, embargo)


@dataclass(frozen=True)
class InnerUnit:
    """One inner PPO unit of a split's out-of-fold signals, and what became of it."""

    name: str
    run_dir: Path
    outcome: UnitOutcome[dict[str, float]]


@dataclass(frozen=True)
class SplitSignals:
    """The inner units a split's out-of-fold signals were trained by, and the signals they give (`signals`)."""

    plan: SplitOutOfFold
    ppo_runs: Mapping[str, Path]
    units: tuple[InnerUnit, ...]
    inner_runs: tuple[dict[str, Path], ...]

    def signals(self) -> pl.DataFrame:
        """Every class's out-of-fold signals; a UserError names the inner units that failed, or a signal whose
        model trained on its date."""
        failed = [unit for unit in self.units if not unit.outcome.ok]
        if failed:
            failures = "; ".join(f"{unit.name}: {unit.outcome.error}" for unit in failed)
            raise UserError(f"the meta-controller's out-of-fold signals need every inner PPO unit, but {failures}")
        return out_of_fold_signals(self.plan.name, self.plan.folds, self.ppo_runs, self.inner_runs)


def train_split_signals(
    plan: SplitOutOfFold,
    class_cfgs: Mapping[str, PPORunConfig],
    ppo_runs: Mapping[str, Path],
    seed: int,
    n_seeds: int,
    root: Path,
    execution: ExecutionConfig,
) -> SplitSignals:
    """Train the inner units of one split's out-of-fold signals for one seed (see the module docstring).

    `class_cfgs` are the configs the classes' units of `ppo_runs` (finished, trained on the whole training block)
    were trained with; each inner unit is that config bounded to its inner fold, without a warm start (a CQL model
    pretrained on the whole training block has seen the inner test blocks). Finished inner units of an earlier
    attempt are reused; a failed unit is in the result, and its `signals()` refuses.
    """
    named: list[tuple[str, PPOJob]] = []
    inner_runs: list[dict[str, Path]] = []
    for fold in plan.folds:
        runs = {}
        for asset_class, class_cfg in class_cfgs.items():
            folder = ppo_folder(root / fold.name.split("/")[-1], asset_class, seed, n_seeds)
            agent = dataclasses.replace(class_cfg.agent, init_from=None)
            cfg = dataclasses.replace(class_cfg, agent=agent, data=fold.data_config(class_cfg.data, plan.embargo))
            job = PPOJob(asset_class, seed, with_output_dir(with_seed(cfg, seed), folder), folder)
            named.append((f"{fold.name}/{asset_class}/seed_{seed}", job))
            runs[asset_class] = folder
        inner_runs.append(runs)
    log.info(
        "out-of-fold signals for SAC: inner test blocks %s (%d), %d PPO units",
        ", ".join(f"{fold.test_start}..{fold.test_end}" for fold in plan.folds),
        len(plan.folds),
        len(named),
    )
    outcomes = run_units([Unit(unit_name, run_ppo_job, job=job) for unit_name, job in named], execution)
    units = tuple(InnerUnit(name, job.run_dir, outcome) for (name, job), outcome in zip(named, outcomes, strict=True))
    return SplitSignals(plan, ppo_runs, units, tuple(inner_runs))

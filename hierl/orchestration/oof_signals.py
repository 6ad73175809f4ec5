"""The signals a walk-forward fold's meta-controller trains, selects and is tested on: every row out of fold.

A PPO model's signals on its own training block are in-sample (they look several times better there than
anywhere else), so SAC would learn to trust the sleeves too much. In a walk-forward fold, for any date, the
signal comes from a PPO model that never trained on that date:

- SAC's training rows (split `train`) are the test blocks of the fold's inner expanding walk-forward
  (`<fold>/oof_<j>`, `hierl.orchestration.walk_forward_plan`): inner unit j trains on the fold's training block up
  to its own validation block, is selected there, and supplies the days from its first test decision up to the
  next inner unit's; together they tile the end of the fold's training block;
- validation and test rows are those of the fold's own PPO units, trained on the whole training block.

Every row records `source_fold` (the unit whose model produced it) and `source_train_end` (the last day that
model trained on, from the unit's `data_fingerprint.json`); `validate_signals` refuses a row whose model trained
on its date or later. On intraday bars the fold dates, the signals' dates and `source_train_end` are timestamps
(`hierl.orchestration.walk_forward_plan`), compared bar by bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import polars as pl

from hierl.data.timestamps import before as dated_before
from hierl.data.timestamps import bound, since
from hierl.errors import UserError
from hierl.orchestration.signals import SOURCE_FOLD, SOURCE_TRAIN_END, validate_signals
from hierl.orchestration.walk_forward_plan import PlannedFold
from hierl.run.folder import RunFolder


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
    """Every class's out-of-fold signals for one fold (see the module docstring): inner units' test rows as the
    training rows, then the fold's own units' validation and test rows.

    Inner unit j supplies the decisions from its `decision_start` up to (not including) its `test_end`, the next
    inner unit's first decision day (the fold's last training day for the last one), so the rows tile the end of
    the training block with no day twice.
    """
    if len(oof_runs) != len(fold.oof):
        raise ValueError(f"{fold.name} plans {len(fold.oof)} inner folds, got units for {len(oof_runs)}")
    frames = [
        unit_signals(run_dir, ["test"], inner.name, inner.decision_start, inner.test_end, as_split="train")
        for inner, runs in zip(fold.oof, oof_runs, strict=True)
        for run_dir in runs.values()
    ]
    frames += [unit_signals(run_dir, ["val", "test"], fold.name) for run_dir in ppo_runs.values()]
    return pl.concat(frames)

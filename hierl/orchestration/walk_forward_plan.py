"""The folds of a walk-forward run as dates, and the data config that bounds a unit to one fold's blocks.

Folds are cut from one calendar, the union of the asset classes' bars (the hierarchy's decision calendar,
`hierl.envs.sleeves`), with `hierl.data.splits.walk_forward_folds`; block lengths in years become bars of it at
its bars a year (the densest class's). A fold reaches its units through keys the data layer already has:

    data.start              the fold's first training day (earlier rows still warm the features up)
    data.splits.train_end   the fold's last training day
    data.splits.val_end     the fold's last validation day
    data.end                the fold's last test day (the test block is what is left after validation)
    data.splits.embargo_days  the walk-forward's embargo, the same for every unit

so `compute_split_bounds` rebuilds the fold's blocks in each class's calendar, and a run that does not walk
forward is untouched. The bounds are dates, so they mean the same stretch of time in each class; a fold date a
class does not trade (a weekend of a crypto class, for an equity class) bounds its blocks at its nearest bars
inside them. Each class's blocks stay in date order with its own embargo between them, so every fold stays causal.

Intraday bars: fold dates are the calendar's own, so on intraday bars they are timestamps (`2024-01-31T13:00:00`,
UTC) and folds are cut between any two bars, exactly as on days. The split keys take them as they are
(`data.splits.train_end` / `val_end` accept timestamps: a block through a timestamp ends at its last bar at or
before it). `data.start` and `data.end` stay days: the day of the first training bar and of the last test bar.
A unit's data then starts at that day's first bar (a rolling fold trains on at most a day's more bars) and ends at
its last bar (the unit's test block runs on to the end of the day); what a fold records is cut at its own
timestamps, `test_start`..`test_end` (`hierl.orchestration.oos_record`) and, for out-of-fold signals,
`decision_start`..`test_end` (`hierl.orchestration.oof_signals`), so the folds' scored bars still tile the calendar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hierl.config.data import DataConfig
from hierl.config.run import PPORunConfig
from hierl.config.walk_forward import WalkForwardConfig
from hierl.data.splits import WalkForwardFold, walk_forward_folds
from hierl.data.timestamps import bound, date_text
from hierl.envs.market_core import DAILY_BARS_PER_YEAR, bars_in_years
from hierl.errors import ConfigError, DataError


@dataclass(frozen=True)
class FoldDates:
    """One fold's blocks as ISO dates of the common calendar, each block from its first to its last day (ISO
    timestamps, from its first to its last bar, on intraday bars; see the module docstring).

    `test_start`..`test_end` are the days whose returns the fold records; the fold first decides at the close of
    `decision_start`, the day before `test_start`. The data's test block starts the longest `env.window` - 1 days
    before `decision_start` (rows that only fill the first observation window) and `embargo` days after `val_end`.
    """

    name: str
    train_start: str
    train_end: str
    val_start: str
    val_end: str
    decision_start: str
    test_start: str
    test_end: str

    def data_config(self, base: DataConfig, embargo: int) -> DataConfig:
        """`base` bounded to this fold's blocks (see the module docstring): the split bounds as they are, `data.start`
        and `data.end` as the days of the first and last bar."""
        splits = dataclasses.replace(base.splits, train_end=self.train_end, val_end=self.val_end, embargo_days=embargo)
        return dataclasses.replace(base, start=day_of(self.train_start), end=day_of(self.test_end), splits=splits)

    def blocks(self) -> dict[str, str]:
        """The block dates `walk_forward.json` records."""
        return {
            "train_start": self.train_start,
            "train_end": self.train_end,
            "val_start": self.val_start,
            "val_end": self.val_end,
            "test_start": self.test_start,
            "test_end": self.test_end,
        }


def day_of(text: str) -> str:
    """The ISO day of an ISO day or timestamp (`data.start` and `data.end` are days)."""
    return str(np.datetime64(bound(text), "D"))


def fold_dates(name: str, fold: WalkForwardFold, calendar: np.ndarray) -> FoldDates:
    """The dates of `fold`'s rows on `calendar`: days of a datetime64[D] calendar, timestamps of an intraday one."""

    def day(row: int) -> str:
        return date_text(calendar[row])

    return FoldDates(
        name=name,
        train_start=day(fold.train[0]),
        train_end=day(fold.train[1] - 1),
        val_start=day(fold.val[0]),
        val_end=day(fold.val[1] - 1),
        decision_start=day(fold.first_decision),
        test_start=day(fold.test[0]),
        test_end=day(fold.test[1] - 1),
    )


@dataclass(frozen=True)
class PlannedFold:
    """One outer fold and, when SAC runs, the inner folds whose test blocks give SAC its out-of-fold signals."""

    index: int
    dates: FoldDates
    oof: tuple[FoldDates, ...]

    @property
    def name(self) -> str:
        return self.dates.name


@dataclass(frozen=True)
class WalkForwardPlan:
    """Every fold of the run on one calendar (of `bars_per_year` bars a year), with the embargo every unit uses."""

    calendar: np.ndarray
    embargo: int
    folds: tuple[PlannedFold, ...]
    bars_per_year: float = DAILY_BARS_PER_YEAR


def walk_forward_embargo(cfg: WalkForwardConfig, data: DataConfig, class_cfgs: Mapping[str, PPORunConfig]) -> int:
    """`walk_forward.embargo_days`, else `data.splits.embargo_days`, else the longest `env.window` of the classes;
    never shorter than a class's window (its first observations would see the previous block)."""
    windows = {name: cfg.env.window for name, cfg in class_cfgs.items()}
    longest = max(windows.values())
    key = "walk_forward.embargo_days" if cfg.embargo_days is not None else "data.splits.embargo_days"
    chosen = cfg.embargo_days if cfg.embargo_days is not None else data.splits.embargo_days
    if chosen is None:
        return longest
    short = sorted(name for name, window in windows.items() if window > chosen)
    if short:
        raise ConfigError(
            f"{key}={chosen} is shorter than the env.window of {short} ({longest} rows), so their first "
            f"observations of a block would see the previous block; set walk_forward.embargo_days>={longest} or null"
        )
    return int(chosen)


def check_no_split_dates(data: DataConfig) -> None:
    """Each fold sets the split dates itself; a user's dates would be silently replaced, so they are refused."""
    given = [key for key in ("train_end", "val_end") if getattr(data.splits, key) is not None]
    if given:
        raise ConfigError(
            f"data.splits.{given[0]} is set, but each walk-forward fold sets its own split dates; drop "
            f"data.splits.{'/'.join(given)} and bound the whole study with data.start / data.end"
        )


def inner_folds(
    name: str,
    train_calendar: np.ndarray,
    n_folds: int,
    val_rows: int,
    test_rows: int,
    embargo: int,
    min_block_rows: int,
    lead: int,
    settings: str,
    longer: str,
) -> tuple[FoldDates, ...]:
    """The inner expanding walk-forward over one training block (`train_calendar`: its bars) whose test blocks give
    a meta-controller its out-of-fold signals (`hierl.orchestration.oof_signals`), named `<name>/oof_<j>`.

    `settings` and `longer` name, in the error when the folds do not fit, the keys that set them and the fix that
    lengthens the training block.
    """
    try:
        folds = walk_forward_folds(
            len(train_calendar),
            n_folds,
            val_rows,
            test_rows,
            embargo,
            expanding=True,
            min_block_rows=min_block_rows,
            lead=lead,
        )
    except DataError as error:
        shortfall = str(error).split(" Fix:")[0]  # its fix names the outer walk-forward's keys, not these
        raise DataError(
            f"{name}'s out-of-fold walk-forward ({settings} inside its {len(train_calendar)}-bar training block) does "
            f"not fit: {shortfall} Fix: fewer or shorter oof blocks, or {longer}."
        ) from None
    return tuple(fold_dates(f"{name}/oof_{fold.index}", fold, train_calendar) for fold in folds)


def plan_walk_forward(
    calendar: np.ndarray,
    cfg: WalkForwardConfig,
    embargo: int,
    window: int,
    min_block_rows: int,
    out_of_fold: bool,
    bars_per_year: float = DAILY_BARS_PER_YEAR,
) -> WalkForwardPlan:
    """The outer folds on `calendar` and, with `out_of_fold`, each fold's inner expanding walk-forward over its
    training block (`oof_folds` test blocks of `oof_years`, the outer validation length, the same embargo).

    `window` is the longest observation window of the classes: each test block starts `window - 1` rows before
    its first decision, so that every class decides on the fold's first day (`WalkForwardFold.lead`).
    `bars_per_year` is the calendar's (`sleeves.union_bars_per_year`): a year of the config is that many of its rows.
    """
    val_rows, test_rows = bars_in_years(cfg.val_years, bars_per_year), bars_in_years(cfg.test_years, bars_per_year)
    lead = window - 1
    train_rows = None if cfg.train_years is None else bars_in_years(cfg.train_years, bars_per_year)
    outer = walk_forward_folds(
        len(calendar),
        cfg.folds,
        val_rows,
        test_rows,
        embargo,
        train_rows,
        cfg.scheme == "expanding",
        min_block_rows,
        lead,
    )
    folds = []
    for fold in outer:
        name = f"fold_{fold.index}"
        inner: tuple[FoldDates, ...] = ()
        if out_of_fold:
            start, stop = fold.train
            inner = inner_folds(
                name,
                calendar[start:stop],
                cfg.oof_folds,
                val_rows,
                bars_in_years(cfg.oof_years, bars_per_year),
                embargo,
                min_block_rows,
                lead,
                settings=f"walk_forward.oof_folds={cfg.oof_folds} blocks of walk_forward.oof_years={cfg.oof_years}",
                longer="a longer walk_forward.train_years",
            )
        folds.append(PlannedFold(fold.index, fold_dates(name, fold, calendar), inner))
    return WalkForwardPlan(calendar, embargo, tuple(folds), bars_per_year)

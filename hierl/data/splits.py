"""Contiguous train / validation / test blocks with embargo gaps, and walk-forward folds.

Bounds are half-open row ranges of one asset class's trading calendar. Embargo rows are dropped from the
START of the validation and test blocks, so that the first observation window of a block (which looks back
`window` rows) never reaches into the previous block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from hierl.config.data import SplitConfig, check_split_fractions, split_bound
from hierl.data.timestamps import is_daily
from hierl.errors import DataError


def _rows_through(dates: np.ndarray, bound: str, key: str) -> int:
    """Rows dated on or before `bound` (`data.splits.<key>`): every bar of the day when it is a day, the bars up to
    and including it when it is a timestamp (intraday bars only: a daily bar has no time of day to compare)."""
    parsed = split_bound(bound, key)
    daily = is_daily(dates)
    if isinstance(parsed, datetime):
        if daily:
            raise DataError(
                f"data.splits.{key}={bound!r} is a timestamp, but the data has daily bars; write a day (YYYY-MM-DD)."
            )
        return int(np.searchsorted(dates, np.datetime64(parsed, "us"), side="right"))
    limit = np.datetime64(parsed, "D")
    if not daily:
        return int(np.searchsorted(dates, limit + np.timedelta64(1, "D"), side="left"))
    return int(np.searchsorted(dates, limit, side="right"))


def embargo_rows(splits: SplitConfig, window: int) -> int:
    """Rows dropped between blocks: `embargo_days`, or the observation window when null; never less."""
    if window < 1:
        raise DataError(f"observation window must be at least 1 row, got {window}.")
    embargo = window if splits.embargo_days is None else splits.embargo_days
    if embargo < window:
        raise DataError(
            f"data.splits.embargo_days={embargo} is shorter than the observation window ({window} rows), so the "
            f"first windows of a block would see the previous block. Fix: embargo_days >= {window} or null."
        )
    return embargo


def compute_split_bounds(
    dates: np.ndarray, splits: SplitConfig, window: int, origin: str | None = None
) -> dict[str, tuple[int, int]]:
    """Row bounds of the three blocks on a calendar of `dates` (increasing datetime64[D] days, or timestamps).

    `splits.train_end` / `val_end` end their blocks with the last row on or before them (`_rows_through`).

    Raises DataError naming the block that is shorter than `window + min_block_steps` rows, and `origin` (the
    file or source the calendar came from) when given.
    """
    n_rows = len(dates)
    embargo = embargo_rows(splits, window)
    check_split_fractions(splits)
    train_fraction, val_fraction = splits.train_fraction, splits.val_fraction
    train_stop = (
        _rows_through(dates, splits.train_end, "train_end")
        if splits.train_end is not None
        else round(n_rows * train_fraction)
    )
    val_stop = (
        _rows_through(dates, splits.val_end, "val_end")
        if splits.val_end is not None
        else round(n_rows * (train_fraction + val_fraction))
    )
    bounds = {
        "train": (0, train_stop),
        "val": (train_stop + embargo, val_stop),
        "test": (val_stop + embargo, n_rows),
    }
    needed = window + splits.min_block_steps
    for name, (start, stop) in bounds.items():
        if stop - start < needed:
            first = str(dates[0]) if n_rows else "none"
            last = str(dates[-1]) if n_rows else "none"
            source = f"{origin}: " if origin else ""
            raise DataError(
                f"{source}the {name} block has {max(stop - start, 0)} rows but needs at least window ({window}) + "
                f"data.splits.min_block_steps ({splits.min_block_steps}) = {needed}; the calendar has {n_rows} "
                f"rows from {first} to {last} with an embargo of {embargo} rows between blocks. Fix: an earlier "
                f"data.start (or later data.end), a smaller env.window, or other data.splits fractions/dates."
            )
    return bounds


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: half-open row ranges to fit on and to evaluate on."""

    train: tuple[int, int]
    test: tuple[int, int]


def walk_forward_splits(
    n_rows: int, n_folds: int, test_rows: int, embargo: int, expanding: bool = True, min_train_rows: int = 1
) -> list[Fold]:
    """Folds whose test blocks tile the end of the calendar, each preceded by an embargo and its train block.

    With `expanding` every train block starts at row 0; otherwise it is a rolling block as long as the first
    fold's. The last fold's test block ends at `n_rows`. Train and test only: `walk_forward_folds` adds each
    fold's validation block and is what `python -m hierl.walk_forward` runs.
    """
    if n_folds < 1 or test_rows < 1 or embargo < 0:
        raise DataError(
            f"walk-forward needs n_folds >= 1, test_rows >= 1, embargo >= 0; got {n_folds}, {test_rows}, {embargo}."
        )
    first_test_start = n_rows - n_folds * test_rows
    first_train_rows = first_test_start - embargo
    if first_train_rows < min_train_rows:
        raise DataError(
            f"walk-forward with {n_folds} folds of {test_rows} test rows and embargo {embargo} leaves "
            f"{first_train_rows} training rows in the first fold (< {min_train_rows}) of {n_rows}. Fix: fewer "
            "folds, shorter test blocks or more data."
        )
    folds = []
    for fold in range(n_folds):
        test_start = first_test_start + fold * test_rows
        train_stop = test_start - embargo
        train_start = 0 if expanding else train_stop - first_train_rows
        folds.append(Fold(train=(train_start, train_stop), test=(test_start, test_start + test_rows)))
    return folds


@dataclass(frozen=True)
class WalkForwardFold:
    """One fold of a walk-forward study: half-open row ranges of one calendar, in time order.

    `train` and `val` are the data's train and validation blocks. `test` holds the rows whose returns the fold
    records (its scored days); its first decision is taken at the close of the row before, `test[0] - 1`, and the
    data's test block (`test_block`) starts `lead` rows earlier still, rows that only fill the first observation
    window (an env decides at row t only once the `window` rows up to t lie inside the block, so
    lead = window - 1). The test blocks of consecutive folds therefore overlap by `lead + 1` rows, but their scored
    rows tile the calendar with no gap and no overlap. `embargo` rows lie between the end of `train` and the start
    of `val`, and between the end of `val` and the start of `test_block`, as in `compute_split_bounds`.
    """

    index: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    lead: int = 0

    @property
    def first_decision(self) -> int:
        """The row at whose close the fold first decides: the day before its first scored day."""
        return self.test[0] - 1

    @property
    def test_block(self) -> tuple[int, int]:
        """The data's test block: the lead rows, the first decision row, then the scored rows."""
        return (self.first_decision - self.lead, self.test[1])


def walk_forward_folds(
    n_rows: int,
    n_folds: int,
    val_rows: int,
    test_rows: int,
    embargo: int,
    train_rows: int | None = None,
    expanding: bool = False,
    min_block_rows: int = 1,
    lead: int = 0,
) -> list[WalkForwardFold]:
    """Folds whose scored test rows tile the end of a calendar of `n_rows`, each preceded by its validation and
    training blocks with `embargo` rows between blocks (see `WalkForwardFold` for `lead`).

    The first fold trains on `train_rows` (None: every row from 0); `expanding` keeps that start in every fold,
    otherwise each fold trains on as many rows as the first (rolling). Every block of the data (train, val, and
    the whole test block) must hold `min_block_rows` rows; a DataError names the shortfall.
    """
    if n_folds < 1 or val_rows < 1 or test_rows < 1 or embargo < 0 or lead < 0:
        raise DataError(
            f"walk-forward needs folds >= 1, val_rows >= 1, test_rows >= 1, embargo >= 0, lead >= 0; got {n_folds}, "
            f"{val_rows}, {test_rows}, {embargo}, {lead}."
        )
    for name, rows in (("validation", val_rows), ("test", test_rows + 1 + lead)):
        if rows < min_block_rows:
            raise DataError(
                f"walk-forward {name} blocks of {rows} rows are shorter than the {min_block_rows} rows a block needs "
                "(env.window + data.splits.min_block_steps). Fix: longer walk_forward blocks, or a smaller env.window."
            )
    folds = []
    first_train: tuple[int, int] | None = None
    for index in range(n_folds):
        test_start = n_rows - (n_folds - index) * test_rows
        val_stop = test_start - 1 - lead - embargo
        val_start = val_stop - val_rows
        train_stop = val_start - embargo
        if first_train is None:
            train_start = 0 if train_rows is None else train_stop - train_rows
            first_train = (train_start, train_stop)
            if train_start < 0 or train_stop - train_start < min_block_rows:
                wanted = train_stop if train_rows is None else train_rows
                raise DataError(
                    f"walk-forward with {n_folds} folds of {test_rows} test rows, {val_rows} validation rows, an "
                    f"embargo of {embargo} and {wanted} training rows needs more than the {n_rows} rows of the "
                    f"calendar (the first fold's training block would start at row {train_start} and hold "
                    f"{train_stop - max(train_start, 0)} rows, at least {min_block_rows} needed). Fix: fewer "
                    "walk_forward.folds, shorter walk_forward blocks, or more data (data.start, data.end)."
                )
        elif expanding:
            train_start = first_train[0]
        else:
            train_start = train_stop - (first_train[1] - first_train[0])
        folds.append(
            WalkForwardFold(
                index, (train_start, train_stop), (val_start, val_stop), (test_start, test_start + test_rows), lead
            )
        )
    return folds

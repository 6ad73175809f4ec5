"""Contiguous train / validation / test blocks with embargo gaps, and walk-forward folds.

Bounds are half-open row ranges of one asset class's trading calendar. Embargo rows are dropped from the
START of the validation and test blocks, so that the first observation window of a block (which looks back
`window` rows) never reaches into the previous block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hierl.config.data import SplitConfig, check_split_fractions
from hierl.errors import DataError


def _rows_through(dates: np.ndarray, iso_date: str, key: str) -> int:
    try:
        limit = np.datetime64(iso_date, "D")
    except ValueError as error:
        raise DataError(f"data.splits.{key}={iso_date!r} is not an ISO date (YYYY-MM-DD).") from error
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
    """Row bounds of the three blocks on a calendar of `dates` (datetime64[D], increasing).

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
    fold's. The last fold's test block ends at `n_rows`.
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

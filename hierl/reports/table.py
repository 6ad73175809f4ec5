"""Rank run folders into one table, so a sweep's runs can be read side by side and honestly.

The table has one row per run: its path, its status, every metric of `metrics.json`, and only the config keys
whose values differ between the runs compared (the rest is the same for all of them and is kept aside). Runs that
did not finish are never mixed in silently: they are left out unless asked for, and then shown with their status.

The deflated Sharpe ratio (`dsr` column) is computed from each run's test-block returns in excess of cash
(`return - cash_return` in `backtest.parquet`), the same returns every Sharpe column is measured on. Every run of
the table with test returns is one trial, except replays (`hierl.evaluate` folders, marked by `source_run.json`):
they re-evaluate a policy that was already tried, so they get a `dsr` but add no trial. Test rather than
validation: the validation block already chose each run's checkpoint, so its returns are selected twice; the test
block is the untouched sample whose best value a reader is tempted to over-read when scanning a sweep. Runs whose
test blocks span different dates are not measured on the same market; the comparison then carries a warning.

By default only `COMPACT_CONFIG_COLUMNS` of the differing config keys are shown, those the runs' command lines set
first (in a sweep, the swept parameters); `CompareOptions.wide` shows them all. The saved tables hold every column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hierl.errors import ComparisonError, NoRunsError
from hierl.evaluation.deflated_sharpe import DeflatedSharpeInputError, deflated_sharpe_ratio, per_period_sharpe
from hierl.reports.runs import FINGERPRINT_KEY, FINISHED, RunRecord, find_run_dirs, read_run, read_split

REPLAY_COLUMN = "replay"
DEFAULT_METRICS = ("val/sharpe", "test/sharpe", "test/max_drawdown", "test/cvar_95", "test/ann_return")
DEFAULT_SORT = "val/sharpe"
DSR_COLUMN = "dsr"
DSR_SPLIT = "test"
# How many differing config keys the compact view shows (the saved tables and the wide view hold them all).
COMPACT_CONFIG_COLUMNS = 8
# Keys naming where a run lives rather than what it did; the `run` column already says that.
_LOCATION_KEYS = frozenset({"paths.output_dir"})
_MISSING = "<missing>"
# The constant keys worth a line in the console: what was trained, on what data.
IDENTITY_KEYS = ("agent.name", "asset.name", "data.source", FINGERPRINT_KEY)


@dataclass(frozen=True)
class RunTable:
    """The compared runs and what sets them apart.

    Attributes:
        frame: one row per run: `run`, `status`, `replay` (only when some run is a replay), metric columns, then the
            differing config keys.
        metric_columns: metric names in column order (the defaults first, then the rest sorted).
        config_columns: the config keys that differ between the runs of `frame`.
        constant_config: every config key with the one value all runs share.
        skipped: how many runs were left out, by status.
        command_line_columns: the config columns some run's command line set (shown first in the compact view).
    """

    frame: pl.DataFrame
    metric_columns: tuple[str, ...]
    config_columns: tuple[str, ...]
    constant_config: dict[str, Any]
    skipped: dict[str, int] = field(default_factory=dict)
    command_line_columns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CompareOptions:
    """How to select, rank and show runs.

    Attributes:
        sort_key: column to rank by; None ranks by validation Sharpe (hyperparameters are chosen on validation
            only) or, without it, by run path.
        descending: largest first.
        include_unfinished: keep running, failed and unknown-state runs (shown with their status).
        columns: metric columns to show; None shows `DEFAULT_METRICS` and `dsr` where present.
        top_k: how many of the top-ranked runs get a NAV curve in the plot.
        wide: show every differing config key, not only `COMPACT_CONFIG_COLUMNS` of them.
    """

    sort_key: str | None = None
    descending: bool = True
    include_unfinished: bool = False
    columns: tuple[str, ...] | None = None
    top_k: int = 5
    wide: bool = False


@dataclass(frozen=True)
class Comparison:
    """A ranked table of runs, ready to print, save and plot.

    Attributes:
        root: the folder the runs were found under.
        table: the runs, sorted, with a `dsr` column when at least two runs have test returns.
        shown_columns: the columns to print, `run` first.
        sort_key: the column the rows are sorted by.
        descending: whether the rows run from largest to smallest `sort_key`.
        dsr_trials: the number of trials the deflated Sharpe ratio accounts for (0 when not computed).
        top_k: how many top runs the plot draws NAV curves for.
        warnings: sentences a reader must see beside the table (e.g. runs tested on different periods).
        hidden_columns: differing config columns the compact view leaves out (the saved tables keep them).
    """

    root: Path
    table: RunTable
    shown_columns: tuple[str, ...]
    sort_key: str
    descending: bool
    dsr_trials: int
    top_k: int
    warnings: tuple[str, ...] = ()
    hidden_columns: tuple[str, ...] = ()


def split_config(runs: Sequence[RunRecord]) -> tuple[list[str], dict[str, Any]]:
    """Config keys whose value differs between runs (a key absent from some runs differs) and the shared rest."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.config))
    differing: list[str] = []
    constant: dict[str, Any] = {}
    for key in keys:
        if key in _LOCATION_KEYS:
            continue
        values = {json.dumps(run.config.get(key, _MISSING), sort_keys=True) for run in runs}
        if len(values) > 1:
            differing.append(key)
        else:
            constant[key] = runs[0].config.get(key)
    return differing, constant


def build_table(runs: Sequence[RunRecord], skipped: dict[str, int] | None = None) -> RunTable:
    """One row per run with every metric and the differing config keys."""
    if not runs:
        raise NoRunsError("no runs to tabulate")
    metric_names = {name for run in runs for name in run.metrics}
    metric_columns = [m for m in DEFAULT_METRICS if m in metric_names]
    metric_columns += sorted(metric_names - set(metric_columns))
    differing, constant = split_config(runs)
    reserved = {"run", "status", REPLAY_COLUMN, DSR_COLUMN, *metric_columns}
    config_columns = [f"config.{key}" if key in reserved else key for key in differing]
    set_keys = {key for run in runs for key in run.command_line_keys}
    command_line = frozenset(c for c, key in zip(config_columns, differing, strict=True) if key in set_keys)

    columns: list[pl.Series] = [
        pl.Series("run", [run.run for run in runs], dtype=pl.String),
        pl.Series("status", [run.status for run in runs], dtype=pl.String),
    ]
    if any(run.replay for run in runs):
        columns.append(pl.Series(REPLAY_COLUMN, [run.replay for run in runs], dtype=pl.Boolean))
    columns += [pl.Series(name, [run.metrics.get(name) for run in runs], dtype=pl.Float64) for name in metric_columns]
    columns += [
        _config_series(column, [run.config.get(key) for run in runs])
        for column, key in zip(config_columns, differing, strict=True)
    ]
    return RunTable(
        frame=pl.DataFrame(columns),
        metric_columns=tuple(metric_columns),
        config_columns=tuple(config_columns),
        constant_config=constant,
        skipped=dict(skipped or {}),
        command_line_columns=command_line,
    )


def collect_runs(root: Path, *, include_unfinished: bool = True) -> RunTable:
    """Read every run folder below `root` into a `RunTable`; unfinished runs are counted in `skipped` unless kept."""
    root = Path(root)
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise NoRunsError(
            f"no run folders under {root} (a run folder has .hydra/config.yaml and metrics.json or run_state.json); "
            "pass the output folder of a run or sweep, e.g. outputs/ or multirun/<time>/"
        )
    runs = [read_run(root, run_dir) for run_dir in run_dirs]
    kept: list[RunRecord] = []
    skipped: dict[str, int] = {}
    for run in runs:
        if include_unfinished or run.status == FINISHED:
            kept.append(run)
        else:
            skipped[run.status] = skipped.get(run.status, 0) + 1
    if not kept:
        found = ", ".join(f"{count} {status}" for status, count in sorted(skipped.items()))
        raise NoRunsError(f"none of the {len(runs)} runs under {root} finished ({found}); pass --all to see them")
    return build_table(kept, skipped)


def gather_runs(root: Path, *, include_unfinished: bool = True) -> pl.DataFrame:
    """One row per run folder below `root`: `run`, `status`, every metric, the config keys that differ."""
    return collect_runs(root, include_unfinished=include_unfinished).frame


def read_splits(table: RunTable, root: Path, split: str = DSR_SPLIT) -> dict[str, pl.DataFrame | None]:
    """Each run's rows of `split` (see `read_split`), by run, read once for the deflated Sharpe and the periods."""
    return {run: read_split(Path(root) / run, split) for run in table.frame["run"]}


def with_deflated_sharpe(table: RunTable, splits: dict[str, pl.DataFrame | None]) -> tuple[RunTable, int]:
    """Add a `dsr` column: each run's deflated Sharpe ratio, on its returns over cash, among the table's trials.

    `splits` holds each run's test rows (`read_splits`). The trials are the runs that are not replays and have
    usable excess returns (a flat series has no Sharpe ratio). Every run with usable returns gets a `dsr`,
    replays included, measured against those trials. With fewer than two trials there is nothing to deflate
    against and the table is returned unchanged (0 trials).
    """
    replays = set(_replay_runs(table))
    excess: dict[str, np.ndarray | None] = {}
    sharpes: dict[str, float | None] = {}
    for run, rows in splits.items():
        series = None if rows is None else (rows["return"] - rows["cash_return"]).to_numpy()
        excess[run] = series
        sharpes[run] = _sharpe_or_none(series)
    trials = np.array(
        [sharpe for run, sharpe in sharpes.items() if sharpe is not None and run not in replays], dtype=np.float64
    )
    if trials.size < 2:
        return table, 0
    values = []
    for run in table.frame["run"]:
        series = excess.get(run)
        values.append(None if series is None or sharpes.get(run) is None else deflated_sharpe_ratio(series, trials))
    frame = table.frame.with_columns(pl.Series(DSR_COLUMN, values, dtype=pl.Float64))
    return replace(table, frame=frame, metric_columns=(*table.metric_columns, DSR_COLUMN)), int(trials.size)


def period_warning(splits: dict[str, pl.DataFrame | None], split: str = DSR_SPLIT) -> str | None:
    """A sentence when the runs' `split` blocks span different dates (their metrics are then not comparable)."""
    periods: dict[str, list[str]] = {}
    for run, rows in splits.items():
        if rows is not None:
            period = f"{rows['date'][0]}..{rows['date'][-1]}"  # rows are sorted by date
            periods.setdefault(period, []).append(run)
    if len(periods) < 2:
        return None
    listed = "; ".join(
        f"{period}: {len(runs)} run{'s' if len(runs) > 1 else ''} (e.g. {runs[0]})" for period, runs in periods.items()
    )
    return (
        f"warning: the runs have different {split} periods ({listed}); their {split} metrics and dsr are not "
        "measured on the same market, so compare runs of one period (or one data fingerprint) at a time"
    )


def test_sort_warning(sort_key: str) -> str | None:
    """A sentence when the rows are ranked by a test-block number (`test/...` or `dsr`, which is measured on the test
    block): picking a run by it turns the test block into a second validation block."""
    if not (sort_key.startswith(f"{DSR_SPLIT}/") or sort_key == DSR_COLUMN):
        return None
    return (
        f"warning: ranked by {sort_key}, a test-block number: choosing a run by it makes the test block one more "
        "validation block, and the chosen run's test numbers are no longer an unbiased estimate; choose on val/* "
        "and read the chosen run's test block once"
    )


def compare_runs(root: Path, options: CompareOptions | None = None) -> Comparison:
    """Gather, deflate and rank the runs below `root` as `options` says."""
    options = options or CompareOptions()
    if options.top_k < 0:
        raise ComparisonError(f"top_k must be 0 or more, got {options.top_k}")
    table = collect_runs(root, include_unfinished=options.include_unfinished)
    splits = read_splits(table, root)
    table, trials = with_deflated_sharpe(table, splits)
    warning = period_warning(splits)
    available = table.frame.columns
    sort_key = options.sort_key or (DEFAULT_SORT if DEFAULT_SORT in available else "run")
    _require_columns([sort_key], available, "--sort")
    if options.columns is None:
        metrics = [m for m in (*DEFAULT_METRICS, DSR_COLUMN) if m in available]
    else:
        _require_columns(options.columns, table.metric_columns, "--columns")
        metrics = list(options.columns)
    status = ["status"] if options.include_unfinished else []
    replay = [REPLAY_COLUMN] if REPLAY_COLUMN in available else []
    config = table.config_columns if options.wide else compact_config_columns(table)
    shown = ("run", *status, *replay, *metrics, *config)
    frame = table.frame.sort(sort_key, descending=options.descending, nulls_last=True, maintain_order=True)
    return Comparison(
        root=Path(root),
        table=replace(table, frame=frame),
        shown_columns=shown,
        sort_key=sort_key,
        descending=options.descending,
        dsr_trials=trials,
        top_k=options.top_k,
        warnings=tuple(w for w in (test_sort_warning(sort_key), warning) if w),
        hidden_columns=tuple(c for c in table.config_columns if c not in config),
    )


def compact_config_columns(table: RunTable) -> tuple[str, ...]:
    """At most `COMPACT_CONFIG_COLUMNS` differing config columns: those a command line set first, in table order."""
    first = [c for c in table.config_columns if c in table.command_line_columns]
    rest = [c for c in table.config_columns if c not in table.command_line_columns]
    return tuple([*first, *rest][:COMPACT_CONFIG_COLUMNS])


def _config_series(name: str, values: list[Any]) -> pl.Series:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pl.Series(name, values, dtype=pl.Boolean)
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pl.Series(name, values, dtype=pl.Int64)
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def _replay_runs(table: RunTable) -> list[str]:
    if REPLAY_COLUMN not in table.frame.columns:
        return []
    return table.frame.filter(pl.col(REPLAY_COLUMN))["run"].to_list()


def _sharpe_or_none(returns: np.ndarray | None) -> float | None:
    if returns is None:
        return None
    try:
        return per_period_sharpe(returns)
    except DeflatedSharpeInputError:
        return None


def _require_columns(names: Sequence[str], available: Sequence[str], option: str) -> None:
    unknown = [name for name in names if name not in available]
    if unknown:
        shown = ", ".join(available[:30]) + (", ..." if len(available) > 30 else "")
        raise ComparisonError(f"{option}: unknown column {', '.join(unknown)}; choose from {shown}")

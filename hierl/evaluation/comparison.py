"""Gather run folders into one table, so a sweep's runs can be ranked side by side and read honestly.

A run folder (see "Outputs of a run" in the design notes) is any folder below the root with `.hydra/config.yaml`
and `metrics.json` or `run_state.json`. The table has one row per run: its path, its status, every metric of
`metrics.json`, and only the config keys whose values differ between the runs compared (the rest is the same
for all of them and is kept aside). Runs that did not finish are never mixed in silently: they are left out
unless asked for, and then shown with their status.

The deflated Sharpe ratio (`dsr` column) is computed from each run's test-block returns in excess of cash
(`return - cash_return` in `backtest.parquet`), the same returns every Sharpe column is measured on. Every run of
the table with test returns is one trial, except replays (`hierl.evaluate` folders, marked by `source_run.json`):
they re-evaluate a policy that was already tried, so they get a `dsr` but add no trial. Test rather than
validation: the validation block already chose each run's checkpoint, so its returns are selected twice; the test
block is the untouched sample whose best value a reader is tempted to over-read when scanning a sweep. Runs whose
test blocks span different dates are not measured on the same market; the comparison then carries a warning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.table import Table

from hierl.errors import UserError
from hierl.evaluation.deflated_sharpe import DeflatedSharpeInputError, deflated_sharpe_ratio, per_period_sharpe
from hierl.tracking.files import write_atomic

CONFIG_FILE = Path(".hydra") / "config.yaml"
METRICS_FILE = "metrics.json"
STATE_FILE = "run_state.json"
BACKTEST_FILE = "backtest.parquet"
FINGERPRINT_FILE = "data_fingerprint.json"
# Written by `hierl.evaluate` into every replay folder.
SOURCE_RUN_FILE = "source_run.json"
REPLAY_COLUMN = "replay"

FINISHED = "finished"
# A run folder with metrics but no state file predates state tracking or was copied without it.
UNKNOWN_STATUS = "unknown"
DEFAULT_METRICS = ("val/sharpe", "test/sharpe", "test/max_drawdown", "test/cvar_95", "test/ann_return")
DEFAULT_SORT = "val/sharpe"
DSR_COLUMN = "dsr"
DSR_SPLIT = "test"
FINGERPRINT_KEY = "data_fingerprint"
# Keys naming where a run lives rather than what it did; the `run` column already says that.
_LOCATION_KEYS = frozenset({"paths.output_dir"})
_MISSING = "<missing>"
# The constant keys worth a line in the console: what was trained, on what data.
_IDENTITY_KEYS = ("agent.name", "asset.name", "data.source", FINGERPRINT_KEY)


class ComparisonError(UserError):
    """Run folders that cannot be compared as asked; the message names the folder or key and the fix."""


class NoRunsError(ComparisonError):
    """The folder holds no run folder (or none that finished)."""


@dataclass(frozen=True)
class RunRecord:
    """What one run folder says about itself.

    Attributes:
        path: the run folder.
        run: its path relative to the compared root ("." for the root itself).
        status: "finished", "running", "failed" or "unknown" (no run_state.json).
        metrics: metrics.json as read (empty when the run wrote none).
        config: the flattened config (`agent.learning_rate`), lists as JSON text, plus the data fingerprint.
        replay: the folder is a replay of another run (`hierl.evaluate`), not a trial of its own.
    """

    path: Path
    run: str
    status: str
    metrics: dict[str, float]
    config: dict[str, Any]
    replay: bool = False


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
    """

    frame: pl.DataFrame
    metric_columns: tuple[str, ...]
    config_columns: tuple[str, ...]
    constant_config: dict[str, Any]
    skipped: dict[str, int] = field(default_factory=dict)


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
    """

    sort_key: str | None = None
    descending: bool = True
    include_unfinished: bool = False
    columns: tuple[str, ...] | None = None
    top_k: int = 5


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
    """

    root: Path
    table: RunTable
    shown_columns: tuple[str, ...]
    sort_key: str
    descending: bool
    dsr_trials: int
    top_k: int
    warnings: tuple[str, ...] = ()


def find_run_dirs(root: Path) -> list[Path]:
    """Every run folder at or below `root`, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise NoRunsError(f"{root} is not a folder; pass a folder holding run folders, e.g. outputs/ or multirun/")
    candidates = {config.parent.parent for config in root.rglob(CONFIG_FILE.name) if config.parent.name == ".hydra"}
    runs = [d for d in candidates if (d / METRICS_FILE).is_file() or (d / STATE_FILE).is_file()]
    return sorted(runs)


def read_run(root: Path, run_dir: Path) -> RunRecord:
    """Read one run folder, raising `ComparisonError` for a file that is not what the contract says."""
    config = _read_file(run_dir / CONFIG_FILE, yaml.safe_load)
    if not isinstance(config, dict):
        raise ComparisonError(
            f"{run_dir / CONFIG_FILE} is not a YAML mapping; re-run that job or move its folder out of {root}"
        )
    flat = flatten_config(config)
    if (run_dir / FINGERPRINT_FILE).is_file():
        fingerprint = _read_file(run_dir / FINGERPRINT_FILE, json.loads)
        if isinstance(fingerprint, dict) and "fingerprint" in fingerprint:
            flat[FINGERPRINT_KEY] = str(fingerprint["fingerprint"])
    return RunRecord(
        path=run_dir,
        run=run_dir.relative_to(root).as_posix(),
        status=_read_status(run_dir),
        metrics=_read_metrics(run_dir / METRICS_FILE, root),
        config=flat,
        replay=(run_dir / SOURCE_RUN_FILE).is_file(),
    )


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists become JSON text so every value fits one table cell."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, f"{name}."))
        elif isinstance(value, list | dict):
            flat[name] = json.dumps(value, default=str)
        elif value is None or isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


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


def read_split(run_dir: Path, split: str) -> pl.DataFrame | None:
    """`date`, `nav`, `return`, `cash_return` of one split from backtest.parquet, by date; None when it has none."""
    path = run_dir / BACKTEST_FILE
    if not path.is_file():
        return None
    try:
        frame = pl.read_parquet(path, columns=["split", "date", "nav", "return", "cash_return"])
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ComparisonError(
            f"cannot read {path} ({type(error).__name__}); it needs columns split, date, nav, return, cash_return: "
            "re-run that job or delete the file"
        ) from None
    rows = frame.filter(pl.col("split") == split).sort("date").drop("split")
    return rows if rows.height else None


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
    shown = ("run", *status, *replay, *metrics, *table.config_columns)
    frame = table.frame.sort(sort_key, descending=options.descending, nulls_last=True, maintain_order=True)
    return Comparison(
        root=Path(root),
        table=replace(table, frame=frame),
        shown_columns=shown,
        sort_key=sort_key,
        descending=options.descending,
        dsr_trials=trials,
        top_k=options.top_k,
        warnings=(warning,) if warning else (),
    )


def render_table(comparison: Comparison) -> Table:
    """The shown columns as a rich table; unfinished runs are dimmed so they are never read as results."""
    frame = comparison.table.frame
    arrow = "↓" if comparison.descending else "↑"
    table = Table(title=f"{frame.height} runs under {comparison.root}, sorted by {comparison.sort_key} {arrow}")
    rows = [
        (row.get("status", FINISHED), [_cell(row[column]) for column in comparison.shown_columns])
        for row in frame.select(comparison.shown_columns).iter_rows(named=True)
    ]
    for index, column in enumerate(comparison.shown_columns):
        # Values keep their full width (a cut number is misread); a long header folds onto several lines instead.
        width = max((len(cells[index]) for _, cells in rows), default=1)
        numeric = frame.schema[column].is_numeric()
        table.add_column(column, justify="right" if numeric else "left", overflow="fold", min_width=width)
    for status, cells in rows:
        table.add_row(*cells, style=None if status == FINISHED else "dim red")
    if comparison.dsr_trials:
        replays = " (replays are not trials)" if REPLAY_COLUMN in frame.columns else ""
        table.caption = (
            f"dsr: probability that the test Sharpe ratio over cash is positive after picking the best of "
            f"{comparison.dsr_trials} trials{replays} (Bailey & López de Prado, 2014)"
        )
    return table


def write_tables(comparison: Comparison, out_dir: Path) -> list[Path]:
    """comparison.csv and comparison.parquet with every column of the table, each written atomically."""
    frame = comparison.table.frame
    csv_path = write_atomic(Path(out_dir) / "comparison.csv", frame.write_csv)
    parquet_path = write_atomic(Path(out_dir) / "comparison.parquet", frame.write_parquet)
    return [csv_path, parquet_path]


def plot_comparison(comparison: Comparison, path: Path) -> Path:
    """Validation vs test Sharpe per run (left) and test NAV of the top-k runs (right), written atomically.

    Points below the diagonal did worse on test than on validation: a cloud far below it means the sweep
    over-fitted the validation block.
    """
    frame = comparison.table.frame
    figure = Figure(figsize=(13, 5.5), constrained_layout=True)
    FigureCanvasAgg(figure)
    scatter_axes, nav_axes = figure.subplots(1, 2)
    top = frame.head(comparison.top_k)["run"].to_list()

    if {"val/sharpe", "test/sharpe"} <= set(frame.columns):
        points = frame.select("run", "val/sharpe", "test/sharpe").drop_nulls()
        val, test = points["val/sharpe"].to_numpy(), points["test/sharpe"].to_numpy()
        scatter_axes.scatter(val, test, s=28, alpha=0.8)
        for run, x, y in zip(points["run"], val, test, strict=True):
            if run in top:
                scatter_axes.annotate(run, (x, y), fontsize="x-small", xytext=(3, 3), textcoords="offset points")
        if points.height:
            low, high = float(min(val.min(), test.min())), float(max(val.max(), test.max()))
            scatter_axes.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--", label="test = val")
            scatter_axes.legend(loc="best", fontsize="small")
    else:
        scatter_axes.text(
            0.5, 0.5, "no val/sharpe and test/sharpe metrics", ha="center", transform=scatter_axes.transAxes
        )
    scatter_axes.set_xlabel("validation Sharpe (annualised)")
    scatter_axes.set_ylabel("test Sharpe (annualised)")
    scatter_axes.set_title("Validation vs test Sharpe per run")
    scatter_axes.grid(alpha=0.3)

    drawn = 0
    for run in top:
        rows = read_split(comparison.root / run, "test")
        if rows is None:
            continue
        nav_axes.plot(rows["date"].to_numpy(), rows["nav"].to_numpy(), linewidth=1.1, label=run)
        drawn += 1
    if drawn:
        nav_axes.legend(loc="best", fontsize="x-small")
    else:
        nav_axes.text(0.5, 0.5, "no test backtest in the top runs", ha="center", transform=nav_axes.transAxes)
    nav_axes.axhline(1.0, color="grey", linewidth=0.6, linestyle="--")
    nav_axes.set_title(f"Test NAV of the top {len(top)} runs by {comparison.sort_key}")
    nav_axes.set_ylabel("NAV")
    nav_axes.grid(alpha=0.3)

    return write_atomic(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=110))


def skipped_note(table: RunTable) -> str | None:
    """A sentence saying how many runs were left out and why, or None when none were."""
    if not table.skipped:
        return None
    total = sum(table.skipped.values())
    reasons = ", ".join(f"{count} {status}" for status, count in sorted(table.skipped.items()))
    plural = "run" if total == 1 else "runs"
    return f"skipped {total} {plural} that did not finish ({reasons}); pass --all to include them"


def constant_note(table: RunTable) -> str | None:
    """What every compared run shares: the count of constant config keys and the ones that name the setting."""
    constant = table.constant_config
    if not constant:
        return None
    named = ", ".join(f"{key}={constant[key]}" for key in _IDENTITY_KEYS if key in constant)
    return f"same in every run: {len(constant)} config keys" + (f", including {named}" if named else "")


def _read_file(path: Path, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise ComparisonError(
            f"cannot parse {path} ({type(error).__name__}); re-run that job or move its folder out of the compared tree"
        ) from None


def _read_status(run_dir: Path) -> str:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return UNKNOWN_STATUS
    state = _read_file(path, json.loads)
    if not isinstance(state, dict) or not isinstance(state.get("status"), str):
        raise ComparisonError(f'{path} has no "status" string; re-run that job or delete the file')
    return str(state["status"])


def _read_metrics(path: Path, root: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    metrics = _read_file(path, json.loads)
    if not isinstance(metrics, dict):
        raise ComparisonError(f"{path} is not a JSON object of metrics; re-run that job or move it out of {root}")
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        # NaN is "no value": kept as a number it would rank first in a descending sort.
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ComparisonError(
                f"{path}: metric {key!r} is {value!r}, not a number; fix the file or move the run out of {root}"
            )
        flat[key] = float(value)
    return flat


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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)

"""The comparison for a reader: the console table, the saved tables, the plot and the notes beside them.

The console table is compact by default: the metrics and the config keys `hierl.reports.table` picked, cut
further (last config column first) until it fits `COMPACT_WIDTH` characters, so a sweep that differs in dozens of
keys still reads on one screen. The saved tables always hold every column.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from hierl.reports.runs import FINISHED, read_split
from hierl.reports.table import IDENTITY_KEYS, REPLAY_COLUMN, Comparison, RunTable
from hierl.tracking.files import write_atomic

COMPACT_WIDTH = 160
# Wide enough that rich never folds a cell while the table is measured.
_UNBOUNDED = 10_000


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
    named = ", ".join(f"{key}={constant[key]}" for key in IDENTITY_KEYS if key in constant)
    return f"same in every run: {len(constant)} config keys" + (f", including {named}" if named else "")


def table_width(table: Table) -> int:
    """The characters `table` needs on one line, cells unfolded."""
    return Console(width=_UNBOUNDED).measure(table).maximum


def fit_width(comparison: Comparison, width: int = COMPACT_WIDTH) -> Comparison:
    """The comparison with its last config columns hidden until the console table fits `width` (metrics stay)."""
    shown = list(comparison.shown_columns)
    hidden = list(comparison.hidden_columns)
    config = set(comparison.table.config_columns)
    while table_width(render_table(replace(comparison, shown_columns=tuple(shown)))) > width:
        last = next((column for column in reversed(shown) if column in config), None)
        if last is None:
            break
        shown.remove(last)
        hidden.insert(0, last)
    ordered = tuple(c for c in comparison.table.config_columns if c in hidden)
    return replace(comparison, shown_columns=tuple(shown), hidden_columns=ordered)


def hidden_note(comparison: Comparison) -> str | None:
    """A sentence naming the differing config keys the console table leaves out, or None when it shows them all."""
    hidden = comparison.hidden_columns
    if not hidden:
        return None
    listed = ", ".join(hidden[:5]) + (", ..." if len(hidden) > 5 else "")
    plural = "key differs" if len(hidden) == 1 else "keys differ"
    return (
        f"{len(hidden)} more config {plural} between the runs ({listed}); --wide shows them, comparison.csv holds them"
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)

"""`python -m hierl.compare <folder>`: rank every run below a folder, save the table and a comparison plot.

Only finished runs are shown unless `--all` is given; the rows are ranked by validation Sharpe by default,
because that is the number hyperparameters may be chosen on. The console table is compact (the metrics and a few
differing config keys, at most ~160 characters wide); `--wide` shows every differing key. Writes comparison.csv,
comparison.parquet and comparison.png, which hold every column, into `--out` (default: the folder itself).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from hierl.errors import UserError
from hierl.reports.render import (
    constant_note,
    fit_width,
    hidden_note,
    plot_comparison,
    render_table,
    skipped_note,
    table_width,
    write_tables,
)
from hierl.reports.table import CompareOptions, compare_runs

USAGE_ERROR = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hierl.compare", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a run folder, or any folder with run folders below it")
    parser.add_argument("--sort", metavar="KEY", help="column to rank by (default: val/sharpe)")
    order = parser.add_mutually_exclusive_group()
    order.add_argument("--desc", dest="descending", action="store_true", default=True, help="largest first (default)")
    order.add_argument("--asc", dest="descending", action="store_false", help="smallest first")
    parser.add_argument("--all", action="store_true", help="include running, failed and unknown-state runs")
    parser.add_argument(
        "--columns",
        nargs="+",
        metavar="METRIC",
        help="metric columns to show, space- or comma-separated (default: val/sharpe test/sharpe "
        "test/max_drawdown test/cvar_95 test/ann_return dsr); differing config keys follow them",
    )
    parser.add_argument("--out", type=Path, help="folder for comparison.csv/.parquet/.png (default: FOLDER)")
    parser.add_argument("--top", type=int, default=5, metavar="K", help="NAV curves of the top K runs (default: 5)")
    parser.add_argument("--wide", action="store_true", help="show every differing config key (default: a compact view)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns the process exit code (2 for a folder or option that cannot work)."""
    args = parse_args(argv)
    columns = None if args.columns is None else tuple(c for arg in args.columns for c in arg.split(",") if c)
    options = CompareOptions(
        sort_key=args.sort,
        descending=args.descending,
        include_unfinished=args.all,
        columns=columns,
        top_k=args.top,
        wide=args.wide,
    )
    out_dir: Path = args.out or args.folder
    try:
        comparison = compare_runs(args.folder, options)
        written = [*write_tables(comparison, out_dir), plot_comparison(comparison, out_dir / "comparison.png")]
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR

    if not args.wide:
        comparison = fit_width(comparison)
    table = render_table(comparison)
    # As wide as the table needs: a console narrower than the table would crop columns without saying so.
    console = Console(width=max(Console().width, table_width(table)))
    console.print(table)
    for warning in comparison.warnings:
        console.print(warning, style="bold yellow", highlight=False)
    note = skipped_note(comparison.table)
    if note:
        console.print(note, style="yellow")
    hidden = hidden_note(comparison)
    if hidden:
        console.print(hidden, style="dim", highlight=False)
    shared = constant_note(comparison.table)
    if shared:
        console.print(shared, style="dim", highlight=False)
    console.print("wrote " + ", ".join(str(path) for path in written), highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

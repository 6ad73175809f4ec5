"""Metric dictionaries in the run-folder naming scheme and as a console table."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from hierl.evaluation.metrics import METRIC_KEYS

# Metrics that read best as percentages in the console; the stored values stay fractions.
_PERCENT_KEYS = frozenset({"ann_return", "ann_volatility", "max_drawdown", "cvar_95", "total_return", "cost_annual"})


def metrics_namespace(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    """Prefix every key W&B style: ("test", {"sharpe": 1.2}) -> {"test/sharpe": 1.2}.

    Nested namespaces are a longer prefix, e.g. "test/baseline/equal_weight".
    """
    namespace = prefix.strip("/")
    if not namespace:
        raise ValueError("metrics_namespace needs a non-empty prefix such as 'test' or 'val'")
    return {f"{namespace}/{key}": float(value) for key, value in metrics.items()}


def run_title(agent: str, asset: str, seed: int, asset_classes: Sequence[str] | None = None) -> str:
    """What ran, in the console title: a SAC run is the hierarchy over the classes' sleeves, not one asset class.

    The hierarchy's composed config still carries the default `asset` group, so naming that group would say
    "equity / sac" for a run that allocates across every class.
    """
    if agent == "sac":
        sleeves = ", ".join(asset_classes) if asset_classes else "every asset class"
        return f"hierarchy: SAC over {sleeves} / seed {seed}"
    return f"{asset} / {agent} / seed {seed}"


def block_title(title: str, split: str, dates: tuple[str, str] | None) -> str:
    """The results table's title: what ran, which block, and that block's first and last date when known, so
    that a table read on its own says which period its numbers cover."""
    if dates is None:
        return f"{title}: {split} block"
    first, last = dates
    return f"{title}: {split} block {first}..{last}"


def _format(key: str, value: float) -> str:
    if key == "n_days":
        return f"{value:.0f}"
    if key in _PERCENT_KEYS:
        return f"{100.0 * value:.2f}%"
    return f"{value:.3f}"


def results_table(rows: dict[str, dict[str, float]], title: str) -> Table:
    """One row per strategy, one column per metric (standard metrics first, then others as first seen).

    A strategy missing a metric shows an empty cell.
    """
    columns = [key for key in METRIC_KEYS if any(key in metrics for metrics in rows.values())]
    for metrics in rows.values():
        columns.extend(key for key in metrics if key not in columns)
    table = Table(title=title)
    table.add_column("strategy", style="bold")
    for key in columns:
        table.add_column(key, justify="right")
    for name, metrics in rows.items():
        table.add_row(name, *(_format(key, metrics[key]) if key in metrics else "" for key in columns))
    return table

"""Equity-curve plot files, metric namespaces and the console results table."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from plot_checks import svg_backend  # noqa: F401  (a fixture)
from rich.console import Console

from hierl.envs.market_core import CostModel, simulate_portfolio
from hierl.evaluation.backtest import Backtest
from hierl.evaluation.plots import PlotInputError, plot_equity_curves
from hierl.evaluation.report import metrics_namespace, results_table, run_title


def make_backtest(name: str, weight: float) -> Backtest:
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0005, 0.01, size=(30, 2))
    weights = np.full((30, 2), weight)
    result = simulate_portfolio(weights, returns, np.zeros(30), CostModel())
    dates = np.busday_offset(np.datetime64("2024-03-01"), np.arange(30), roll="forward")
    return Backtest(
        name=name, dates=dates, symbols=("A", "B"), weights=weights, result=result, cash_return=np.zeros(30)
    )


@pytest.mark.usefixtures("svg_backend")
def test_plot_writes_a_png_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "plots" / "equity.png"
    written = plot_equity_curves([make_backtest("agent", 0.5), make_backtest("cash", 0.0)], target, "test")
    assert written == target
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5_000
    assert [p.name for p in target.parent.iterdir()] == ["equity.png"]
    # Not Agg, which conftest selects and the plot draws with: a plot that switched backends would show here.
    assert matplotlib.get_backend() == "svg"


def test_plot_without_backtests_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(PlotInputError, match="at least one backtest"):
        plot_equity_curves([], tmp_path / "x.png", "empty")


def test_metrics_namespace_prefixes_every_key() -> None:
    metrics = {"sharpe": 1.5, "max_drawdown": 0.2}
    assert metrics_namespace("test", metrics) == {"test/sharpe": 1.5, "test/max_drawdown": 0.2}
    assert metrics_namespace("test/baseline/cash/", {"sharpe": 0.0}) == {"test/baseline/cash/sharpe": 0.0}
    with pytest.raises(ValueError, match="prefix"):
        metrics_namespace("", metrics)


def test_results_table_has_a_row_per_strategy_and_formats_fractions() -> None:
    rows = {
        "agent": {"sharpe": 1.23456, "max_drawdown": 0.125, "n_days": 250.0},
        "cash": {"sharpe": 0.0, "max_drawdown": 0.0, "n_days": 250.0, "extra": 2.0},
    }
    table = results_table(rows, "test split")
    assert table.row_count == 2
    assert [str(column.header) for column in table.columns] == [
        "strategy",
        "sharpe",
        "max_drawdown",
        "n_days",
        "extra",
    ]
    console = Console(record=True, width=160)
    console.print(table)
    text = console.export_text()
    assert "1.235" in text
    assert "12.50%" in text
    assert "250" in text
    assert "test split" in text


def test_the_run_title_names_the_hierarchy_not_the_default_asset_group() -> None:
    assert run_title("ppo", "equity", 3) == "equity / ppo / seed 3"
    assert run_title("cql", "commodity", 0, ["equity"]) == "commodity / cql / seed 0"
    hierarchy = run_title("sac", "equity", 0, ["equity", "commodity"])
    assert hierarchy == "hierarchy: SAC over equity, commodity / seed 0"
    assert "equity / sac" not in run_title("sac", "equity", 1)
    assert run_title("sac", "equity", 1) == "hierarchy: SAC over every asset class / seed 1"

"""Backtests, metrics, baselines, plots and result tables."""

from hierl.evaluation.backtest import Backtest, BacktestInputError, run_backtest
from hierl.evaluation.baselines import BASELINE_NAMES, BaselineInputError, baseline_weights
from hierl.evaluation.metrics import METRIC_KEYS, MetricInputError, compute_metrics
from hierl.evaluation.plots import plot_equity_curves
from hierl.evaluation.report import metrics_namespace, results_table

__all__ = [
    "BASELINE_NAMES",
    "METRIC_KEYS",
    "Backtest",
    "BacktestInputError",
    "BaselineInputError",
    "MetricInputError",
    "baseline_weights",
    "compute_metrics",
    "metrics_namespace",
    "plot_equity_curves",
    "results_table",
    "run_backtest",
]

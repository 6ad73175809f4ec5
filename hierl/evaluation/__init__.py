"""Evaluation: metrics, backtests through the market core, baselines, plots, reports and run comparison."""

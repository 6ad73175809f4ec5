"""Evaluation: metrics, backtests through the market core, baselines, plots and the console results table.

Reports over finished run folders (the run comparison, the headline results, studies) live in `hierl.reports`,
one layer up, so that evaluation never reads a run folder back.
"""
